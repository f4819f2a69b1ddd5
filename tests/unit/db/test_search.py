"""Full-text search: ranking, prefixes, Russian case folding, paging, sync by triggers."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import connections

import db.search as search_module
from bot.routers.search import render_snippet
from db.search import HL_END, HL_START, fts5_query, query_words, search_messages
from tests.unit.export_fixtures import make_channel, upsert


async def test_prefix_and_case_insensitive_russian_and_english(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "ТЕЛЕГРАМ запустил каналы"), (2, "Telegram Channels"), (3, "погода")])
    page = await search_messages("телеграм")
    assert [h.msg_id for h in page.hits] == [1]
    page = await search_messages("телег")  # a prefix
    assert [h.msg_id for h in page.hits] == [1]
    page = await search_messages("CHANNEL")
    assert [h.msg_id for h in page.hits] == [2]
    assert page.hits[0].link == "https://t.me/news/2"
    assert HL_START + "Channels" + HL_END in page.hits[0].snippet
    assert (await search_messages("несуществующее")).total == 0
    assert (await search_messages("  !!! ")).total == 0


async def test_operators_in_the_query_are_plain_words(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "cats AND dogs NOT birds")])
    assert fts5_query(query_words('NOT "x')) == '"not"* "x"*'
    page = await search_messages('NOT birds" AND (')
    assert [h.msg_id for h in page.hits] == [1]


async def test_ranking_puts_the_better_match_first(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    filler = " ".join(["слово"] * 60)
    await upsert(
        ch,
        [
            (1, f"{filler} бюджет {filler}"),
            (2, "Бюджет, бюджет и снова бюджет"),
            (3, f"бюджет {filler}"),
        ],
    )
    page = await search_messages("бюджет")
    assert page.total == 3
    assert page.hits[0].msg_id == 2  # densest match first
    assert page.hits[-1].msg_id == 1


async def test_pagination_is_complete_and_disjoint(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(i, f"новость номер {i}") for i in range(1, 13)])
    pages = [await search_messages("новость", offset, 5) for offset in (0, 5, 10)]
    assert [p.total for p in pages] == [12, 12, 12]
    assert [len(p.hits) for p in pages] == [5, 5, 2]
    ids = [h.msg_id for p in pages for h in p.hits]
    assert sorted(ids) == list(range(1, 13))


async def test_search_follows_raw_upserts_edits_and_deletes(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "старый текст")])
    assert (await search_messages("старый")).total == 1
    await upsert(ch, [(1, "новый текст")])  # ON CONFLICT DO UPDATE = an edit
    assert (await search_messages("старый")).total == 0
    assert (await search_messages("новый")).total == 1
    await connections.get("default").execute_query("DELETE FROM message WHERE msg_id = 1")
    assert (await search_messages("новый")).total == 0


def test_snippet_is_escaped_then_highlighted() -> None:
    assert render_snippet(f"<i>{HL_START}a&b{HL_END}") == "&lt;i&gt;<b>a&amp;b</b>"


async def test_very_broad_queries_come_newest_first(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "бюджет бюджет бюджет"), (2, "бюджет и прочее"), (3, "про бюджет")])
    assert (await search_messages("бюджет")).hits[0].msg_id == 1  # ranked by relevance
    monkeypatch.setattr(search_module, "RANK_LIMIT", 2)
    page = await search_messages("бюджет")
    assert [h.msg_id for h in page.hits] == [3, 2, 1] and page.total == 3
