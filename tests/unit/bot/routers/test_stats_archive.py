"""/stats over a real archive (#17): the real AnalyticsService and ArchiveService on a
SQLite database seeded like tests/unit/services/test_analytics.py, fed through the real
Dispatcher: the album and the figures the operator reads, against the values computed
by hand there (reach 670/5, ERR 134/1100, growth +200 of 1000, 3 ads of 7 posts...)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.component import ControlBot
from core.health import HealthRegistry
from db.counters import CounterRepository
from db.models import CounterSnapshot, SubscriberSnapshot
from services.analytics import AnalyticsService
from services.archive import ArchiveService
from services.export.series import SeriesExportService
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps
from tests.unit.services.test_analytics import NOW, seed

MSK = ZoneInfo("Europe/Moscow")


def _bot(tmp_path: Path) -> BotUnderTest:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    deps = replace(
        make_deps({ADMIN}, status=FakeStatus(health), tz=MSK),
        archive=ArchiveService(50, work_dir=tmp_path),
        analytics=AnalyticsService(curves=CounterRepository(), clock=lambda: NOW),
        series_export=SeriesExportService(50, tmp_path, CounterRepository()),
    )
    control = ControlBot(bot, deps, health=health)
    return BotUnderTest(control, bot, session, Updates(lang="ru"), FakeChannels(), health)


async def test_the_operator_reads_the_hand_computed_metrics(db: Path, tmp_path: Path) -> None:
    await seed()
    tg = _bot(tmp_path)
    sent = [s for s in await tg.send("/stats @chan 7") if s.method != "sendChatAction"]
    assert [s.method for s in sent] == ["sendMediaGroup", "sendMessage"]
    album = json.loads(sent[0].params["media"])
    assert len(album) == 4  # growth, posts per day, heatmap, table
    # The caption counts the posts the table counts (7); the deleted one apart.
    caption = album[0]["caption"]
    assert caption.startswith("Chan · @chan: 7 постов за 7 дней, по дням")
    assert caption.endswith("\nУдалённые позже не в счёте: 1")
    text = sent[1].text
    for line in (
        "Постов: <b>7</b>",
        "Постов в день: <b>1</b>",
        "Средний охват: <b>134</b>",  # 670 / 5
        "ERR: <b>12,2\xa0%</b>",  # 134 / 1100
        "Подписчики: <b>1\xa0200</b>",
        "Прирост: <b>+200 (+20,0\xa0%)</b>",  # 1000 -> 1200
        "Лучшие часы: <b>10:00</b>",
        "Лучшие дни: <b>—</b>",  # no weekday has 3 posts older than 24 h
        "Рекламные посты: <b>3 из 7 (42,9\xa0%)</b>",
    ):
        assert line in text, line
    # ER: the mean of 0.1, 0.05, 7/210, 4/60 = 6.25 %, to one decimal (half to even)
    assert "ER: <b>6,2\xa0%</b>" in text
    # The album is one post, linked by its first item; the top by views starts with 11.
    assert '<a href="https://t.me/chan/12">#12</a>' in text
    assert text.index("#11</a>") < text.index("#12</a>")


async def test_a_posts_curve_and_the_series_files_from_the_stored_snapshots(
    db: Path, tmp_path: Path
) -> None:
    """Snapshots as the counters job stores them (db/counters.py): the album item's link
    shows the album's curve (its first item's), the ages in the caption; /export gives
    the series back row for row."""
    ch = await seed()
    posted = datetime(2026, 3, 6, 9, tzinfo=UTC)  # the album 12-14
    for minutes, views, mark in ((5, 20, None), (62, 120, 3600), (1441, 200, 86400)):
        await CounterSnapshot.create(
            channel_id=ch.id, msg_id=12, taken_at=posted + timedelta(minutes=minutes),
            age_mark=mark, views=views, forwards=1, replies=0, reactions=None,
        )  # fmt: skip
    tg = _bot(tmp_path)
    (photo,) = [
        s for s in await tg.send("/stats https://t.me/chan/14") if s.method != "sendChatAction"
    ]
    assert photo.method == "sendPhoto"
    caption = str(photo.params["caption"])
    assert "По возрасту поста: 1 ч: 120, 24 ч: 200." in caption, caption
    assert 'href="https://t.me/chan/12"' in caption and "👁 200" in caption

    sent = await tg.send("/export @chan счётчики csv tz:Europe/Moscow")
    assert [s.method for s in sent] == ["sendMessage", "sendDocument", "editMessageText"]
    assert "Готово: 3 строки." in sent[-1].text
    sent = await tg.send("/export @chan подписчики")
    assert "Готово: 4 строки." in sent[-1].text
    assert await SubscriberSnapshot.filter(channel_id=ch.id).count() == 4
