"""The search index of an existing archive, rebuilt in the background.

Migration 0006 moves SQLite's full-text index from the words of `message.text` to
their stems (`message.terms`); stemming happens in Python, so the rows stored before
it are stemmed here, after the start, in small transactions (db.search.fill_terms,
newest first: recent posts are searchable first), while the bot and the parser go on.
Progress is logged every `log_every` seconds and shown in /status
(ArchiveService.index_progress). Once done, the same loop stems, every
`idle_seconds`, whatever another path wrote without terms (an edit through the ORM).
PostgreSQL needs none of this (its index is an expression over the text).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.archive import IndexProgress
from db.search import fill_terms, pending_terms

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
    ) -> None:
        self._chunk = chunk
        self._target = target_seconds
        self._idle = idle_seconds
        self._log_every = log_every
        self._fill = fill
        self._pending = pending
        self._clock = clock
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
        try:
            while not self._stop.is_set():
                began = self._clock()
                n = await self._fill(chunk)
                done += n
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
