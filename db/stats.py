"""The bars of /stats' posts chart (services/analytics.py): posts and median views per
day, week or month of the operators' zone (TIMEZONE), zero where nothing was posted.
The posts and their views come from db/analytics.py."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, timedelta

from core.archive import Bucket, StatsUnit

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
