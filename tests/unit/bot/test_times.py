"""bot/times.py: times shown in the operators' zone, typed days read in it (DST-aware)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.times import day_end, day_start, read_day, show, show_day, today, zone_label

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def test_show_moves_the_time_into_the_zone_and_names_it() -> None:
    at = datetime(2026, 9, 1, 11, 52, 5, tzinfo=UTC)
    assert show(at, UTC_ZONE) == "2026-09-01 11:52 UTC"
    assert show(at, MOSCOW) == "2026-09-01 14:52 MSK"
    assert show(at, NEW_YORK) == "2026-09-01 07:52 EDT"
    assert show(at, NEW_YORK, zone=False) == "2026-09-01 07:52"
    # naive means UTC; winter in New York is EST (UTC-5)
    assert show(datetime(2026, 1, 15, 3, 0), NEW_YORK) == "2026-01-14 22:00 EST"
    assert show_day(datetime(2026, 1, 15, 3, 0, tzinfo=UTC), NEW_YORK) == "2026-01-14"


def test_a_typed_day_is_its_local_midnight_in_utc() -> None:
    assert read_day("2026-09-01", UTC_ZONE) == datetime(2026, 9, 1, tzinfo=UTC)
    assert read_day("2026-09-01", MOSCOW) == datetime(2026, 8, 31, 21, tzinfo=UTC)
    # New York: EDT (UTC-4) in summer, EST (UTC-5) in winter
    assert read_day("2026-07-01", NEW_YORK) == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert read_day("2026-01-01", NEW_YORK) == datetime(2026, 1, 1, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        read_day("2026-02-30", MOSCOW)
    with pytest.raises(ValueError):
        read_day("01.09.2026", MOSCOW)


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = date(2026, 3, 8)  # New York springs forward at 02:00
    autumn = date(2026, 11, 1)  # and falls back at 02:00
    assert (day_end(spring, NEW_YORK) - day_start(spring, NEW_YORK)).total_seconds() == 23 * 3600
    assert (day_end(autumn, NEW_YORK) - day_start(autumn, NEW_YORK)).total_seconds() == 25 * 3600
    # Where midnight itself is skipped (Sao Paulo 2018-11-04, 00:00 -> 01:00), the day
    # starts at its first real minute, 01:00 -02 = 03:00 UTC.
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    assert day_start(date(2018, 11, 4), sao_paulo) == datetime(2018, 11, 4, 3, tzinfo=UTC)
    assert show(day_start(date(2018, 11, 4), sao_paulo), sao_paulo, zone=False).endswith("01:00")


def test_today_and_the_zone_label() -> None:
    late = datetime(2026, 9, 1, 22, 30, tzinfo=UTC)
    assert today(UTC_ZONE, late) == date(2026, 9, 1)
    assert today(MOSCOW, late) == date(2026, 9, 2)
    assert zone_label(UTC_ZONE) == "UTC"
    assert zone_label(MOSCOW) == "Europe/Moscow (UTC+03:00)"
    assert zone_label(NEW_YORK, datetime(2026, 1, 1, tzinfo=UTC)) == "America/New_York (UTC-05:00)"
    assert zone_label(NEW_YORK, datetime(2026, 7, 1, tzinfo=UTC)) == "America/New_York (UTC-04:00)"
