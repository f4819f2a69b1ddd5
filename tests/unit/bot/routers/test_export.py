"""/export arguments: channel, format, period and words; bad dates in words."""

from __future__ import annotations

import pytest

from bot.routers.export import (
    BadDate,
    ExportChannel,
    ExportPick,
    ReversedDates,
    parse_export_args,
)
from core.archive import ExportFormat


def test_parse_arguments() -> None:
    args = parse_export_args("@news xlsx from 2026-01-01 to 2026-01-31 выборы мэра")
    assert (args.channel, args.fmt, args.keyword) == ("@news", ExportFormat.XLSX, "выборы мэра")
    assert args.since is not None and args.since.day == 1
    assert args.until is not None and (args.until.month, args.until.day) == (2, 1)
    assert parse_export_args("all").channel is None
    assert parse_export_args("all").fmt == ExportFormat.CSV
    with pytest.raises(BadDate):
        parse_export_args("all from 01.02.2026")


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
