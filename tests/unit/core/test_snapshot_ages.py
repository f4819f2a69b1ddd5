"""SNAPSHOT_AGES as the settings read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.settings import Settings
from core.analytics import BadAges, parse_ages


def test_ages_parse_sorted_and_distinct() -> None:
    assert parse_ages("24h, 1h;7d,1h") == (
        timedelta(hours=1), timedelta(hours=24), timedelta(days=7)
    )
    with pytest.raises(BadAges):
        parse_ages("5 parsecs")


@pytest.mark.parametrize("value", ["none", "OFF", ",", " , "])
def test_none_means_no_series(value: str) -> None:
    assert parse_ages(value) == ()


REQUIRED = {
    "BOT_TOKEN": "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz",
    "TELEGRAM_API_ID": "1",
    "TELEGRAM_API_HASH": "0123456789abcdef0123456789abcdef",
    "ADMIN_IDS": "1",
    "SESSION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
}


def test_an_empty_variable_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every setting: an empty variable is no setting (env_ignore_empty); "none" turns it off.
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SNAPSHOT_AGES", "")
    default = parse_ages("1h,24h,7d,30d")
    assert Settings(_env_file=None).snapshot_age_list == default  # type: ignore[call-arg]
    monkeypatch.setenv("SNAPSHOT_AGES", "none")
    assert Settings(_env_file=None).snapshot_age_list == ()  # type: ignore[call-arg]
