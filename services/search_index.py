"""The search index of an existing archive, rebuilt in the background.

Migration 0006 moves SQLite's full-text index from the words of `message.text` to
their stems (`message.terms`); stemming happens in Python, so the rows stored before
it are stemmed here, after the start, in small transactions (db.search.fill_index,
newest first: recent posts are searchable first), while the bot and the parser go on.
Migration 0016 does the same on PostgreSQL: every stored row is queued and its search
document (a tsvector the server computes) is written here. Progress is logged every
`log_every` seconds and shown in /status (ArchiveService.index_progress). Once done,
the same loop indexes, every `idle_seconds`, whatever is left: on SQLite what another
path wrote without terms (an edit through the ORM), on PostgreSQL every new or edited
row (its ingest queues them instead of computing tsvectors on the way in).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.archive import IndexProgress
from db.search import fill_index, indexed_count, pending_index

log = logging.getLogger(__name__)


class SearchIndexRebuild:
    """Component "search_index": indexes the messages not searchable yet.

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
        fill: Callable[[int], Awaitable[int]] = fill_index,
        pending: Callable[[], Awaitable[int]] = pending_index,
        clock: Callable[[], float] = time.monotonic,
        indexed: Callable[[], int] = indexed_count,
    ) -> None:
        self._chunk = chunk
        self._target = target_seconds
        self._idle = idle_seconds
        self._log_every = log_every
        self._fill = fill
        self._pending = pending
        self._clock = clock
        self._indexed = indexed
        self._stop = asyncio.Event()
        self._progress: IndexProgress | None = None

    def progress(self) -> IndexProgress | None:
        """How far the running rebuild is; None when none is running."""
        return self._progress

    async def run(self) -> None:
        self._stop.clear()
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

    async def rebuild(self, total: int) -> int:
        """Index pending rows until none is left (or stop); returns how many were done.
        `total` is how many were pending at the start (rows added meanwhile by another
        path are done too; the figure is then exceeded, not wrong)."""
        start = last_log = self._clock()
        done = 0
        big = total > self._chunk
        chunk = self._chunk
        if big:
            log.info("search index: indexing %d stored messages in the background", total)
        self._progress = IndexProgress(0, total)
        base = self._indexed()
        own = 0
        try:
            while not self._stop.is_set():
                began = self._clock()
                n = await self._fill(chunk)
                own += n
                # Rows a search indexed meanwhile (db.search.fill_index) count too.
                done = max(own, self._indexed() - base)
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
                        "search index: %d of %d messages indexed (%d%%, %.0f/s)",
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
            log.info("search index: %d messages indexed in %.1f s", done, seconds)
        return done
