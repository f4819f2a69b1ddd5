"""Channel analytics (issue #17): what the counters series, the subscriber series, the
metrics and the repost/mention graph exchange between services/ (which fills them) and
bot/ (which renders them). Plain frozen dataclasses; no database, no Telegram here.

Terms (the README's "Analytics" section defines each metric):
- reach: the average views of the period's posts older than 24 hours;
- ERR: reach / subscribers (the average of the period's subscriber counts);
- ER of a post: (reactions + forwards + replies) / views.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.archive import Bucket, StatsUnit
from core.errors import ProjectError

_AGE = re.compile(r"([0-9]{1,6})\s*([mhdw])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The longest age a snapshot may be asked for (a year): older posts change little.
MAX_AGE = timedelta(days=366)


class BadAges(ProjectError):
    """A SNAPSHOT_AGES item that is no age (`detail`: the item)."""

    code = "bad_ages"


def parse_ages(text: str) -> tuple[timedelta, ...]:
    """SNAPSHOT_AGES ("1h,24h,7d,30d": numbers with m, h, d or w, comma-separated;
    "none", "off" or only commas: none) as ascending, distinct ages. (An empty variable
    is no setting at all: app/settings.py keeps the default then.)

    Raises BadAges (its detail: the item) for an item that is not a number and a
    unit, zero, or over a year.
    """
    ages: set[timedelta] = set()
    if text.strip().lower() in ("none", "off"):
        return ()
    for raw in text.replace(";", ",").split(","):
        item = raw.strip().lower()
        if not item:
            continue
        m = _AGE.fullmatch(item)
        age = timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)]) if m else None
        if age is None or age <= timedelta(0) or age > MAX_AGE:
            raise BadAges(item)
        ages.add(age)
    return tuple(sorted(ages))


def age_label(age: timedelta) -> str:
    """An age the way SNAPSHOT_AGES writes it: "90m", "1h", "7d", "2w" (the largest
    whole unit)."""
    seconds = int(age.total_seconds())
    for unit in ("w", "d", "h"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds // 60}m"


@dataclass(frozen=True)
class CounterPoint:
    """A post's counters as read at `taken_at` (None: not read then; getMessagesViews
    gives no reactions). `age_mark`: the configured age (SNAPSHOT_AGES) this read was
    made for, None for a read with the post's history."""

    taken_at: datetime
    views: int | None
    forwards: int | None
    replies: int | None
    reactions: int | None
    age_mark: timedelta | None = None


@dataclass(frozen=True)
class PostCurve:
    """One post's counters over time, oldest first. `channel_id`: the channel's row id;
    `date`: when it was posted (UTC); `text`: its first words."""

    channel_id: int
    msg_id: int
    date: datetime
    text: str
    points: tuple[CounterPoint, ...]


@dataclass(frozen=True)
class SubscriberPoint:
    """A channel's subscriber count at `taken_at` (UTC)."""

    taken_at: datetime
    subscribers: int


class LinkKind(StrEnum):
    """Why a message points at another channel."""

    FORWARD = "forward"  # forwarded from it
    MENTION = "mention"  # an @name or a t.me link to it


@dataclass(frozen=True)
class Link:
    """One message's edge to a channel: `target` is "id:<channel id>" when Telegram gave
    the id (a forward, a t.me/c/ link) else "@<username>" in lower case."""

    kind: LinkKind
    target: str
    tg_id: int | None = None
    username: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class RankedPost:
    """A post in a top list: its views and ER (None without views)."""

    msg_id: int
    date: datetime
    text: str
    views: int | None
    er: float | None
    link: str | None = None  # https://t.me/... when the channel is public


@dataclass(frozen=True)
class ChannelMetrics:
    """The metrics of one channel over `days` days up to `until` (UTC; days are the
    operators' TIMEZONE). None where there is nothing to compute from (no posts older
    than 24 h for reach, no subscriber count for ERR...).

    `heatmap[weekday][hour]`: posts published then (Monday = 0, hours in the operators'
    zone); `best_hours` / `best_weekdays`: those whose posts reached most, best first.
    `ad_posts`: posts marked as advertising (an erid token or an ad label)."""

    days: int
    until: datetime
    posts: int
    posts_per_day: float
    reach: float | None
    err: float | None
    er: float | None
    subscribers: int | None  # the latest count in the period
    growth: int | None  # last minus first count in the period
    growth_pct: float | None
    ad_posts: int
    ad_share: float | None
    heatmap: tuple[tuple[int, ...], ...] = field(default_factory=tuple)
    best_hours: tuple[int, ...] = ()
    best_weekdays: tuple[int, ...] = ()
    top_by_views: tuple[RankedPost, ...] = ()
    top_by_er: tuple[RankedPost, ...] = ()
    subscriber_series: tuple[SubscriberPoint, ...] = ()
    # The posts chart: posts and their median views per day, week or month (`unit`),
    # from the first post of the period to its end, empty buckets as zero; `deleted`:
    # the period's posts found deleted since (not in `posts` or the chart).
    chart: tuple[Bucket, ...] = ()
    chart_unit: StatsUnit = StatsUnit.DAY
    deleted: int = 0


@dataclass(frozen=True)
class GraphEdge:
    """An aggregated edge: channel row `source_id` forwarded from or mentioned `target`
    `weight` times, between `first` and `last` (the messages' dates, UTC)."""

    source_id: int
    target: str
    kind: LinkKind
    weight: int
    first: datetime
    last: datetime
    target_channel_id: int | None = None  # the target's row when it is archived
    username: str | None = None
    title: str | None = None
