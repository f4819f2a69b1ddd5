"""/accounts at any number of accounts (#18): 10 a page, valid HTML under 4,096 chars."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.routers.account import accounts_page, accounts_section
from core.login import AccountState, AccountView
from tests.doubles.botapi.formatting import parse_text, utf16_len


def _views(n: int) -> list[AccountView]:
    long = "<b>Ann & Co</b> " + "x" * 300
    return [
        AccountView(
            i, f"{long} {i}", AccountState.FLOOD if i % 3 == 0 else AccountState.READY,
            channels=i, proxy=("h" * 250 + ":1080") if i % 2 else None,
            flood_until=datetime(2026, 12, 2, 14, 5, tzinfo=UTC),
        )
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_page_is_valid_html_within_the_limit(lang: str) -> None:
    views = _views(25)
    seen = []
    for page in range(3):
        text, markup = accounts_page(views, page, lang)
        shown, _ = parse_text(text, "HTML")  # raises on invalid Telegram HTML
        assert utf16_len(shown) <= 4096
        assert markup is not None
        proxies = [r[0] for r in markup.inline_keyboard if r[0].callback_data.startswith("accpx")]
        seen += [b.callback_data for b in proxies]
        assert len(proxies) == (10 if page < 2 else 5)
        assert all(len(b.callback_data.encode()) <= 64 for r in markup.inline_keyboard for b in r)
    assert len(set(seen)) == 25
    text, _ = accounts_page(views, 0, lang)
    assert "14:05" in text  # flood-waited until HH:MM
    assert "&lt;b&gt;Ann &amp; Co" in text  # the name escaped
    assert ":1080" in text and "h" * 70 not in text  # proxy host:port, cut short
    shown, _ = parse_text(accounts_section(views, lang), "HTML")
    assert utf16_len(shown) <= 4096


def test_a_flood_wait_end_is_shown_in_the_operators_zone_with_its_day() -> None:
    # Was: /status showed it in UTC whatever TIMEZONE said, and both lists a bare
    # "14:05" even for a wait ending another day.
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    msk = ZoneInfo("Europe/Moscow")
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    later = soon + timedelta(days=2)
    views = [
        AccountView(i, f"A{i}", AccountState.FLOOD, flood_until=until)
        for i, until in ((1, soon), (2, later))
    ]
    page, _ = accounts_page(views, 0, "en", msk)
    status = accounts_section(views, "ru", msk)
    for text in (page, status):
        assert soon.astimezone(msk).strftime("%H:%M MSK") in text
        assert later.astimezone(msk).strftime("%Y-%m-%d %H:%M MSK") in text
