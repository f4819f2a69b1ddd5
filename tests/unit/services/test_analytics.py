"""/stats metrics (services/analytics.py over db/analytics.py) on a seeded archive,
against values computed by hand below. tests/integration/test_analytics_postgres.py
replays `seed` and `check_metrics` on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.api.analytics import AnalyticsAPI
from core.analytics import PostCurve, SubscriberPoint
from core.archive import StatsUnit
from core.channels import Channel
from db.channels import get_channel
from db.models import Channel as ChannelModel
from db.models import Message, SubscriberSnapshot
from services.analytics import AnalyticsService

UTC = dt.UTC
MSK = ZoneInfo("Europe/Moscow")  # UTC+3 all year
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, 15:00 MSK


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


async def seed() -> Channel:
    """Channel @chan: the last 7 days of MSK start 2026-03-04 00:00 MSK (03-03 21:00 UTC)."""
    ch = await ChannelModel.create(tg_id=1234567, username="chan", title="Chan")

    async def post(msg_id: int, when: dt.datetime, **kw: Any) -> None:
        await Message.create(channel=ch, msg_id=msg_id, date=when, **kw)

    await post(1, at(2, 10), views=999, text="before the period")
    # 10:00 MSK Wed: ER (2 + 3 + 5) / 100 = 0.1
    await post(10, at(4, 7), views=100, forwards=2, replies=3, reactions={"👍": 5}, text="Hello")
    # 10:30 MSK Thu, an ad (label): ER (0 + 10 + 5) / 300 = 0.05
    await post(
        11,
        at(5, 7, 30),
        views=300,
        forwards=0,
        reactions={"👍": 10, "❤": 5},
        text="Реклама. ООО «Ромашка», ИНН 7700000000\nКупите слона",
    )
    # An album at 12:00 MSK Fri: ONE post, views 210 (the largest), forwards 1,
    # replies 4, reactions 2: ER 7 / 210; an ad (its caption's #ad).
    await post(12, at(6, 9), views=200, forwards=1, replies=4, grouped_id=555, media_kind="photo")
    await post(
        13,
        at(6, 9),
        views=200,
        forwards=1,
        reactions={"🔥": 2},
        grouped_id=555,
        media_kind="photo",
        text="Album caption #ad",
    )
    await post(14, at(6, 9), views=210, forwards=1, grouped_id=555, media_kind="photo")
    await post(15, at(7, 6), action={"type": "pin_message", "message_id": 10})  # no post
    await post(16, at(7, 7), views=50, text="gone", deleted_at=at(8, 0))  # no post
    await post(17, at(8, 7, 10), views=0, forwards=0, text="nobody saw it")  # 10:10 MSK Sun
    await post(18, at(10, 6), views=40, text="too young")  # 09:00 MSK Tue, < 24 h old
    await post(19, at(9, 13), text="views not read")  # 16:00 MSK Mon
    # 11:00 MSK Mon, an ad (erid): ER 4 / 60
    await post(20, at(9, 8), views=60, forwards=4, text="Курсы\nerid: 2VtzqwXyZ1")
    for when, n in ((at(3, 12), 900), (at(5, 0), 1000), (at(8, 0), 1100), (at(10, 0), 1200)):
        await SubscriberSnapshot.create(channel=ch, taken_at=when, subscribers=n)
    found = await get_channel(ch.id)
    assert found is not None
    return found


async def check_metrics(ch: Channel) -> None:
    m = await AnalyticsService(clock=lambda: NOW).metrics(ch, 7, MSK)
    assert m.until == NOW
    # Posts: 10, 11, the album 12-14, 17, 18, 19, 20 (not 1: before; 15: a pin; 16: deleted)
    assert m.posts == 7
    assert m.posts_per_day == 1.0
    # Reach: posts older than 24 h with views: 100, 300, 210, 0, 60
    assert m.reach == pytest.approx(670 / 5)
    # ERR: reach / the mean of the period's counts (1000, 1100, 1200; 900 is before)
    assert m.err == pytest.approx(134 / 1100)
    # ER: posts older than 24 h with views > 0: 0.1, 0.05, 7/210, 4/60
    assert m.er == pytest.approx((0.1 + 0.05 + 7 / 210 + 4 / 60) / 4)
    assert (m.subscribers, m.growth) == (1200, 200)
    assert m.growth_pct == pytest.approx(0.2)
    assert (m.ad_posts, m.ad_share) == (3, pytest.approx(3 / 7))
    expected = [[0] * 24 for _ in range(7)]
    for wd, hr in ((2, 10), (3, 10), (4, 12), (6, 10), (1, 9), (0, 16), (0, 11)):
        expected[wd][hr] += 1
    assert m.heatmap == tuple(tuple(r) for r in expected)
    # Hour 10 alone has 3 posts older than 24 h with views (100, 300, 0); no weekday has.
    assert (m.best_hours, m.best_weekdays) == ((10,), ())
    assert [p.msg_id for p in m.top_by_views] == [11, 12, 10, 20, 18]
    assert [p.views for p in m.top_by_views] == [300, 210, 100, 60, 40]
    album = m.top_by_views[1]
    assert (album.text, album.link) == ("Album caption #ad", "https://t.me/chan/12")
    assert album.er == pytest.approx(7 / 210)
    assert album.date == at(6, 9)
    assert [p.msg_id for p in m.top_by_er] == [10, 20, 11, 12]
    # The posts chart, by MSK day from the first post to today: the posts the table
    # counts and their median views (the album once, at 210; 19 has no views; 18 is
    # young but posted); 16, deleted, is counted apart, in no bar.
    assert m.chart_unit == StatsUnit.DAY
    assert [(b.start, b.posts, b.median_views) for b in m.chart] == [
        (dt.date(2026, 3, 4), 1, 100),
        (dt.date(2026, 3, 5), 1, 300),
        (dt.date(2026, 3, 6), 1, 210),
        (dt.date(2026, 3, 7), 0, None),
        (dt.date(2026, 3, 8), 1, 0),
        (dt.date(2026, 3, 9), 2, 60),
        (dt.date(2026, 3, 10), 1, 40),
    ]
    assert sum(b.posts for b in m.chart) == m.posts and m.deleted == 1
    assert m.top_by_er[0].er == pytest.approx(0.1)
    assert m.subscriber_series == (
        SubscriberPoint(at(3, 12), 900),  # the latest count before the period
        SubscriberPoint(at(5, 0), 1000),
        SubscriberPoint(at(8, 0), 1100),
        SubscriberPoint(at(10, 0), 1200),
    )


async def seed_best() -> Channel:
    """Channel @best for best hours / weekdays: several keys qualify with different
    means, others fall short of MIN_POSTS (3) posts older than 24 h with views read.
    Times are MSK (UTC+3); `msk(day, hour)` is that local time in UTC."""
    ch = await ChannelModel.create(tg_id=7654321, username="best", title="Best")

    def msk(day: int, hour: int) -> dt.datetime:
        return at(day, hour - 3)

    posts = [
        # (local day, local hour, views): 03-04 is a Wednesday (weekday 2).
        (4, 10, 100),
        (5, 10, 200),
        (6, 10, 300),  # hour 10: 3 posts, mean 200
        (4, 18, 400),
        (5, 18, 500),
        (6, 18, 600),
        (7, 18, 100),  # hour 18: 4, mean 400
        (4, 21, 5000),
        (5, 21, 5000),  # hour 21: 2 posts, mean 5000: too few
        (7, 21, None),  # views never read: no post of hour 21's (it would make 3)
        (10, 10, 10000),  # Tue, 5 h old at NOW: too young for any mean
    ]
    for msg_id, (day, hour, views) in enumerate(posts, 1):
        await Message.create(channel=ch, msg_id=msg_id, date=msk(day, hour), views=views, text="x")
    found = await get_channel(ch.id)
    assert found is not None
    return found


async def check_best(ch: Channel) -> None:
    m = await AnalyticsService(clock=lambda: NOW).metrics(ch, 7, MSK)
    # Hours: 18 (mean 1600 / 4 = 400) before 10 (600 / 3 = 200); 21 has only 2 posts
    # with views older than 24 h (mean 5000), 10's young post (10000) is not counted.
    assert m.best_hours == (18, 10)
    # Weekdays: Thu (3) 200 + 500 + 5000 = 5700 / 3 = 1900 before Wed (2) 100 + 400 +
    # 5000 = 5500 / 3 ~ 1833; Fri (300, 600) and Sat (100; the unread post) are short of
    # 3, Tue has only the young post.
    assert m.best_weekdays == (3, 2)
    # Medians of several views a day (MSK days): 4th 100/400/5000, 5th 200/500/5000,
    # 6th 300/600 (even: the mean of the middle two), 7th 100 (and one unread).
    assert [(b.start.day, b.posts, b.median_views) for b in m.chart] == [
        (4, 3, 400), (5, 3, 500), (6, 2, 450), (7, 2, 100), (8, 0, None), (9, 0, None),
        (10, 1, 10000),
    ]  # fmt: skip


async def check_edits(ch: Channel) -> None:
    """A post edited into an ad, reactions changed, a post deleted: the next metrics see
    it (the stored classification is dropped by the change)."""
    service = AnalyticsService(clock=lambda: NOW)
    await service.metrics(ch, 7, MSK)
    await Message.filter(channel_id=ch.id, msg_id=10).update(
        text="Hello #реклама", reactions={"👍": 15}
    )
    await Message.filter(channel_id=ch.id, msg_id=17).update(deleted_at=NOW)
    m = await service.metrics(ch, 7, MSK)
    assert (m.posts, m.ad_posts) == (6, 4)
    assert m.top_by_er[0].msg_id == 10
    assert m.top_by_er[0].er == pytest.approx(0.2)  # (2 + 3 + 15) / 100


async def test_metrics_against_hand_computed_values(db: Path) -> None:
    await check_metrics(await seed())


async def test_best_hours_and_weekdays_rank_the_qualifying_keys(db: Path) -> None:
    await check_best(await seed_best())


async def test_a_change_is_seen_by_the_next_metrics_and_albums_curves(db: Path) -> None:
    ch = await seed()
    await check_edits(ch)
    curves = _Curves()
    service = AnalyticsService(curves=curves, clock=lambda: NOW)
    await service.post_curve(ch.id, 14)
    await service.post_curve(ch.id, 10)
    assert curves.asked == [(ch.id, 12), (ch.id, 10)]  # an album's: its first item's


async def test_an_empty_channel_has_no_metrics(db: Path) -> None:
    ch = await ChannelModel.create(tg_id=7, username=None, title="Empty")
    found = await get_channel(ch.id)
    assert found is not None
    m = await AnalyticsService(clock=lambda: NOW).metrics(found, 30, MSK)
    assert (m.posts, m.reach, m.err, m.er, m.ad_share, m.growth) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert m.subscribers is None and m.subscriber_series == ()
    assert m.heatmap == tuple((0,) * 24 for _ in range(7))
    assert m.top_by_views == () and m.top_by_er == ()


ZONES = [
    # Daylight saving starts 2026-03-29 in Berlin: 10:00 local is 09:00 UTC before,
    # 08:00 UTC after.
    ("Europe/Berlin", [at(28, 9), at(30, 8)], [(5, 10), (0, 10)]),
    ("Asia/Kolkata", [at(30, 4, 45), at(30, 4, 25)], [(0, 10), (0, 9)]),  # +5:30
    ("Asia/Kathmandu", [at(30, 4, 20), at(30, 4, 10)], [(0, 10), (0, 9)]),  # +5:45
]


async def test_the_heatmap_hours_are_the_zones(db: Path) -> None:
    now = dt.datetime(2026, 3, 31, 12, tzinfo=UTC)
    for n, (zone, posts, hours) in enumerate(ZONES):
        ch = await ChannelModel.create(tg_id=99 + n, username=f"z{n}", title="Z")
        for i, when in enumerate(posts, 1):
            await Message.create(channel=ch, msg_id=i, date=when, views=10, text="x")
        found = await get_channel(ch.id)
        assert found is not None
        m = await AnalyticsService(clock=lambda: now).metrics(found, 7, ZoneInfo(zone))
        got = [(wd, hr) for wd in range(7) for hr in range(24) for _ in range(m.heatmap[wd][hr])]
        assert sorted(got) == sorted(hours), zone


class _Curves:
    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None:
        self.asked.append((channel_id, msg_id))
        return PostCurve(channel_id, msg_id, NOW, "", ())


def test_the_service_is_the_bots_analytics_api() -> None:
    api: AnalyticsAPI = AnalyticsService()  # mypy checks the Protocol
    assert api is not None
