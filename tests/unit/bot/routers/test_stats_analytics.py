"""/stats with analytics (#17), fed as real Updates through the real Dispatcher over a
fake AnalyticsAPI: the album of charts and the metrics text, a post's views curve."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.component import ControlBot
from bot.routers.stats import PostRef, draw_charts, metrics_text, parse_post_link
from core.analytics import (
    ChannelMetrics,
    CounterPoint,
    PostCurve,
    RankedPost,
    SubscriberPoint,
)
from core.archive import Bucket
from core.channels import Channel
from core.health import HealthRegistry
from tests.unit.bot.archive_fakes import FakeArchive, FakeWatches, channel
from tests.unit.bot.conftest import (
    ADMIN,
    TOKEN,
    BotUnderTest,
    RecordingSession,
    Sent,
    Updates,
)
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def metrics(**kw: Any) -> ChannelMetrics:
    """30 days of a channel: 3 posts on Monday 09:00 UTC, a growing subscriber series."""
    heatmap = tuple(tuple(3 if (d, h) == (0, 9) else 0 for h in range(24)) for d in range(7))
    top = RankedPost(
        7, NOW - timedelta(days=2), "Новости <b>дня</b> & прочее", 1500, 0.021,
        "https://t.me/c1/7",
    )  # fmt: skip
    base: dict[str, Any] = {
        "days": 30,
        "until": NOW,
        "posts": 3,
        "posts_per_day": 0.1,
        "reach": 1234.5,
        "err": 0.104,
        "er": 0.021,
        "subscribers": 12000,
        "growth": 345,
        "growth_pct": 0.0296,
        "ad_posts": 1,
        "ad_share": 1 / 3,
        "heatmap": heatmap,
        "best_hours": (9,),
        "best_weekdays": (0,),
        "top_by_views": (top,),
        "top_by_er": (replace(top, link=None),),
        "subscriber_series": (
            SubscriberPoint(NOW - timedelta(days=20), 11655),
            SubscriberPoint(NOW - timedelta(days=1), 12000),
        ),
        "chart": tuple(
            Bucket(
                NOW.date() - timedelta(days=29 - i),
                3 if i == 27 else 0,
                1500.0 if i == 27 else None,
            )
            for i in range(30)
        ),
    }
    return ChannelMetrics(**{**base, **kw})


def curve(points: tuple[CounterPoint, ...] | None = None) -> PostCurve:
    posted = NOW - timedelta(days=8)
    if points is None:
        points = (
            CounterPoint(posted + timedelta(minutes=5), 40, 0, 0, 1),
            CounterPoint(posted + timedelta(hours=1, minutes=2), 500, 3, 1, None,
                         age_mark=timedelta(hours=1)),
            CounterPoint(posted + timedelta(hours=24, minutes=10), 4500, 20, 4, None,
                         age_mark=timedelta(hours=24)),
            CounterPoint(posted + timedelta(days=7, minutes=30), 5000, 22, 5, None,
                         age_mark=timedelta(days=7)),
        )  # fmt: skip
    return PostCurve(1, 5, posted, "Первый пост", points)


@dataclass
class FakeAnalytics:
    """AnalyticsAPI with canned answers; `calls` records what was asked."""

    result: ChannelMetrics = field(default_factory=metrics)
    curve: PostCurve | None = field(default_factory=curve)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def metrics(self, channel: Channel, days: int, tz: tzinfo) -> ChannelMetrics:
        self.calls.append(("metrics", (channel.id, days, tz)))
        return replace(self.result, days=days)

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None:
        self.calls.append(("post_curve", (channel_id, msg_id)))
        return self.curve

    async def subscriber_series(
        self, channel_id: int, since: datetime, until: datetime
    ) -> list[SubscriberPoint]:
        return list(self.result.subscriber_series)


@dataclass
class StatsBot:
    tg: BotUnderTest
    analytics: FakeAnalytics
    archive: FakeArchive


@pytest.fixture
async def stats_bot(tmp_path: Path, zone: ZoneInfo) -> AsyncIterator[StatsBot]:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = [channel(1), channel(2)]
    analytics = FakeAnalytics()
    archive = FakeArchive(tmp_path, channels=channels)
    deps = replace(
        make_deps({ADMIN}, status=FakeStatus(health), tz=zone),
        archive=archive,
        watches=FakeWatches(channels=channels),
        analytics=analytics,
    )
    control = ControlBot(bot, deps, health=health)
    tg = BotUnderTest(control, bot, session, Updates(), FakeChannels(), health)
    yield StatsBot(tg, analytics, archive)


def _shown(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.method != "sendChatAction"]


def _album(sent: Sent) -> list[dict[str, Any]]:
    media = sent.params["media"]  # JSON text, as aiogram sends it
    items: list[dict[str, Any]] = json.loads(media) if isinstance(media, str) else media
    return items


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_an_album_of_three_charts_then_the_metrics_and_top_posts(
    stats_bot: StatsBot, lang: str
) -> None:
    stats_bot.tg.updates.lang = lang
    sent = _shown(await stats_bot.tg.send("/stats @c1 7"))
    assert [s.method for s in sent] == ["sendMediaGroup", "sendMessage"]
    assert stats_bot.analytics.calls == [("metrics", (1, 7, ZoneInfo("UTC")))]
    items = _album(sent[0])
    assert [i["type"] for i in items] == ["photo"] * 4  # growth, posts, heatmap, table
    assert items[0]["caption"] and all(not i.get("caption") for i in items[1:])
    # The caption counts the posts the table counts (B2): 3; none deleted.
    caption = items[0]["caption"]
    assert {"en": ": 3 posts in 7 days", "ru": ": 3 поста за 7 дней"}[lang] in caption
    assert "\n" not in caption
    text = sent[1].text
    reach, err, growth = {
        "en": ("1,234", "10.4%", "+345 (+3.0%)"),
        "ru": ("1\xa0234", "10,4\xa0%", "+345 (+3,0\xa0%)"),
    }[lang]
    assert f"<b>{reach}</b>" in text or f"<b>{reach.replace(',', '')}" in text
    assert err in text and growth in text
    # The post text is escaped; the linked one keeps its link, the other is plain.
    assert "Новости &lt;b&gt;дня&lt;/b&gt; &amp; прочее" in text
    assert 'href="https://t.me/c1/7"' in text
    assert len(text) <= 4096


async def test_posts_deleted_since_are_counted_apart_in_the_caption(stats_bot: StatsBot) -> None:
    stats_bot.analytics.result = metrics(deleted=2)
    sent = _shown(await stats_bot.tg.send("/stats @c1 7"))
    caption = _album(sent[0])[0]["caption"]
    assert caption.startswith("@c1: 3 posts in 7 days") or ": 3 posts in 7 days" in caption
    assert caption.endswith("\nDeleted since, not counted: 2")
    assert "Posts: <b>3</b>" in sent[1].text


async def test_no_subscriber_counts_no_growth_chart(stats_bot: StatsBot) -> None:
    stats_bot.analytics.result = metrics(
        subscriber_series=(), subscribers=None, growth=None, growth_pct=None, err=None
    )
    sent = _shown(await stats_bot.tg.send("/stats @c1"))
    assert [s.method for s in sent] == ["sendMediaGroup", "sendMessage"]
    assert len(_album(sent[0])) == 3  # posts, heatmap and table
    assert "Subscribers: <b>—</b>" in sent[1].text


async def test_subscribers_without_posts_and_nothing_at_all(stats_bot: StatsBot) -> None:
    empty = {"posts": 0, "posts_per_day": 0.0, "reach": None, "er": None, "err": None,
             "ad_posts": 0, "ad_share": None, "top_by_views": (), "top_by_er": (),
             "best_hours": (), "best_weekdays": (), "chart": ()}  # fmt: skip
    stats_bot.analytics.result = metrics(**empty)
    sent = _shown(await stats_bot.tg.send("/stats @c1"))
    assert len(_album(sent[0])) == 2  # growth and table
    assert sent[0].params["media"]  # the caption: 0 posts
    stats_bot.analytics.result = metrics(**empty, subscriber_series=(), subscribers=None,
                                         growth=None, growth_pct=None)  # fmt: skip
    (only,) = _shown(await stats_bot.tg.send("/stats @c1 3"))
    assert only.method == "sendMessage" and "no stored posts" in only.text


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_post_link_shows_its_views_curve_with_the_ages_marked(
    stats_bot: StatsBot, lang: str
) -> None:
    stats_bot.tg.updates.lang = lang
    (photo,) = _shown(await stats_bot.tg.send("/stats https://t.me/c1/5?single"))
    assert photo.method == "sendPhoto"
    assert stats_bot.analytics.calls == [("post_curve", (1, 5))]
    caption = str(photo.params["caption"])
    marks = {
        "en": "1 h: 500, 24 h: 4,500, 7 days: 5,000",
        "ru": "1 ч: 500, 24 ч: 4\xa0500, 7 дней: 5\xa0000",
    }
    assert marks[lang] in caption and 'href="https://t.me/c1/5"' in caption


async def test_a_post_the_archive_lacks_or_never_read(stats_bot: StatsBot) -> None:
    stats_bot.analytics.curve = None
    (sent,) = _shown(await stats_bot.tg.send("/stats @c1/99"))
    assert "no such post" in sent.text
    stats_bot.analytics.curve = curve(points=())
    (sent,) = _shown(await stats_bot.tg.send("/stats t.me/s/c1/5"))
    assert "no views read yet" in sent.text
    (sent,) = _shown(await stats_bot.tg.send("/stats https://t.me/nope/5"))
    assert "@nope" in sent.text


def test_post_links() -> None:
    assert parse_post_link("https://t.me/durov/123") == PostRef("@durov", 123)
    assert parse_post_link("t.me/s/Durov/7?comment=3") == PostRef("@Durov", 7)
    assert parse_post_link("https://t.me/c/1234567/10/42") == PostRef(
        "https://t.me/c/1234567/42", 42
    )
    assert parse_post_link("@durov/5") == PostRef("@durov", 5)
    for not_a_post in ("@durov", "https://t.me/durov", "t.me/+AbCdEf/5", "durov/5", "123"):
        assert parse_post_link(not_a_post) is None, not_a_post


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_charts_are_phone_readable_and_the_text_fits_with_long_titles() -> None:
    long = RankedPost(1, NOW, "слово " * 2000, 10**9, 0.5, "https://t.me/c1/1")
    m = metrics(top_by_views=(long,) * 5, top_by_er=(long,) * 5)
    charts = draw_charts(m, "Канал " * 30, 30, "ru", ZoneInfo("Europe/Moscow"))
    for _, png in charts.photos():
        width, height = _png_size(png)
        assert width >= 1080 and width + height <= 10000 and width / height <= 20
    assert len(metrics_text(m, "Канал " * 10, 30, "ru", ZoneInfo("UTC"))) <= 4096


# ------------------------------------------------- through the Bot API double


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_the_album_passes_telegrams_rules_over_http(tmp_path: Path, lang: str) -> None:
    """The real aiogram polling the Bot API double: the charts go up as one media group
    Telegram accepts (2-10 photos, each <= 10 MB, sides within its limits, a caption it
    parses), readable on a phone (>= 1080 px wide), then the metrics text."""
    from tests.doubles.botapi import BotAPIDouble

    async with BotAPIDouble(token=TOKEN) as double:
        double.add_user(ADMIN, "Olga", language_code=lang)
        bot = double.make_bot(default=DefaultBotProperties(parse_mode="HTML"))
        health = HealthRegistry()
        channels = [channel(1, title="Новости <дня> & всё")]
        deps = replace(
            make_deps({ADMIN}, status=FakeStatus(health), tz=ZoneInfo("Europe/Moscow")),
            archive=FakeArchive(tmp_path, channels=channels),
            watches=FakeWatches(channels=channels),
            analytics=FakeAnalytics(),
        )
        control = ControlBot(bot, deps, health=health)
        try:
            async with double.polling(control.dp, bot):
                await double.send_text(ADMIN, "/stats @c1 30")
                await double.wait_for_request("sendMessage", timeout=20)
        finally:
            await bot.session.close()
        photos = [u for u in double.uploads if u.kind == "photo"]
        assert len(photos) == 4
        for photo in photos:
            assert photo.width is not None and photo.height is not None
            assert photo.width >= 1080 and photo.size <= 10 * 1024 * 1024
        shown = double.transcript(ADMIN)
        album = [e.current for e in shown if e.current.media_group_id]
        assert len(album) == 4 and len({m.media_group_id for m in album}) == 1
        assert album[0].caption is not None and "Новости <дня> & всё" in album[0].caption
        head = {"en": "last 30 days", "ru": "за 30 дней"}[lang]
        assert head in (shown[-1].current.text or "")


@pytest.mark.parametrize(("lang", "shown"), [("en", "&lt;0.1"), ("ru", "&lt;0,1")])
def test_a_small_posting_rate_is_not_shown_as_zero(lang: str, shown: str) -> None:
    # #17 review B5: 17 posts in 3,650 days showed "Posts per day: 0".
    text = metrics_text(metrics(posts=17, posts_per_day=17 / 3650, days=3650), "C", 3650, lang,
                        ZoneInfo("UTC"))  # fmt: skip
    label = "Posts per day" if lang == "en" else "Постов в день"
    assert f"{label}: <b>{shown}</b>" in text
    assert "0,1" in metrics_text(metrics(posts_per_day=0.06), "C", 30, "ru", ZoneInfo("UTC"))
