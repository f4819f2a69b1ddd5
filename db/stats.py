"""Per-channel statistics for /stats: posts and median views per day, week or month
(zero where nothing was posted), top posts. An album is one post (a three-photo album
with one caption is one post, its views the largest of its items'); service events are
no posts; days are the operators' (TIMEZONE)."""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from tortoise import connections

from core.archive import Bucket, DayStat, StatsReport, StatsUnit, TopPost
from core.channels import Channel, post_link
from db import analytics as adb
from db.channels import migrated_row_id

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


# Rows dated before this bound are all "posted so far" when no `until` is given.
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _posts_sql(dialect: str, p: Any, channel_ids: list[int], since: datetime,
               until: datetime, width: int) -> str:  # fmt: skip
    """One row per post of the period (singles as they are, albums folded by grouped_id):
    ch (row), msg (the first item's id), b (its UTC bucket, db.analytics), v (the largest
    views), r (the largest reactions total), dead (1: found deleted since). From the
    covering index `message_metrics` (migration 0010): a living post is `ad >= 0`
    there; `ad = -1` is a service event or a deleted post, told apart by `action` (read
    from the table for those rows alone)."""
    hint = " INDEXED BY message_metrics" if dialect == "sqlite" else ""
    where = (
        f"channel_id IN ({adb.in_list(p, channel_ids)}) AND date >= {p(since)}"
        f" AND date < {p(until)}"
    )
    cols = (
        "channel_id AS ch, grouped_id AS g, msg_id AS msg, date AS d, views AS v, reactions_n AS r"
    )
    parts = (
        f"SELECT {cols}, 0 AS dead FROM message{hint} WHERE {where} AND ad >= 0",
        f"SELECT {cols}, 1 AS dead FROM message{hint} WHERE {where} AND ad = -1"
        " AND action IS NULL",
    )
    singles = " UNION ALL ".join(f"{x} AND grouped_id IS NULL" for x in parts)
    albums = " UNION ALL ".join(f"{x} AND grouped_id IS NOT NULL" for x in parts)
    bucket = adb.bucket_sql(dialect, width, "d")
    return f"""
SELECT ch, msg, CAST({bucket} AS TEXT) AS b, v, r, dead FROM ({singles}) s
UNION ALL
SELECT ch, MIN(msg), CAST({adb.bucket_sql(dialect, width, "MIN(d)")} AS TEXT), MAX(v), MAX(r),
       MAX(dead)
FROM ({albums}) a GROUP BY ch, g
"""


async def channel_stats(
    channel: Channel,
    since: datetime,
    top: int = 5,
    until: datetime | None = None,
    tz: tzinfo = UTC,
) -> StatsReport:
    """Posts dated in [`since`, `until`) (`until` default now), by day in `tz` (the
    operators' zone). An album is one post (its first item's id and date, the largest
    views and reactions of its items, the caption of the first item that has one);
    service events (a pin, a title change: rows with an `action`) are no posts. A
    supergroup upgraded from a basic group counts the old group's posts too (their top
    posts have no link). A post found deleted since still counts (it was posted);
    `deleted` says how many were. The chart starts at the first stored post of the
    window: before it the archive does not know what was posted.

    Classifies the period's rows first (db.analytics.classify: the reactions totals),
    then ONE statement reads the covering index `message_metrics` (one small row per
    post: its UTC hour, views, reactions); texts are read for the top posts alone."""
    rows_of = [channel.id]
    old = await migrated_row_id(channel.id)  # the basic group it was upgraded from
    if old is not None:
        rows_of.append(old)
    hi = until if until is not None else _FAR
    await adb.classify(rows_of, since, hi)
    dialect = str(connections.get("default").capabilities.dialect)
    end = (until or datetime.now(UTC)) - timedelta(microseconds=1)  # exclusive
    width = adb.bucket_seconds(adb.offset_spans(tz, since, max(end, since)))
    p = adb.Params(dialect)
    # One row per UTC bucket: its posts, deleted posts, the views of its posts (to take
    # the medians of the zone's days from: SQLite's text "12,40,7", PostgreSQL's array)
    # and its largest views and reactions (where the top posts are).
    vs = "group_concat(v)" if dialect == "sqlite" else "array_agg(v) FILTER (WHERE v IS NOT NULL)"
    sql = (
        f"SELECT b, COUNT(*), SUM(dead), {vs}, MAX(v), MAX(r)"
        f" FROM ({_posts_sql(dialect, p, rows_of, since, hi, width)}) x GROUP BY b"
    )
    _, cells = await connections.get("default").execute_query(sql, p.values)
    counts: dict[date, int] = defaultdict(int)
    views: dict[date, list[int]] = defaultdict(list)
    deleted = 0
    for c in cells:
        day = adb.bucket_start(dialect, width, c[0]).astimezone(tz).date()
        counts[day] += int(c[1])
        deleted += int(c[2] or 0)
        if c[3]:
            views[day].extend(map(int, c[3].split(",")) if isinstance(c[3], str) else c[3])
    # The top posts are in the buckets with the largest maxima: their posts alone are read.
    chosen: set[Any] = set()
    for col in (4, 5):
        ranked = sorted((int(c[col]) for c in cells if c[col]), reverse=True)
        if ranked:
            floor = ranked[min(top, len(ranked)) - 1]
            chosen |= {c[0] for c in cells if c[col] and int(c[col]) >= floor}
    rows: list[Any] = []
    for b in sorted(chosen, key=str):
        start = adb.bucket_start(dialect, width, b)
        lo, up = max(since, start), min(hi, start + timedelta(seconds=width))
        p = adb.Params(dialect)
        _, some = await connections.get("default").execute_query(
            _posts_sql(dialect, p, rows_of, lo, up, width), p.values
        )
        rows += some
    # Ranked by the count, then the id; the old group's ids are another id space: ties
    # rank the supergroup's first. A post nobody viewed (or reacted to) is no "top" post.
    by_views = [
        x for x in heapq.nlargest(top, rows, key=lambda x: (x[3] or 0, x[1], x[0] == channel.id))
        if x[3]
    ]  # fmt: skip
    by_reactions = [
        x for x in heapq.nlargest(top, rows, key=lambda x: (x[4] or 0, x[1], x[0] == channel.id))
        if x[4]
    ]  # fmt: skip
    texts = await adb.post_texts({(int(x[0]), int(x[1])) for x in by_views + by_reactions})

    def top_post(x: Any) -> TopPost:
        ch, msg = int(x[0]), int(x[1])
        link = "" if ch != channel.id else post_link(channel.username, channel.tg_id, msg)
        return TopPost(msg, link, int(x[3] or 0), int(x[4] or 0), texts.get((ch, msg), "")[:80])

    days = tuple(
        DayStat(d, counts[d], statistics.median(views[d]) if views[d] else None)
        for d in sorted(counts)
    )
    unit = StatsUnit.DAY
    buckets: tuple[Bucket, ...] = ()
    if days:
        first_day = days[0].day
        last_day = max(days[-1].day, end.astimezone(tz).date())
        unit = bucket_unit((last_day - first_day).days + 1)
        buckets = tuple(make_buckets(counts, views, first_day, last_day, unit))
    return StatsReport(
        channel.label,
        days,
        tuple(top_post(x) for x in by_views),
        tuple(top_post(x) for x in by_reactions),
        unit,
        buckets,
        deleted,
    )
