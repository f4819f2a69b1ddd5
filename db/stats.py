"""Per-channel statistics for /stats: posts and median views per day, week or month
(zero where nothing was posted), top posts. An album is one post (a three-photo album
with one caption is one post, its views the largest of its items'); service events are
no posts; days are the operators' (TIMEZONE)."""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from core.archive import Bucket, DayStat, StatsReport, StatsUnit, TopPost
from core.channels import Channel, post_link
from db.channels import migrated_row_id
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


@dataclass
class _Post:
    """One post as /stats counts it: a single message, or an album (the messages of
    one `grouped_id`) folded into one: its first item's id and date, the largest view
    and reaction counts of its items (Telegram repeats an album's views on every item,
    so a sum would count them several times), the caption of whichever item has one;
    `deleted` when it (an item of it) was found deleted since."""

    msg_id: int
    when: datetime
    views: int | None
    reactions: int
    text: str
    # From the basic group the supergroup was upgraded from: no t.me link.
    old: bool = False
    deleted: bool = False

    def merge(self, other: _Post) -> None:
        if other.msg_id < self.msg_id:
            self.msg_id, self.when = other.msg_id, other.when
        if other.views is not None:
            self.views = other.views if self.views is None else max(self.views, other.views)
        self.reactions = max(self.reactions, other.reactions)
        if not self.text and other.text:
            self.text = other.text
        self.deleted = self.deleted or other.deleted


def _as_utc(value: Any) -> datetime | None:
    """A stored time (a datetime, or SQLite's text) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class _Tally:
    """Counts, views and the top posts of a channel's rows, fed one row at a time.

    An album counts once (its items are gathered by `grouped_id` until `report`);
    days are the operators' days in `tz`.
    """

    def __init__(self, channel: Channel, top: int, tz: tzinfo = UTC) -> None:
        self._channel = channel
        self._top = top
        self._tz = tz
        self.counts: dict[date, int] = defaultdict(int)
        self.deleted = 0
        self.views: dict[date, list[int]] = defaultdict(list)
        self._albums: dict[tuple[bool, int], _Post] = {}
        self._by_views: list[tuple[int, int, bool, TopPost]] = []
        self._by_reactions: list[tuple[int, int, bool, TopPost]] = []

    def add(self, r: dict[str, Any]) -> None:
        when = _as_utc(r["date"])
        if when is None:
            return
        reactions = r["reactions"] if isinstance(r["reactions"], dict) else {}
        post = _Post(
            r["msg_id"],
            when,
            r["views"],
            sum(v for v in reactions.values() if isinstance(v, int)),
            r["text"] or "",
            r.get("channel_id", self._channel.id) != self._channel.id,
            deleted=r.get("deleted_at") is not None,
        )
        group = r.get("grouped_id")
        if group is None:
            self._count(post)
        elif (post.old, group) in self._albums:
            self._albums[post.old, group].merge(post)
        else:
            self._albums[post.old, group] = post

    def _count(self, p: _Post) -> None:
        day = p.when.astimezone(self._tz).date()
        self.counts[day] += 1
        self.deleted += p.deleted
        if p.views is not None:
            self.views[day].append(p.views)
        post = TopPost(
            p.msg_id,
            "" if p.old else post_link(self._channel.username, self._channel.tg_id, p.msg_id),
            p.views or 0,
            p.reactions,
            p.text[:80],
        )
        for heap, key in ((self._by_views, post.views), (self._by_reactions, post.reactions)):
            # The old group's ids are another id space: ties rank the supergroup's first.
            item = (key, p.msg_id, not p.old, post)
            if len(heap) < self._top:
                heapq.heappush(heap, item)
            elif item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)

    def report(self, until: datetime | None) -> StatsReport:
        for album in self._albums.values():
            self._count(album)
        self._albums.clear()
        days = tuple(
            DayStat(d, self.counts[d], statistics.median(self.views[d]) if self.views[d] else None)
            for d in sorted(self.counts)
        )
        unit = StatsUnit.DAY
        buckets: tuple[Bucket, ...] = ()
        if days:
            first_day = days[0].day
            end = (until or datetime.now(UTC)) - timedelta(microseconds=1)  # exclusive
            last_day = max(days[-1].day, end.astimezone(self._tz).date())
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
            self.deleted,
        )


def _best(
    heap: list[tuple[int, int, bool, TopPost]], keep: Callable[[TopPost], bool]
) -> tuple[TopPost, ...]:
    ranked = sorted(heap, key=lambda x: x[:3], reverse=True)
    return tuple(p for *_, p in ranked if keep(p))


async def channel_stats(
    channel: Channel,
    since: datetime,
    top: int = 5,
    until: datetime | None = None,
    tz: tzinfo = UTC,
) -> StatsReport:
    """Posts dated in [`since`, `until`) (`until` default now), by day in `tz` (the
    operators' zone). An album is one post; service events (a pin, a title change:
    rows with an `action`) are no posts. A supergroup upgraded from a basic group counts
    the old group's posts too (their top posts have no link). A post found deleted
    since still counts (it was posted); `deleted` says how many were. Albums are
    gathered in memory until the end (one small record per album of the window). The chart starts
    at the first stored post of the window: before it the archive does not know what
    was posted."""
    tally = _Tally(channel, top, tz)
    bound = {"date__lt": until} if until is not None else {}
    rows_of = [channel.id]
    old = await migrated_row_id(channel.id)  # the basic group it was upgraded from
    if old is not None:
        rows_of.append(old)
    last = 0
    while True:
        rows = (
            await Message.filter(
                channel_id__in=rows_of, date__gte=since, id__gt=last, action__isnull=True,
                **bound,
            )
            .order_by("id")
            .limit(5000)
            .values(
                "id", "channel_id", "msg_id", "date", "views", "reactions", "text",
                "grouped_id", "deleted_at",
            )
        )
        for r in rows:
            tally.add(r)
        if len(rows) < 5000:
            break
        last = rows[-1]["id"]
    return tally.report(until)
