"""Component "stats_rollup": the /stats rollup (db/rollup.py, #17) brought up to date in
the background after start.

After migration 0015 an archive from before it has every stored hour to build, which
classifies the rows not classified yet: minutes on millions of messages (17 min on
SQLite, 30 on PostgreSQL for 9.9 million on 2 cores). Done at start-up, before the bot
answers, that kept operators waiting that long after an upgrade; here the bot answers at
once while this goes through the channels one at a time, a channel's hours in one
transaction (PostgreSQL: under the channel's advisory lock, so a /stats rebuilding the
same channel waits for it rather than racing it). A /stats meanwhile rebuilds its own
channel's dirty hours first (db/analytics.py), so its answers are the same either way.
Runs where the bot runs (once per database); stops between channels.
"""

from __future__ import annotations

import asyncio
import logging
import time

from db import rollup

log = logging.getLogger(__name__)


class RollupBuild:
    """Rebuilds every channel's dirty hours once (`build`), then waits to be stopped.
    `pause`: seconds between two channels, so queued queries go first."""

    name = "stats_rollup"

    def __init__(self, pause: float = 0.05) -> None:
        self._pause = pause
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._stop.clear()
        await self.build()
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()

    async def build(self) -> int:
        """Rebuild the dirty hours of every channel that has some (stops early when
        asked to); the rollup rows written."""
        t0 = time.perf_counter()
        channels = await rollup.dirty_channels()
        written = 0
        for done, channel_id in enumerate(channels, 1):
            if self._stop.is_set():
                log.info("stats rollup: stopped after %d of %d channels", done - 1, len(channels))
                return written
            written += await rollup.refresh([channel_id], gap=None)
            await asyncio.sleep(self._pause)
        if written > 10_000:
            log.info(
                "stats rollup: built %d hour rows of %d channels in %.0f s",
                written, len(channels), time.perf_counter() - t0,
            )  # fmt: skip
        return written
