"""/stats bars: per day up to 60 days, per week up to a year, per month beyond; every
bucket between the first post and the end of the window is there, empty ones as zero."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db.channels import find_channel
from db.models import Message
from db.stats import bucket_start, bucket_unit, make_buckets
from services.analytics import AnalyticsService
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


async def _metrics(ref: Any, days: int, now: dt.datetime, tz: Any = dt.UTC) -> Any:
    return await AnalyticsService(clock=lambda: now).metrics(ref, days, tz)


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
    # 1 February .. 31 August (now: 1 September 00:00, nothing posted yet that day).
    m = await _metrics(ref, 213, dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    assert m.chart_unit == "week"  # from the first post (1 March) to 31 August: 184 days
    assert m.chart[0].start == D(2026, 2, 23)  # the Monday of 1 March 2026
    assert m.chart[-1].start == D(2026, 8, 31)  # the window's last week, empty
    assert sum(b.posts for b in m.chart) == m.posts == 60
    weeks = [b.start for b in m.chart]
    assert weeks == sorted(weeks) and all((b - a).days == 7 for a, b in pairwise(weeks))
    silent = [b for b in m.chart if b.posts == 0]
    assert len(silent) >= 19 and all(b.median_views is None for b in silent)
    short = await _metrics(ref, 48, dt.datetime(2026, 3, 20, tzinfo=dt.UTC))  # from 1 Feb
    assert short.chart_unit == "day" and [b.posts for b in short.chart][:11] == [3] * 10 + [0]


async def test_no_top_by_views_when_no_post_was_viewed(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "one"), (2, "two")], views=0, reactions={"👍": 2})
    ref = await find_channel("@news")
    assert ref is not None
    m = await _metrics(ref, 213, dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    assert m.posts == 2
    assert m.top_by_views == ()  # "Top by views" of posts nobody viewed says nothing
    assert m.top_by_er == ()  # no ER without views


async def _post(ch: Any, msg_id: int, when: dt.datetime, **fields: Any) -> None:
    await Message.create(channel_id=ch.id, msg_id=msg_id, date=when, **fields)


async def test_an_album_is_one_post_and_a_service_event_none(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    # A three-photo album with one caption (on its second item), as Telegram sends it:
    # the views repeated on every item; reactions on one.
    for k, text in enumerate(("", "Три фото", "")):
        await _post(ch, 10 + k, at, text=text, views=500 + k, grouped_id=77, media_kind="photo",
                    reactions={"👍": 4} if k == 1 else None)  # fmt: skip
    await _post(ch, 14, at, text="single", views=100)
    await _post(ch, 15, at, text="", action={"type": "pin_message", "message_id": 14})
    # Another album the next day: two videos, no caption.
    nxt = at + dt.timedelta(days=1)
    for k in range(2):
        await _post(ch, 20 + k, nxt, text="", views=50, grouped_id=78, media_kind="video")
    ref = await find_channel("@news")
    assert ref is not None
    m = await _metrics(ref, 30, nxt + dt.timedelta(hours=1))
    assert m.posts == 3 and [(b.start, b.posts) for b in m.chart] == [
        (D(2026, 3, 1), 2),
        (D(2026, 3, 2), 1),
    ]
    assert m.chart[0].median_views == (502 + 100) / 2  # the album's views once, its max
    album = m.top_by_views[0]
    assert (album.msg_id, album.views, album.text) == (10, 502, "Три фото")
    assert album.link == "https://t.me/news/10"
    assert [p.msg_id for p in m.top_by_views] == [10, 14, 20]  # each album listed once
    # ER of the posts older than 24 h: the album's reactions over its views, then 0.
    assert [(p.msg_id, p.er) for p in m.top_by_er] == [(10, 4 / 502), (14, 0.0)]


async def test_days_are_the_operators_days(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    late = dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC)  # 2 March, 01:30 in Moscow
    await _post(ch, 1, late - dt.timedelta(hours=12), text="noon", views=1)
    await _post(ch, 2, late, text="late", views=1)
    ref = await find_channel("@news")
    assert ref is not None
    now = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)

    def posted(m: Any) -> list[tuple[dt.date, int]]:
        return [(b.start, b.posts) for b in m.chart if b.posts]

    utc = await _metrics(ref, 30, now)
    assert posted(utc) == [(D(2026, 3, 1), 2)]
    moscow = await _metrics(ref, 30, now, ZoneInfo("Europe/Moscow"))
    assert posted(moscow) == [(D(2026, 3, 1), 1), (D(2026, 3, 2), 1)]
    # New York (UTC-5 in March): both are still 1 March there.
    ny = await _metrics(ref, 30, now, ZoneInfo("America/New_York"))
    assert posted(ny) == [(D(2026, 3, 1), 2)]
    assert ny.chart[-1].start == D(2026, 3, 2)  # the window ends 2 March 19:00 there


async def test_the_last_n_days_are_whole_days_of_the_zone(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    now = dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC)  # 11 March, 01:30 in Moscow
    for n, hours in enumerate((1, 3, 23, 26, 49)):
        await _post(ch, n + 1, now - dt.timedelta(hours=hours), text=f"p{n}", views=1)
    ref = await find_channel("@news")
    assert ref is not None
    # Moscow: "1 day" is 11 March from its midnight (21:00 UTC): the post 1 h ago, not
    # the one 3 h ago (23:30 on 10 March there).
    one = await _metrics(ref, 1, now, ZoneInfo("Europe/Moscow"))
    assert one.posts == 1 and [b.start for b in one.chart] == [D(2026, 3, 11)]
    # UTC: "2 days" is 9 and 10 March (the posts 1, 3, 23 and 26 h ago).
    two = await _metrics(ref, 2, now)
    assert two.posts == 4 and [b.start for b in two.chart] == [D(2026, 3, 9), D(2026, 3, 10)]
