"""Review: numbers in texts agree with their nouns in both languages."""

from __future__ import annotations

import pytest

from bot.routers.stats import empty_text


@pytest.mark.parametrize(
    ("days", "lang", "expected"),
    [
        (1, "ru", "@c: за 1 день сохранённых постов нет."),
        (21, "ru", "@c: за 21 день сохранённых постов нет."),
        (3, "ru", "@c: за 3 дня сохранённых постов нет."),
        (30, "ru", "@c: за 30 дней сохранённых постов нет."),
        (1, "en", "@c: no stored posts in the last 1 day."),
        (7, "en", "@c: no stored posts in the last 7 days."),
    ],
)
def test_review_stats_empty_agrees_with_the_number_of_days(
    days: int, lang: str, expected: str
) -> None:
    # Was "за последние 1 дн." / "in the last 1 days".
    assert empty_text("@c", days, lang) == expected


def test_review_search_header_names_what_was_found() -> None:
    from zoneinfo import ZoneInfo

    from bot.routers.search import render_page
    from core.archive import SearchPage

    utc = ZoneInfo("UTC")
    text, _ = render_page("телег", SearchPage(1, ()), 0, "n", "ru", utc)
    # Now "Найдено 1 по запросу «телег» — …": a number with no noun.
    assert text.startswith("Найдено 1 сообщение по запросу")
    page = SearchPage(22, ())
    assert render_page("x", page, 0, "n", "ru", utc)[0].startswith("Найдено 22 сообщения")
    assert render_page("x", page, 0, "n", "en", utc)[0].startswith("Found 22 messages")
