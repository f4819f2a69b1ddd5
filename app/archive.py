"""What the bot's data commands call: export, search, stats and keyword alerts.

Handlers reach one `ArchiveService` as `services.extras["archive"]`; it wraps the db/
functions so bot/ never imports Tortoise.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.events import RunCompleted
from bot.charts import render_chart
from bot.texts import Html, html_join, t
from core.archive import ExportFormat, ExportQuery, ExportResult
from core.channels import Channel
from db import search as search_db
from db import stats as stats_db
from db import watches as watches_db
from db.channels import channel_page, find_channel, get_channel
from services.export import ProgressCallback, export_messages

log = logging.getLogger(__name__)

BadPattern = watches_db.BadPattern


class ArchiveService:
    def __init__(self, upload_limit_mb: int, work_dir: Path | None = None) -> None:
        self.limit_bytes = upload_limit_mb * 1024 * 1024
        self._work_dir = work_dir

    async def find_channel(self, ref: str) -> Channel | None:
        return await find_channel(ref, include_linked=True)

    async def get_channel(self, channel_id: int) -> Channel | None:
        return await get_channel(channel_id)

    async def channel_page(self, page: int, size: int) -> tuple[list[Channel], int]:
        """A page of every stored channel (discussion groups too) and the total."""
        return await channel_page(page, size)

    async def export(
        self,
        channel: Channel | None,
        fmt: ExportFormat,
        since: datetime | None = None,
        until: datetime | None = None,
        keyword: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ExportResult:
        out_dir = Path(tempfile.mkdtemp(prefix="export-", dir=self._work_dir))
        name = (channel.username or f"channel{channel.tg_id}") if channel else "all"
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        query = ExportQuery(channel.id if channel else None, since, until, keyword or None)
        try:
            return await export_messages(
                query, ExportFormat(fmt), out_dir, f"{name}-{stamp}", self.limit_bytes, progress
            )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            raise

    async def cleanup(self, result: ExportResult) -> None:
        dirs = {p.parent for p in result.files}
        for d in dirs:
            await asyncio.to_thread(shutil.rmtree, d, True)

    async def search(self, text: str, page: int, per_page: int) -> search_db.SearchPage:
        return await search_db.search_messages(text, page * per_page, per_page)

    async def stats(
        self, channel: Channel, days: int, title: str, labels: dict[str, tuple[str, str]]
    ) -> tuple[stats_db.ChannelStats, bytes | None]:
        """The statistics of the last `days` days and their chart (None: no posts).

        `labels`: (posts axis, views axis) by bucket unit (day, week, month).
        """
        since = datetime.now(UTC) - timedelta(days=days)
        st = await stats_db.channel_stats(channel, since)
        if not st.buckets:
            return st, None
        posts_label, views_label = labels[st.unit]
        png = await asyncio.to_thread(
            render_chart,
            title,
            [b.start for b in st.buckets],
            [b.posts for b in st.buckets],
            [b.median_views for b in st.buckets],
            st.unit,
            posts_label,
            views_label,
        )
        return st, png

    async def add_watch(
        self, raw: str, channel: Channel | None, created_by: int
    ) -> watches_db.WatchInfo:
        return await watches_db.add_watch(raw, channel, created_by)

    async def watch_page(self, page: int, size: int) -> tuple[list[watches_db.WatchInfo], int]:
        """A page (0-based) of the keyword alerts and how many there are."""
        total = await watches_db.count_watches()
        return await watches_db.list_watches(page * size, size), total

    async def remove_watch(self, watch_id: int) -> bool:
        return await watches_db.remove_watch(watch_id)


class WatchNotifier:
    """Subscriber of RunCompleted: one batched notification per run, rate-limited.

    A post fires a watch once: (watch, message) pairs already notified are remembered
    (bounded), so a run that re-reads edited posts does not repeat alerts. Beyond
    `max_per_window` notifications per `window` seconds, hits are held and delivered
    as soon as the window allows, with whatever came in meanwhile.
    """

    def __init__(
        self,
        notify: Callable[[Callable[[str], str]], Awaitable[None]],
        max_hits: int = 20,
        max_per_window: int = 6,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Called with the alert as a function of the language: each admin reads it in
        # theirs.
        self._notify = notify
        self._max_hits = max_hits
        self._max_per_window = max_per_window
        self._window = window
        self._clock = clock
        self._sent_at: deque[float] = deque()
        self._seen: set[tuple[int, int]] = set()
        self._seen_order: deque[tuple[int, int]] = deque()
        self._held: list[watches_db.WatchHit] = []
        self._lock = asyncio.Lock()
        self._flush: asyncio.Task[None] | None = None

    def _remember(self, key: tuple[int, int]) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > 100_000:
            self._seen.discard(self._seen_order.popleft())
        return True

    async def on_run_completed(self, event: RunCompleted) -> None:
        hits = await watches_db.match_new_messages(event.channel_id, event.first_id, event.last_id)
        async with self._lock:
            fresh = [h for h in hits if self._remember((h.watch_id, h.message_id))]
            self._held.extend(fresh)
            await self._send_held()

    async def _send_held(self) -> None:
        """Send what is held now, or make sure it goes once the window allows (locked)."""
        if not self._held:
            return
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] > self._window:
            self._sent_at.popleft()
        if len(self._sent_at) >= self._max_per_window:
            log.info("watch alerts rate-limited: %d hits held", len(self._held))
            if self._flush is None:
                delay = self._window - (now - self._sent_at[0])
                self._flush = asyncio.create_task(self._send_later(delay))
            return
        batch, self._held = self._held, []
        self._sent_at.append(now)
        shown = batch[: self._max_hits]
        await self._notify(functools.partial(render_watch_alert, shown, len(batch) - len(shown)))

    async def _send_later(self, delay: float) -> None:
        # Held hits must not wait for the next hit, which may never come.
        await asyncio.sleep(max(0.0, delay) + 0.05)
        async with self._lock:
            self._flush = None
            try:
                await self._send_held()
            except Exception:
                log.exception("held watch alerts not sent")

    def close(self) -> None:
        """Drop a pending delayed send."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None


def render_watch_alert(hits: list[watches_db.WatchHit], more: int, lang: str) -> Html:
    """The alert as Telegram HTML."""
    lines = [t("watch_alert_title", lang, n=len(hits) + more)]
    for h in hits:
        lines.append(
            t("watch_alert_line", lang, pattern=h.pattern, channel=h.channel, link=h.link)
        )
    if more:
        lines.append(t("watch_alert_more", lang, n=more))
    return html_join("\n", lines)
