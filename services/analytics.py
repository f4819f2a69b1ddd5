"""A channel's metrics for /stats (issue #17): bot.api.analytics.AnalyticsAPI.

The definitions are the README's "Analytics" section; db/analytics.py does the counting
in SQL. Shares (ERR, ER, ad share, growth_pct) are fractions: 0.104 is 10.4 %.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol

from core.analytics import ChannelMetrics, PostCurve, RankedPost, SubscriberPoint
from core.archive import Bucket, StatsUnit
from core.channels import Channel, post_link
from db import analytics as db
from db.albums import album_posts
from db.channels import migrated_row_id
from db.stats import bucket_unit, make_buckets

# An hour or weekday is "best" only with at least this many posts older than 24 h.
MIN_POSTS = 3
TEXT_CHARS = 100


class CurveSource(Protocol):
    """Where a post's counter snapshots come from (db.counters.CounterRepository)."""

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None: ...


def period(days: int, tz: tzinfo, now: datetime) -> tuple[datetime, datetime]:
    """The last `days` days (>= 1) in `tz` as UTC [since, until): today so far and the
    days - 1 whole days before it, from that zone's midnight; until = `now`."""
    first = now.astimezone(tz).date() - timedelta(days=max(1, days) - 1)
    return datetime.combine(first, time(0), tz).astimezone(UTC), now


def _best(sums: dict[int, list[int]]) -> tuple[int, ...]:
    """Keys whose posts reached most on average (at least MIN_POSTS posts), best first;
    `sums[key] = [posts, views]`."""
    ranked = [(v / n, k) for k, (n, v) in sums.items() if n >= MIN_POSTS]
    return tuple(k for _, k in sorted(ranked, key=lambda x: (-x[0], x[1])))


class AnalyticsService:
    """Implements bot.api.analytics.AnalyticsAPI. `curves`: the counters' repository
    (post_curve); `clock`: now, aware UTC (tests pin it)."""

    def __init__(
        self,
        curves: CurveSource | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._curves = curves
        self._clock = clock

    async def metrics(self, channel: Channel, days: int, tz: tzinfo) -> ChannelMetrics:
        now = self._clock()
        since, until = period(days, tz, now)
        ids = [channel.id]
        old = await migrated_row_id(channel.id)  # the basic group it was upgraded from
        if old is not None:
            ids.append(old)
        agg = await db.posts_aggregate(ids, since, until, now, tz)
        subs = await db.subscriber_summary(channel.id, since, until)
        series = await self.subscriber_series(channel.id, since, until)
        before = await db.subscriber_before(channel.id, since)
        if before is not None:
            series = [before, *series]

        cells = agg.cells.values()
        posts = sum(c.posts for c in cells)
        reached = sum(c.reached for c in cells)
        rated = sum(c.rated for c in cells)
        reach = sum(c.views for c in cells) / reached if reached else None
        err = reach / subs.mean if reach is not None and subs.mean else None
        growth = growth_pct = None
        if subs.first is not None and subs.last is not None:
            growth = subs.last.subscribers - subs.first.subscribers
            if subs.first.subscribers > 0:
                growth_pct = growth / subs.first.subscribers
        latest = subs.last or before
        hours: dict[int, list[int]] = {}
        weekdays: dict[int, list[int]] = {}
        heat = [[0] * 24 for _ in range(7)]
        for (wd, hr), c in agg.cells.items():
            heat[wd][hr] += c.posts
            for key, sums in ((hr, hours), (wd, weekdays)):
                acc = sums.setdefault(key, [0, 0])
                acc[0] += c.reached
                acc[1] += c.views

        def ranked(p: db.PostRow) -> RankedPost:
            own = p.channel_id == channel.id  # else the old group's: no t.me link
            return RankedPost(
                p.msg_id,
                p.date,
                " ".join(p.text.split())[:TEXT_CHARS],
                p.views,
                p.er,
                post_link(channel.username, channel.tg_id, p.msg_id) if own else None,
            )

        # The posts chart: from the period's first post to its end (before it the
        # archive does not know what was posted).
        chart: tuple[Bucket, ...] = ()
        unit = StatsUnit.DAY
        if agg.day_posts:
            first = min(agg.day_posts)
            last = max(
                max(agg.day_posts), (until - timedelta(microseconds=1)).astimezone(tz).date()
            )
            unit = bucket_unit((last - first).days + 1)
            chart = tuple(make_buckets(agg.day_posts, agg.day_views, first, last, unit))

        return ChannelMetrics(
            days=days,
            until=until,
            posts=posts,
            posts_per_day=posts / max(1, days),
            reach=reach,
            err=err,
            er=sum(c.er_sum for c in cells) / rated if rated else None,
            subscribers=latest.subscribers if latest is not None else None,
            growth=growth,
            growth_pct=growth_pct,
            ad_posts=agg.ad_posts,
            ad_share=agg.ad_posts / posts if posts else None,
            heatmap=tuple(tuple(row) for row in heat),
            best_hours=_best(hours),
            best_weekdays=_best(weekdays),
            top_by_views=tuple(ranked(p) for p in agg.top_by_views),
            top_by_er=tuple(ranked(p) for p in agg.top_by_er),
            subscriber_series=tuple(series),
            chart=chart,
            chart_unit=unit,
            deleted=agg.deleted,
        )

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None:
        """The curve of the post `msg_id` belongs to: an album's first item (Telegram
        repeats an album's views on every item)."""
        if self._curves is None:
            return None
        items = await album_posts(channel_id, msg_id)
        return await self._curves.post_curve(channel_id, items[0] if items else msg_id)

    async def subscriber_series(
        self, channel_id: int, since: datetime, until: datetime
    ) -> list[SubscriberPoint]:
        """The counts taken in [since, until), oldest first; a long series thinned to
        about 1,000 points (a chart's width)."""
        return await db.subscriber_series(channel_id, since, until)
