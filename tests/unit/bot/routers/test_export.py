"""/export arguments: channel, format, period and words; bad dates in words."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.routers.export import (
    BadDate,
    BadFormat,
    BadZone,
    ExportChannel,
    ExportPick,
    GarbledOption,
    ReversedDates,
    TwiceGiven,
    parse_export_args,
)
from core.archive import ExportFormat
from tests.unit.bot.routers.conftest import DataBot


def test_parse_arguments() -> None:
    args = parse_export_args("@news xlsx from 2026-01-01 to 2026-01-31 выборы мэра")
    assert (args.channel, args.fmt, args.keyword) == ("@news", ExportFormat.XLSX, "выборы мэра")
    assert args.since is not None and args.since.day == 1
    assert args.until is not None and (args.until.month, args.until.day) == (2, 1)
    assert parse_export_args("all").channel is None
    assert parse_export_args("all").fmt == ExportFormat.CSV
    with pytest.raises(BadDate):
        parse_export_args("all from 01.02.2026")
    # from/to/с/по before anything but a day are words of the search.
    assert parse_export_args("@ch how to cook").keyword == "how to cook"
    args = parse_export_args("@ch выборы по Москве с 2026-01-01")
    assert args.keyword == "выборы по Москве" and args.since is not None


def test_semicolon_csv_comments_and_zone_options() -> None:
    args = parse_export_args(
        "@news csv; комментарии tz:Europe/Moscow с 2026-03-29 по 2026-03-29 мэр"
    )
    assert (args.fmt, args.comments, args.keyword) == (ExportFormat.CSV_SEMICOLON, True, "мэр")
    moscow = ZoneInfo("Europe/Moscow")
    assert args.tz == moscow
    # Days are read in the export's zone: Moscow midnight is 21:00 UTC the day before.
    assert args.since == dt.datetime(2026, 3, 28, 21, 0, tzinfo=dt.UTC)
    assert args.until == dt.datetime(2026, 3, 29, 21, 0, tzinfo=dt.UTC)
    assert parse_export_args("@news csv ; мэр").fmt == ExportFormat.CSV_SEMICOLON
    assert parse_export_args("csv;").channel is None
    assert parse_export_args("@news с комментариями").comments
    assert parse_export_args("@news xlsx comments").comments
    # No tz: the days are the bot's TIMEZONE days, the file's times stay UTC (tz None).
    ny = ZoneInfo("America/New_York")
    local = parse_export_args("@news from 2026-03-08 to 2026-03-08", ny)
    assert local.tz is None
    assert local.since == dt.datetime(2026, 3, 8, 5, 0, tzinfo=dt.UTC)
    assert local.until == dt.datetime(2026, 3, 9, 4, 0, tzinfo=dt.UTC)  # a 23-hour day
    assert parse_export_args("@news tz:local", ny).tz == ny
    assert parse_export_args("@news tz:utc").tz == ZoneInfo("UTC")
    with pytest.raises(BadZone):
        parse_export_args("@news tz:Mars/Olympus")


def test_options_are_options_wherever_they_stand() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    args = parse_export_args("@ch москва tz:Europe/Moscow")
    assert (args.keyword, args.tz) == ("москва", moscow)
    args = parse_export_args("@ch москва xlsx нефть comments from 2026-01-01")
    assert (args.fmt, args.keyword, args.comments) == (ExportFormat.XLSX, "москва нефть", True)
    assert args.since == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_export_args("@ch москва csv;").fmt == ExportFormat.CSV_SEMICOLON
    assert parse_export_args("@ch москва csv ;").fmt == ExportFormat.CSV_SEMICOLON
    assert parse_export_args("@ch csv csv").fmt == ExportFormat.CSV  # the same twice
    # In quotes a word is a search word, whatever it is.
    args = parse_export_args('@ch "csv" "отчёт xlsx comments"')
    assert (args.fmt, args.comments) == (ExportFormat.CSV, False)
    assert args.keyword == '"csv" "отчёт xlsx comments"'
    # A first word that is an option: every channel.
    assert parse_export_args("tz:UTC мэр").channel is None
    assert parse_export_args("comments").channel is None
    # Another file format: refused before any search word, a search word after one.
    with pytest.raises(BadFormat):
        parse_export_args("@ch pdf")
    assert parse_export_args("@ch отчёт pdf").keyword == "отчёт pdf"


def test_empty_garbled_and_doubled_options_are_refused_with_the_fix() -> None:
    with pytest.raises(BadZone) as zone:
        parse_export_args("@ch csv tz:")
    assert (zone.value.value, zone.value.near) == ("", None)
    with pytest.raises(BadZone) as zone:
        parse_export_args("@ch tz:Europe/moscow")
    assert (zone.value.value, zone.value.near) == ("Europe/moscow", "Europe/Moscow")
    with pytest.raises(BadZone) as zone:
        parse_export_args("@ch tz:Mars/Olympus")
    assert zone.value.near is None
    for typo, fix in (("csv,", "csv"), ("xlsx.", "xlsx"), ("(jsonl)", "jsonl")):
        with pytest.raises(GarbledOption) as garbled:
            parse_export_args(f"@ch мэр {typo}")
        assert (garbled.value.value, garbled.value.fix) == (typo, fix)
    with pytest.raises(TwiceGiven) as twice:
        parse_export_args("@ch csv мэр xlsx")
    assert (twice.value.first, twice.value.second) == ("csv", "xlsx")
    with pytest.raises(TwiceGiven) as twice:
        parse_export_args("@ch to 2026-01-01 мэр to 2026-02-01")
    assert (twice.value.first, twice.value.second) == ("2026-01-01", "2026-02-01")
    with pytest.raises(TwiceGiven):
        parse_export_args("@ch csv; csv")


def test_reversed_dates_are_named_not_exported_as_nothing() -> None:
    with pytest.raises(ReversedDates) as exc:
        parse_export_args("@news from 2025-01-01 to 2024-01-01")
    assert (exc.value.since, exc.value.until) == ("2025-01-01", "2024-01-01")
    one_day = parse_export_args("@news с 2025-01-01 по 2025-01-01")  # one whole day
    assert one_day.since is not None and one_day.until is not None
    assert (one_day.until - one_day.since).days == 1


def test_buttons_round_trip_within_telegrams_64_bytes() -> None:
    pick = ExportPick(channel_id=2**62, fmt=ExportFormat.JSONL, days=30)
    assert len(pick.pack().encode()) <= 64
    assert ExportPick.unpack(pick.pack()) == pick
    everything = ExportChannel()
    assert ExportChannel.unpack(everything.pack()).channel_id is None


# -- in process: real Updates through the real Dispatcher, a fake archive ------------


async def test_reversed_dates_are_said_and_nothing_is_exported(data_bot: DataBot) -> None:
    (reply,) = await data_bot.tg.send("/export @c1 from 2025-01-01 to 2024-01-01")
    assert "reversed" in reply.text and "2025-01-01" in reply.text
    assert not [c for c in data_bot.archive.calls if c[0] == "export"]


async def test_menu_channel_format_and_period_buttons(data_bot: DataBot) -> None:
    tg, archive = data_bot.tg, data_bot.archive
    (menu,) = await tg.send("/export")
    assert ("All channels", ExportChannel().pack()) in menu.buttons
    data = dict(menu.buttons)["C1 · @c1"]
    (formats,) = await tg.press(data, on=menu)
    pick = ExportPick(channel_id=1, fmt=ExportFormat.JSONL, days=30).pack()
    assert pick in [d for _, d in formats.buttons]
    sent = await tg.press(pick, on=formats)
    assert [s.method for s in sent] == ["sendMessage", "sendDocument", "editMessageText"]
    ((_, (channel_id, fmt, since, until, keyword)),) = [
        c for c in archive.calls if c[0] == "export"
    ]
    assert (channel_id, fmt, until, keyword) == (1, ExportFormat.JSONL, None, None)
    assert since is not None
    assert ("cleanup", 3) in archive.calls
    assert "3" in sent[-1].text


async def test_an_empty_export_says_so(data_bot: DataBot) -> None:
    data_bot.archive.rows = 0
    sent = await data_bot.tg.send("/export all csv nothing-matches")
    assert [s.method for s in sent] == ["sendMessage", "editMessageText"]
    assert "Nothing to export" in sent[-1].text


async def test_an_unknown_channel_is_named(data_bot: DataBot) -> None:
    (reply,) = await data_bot.tg.send("/export @nope")
    assert "@nope" in reply.text


async def test_a_second_export_waits_for_the_first(data_bot: DataBot) -> None:
    data_bot.archive.busy = True
    (reply,) = await data_bot.tg.send("/export @c1")
    assert "already" in reply.text or "running" in reply.text
    assert not [c for c in data_bot.archive.calls if c[0] == "export"]


async def test_options_reach_the_export_and_a_bad_zone_is_explained(data_bot: DataBot) -> None:
    tg, archive = data_bot.tg, data_bot.archive
    sent = await tg.send("/export @c1 csv; comments tz:Europe/Moscow")
    assert sent[-1].method == "editMessageText"
    ((_, (channel_id, fmt, *_rest)),) = [c for c in archive.calls if c[0] == "export"]
    assert (channel_id, fmt) == (1, ExportFormat.CSV_SEMICOLON)
    assert ("export_options", (True, ZoneInfo("Europe/Moscow"))) in archive.calls
    (reply,) = await tg.send("/export @c1 tz:Nowhere/City")
    assert "Nowhere/City" in reply.text and "tz:Europe/London" in reply.text
    assert len([c for c in archive.calls if c[0] == "export"]) == 1


async def test_a_misplaced_or_broken_option_is_answered_not_searched(data_bot: DataBot) -> None:
    tg, archive = data_bot.tg, data_bot.archive
    await tg.send("/export @c1 москва tz:Europe/Moscow")
    assert ("export_options", (False, ZoneInfo("Europe/Moscow"))) in archive.calls
    (reply,) = await tg.send("/export @c1 csv tz:")
    assert "tz:Europe/London" in reply.text and "Unknown" not in reply.text
    (reply,) = await tg.send("/export @c1 tz:Europe/moscow")
    assert "<code>tz:Europe/Moscow</code>" in reply.text
    (reply,) = await tg.send("/export @c1 csv,")
    assert "<code>csv</code>" in reply.text and "csv,”" in reply.text
    (reply,) = await tg.send("/export @c1 to 2026-01-01 to 2026-02-01")
    assert "2026-01-01" in reply.text and "2026-02-01" in reply.text
    assert len([c for c in archive.calls if c[0] == "export"]) == 1
