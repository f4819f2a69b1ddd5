"""/stats bars: per day up to 60 days, per week up to a year, per month beyond; every
bucket between the first post and the end of the window is there, empty ones as zero."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from pathlib import Path

from db.channels import find_channel
from db.stats import bucket_start, bucket_unit, channel_stats, make_buckets
from tests.unit.export_fixtures import make_channel, upsert

D = dt.date


def test_the_unit_follows_the_span() -> None:
    assert [bucket_unit(n) for n in (1, 30, 60)] == ["day"] * 3
    assert [bucket_unit(n) for n in (61, 200, 366)] == ["week"] * 3
    assert [bucket_unit(n) for n in (367, 3650)] == ["month"] * 2


def test_buckets_start_on_mondays_and_first_days() -> None:
    assert bucket_start(D(2026, 3, 5), "week") == D(2026, 3, 2)  # a Thursday -> Monday
    assert bucket_start(D(2026, 3, 2), "week") == D(2026, 3, 2)
    assert bucket_start(D(2026, 3, 31), "month") == D(2026, 3, 1)
    assert bucket_start(D(2026, 3, 31), "day") == D(2026, 3, 31)


def test_empty_days_stay_on_the_axis_as_zero() -> None:
    counts = {D(2026, 1, 1): 2, D(2026, 1, 4): 1}
    views = {D(2026, 1, 1): [10, 30], D(2026, 1, 4): [7]}
    got = make_buckets(counts, views, D(2026, 1, 1), D(2026, 1, 6), "day")
    assert [(b.start.day, b.posts, b.median_views) for b in got] == [
        (1, 2, 20),
        (2, 0, None),
        (3, 0, None),
        (4, 1, 7),
        (5, 0, None),
        (6, 0, None),  # the window's end, after the last post
    ]


def test_weekly_bars_sum_their_days_and_take_the_median_of_all_their_posts() -> None:
    counts = {D(2026, 1, 5): 1, D(2026, 1, 11): 2, D(2026, 1, 26): 1}  # Mon, Sun, Mon
    views = {D(2026, 1, 5): [1], D(2026, 1, 11): [5, 100], D(2026, 1, 26): [3]}
    got = make_buckets(counts, views, D(2026, 1, 5), D(2026, 1, 28), "week")
    assert [(b.start, b.posts, b.median_views) for b in got] == [
        (D(2026, 1, 5), 3, 5),  # median of 1, 5, 100 (not of the daily medians)
        (D(2026, 1, 12), 0, None),
        (D(2026, 1, 19), 0, None),
        (D(2026, 1, 26), 1, 3),
    ]


def test_monthly_bars_cross_the_new_year() -> None:
    counts = {D(2025, 11, 30): 4, D(2026, 2, 1): 1}
    got = make_buckets(counts, {}, D(2025, 11, 30), D(2026, 2, 10), "month")
    assert [(b.start, b.posts) for b in got] == [
        (D(2025, 11, 1), 4),
        (D(2025, 12, 1), 0),
        (D(2026, 1, 1), 0),
        (D(2026, 2, 1), 1),
    ]


async def test_a_long_window_of_stored_posts_is_drawn_by_week_with_zero_weeks(
    db: Path,
) -> None:
    ch = await make_channel(1, "news", "News")
    # Posts on days 0-9 and 150-159 of the window (export_fixtures.BASE + day): a gap
    # of twenty silent weeks between them.
    for day in (*range(10), *range(150, 160)):
        await upsert(ch, [(day * 10 + k, f"post {day}.{k}") for k in range(3)], day=day)
    ref = await find_channel("@news")
    assert ref is not None
    start = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    until = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    st = await channel_stats(ref, start, until=until)
    assert st.unit == "week"  # from the first post (1 March) to 1 September: 185 days
    assert st.buckets[0].start == D(2026, 2, 23)  # the Monday of 1 March 2026
    assert st.buckets[-1].start == D(2026, 8, 31)  # the window's last week, empty
    assert sum(b.posts for b in st.buckets) == st.posts == 60
    weeks = [b.start for b in st.buckets]
    assert weeks == sorted(weeks) and all((b - a).days == 7 for a, b in pairwise(weeks))
    silent = [b for b in st.buckets if b.posts == 0]
    assert len(silent) >= 19 and all(b.median_views is None for b in silent)
    short = await channel_stats(ref, start, until=dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    assert short.unit == "day" and [b.posts for b in short.buckets][:11] == [3] * 10 + [0]


async def test_no_top_by_views_when_no_post_was_viewed(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "one"), (2, "two")], views=0, reactions={"👍": 2})
    ref = await find_channel("@news")
    assert ref is not None
    st = await channel_stats(ref, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert st.posts == 2
    assert st.top_views == ()  # "Top by views" of posts nobody viewed says nothing
    assert [p.msg_id for p in st.top_reactions] == [2, 1]
