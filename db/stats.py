"""Per-channel statistics for /stats: posts and median views per day, week or month
(zero where nothing was posted), top posts."""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.channels import Channel, post_link
from db.export import parse_time
from db.models import Message


@dataclass(frozen=True)
class DayStat:
    day: date
    posts: int
    median_views: float | None


@dataclass(frozen=True)
class Bucket:
    """One bar of the chart: the day, week (from Monday) or month starting at `start`."""

    start: date
    posts: int
    median_views: float | None


# Bars per day up to two months, per week up to a year, per month beyond.
DAILY_MAX_DAYS = 60
WEEKLY_MAX_DAYS = 366


def bucket_unit(span_days: int) -> str:
    if span_days <= DAILY_MAX_DAYS:
        return "day"
    return "week" if span_days <= WEEKLY_MAX_DAYS else "month"


def bucket_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, unit: str) -> date:
    if unit == "week":
        return start + timedelta(days=7)
    if unit == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def make_buckets(
    counts: dict[date, int], views: dict[date, list[int]], first: date, last: date, unit: str
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


@dataclass(frozen=True)
class TopPost:
    msg_id: int
    link: str
    views: int
    reactions: int
    text: str


@dataclass(frozen=True)
class ChannelStats:
    channel: str
    days: list[DayStat]
    top_views: list[TopPost]
    top_reactions: list[TopPost]
    # The chart: from the first stored post of the window to its end, zeros included.
    unit: str = "day"
    buckets: tuple[Bucket, ...] = ()

    @property
    def posts(self) -> int:
        return sum(d.posts for d in self.days)


async def channel_stats(
    channel: Channel, since: datetime, top: int = 5, until: datetime | None = None
) -> ChannelStats:
    """Posts since `since` (up to `until`, default now). The chart starts at the first
    stored post of the window: before it the archive does not know what was posted."""
    counts: dict[date, int] = defaultdict(int)
    views: dict[date, list[int]] = defaultdict(list)
    by_views: list[tuple[int, int, TopPost]] = []
    by_reactions: list[tuple[int, int, TopPost]] = []
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
            when = parse_time(r["date"])
            if when is None:
                continue
            day = when.date()
            counts[day] += 1
            if r["views"] is not None:
                views[day].append(r["views"])
            reactions = r["reactions"] if isinstance(r["reactions"], dict) else {}
            total = sum(v for v in reactions.values() if isinstance(v, int))
            post = TopPost(
                r["msg_id"],
                post_link(channel.username, channel.tg_id, r["msg_id"]),
                r["views"] or 0,
                total,
                (r["text"] or "")[:80],
            )
            for heap, key in ((by_views, post.views), (by_reactions, post.reactions)):
                item = (key, r["msg_id"], post)
                if len(heap) < top:
                    heapq.heappush(heap, item)
                elif item[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, item)
        if len(rows) < 5000:
            break
        last = rows[-1]["id"]
    days = [
        DayStat(d, counts[d], statistics.median(views[d]) if views[d] else None)
        for d in sorted(counts)
    ]
    unit = "day"
    buckets: tuple[Bucket, ...] = ()
    if days:
        first_day = days[0].day
        last_day = max(days[-1].day, (until or datetime.now(UTC)).date())
        unit = bucket_unit((last_day - first_day).days + 1)
        buckets = tuple(make_buckets(counts, views, first_day, last_day, unit))
    return ChannelStats(
        channel.label,
        days,
        [p for _, _, p in sorted(by_views, key=lambda x: x[:2], reverse=True)],
        [p for _, _, p in sorted(by_reactions, key=lambda x: x[:2], reverse=True) if p.reactions],
        unit,
        buckets,
    )
