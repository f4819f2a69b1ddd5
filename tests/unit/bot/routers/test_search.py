"""/search fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.routers.search import SearchPager, render_snippet
from core.archive import HL_END, HL_START, SearchHit
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
