"""/search fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.routers.search import SearchPager, render_page, render_snippet
from core.archive import HL_END, HL_START, IndexProgress, SearchHit, SearchPage
from tests.unit.bot.routers.conftest import DataBot


def _hits(n: int) -> list[SearchHit]:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return [
        SearchHit(i, "@c1", i, when, f"a {HL_START}<match>{HL_END} {i}", f"https://t.me/c1/{i}")
        for i in range(1, n + 1)
    ]


def test_snippets_are_escaped_then_highlighted() -> None:
    assert render_snippet(f"x {HL_START}<b>{HL_END}") == "x <b>&lt;b&gt;</b>"


async def test_pages_and_stale_buttons(data_bot: DataBot) -> None:
    tg = data_bot.tg
    data_bot.archive.hits = _hits(7)
    (first,) = await tg.send("/search match")
    assert "https://t.me/c1/1" in first.text and "https://t.me/c1/6" not in first.text
    ((_, data),) = first.buttons
    pager = SearchPager.unpack(data)
    assert pager.page == 1
    (second,) = await tg.press(data, on=first)
    assert second.method == "editMessageText" and "https://t.me/c1/6" in second.text
    assert ("search", ("match", 1)) in data_bot.archive.calls
    # A button of an older search: its query is gone, the operator is told.
    stale = SearchPager(nonce="0000", page=1).pack()
    sent = await tg._feed(tg.updates.press(stale, on=first))
    (answer,) = sent
    assert answer.method == "answerCallbackQuery" and answer.params.get("show_alert")


async def test_nothing_found_and_usage(data_bot: DataBot) -> None:
    (none,) = await data_bot.tg.send("/search absent")
    assert "absent" in none.text
    (usage,) = await data_bot.tg.send("/search")
    assert "/search" in usage.text


async def test_an_unusable_query_is_explained(data_bot: DataBot) -> None:
    (only_minus,) = await data_bot.tg.send("/search -реклама")
    assert "add at least one word to look for" in only_minus.text
    (no_words,) = await data_bot.tg.send("/search !!!")
    assert "Nothing to look for" in no_words.text and "-word" in no_words.text


async def test_messages_not_indexed_yet_are_counted(data_bot: DataBot) -> None:
    data_bot.archive.hits = _hits(2)
    data_bot.archive.unindexed = 295_000
    (page,) = await data_bot.tg.send("/search match")
    # Thousands separated, as /status writes numbers (review S5).
    assert "295,000 older messages are not searchable yet" in page.text
    data_bot.archive.hits = []
    (none,) = await data_bot.tg.send("/search match")
    assert "Nothing found" in none.text and "295,000 older messages" in none.text


def test_search_numbers_have_thousands_separators_in_both_languages() -> None:

    page = SearchPage(12_345, tuple(_hits(2)), unindexed=295_000)
    en, _ = render_page("match", page, 0, "n", "en", ZoneInfo("UTC"))
    ru, _ = render_page("match", page, 0, "n", "ru", ZoneInfo("UTC"))
    assert "12,345" in en and "295,000" in en
    assert "12\xa0345" in ru and "295\xa0000" in ru and "Ещё 295\xa0000 старых" in ru


def test_a_capped_count_says_more_than_and_pages_on() -> None:
    """A count that stopped at RANK_LIMIT (PostgreSQL) reads "more than", newest first,
    in both languages, and the pager still goes forward."""
    page = SearchPage(10_000, tuple(_hits(5)), capped=True)
    utc = ZoneInfo("UTC")
    en, markup = render_page("match", page, 0, "n", "en", utc)
    ru, _ = render_page("match", page, 0, "n", "ru", utc)
    assert en.startswith("More than 10,000 messages found for “match”, newest first")
    assert ru.startswith("Найдено больше 10\xa0000 сообщений по запросу «match», сначала новые")
    assert markup is not None and "Next" in str(markup)
    exact, _ = render_page("match", SearchPage(10_000, tuple(_hits(5))), 0, "n", "en", utc)
    assert exact.startswith("Found 10,000 messages")


async def test_status_shows_the_index_rebuild_while_it_runs(data_bot: DataBot) -> None:
    (idle,) = await data_bot.tg.send("/status")
    assert "Search index" not in idle.text
    data_bot.archive.progress = IndexProgress(450_000, 1_000_000, 30_000.0)
    (busy,) = await data_bot.tg.send("/status")
    assert "Search index: rebuilding, messages done: 450,000 of 1,000,000 (45%)" in busy.text


def test_hit_times_are_shown_in_the_operators_zone() -> None:
    page = SearchPage(1, tuple(_hits(1)))
    text, _ = render_page("match", page, 0, "n", "en", ZoneInfo("Europe/Moscow"))
    assert "2026-03-01 15:00 MSK" in text
    text, _ = render_page("match", page, 0, "n", "ru", ZoneInfo("UTC"))
    assert "2026-03-01 12:00 UTC" in text
