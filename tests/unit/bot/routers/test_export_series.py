"""/export of a channel's series (#17): `counters` / `subscribers` words (both
languages), "did you mean" for a misspelt one, the menu's series buttons."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.api.analytics import SeriesKind
from bot.component import ControlBot
from bot.routers.export import (
    ExportChannel,
    ExportSeriesPick,
    GarbledOption,
    TwiceGiven,
    parse_export_args,
)
from core.archive import ExportFormat, ExportResult
from core.channels import Channel
from core.health import HealthRegistry
from tests.unit.bot.archive_fakes import FakeArchive, FakeWatches, channel
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps


@dataclass
class FakeSeries:
    """SeriesExportAPI writing `rows` lines (none: nothing kept) to one file."""

    out_dir: Path
    rows: int = 5
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    cleaned: int = 0

    async def export_series(
        self,
        channel: Channel,
        kind: SeriesKind,
        fmt: ExportFormat,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        tz: dt.tzinfo | None = None,
    ) -> ExportResult:
        self.calls.append((channel.id, kind, fmt, since, until, tz))
        if not self.rows:
            return ExportResult(0, (), False, 50)
        path = self.out_dir / f"c{channel.id}-{kind.value}.{fmt.suffix}"
        path.write_text("x\n" * self.rows)
        return ExportResult(self.rows, (path,), False, 50)

    async def cleanup(self, result: ExportResult) -> None:
        self.cleaned += 1


@dataclass
class SeriesBot:
    tg: BotUnderTest
    series: FakeSeries


@pytest.fixture
async def series_bot(tmp_path: Path) -> AsyncIterator[SeriesBot]:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = [channel(1), channel(2)]
    series = FakeSeries(tmp_path)
    deps = replace(
        make_deps({ADMIN}, status=FakeStatus(health)),
        archive=FakeArchive(tmp_path, channels=channels),
        watches=FakeWatches(channels=channels),
        series_export=series,
    )
    control = ControlBot(bot, deps, health=health)
    yield SeriesBot(BotUnderTest(control, bot, session, Updates(), FakeChannels(), health), series)


def test_series_words() -> None:
    args = parse_export_args("@news subscribers xlsx tz:Europe/Moscow from 2026-11-01")
    assert (args.series, args.fmt, args.keyword) == (
        SeriesKind.SUBSCRIBERS,
        ExportFormat.XLSX,
        None,
    )
    assert args.since == dt.datetime(2026, 10, 31, 21, 0, tzinfo=dt.UTC)
    assert parse_export_args("@news счётчики").series is SeriesKind.COUNTERS
    assert parse_export_args("@news Подписчики csv;").series is SeriesKind.SUBSCRIBERS
    for typo, meant in (("subscriber", "subscribers"), ("подписчки", "подписчики"),
                        ("counter", "counters"), ("subscribers,", "subscribers"),
                        ("countres", "counters"), ("счётчкии", "счётчики")):  # fmt: skip
        with pytest.raises(GarbledOption) as exc:
            parse_export_args(f"@news {typo}")
        assert exc.value.fix == meant
    with pytest.raises(TwiceGiven):
        parse_export_args("@news counters subscribers")
    # Quoted, or after a search word, it is a word to search for; short words never near.
    assert parse_export_args('@news "subscriber"').series is None
    assert parse_export_args("@news новые subscriber").keyword == "новые subscriber"
    assert parse_export_args("@news counts").keyword == "counts"


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_series_export_uploads_the_file_and_says_done(
    series_bot: SeriesBot, lang: str
) -> None:
    series_bot.tg.updates.lang = lang
    word = {"en": "subscribers", "ru": "подписчики"}[lang]
    sent = await series_bot.tg.send(f"/export @c1 {word} xlsx tz:Europe/Moscow")
    assert [s.method for s in sent] == ["sendMessage", "sendDocument", "editMessageText"]
    assert series_bot.series.calls == [
        (1, SeriesKind.SUBSCRIBERS, ExportFormat.XLSX, None, None, ZoneInfo("Europe/Moscow"))
    ]
    assert series_bot.series.cleaned == 1
    assert {"en": "Done: 5 rows.", "ru": "Готово: 5 строк."}[lang] in sent[-1].text


async def test_series_refusals(series_bot: SeriesBot) -> None:
    (sent,) = await series_bot.tg.send("/export all subscribers")
    assert "Name one channel" in sent.text
    (sent,) = await series_bot.tg.send("/export @c1 counters comments")
    assert "“comments” does not go with a series" in sent.text
    (sent,) = await series_bot.tg.send("/export @c1 subscriber")
    assert "looks like the option <code>subscribers</code>" in sent.text
    series_bot.series.rows = 0
    sent = await series_bot.tg.send("/export @c1 counters")
    assert [s.method for s in sent] == ["sendMessage", "editMessageText"]
    assert "Nothing to export" in sent[-1].text
    assert series_bot.series.cleaned == 1


async def test_the_menu_offers_a_channels_series(series_bot: SeriesBot) -> None:
    (menu,) = await series_bot.tg.press(ExportChannel(channel_id=2).pack())
    datas = [d for _, d in menu.buttons]
    pick = ExportSeriesPick(channel_id=2, kind=SeriesKind.COUNTERS, fmt=ExportFormat.XLSX).pack()
    assert pick in datas and len(pick) <= 64
    sent = await series_bot.tg.press(pick)
    assert [s.method for s in sent] == ["sendMessage", "sendDocument", "editMessageText"]
    assert series_bot.series.calls[-1][:3] == (2, SeriesKind.COUNTERS, ExportFormat.XLSX)
    # "All channels" has no series buttons.
    (menu,) = await series_bot.tg.press(ExportChannel().pack())
    assert not [d for _, d in menu.buttons if d.startswith("exps")]
