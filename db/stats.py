"""Per-channel statistics for /stats: posts and median views per day, week or month
(zero where nothing was posted), top posts."""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.archive import Bucket, DayStat, StatsReport, StatsUnit, TopPost
from core.channels import Channel, post_link
from db.export import parse_time
from db.models import Message

# Bars per day up to two months, per week up to a year, per month beyond.
DAILY_MAX_DAYS = 60
WEEKLY_MAX_DAYS = 366


def bucket_unit(span_days: int) -> StatsUnit:
    """The bar width for a chart spanning `span_days` days."""
    if span_days <= DAILY_MAX_DAYS:
        return StatsUnit.DAY
    return StatsUnit.WEEK if span_days <= WEEKLY_MAX_DAYS else StatsUnit.MONTH


def bucket_start(day: date, unit: StatsUnit) -> date:
    if unit == StatsUnit.WEEK:
        return day - timedelta(days=day.weekday())
    if unit == StatsUnit.MONTH:
        return day.replace(day=1)
    return day


def next_bucket(start: date, unit: StatsUnit) -> date:
    if unit == StatsUnit.WEEK:
        return start + timedelta(days=7)
    if unit == StatsUnit.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def make_buckets(
    counts: dict[date, int],
    views: dict[date, list[int]],
    first: date,
    last: date,
    unit: StatsUnit,
) -> list[Bucket]:
    """Every bucket from the one holding `first` to the one holding `last`, in order;
    a bucket without posts is there with 0 posts and no median."""
    posts: dict[date, int] = defaultdict(int)
    seen: dict[date, list[int]] = defaultdict(list)
    for day, n in counts.items():
        posts[bucket_start(day, unit)] += n
    for day, values in views.items():
        seen[bucket_start(day, unit)].extend(values)
    out = []
    start, end = bucket_start(first, unit), bucket_start(last, unit)
    while start <= end:
        median = statistics.median(seen[start]) if seen.get(start) else None
        out.append(Bucket(start, posts.get(start, 0), median))
        start = next_bucket(start, unit)
    return out


class _Tally:
    """Counts, views and the top posts of a channel's rows, fed one row at a time."""

    def __init__(self, channel: Channel, top: int) -> None:
        self._channel = channel
        self._top = top
        self.counts: dict[date, int] = defaultdict(int)
        self.views: dict[date, list[int]] = defaultdict(list)
        self._by_views: list[tuple[int, int, TopPost]] = []
        self._by_reactions: list[tuple[int, int, TopPost]] = []

    def add(self, r: dict[str, Any]) -> None:
        when = parse_time(r["date"])
        if when is None:
            return
        day = when.date()
        self.counts[day] += 1
        if r["views"] is not None:
            self.views[day].append(r["views"])
        reactions = r["reactions"] if isinstance(r["reactions"], dict) else {}
        total = sum(v for v in reactions.values() if isinstance(v, int))
        post = TopPost(
            r["msg_id"],
            post_link(self._channel.username, self._channel.tg_id, r["msg_id"]),
            r["views"] or 0,
            total,
            (r["text"] or "")[:80],
        )
        for heap, key in ((self._by_views, post.views), (self._by_reactions, post.reactions)):
            item = (key, r["msg_id"], post)
            if len(heap) < self._top:
                heapq.heappush(heap, item)
            elif item[:2] > heap[0][:2]:
                heapq.heapreplace(heap, item)

    def report(self, until: datetime | None) -> StatsReport:
        days = tuple(
            DayStat(d, self.counts[d], statistics.median(self.views[d]) if self.views[d] else None)
            for d in sorted(self.counts)
        )
        unit = StatsUnit.DAY
        buckets: tuple[Bucket, ...] = ()
        if days:
            first_day = days[0].day
            last_day = max(days[-1].day, (until or datetime.now(UTC)).date())
            unit = bucket_unit((last_day - first_day).days + 1)
            buckets = tuple(make_buckets(self.counts, self.views, first_day, last_day, unit))
        return StatsReport(
            self._channel.label,
            days,
            # A post nobody viewed (or reacted to) is no "top" post: with every view
            # count at 0 there is no top by views at all.
            _best(self._by_views, lambda p: p.views > 0),
            _best(self._by_reactions, lambda p: p.reactions > 0),
            unit,
            buckets,
        )


def _best(
    heap: list[tuple[int, int, TopPost]], keep: Callable[[TopPost], bool]
) -> tuple[TopPost, ...]:
    ranked = sorted(heap, key=lambda x: x[:2], reverse=True)
    return tuple(p for _, _, p in ranked if keep(p))


async def channel_stats(
    channel: Channel, since: datetime, top: int = 5, until: datetime | None = None
) -> StatsReport:
    """Posts since `since` (up to `until`, default now). The chart starts at the first
    stored post of the window: before it the archive does not know what was posted."""
    tally = _Tally(channel, top)
    bound = {"date__lt": until} if until is not None else {}
    last = 0
    while True:
        rows = (
            await Message.filter(channel_id=channel.id, date__gte=since, id__gt=last, **bound)
            .order_by("id")
            .limit(5000)
            .values("id", "msg_id", "date", "views", "reactions", "text")
        )
        for r in rows:
            tally.add(r)
        if len(rows) < 5000:
            break
        last = rows[-1]["id"]
    return tally.report(until)
