"""Full-text search: word forms (stems), ё, phrases, exclusions, prefixes, ranking,
paging, snippets, sync by triggers, and rows stored without terms."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import connections

import db.search as search_module
from bot.routers.search import render_snippet
from core.words import BadQuery
from db.search import HL_END, HL_START, pending_index, search_messages
from tests.unit.export_fixtures import make_channel, upsert


async def test_prefix_and_case_insensitive_russian_and_english(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "ТЕЛЕГРАМ запустил каналы"), (2, "Telegram Channels"), (3, "погода")])
    page = await search_messages("телеграм")
    assert [h.msg_id for h in page.hits] == [1]
    page = await search_messages("телег*")  # a prefix
    assert [h.msg_id for h in page.hits] == [1]
    assert (await search_messages("телег")).total == 0  # a word, not a prefix
    page = await search_messages("CHANNEL")
    assert [h.msg_id for h in page.hits] == [2]
    assert page.hits[0].link == "https://t.me/news/2"
    assert HL_START + "Channels" + HL_END in page.hits[0].snippet
    assert (await search_messages("несуществующее")).total == 0
    with pytest.raises(BadQuery):
        await search_messages("  !!! ")


async def test_operators_in_the_query_are_plain_words(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "cats AND dogs NOT birds")])
    page = await search_messages("NOT birds AND (")
    assert [h.msg_id for h in page.hits] == [1]
    page = await search_messages('dogs "NOT birds')  # an unclosed quote runs to the end
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


RU_CORPUS = [
    (1, "Москва готовится к выборам"),
    (2, "В Москве прошли выборы мэра"),
    (3, "Жители Москвы выбирают депутатов"),
    (4, "Результаты выборов объявят завтра"),
    (5, "Ёлка зелёная стоит на площади"),
    (6, "Елка уже стоит, новогодняя"),
    (7, "Москвичи и гости столицы"),
    (8, "The elections were held; voters elected a mayor"),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Москва", [1, 2, 3]),
        ("москве", [1, 2, 3]),
        ("выборы", [1, 2, 4]),
        ("выбор", [1, 2, 4]),
        ("ёлка", [5, 6]),
        ("елки", [5, 6]),
        ('"в Москве"', [2]),
        ("выборы -Москва", [4]),
        ('ёлка -"ёлка зелёная"', [6]),
        ("москв*", [1, 2, 3, 7]),
        ("election", [8]),
        ("elect*", [8]),
    ],
)
async def test_russian_and_english_word_forms(db: Path, query: str, expected: list[int]) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, RU_CORPUS)
    page = await search_messages(query, 0, 20)
    assert sorted(h.msg_id for h in page.hits) == expected
    assert page.total == len(expected)


async def test_snippets_mark_the_forms_found_and_never_a_short_word_alone(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "В Москве прошли выборы, а в области — нет")])
    page = await search_messages("москва выборы")
    assert page.hits[0].snippet == (
        f"В {HL_START}Москве{HL_END} прошли {HL_START}выборы{HL_END}, а в области — нет"
    )
    page = await search_messages("в")
    assert page.total == 1 and HL_START not in page.hits[0].snippet
    page = await search_messages('"в Москве"')
    assert f"{HL_START}В Москве{HL_END}" in page.hits[0].snippet


async def test_content_words_are_searched_and_shown(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "")])
    conn = connections.get("default")
    await conn.execute_query(
        "UPDATE message SET content_text = 'Кто победит на выборах? Иванов Петров'"
    )
    page = await search_messages("выборы")
    assert page.total == 1
    assert f"{HL_START}выборах{HL_END}" in page.hits[0].snippet


async def test_rows_without_terms_are_stemmed_before_a_search(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(i, f"новость {i}") for i in range(1, 11)])
    assert await pending_index() == 10
    # A search stems a bounded number itself and says how many are left.
    monkeypatch.setattr(search_module, "SEARCH_FILL", 4)
    page = await search_messages("новости", 0, 20)
    assert page.total == 4 and page.unindexed == 6
    # Newest first: recent posts become searchable first.
    assert sorted(h.msg_id for h in page.hits) == [7, 8, 9, 10]
    monkeypatch.setattr(search_module, "SEARCH_FILL", 100)
    page = await search_messages("новости", 0, 20)
    assert page.total == 10 and page.unindexed == 0
    assert await pending_index() == 0


async def test_nfd_text_is_found_and_marked_on_its_composed_form(db: Path) -> None:
    import unicodedata

    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, unicodedata.normalize("NFD", "Йошкар-Ола и ёжик"))])
    for query in ("ежик", "йошкар", unicodedata.normalize("NFD", "ёжик")):
        page = await search_messages(query)
        assert page.total == 1, query
    page = await search_messages("ежик")
    assert page.hits[0].snippet == f"Йошкар-Ола и {HL_START}ёжик{HL_END}"


async def test_a_comment_links_into_its_channel_thread_as_exports_do(db: Path) -> None:
    """A hit in a discussion group's comment links to the channel's post with
    ?comment=<id> (the form exports write), not to the group's t.me/c/... message."""
    import datetime as dt

    from core.channels import comment_link
    from db.models import Channel, Message

    news = await Channel.create(tg_id=1001, username="news", title="News", linked_chat_id=2002)
    chat = await Channel.create(tg_id=2002, username=None, title="News chat", status="linked")
    when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    await Message.create(channel=news, msg_id=1, date=when, text="Выборы мэра")
    await Message.create(
        channel=chat, msg_id=10, date=when, text="Обсуждение выборов", comment_of=1
    )
    page = await search_messages("обсуждение")
    assert [h.link for h in page.hits] == ["https://t.me/news/1?comment=10"]
    assert page.hits[0].link == comment_link("news", 1001, 1, 10)
    # Without its channel stored the comment keeps the group's own link.
    await news.delete()
    page = await search_messages("обсуждение")
    assert [h.link for h in page.hits] == ["https://t.me/c/2002/10"]
