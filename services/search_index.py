"""The search index of an existing archive, rebuilt in the background.

Migration 0006 moves SQLite's full-text index from the words of `message.text` to
their stems (`message.terms`); stemming happens in Python, so the rows stored before
it are stemmed here, after the start, in small transactions (db.search.fill_terms,
newest first: recent posts are searchable first), while the bot and the parser go on.
Progress is logged every `log_every` seconds and shown in /status
(ArchiveService.index_progress). Once done, the same loop stems, every
`idle_seconds`, whatever another path wrote without terms (an edit through the ORM).
PostgreSQL needs no stems (its index is an expression over the text), but its GIN
index is built here, once, after the start (db.search.build_pg_index: CREATE INDEX
CONCURRENTLY; the migration does not build it, so a large archive does not keep the bot
silent for minutes). /status shows the build's progress meanwhile; searches work,
scanning the table, until the index is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from core.archive import IndexProgress
from db.search import (
    build_pg_index,
    fill_terms,
    pending_terms,
    pg_index_progress,
    stemmed_count,
)

log = logging.getLogger(__name__)


class SearchIndexRebuild:
    """Component "search_index": stems the messages that have no terms yet.

    `chunk` rows per transaction to start with; with `target_seconds`, the chunk is
    resized after each transaction so one holds the database about that long (a bot
    query waits at most that, whatever the machine's speed; 50-5,000 rows). Between
    chunks the loop yields so queued queries go first. `progress()` is None when
    nothing is pending.
    """

    name = "search_index"

    def __init__(
        self,
        *,
        chunk: int = 1000,
        target_seconds: float | None = 0.05,
        idle_seconds: float = 60.0,
        log_every: float = 10.0,
        fill: Callable[[int], Awaitable[int]] = fill_terms,
        pending: Callable[[], Awaitable[int]] = pending_terms,
        clock: Callable[[], float] = time.monotonic,
        build_index: Callable[[], Awaitable[bool]] = build_pg_index,
        build_progress: Callable[[], Awaitable[tuple[int, int] | None]] = pg_index_progress,
        poll_seconds: float = 2.0,
        stemmed: Callable[[], int] = stemmed_count,
    ) -> None:
        self._chunk = chunk
        self._target = target_seconds
        self._idle = idle_seconds
        self._log_every = log_every
        self._fill = fill
        self._pending = pending
        self._clock = clock
        self._build_index = build_index
        self._build_progress = build_progress
        self._poll = poll_seconds
        self._stemmed = stemmed
        self._stop = asyncio.Event()
        self._progress: IndexProgress | None = None

    def progress(self) -> IndexProgress | None:
        """How far the running rebuild is; None when none is running."""
        return self._progress

    async def run(self) -> None:
        self._stop.clear()
        await self.build_index()
        while not self._stop.is_set():
            total = await self._pending()
            if total:
                await self.rebuild(total)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self._idle)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()

    async def build_index(self) -> bool:
        """PostgreSQL: build the search index if it is missing (or invalid), showing the
        build's progress meanwhile; returns True when it built it. Stop cancels the
        build (PostgreSQL drops the half-built index's work; the next start builds it
        again). A no-op on SQLite."""
        task = asyncio.ensure_future(self._build_index())
        stopping = asyncio.ensure_future(self._stop.wait())
        start = self._clock()
        try:
            while not task.done():
                await asyncio.wait(
                    {task, stopping}, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping.done():
                    task.cancel()
                    # The server-side build is cancelled before the stop goes on.
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    return False
                if task.done():
                    break
                seen = await self._build_progress()
                if seen is not None:
                    if self._progress is None:
                        log.info("search index: building the PostgreSQL index in the background")
                    self._progress = IndexProgress(seen[0], seen[1], building=True)
            built = task.result()
            if built:
                log.info("search index: PostgreSQL index built in %.1f s", self._clock() - start)
            return built
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
            self._progress = None

    async def rebuild(self, total: int) -> int:
        """Stem pending rows until none is left (or stop); returns how many were done.
        `total` is how many were pending at the start (rows added meanwhile by another
        path are done too; the figure is then exceeded, not wrong)."""
        start = last_log = self._clock()
        done = 0
        big = total > self._chunk
        chunk = self._chunk
        if big:
            log.info("search index: stemming %d stored messages in the background", total)
        self._progress = IndexProgress(0, total)
        base = self._stemmed()
        own = 0
        try:
            while not self._stop.is_set():
                began = self._clock()
                n = await self._fill(chunk)
                own += n
                # Rows a search stemmed meanwhile (db.search.fill_terms) count too.
                done = max(own, self._stemmed() - base)
                now = self._clock()
                rate = done / (now - start) if now > start else 0.0
                self._progress = IndexProgress(done, max(total, done), rate)
                if n < chunk:
                    break
                if self._target is not None and now > began:
                    chunk = max(50, min(5000, round(chunk * self._target / (now - began))))
                if big and now - last_log >= self._log_every:
                    last_log = now
                    log.info(
                        "search index: %d of %d messages stemmed (%d%%, %.0f/s)",
                        done,
                        total,
                        self._progress.percent,
                        rate,
                    )
                # Queued database users (a bot query, an ingest batch) go first.
                await asyncio.sleep(0)
        finally:
            self._progress = None
        if big:
            seconds = self._clock() - start
            log.info("search index: %d messages stemmed in %.1f s", done, seconds)
        return done
