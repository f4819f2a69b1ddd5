"""The PostgreSQL path: migrations, the batch+cursor write, upserts and search.

Runs on a throwaway PostgreSQL database on 127.0.0.1 from the machine's server binaries
(Debian's postgresql package); skipped, saying why, where there are none.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from core.parsing import COLUMNS
from db import media_files
from db.channels import ChannelStateRepository, find_channel
from db.messages import MessageRepository
from db.models import Channel, MediaDownload, MediaFile, Message
from db.search import search_messages
from parser.history import message_row
from services.analytics import AnalyticsService
from tests.unit.message_fixtures import assert_stored_as_rows, full_message, tl_message

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _plan_without_seqscan(sql: str) -> list[dict[str, object]]:
    """EXPLAIN `sql` with sequential scans off, both on ONE pooled connection (a bare
    SET went to whichever connection the pool gave, and EXPLAIN often to another)."""
    from tortoise.transactions import in_transaction

    async with in_transaction() as tx:
        await tx.execute_query("SET LOCAL enable_seqscan = off")
        return await tx.execute_query_dict(sql)


async def test_batches_upserts_cursor_and_search_on_postgres(pg_repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [
        message_row(ch.id, tl_message(i, f"Погода в городе {i}", views=i), NOW)
        for i in range(1, 151)
    ]
    await pg_repo.store_batch(ch.id, rows[:100], cursor=100, new_rows=100)
    await pg_repo.store_batch(ch.id, rows[100:], cursor=150, new_rows=50)
    # A re-read (refresh window) updates in place; the cursor never moves back.
    again = [message_row(ch.id, tl_message(i, f"Снегопад {i}", views=i * 10), NOW) for i in (1, 2)]
    await pg_repo.store_batch(ch.id, again, cursor=2, new_rows=0)

    assert await Message.filter(channel_id=ch.id).count() == 150
    first = await Message.get(channel_id=ch.id, msg_id=2)
    assert (first.text, first.views, first.date) == ("Снегопад 2", 20, NOW)
    row = await ChannelStateRepository().channel(ch.id)
    assert row is not None and (row.cursor, row.messages_count) == (150, 150)

    # Every column, JSON and times included, survives the array-per-column write.
    full = [message_row(ch.id, full_message(200), NOW)]
    full.append(message_row(ch.id, tl_message(201, "a comment"), NOW, comment_of=200))
    await pg_repo.store_batch(ch.id, full, cursor=201, new_rows=2)
    await assert_stored_as_rows(full)

    page = await search_messages("снегопад")
    assert page.total == 2 and sorted(h.msg_id for h in page.hits) == [1, 2]
    assert (await search_messages("погода")).total == 148
    row = await ChannelStateRepository().channel(ch.id)
    assert row is not None and (row.cursor, row.messages_count) == (201, 152)


async def test_stats_count_an_album_once_and_no_service_event_on_postgres(
    pg_repo: MessageRepository,
) -> None:
    """The ingest's own rows (JSON `action` NULL for posts, an object for events) read
    back by /stats on PostgreSQL, bucketed in the operators' zone."""
    ch = await Channel.create(tg_id=778, access_hash=1, username="albums")
    late = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 2 March, 01:30 in Moscow
    rows = [
        message_row(ch.id, tl_message(i, "caption" if i == 2 else "", views=40 + i), NOW)
        for i in (1, 2, 3)
    ]
    rows = [_with(r, date=late, grouped_id=555) for r in rows]
    rows.append(_with(message_row(ch.id, tl_message(4, "alone", views=7), NOW), date=late))
    event = message_row(ch.id, tl_message(5, "", views=None), NOW)
    rows.append(_with(event, date=late, action='{"type": "pin_message", "message_id": 4}'))
    await pg_repo.store_batch(ch.id, rows, cursor=5, new_rows=5)
    assert await Message.filter(channel_id=ch.id, action__isnull=True).count() == 4

    ref = await find_channel("@albums")
    assert ref is not None
    now = datetime(2026, 3, 3, tzinfo=UTC)
    st = await AnalyticsService(clock=lambda: now).metrics(ref, 30, ZoneInfo("Europe/Moscow"))
    assert st.posts == 2
    assert [b.start.isoformat() for b in st.chart if b.posts] == ["2026-03-02"]
    top = [(p.msg_id, p.views, p.text) for p in st.top_by_views]
    assert top == [(1, 43, "caption"), (4, 7, "alone")]


def _with(row: tuple, **values: object) -> tuple:  # type: ignore[type-arg]
    """`row` (core.parsing.COLUMNS order) with some columns replaced."""
    out = list(row)
    for name, value in values.items():
        out[COLUMNS.index(name)] = value
    return tuple(out)


async def test_stemmed_search_on_postgres(pg_repo: MessageRepository) -> None:
    """The /search corpus on PostgreSQL's own Snowball stemmers (migration 0006's
    `tgp_search`: russian, Latin words by english, no stop words), ё folded by
    translate(): the same answers as SQLite's stems and the Python matcher."""

    from core.words import SearchQuery

    ch = await Channel.create(tg_id=779, access_hash=1, username="forms")
    texts = [
        "Москва готовится к выборам",
        "В Москве прошли выборы мэра",
        "Жители Москвы выбирают депутатов",
        "Результаты выборов объявят завтра",
        "Ёлка зелёная стоит на площади",
        "Елка уже стоит, новогодняя",
        "Москвичи и гости столицы",
        "The elections were held; voters elected a mayor",
    ]
    rows = [message_row(ch.id, tl_message(i, t), NOW) for i, t in enumerate(texts, 1)]
    await pg_repo.store_batch(ch.id, rows, cursor=8, new_rows=8)
    expected = {
        "Москва": [1, 2, 3],
        "москве": [1, 2, 3],
        "выборы": [1, 2, 4],
        "ёлка": [5, 6],
        "елки": [5, 6],
        '"в Москве"': [2],
        "выборы -Москва": [4],
        'ёлка -"ёлка зелёная"': [6],
        "москв*": [1, 2, 3, 7],
        "election": [8],
    }
    for query, ids in expected.items():
        page = await search_messages(query, 0, 20)
        assert sorted(h.msg_id for h in page.hits) == ids, (query, page)
        assert page.total == len(ids), query
        # The Python matcher (watches, export filters) agrees with the server.
        q = SearchQuery.parse(query)
        assert [i for i, t in enumerate(texts, 1) if q.matches_text(t)] == ids, query
    page = await search_messages("москва выборы")
    assert page.hits[0].snippet.count("\x02") == 2  # both words marked, in Python
    # The stored documents' GIN index (migration 0016) is the one a search uses.
    from db.search import PG_INDEX

    plan = await _plan_without_seqscan(
        "EXPLAIN SELECT count(*) FROM message_search"
        " WHERE doc @@ to_tsquery('tgp_search', 'москва')"
    )
    assert any(PG_INDEX in str(r) for r in plan), plan


async def test_search_documents_are_queued_and_written_after_the_ingest(
    pg_repo: MessageRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0016: the ingest queues its rows (no tsvector on its path); a search
    writes up to SEARCH_FILL queued documents before it looks and says how many are
    left; the search-index component writes the rest in the background. An edit of the
    text queues the row again (the old words stop matching), an edit of anything else
    does not, and a deleted message takes its document with it. Two fillers at once
    take different rows."""
    from db import search
    from db.search import fill_index, pending_index
    from services.search_index import SearchIndexRebuild

    conn = connections.get("default")
    ch = await Channel.create(tg_id=791, access_hash=1, username="queue")
    assert await fill_index(10_000) >= 0 and await pending_index() == 0  # earlier tests'
    rows = [
        message_row(ch.id, tl_message(i, f"Гололедица в Москве {i}"), NOW) for i in range(1, 31)
    ]
    await pg_repo.store_batch(ch.id, rows, cursor=30, new_rows=30)
    assert await pending_index() == 30
    docs = await conn.execute_query_dict(
        "SELECT count(*) AS n FROM message_search s JOIN message m ON m.id = s.id"
        " WHERE m.channel_id = $1",
        [ch.id],
    )
    assert docs[0]["n"] == 0  # nothing computed on the ingest path

    monkeypatch.setattr(search, "SEARCH_FILL", 20)
    page = await search_messages("гололедицы", 0, 5)
    monkeypatch.undo()
    # The newest 20 first; the page says 10 are not searchable yet.
    assert (page.total, page.unindexed) == (20, 10)
    assert [h.msg_id for h in page.hits] == [30, 29, 28, 27, 26]
    rebuild = SearchIndexRebuild(chunk=4, target_seconds=None)
    assert await rebuild.rebuild(10) == 10 and await pending_index() == 0
    assert (await search_messages("гололедицы")).total == 30

    # Views change: no document is queued; the text changes: the row is queued again.
    await Message.filter(channel_id=ch.id, msg_id=3).update(views=999)
    assert await pending_index() == 0
    await Message.filter(channel_id=ch.id, msg_id=3).update(text="Суховей в Сочи")
    assert await pending_index() == 1
    assert await fill_index(100) == 1
    assert (await search_messages("гололедицы")).total == 29
    assert [h.msg_id for h in (await search_messages("суховей")).hits] == [3]
    # The upsert of a re-read with a new text queues it too.
    again = [message_row(ch.id, tl_message(4, "Метель в Казани"), NOW)]
    await pg_repo.store_batch(ch.id, again, cursor=4, new_rows=0)
    assert (await search_messages("метель")).total == 1

    # A deleted message goes from the index; a queued one that is deleted is skipped.
    await Message.filter(channel_id=ch.id, msg_id=5).delete()
    assert (await search_messages("гололедицы")).total == 27
    await Message.filter(channel_id=ch.id, msg_id=6).update(text="Град")
    await Message.filter(channel_id=ch.id, msg_id=6).delete()
    assert await pending_index() == 1 and await fill_index(100) == 1
    assert await pending_index() == 0

    # Two transactions filling at once take different rows (SKIP LOCKED).
    more = [message_row(ch.id, tl_message(i, f"Ливень {i}"), NOW) for i in range(100, 110)]
    await pg_repo.store_batch(ch.id, more, cursor=109, new_rows=10)
    from tortoise.transactions import in_transaction

    async with in_transaction() as tx:
        first = await tx.execute_query_dict(search._PG_FILL, [6])
        second = await fill_index(6)  # another connection, while the first holds 6
    assert (first[0]["n"], second) == (6, 4)
    assert (await search_messages("ливень")).total == 10


async def test_beyond_rank_limit_the_count_stops_and_the_newest_come_first(
    pg_repo: MessageRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL does not count every match of a broad query (500,000 heap rows for a
    word in 5% of a 10M archive): past RANK_LIMIT the page says "more than" the limit
    and lists the newest matches; up to it, the exact count and the best first."""
    from db import search

    ch = await Channel.create(tg_id=792, access_hash=1, username="broad")
    rows = [
        message_row(ch.id, tl_message(i, "Паводок" + " паводок" * (i % 3)), NOW)
        for i in range(1, 8)
    ]
    await pg_repo.store_batch(ch.id, rows, cursor=7, new_rows=7)
    monkeypatch.setattr(search, "RANK_LIMIT", 3)
    page = await search_messages("паводок", 0, 2)
    assert (page.total, page.capped) == (3, True)
    assert [h.msg_id for h in page.hits] == [7, 6]
    assert [h.msg_id for h in (await search_messages("паводок", 2, 2)).hits] == [5, 4]
    monkeypatch.setattr(search, "RANK_LIMIT", 7)
    page = await search_messages("паводок", 0, 3)
    assert (page.total, page.capped) == (7, False)
    # Ranked: three words first (i % 3 == 2), the later stored first among equals.
    assert [h.msg_id for h in page.hits] == [5, 2, 7]
    assert (await search_messages("паводок", 6, 3)).hits[0].msg_id == 3
    assert (await search_messages("паводок", 9, 3)).hits == ()


async def test_postgres_and_the_python_matcher_agree_on_random_queries(
    pg_repo: MessageRepository,
) -> None:
    """PostgreSQL splits words exactly as core.words does (URLs, hosts, e-mails,
    decimals, digit-hyphen words, underscores, emoji are cut into their words) and stems
    them the same way: random texts and random queries (words, phrases, -exclusions,
    prefixes) find the same messages on the server (the search's own document and
    tsquery) as in the Python matcher of watches and export filters."""
    import random
    import unicodedata

    from tortoise import connections

    from core.words import BadQuery, SearchQuery
    from db.search import PG_CONFIG, PG_DOCUMENT

    rnd = random.Random(14)
    vocab = (
        "Москва Москве москвичи выборы выборах выбирают ёлка Ёжик елки день дня дней "
        "кошка кошек отец отца ребёнок ребенка elections elected run running runs happy "
        "happiness x.org user@mail.ru COVID-19 covid19 3.14 10 2024 Нью-Йорк e-mail "
        "café cafés https://t.me/chan/5 a_b #тег iPhone15 5G 1e5 v1.2.3 x86_64 "
        "foo-bar 10-й 2-х Ёлка-2 ООО «Ромашка» don't it's 1/2"
    ).split()
    seps = [" ", ", ", " — ", "! ", "\n", " (", ") ", " 😀 ", "…", ": ", "-", "/", "."]

    def text() -> str:
        out = []
        for _ in range(rnd.randint(1, 8)):
            out += [rnd.choice(vocab), rnd.choice(seps)]
        s = "".join(out)
        return unicodedata.normalize("NFD", s) if rnd.random() < 0.1 else s

    texts = {i: text() for i in range(1, 301)}
    ch = await Channel.create(tg_id=781, access_hash=1, username="agree")
    rows = [message_row(ch.id, tl_message(i, t), NOW) for i, t in texts.items()]
    await pg_repo.store_batch(ch.id, rows, cursor=300, new_rows=300)

    def word() -> str:
        w = rnd.choice(vocab)
        if rnd.random() < 0.2:
            w = w[: rnd.randint(1, max(1, len(w) - 1))] + "*"
        return w

    def query() -> str:
        parts = []
        for _ in range(rnd.randint(1, 3)):
            r = rnd.random()
            if r < 0.2:
                parts.append(f'"{rnd.choice(vocab)} {word()}"')
            elif r < 0.35:
                parts.append("-" + word())
            else:
                parts.append(word())
        return " ".join(parts)

    conn = connections.get("default")
    checked, differ = 0, []
    for _ in range(600):
        raw = query()
        try:
            q = SearchQuery.parse(raw)
        except BadQuery:
            continue
        found = await conn.execute_query_dict(
            f"SELECT m.msg_id FROM message m WHERE m.channel_id = $1"
            f" AND {PG_DOCUMENT} @@ to_tsquery('{PG_CONFIG}', $2)",
            [ch.id, q.tsquery()],
        )
        server = sorted(r["msg_id"] for r in found)
        local = [i for i, t in texts.items() if q.matches_text(t)]
        checked += 1
        if server != local:
            differ.append((raw, sorted(set(server) ^ set(local))[:5]))
    assert checked > 400
    assert differ == [], (len(differ), differ[:10])


async def test_a_posts_media_is_found_on_postgres(pg_repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=782, access_hash=1, username="pics")
    rows = [message_row(ch.id, tl_message(i, f"post {i}"), NOW) for i in range(1, 4)]
    await pg_repo.store_batch(ch.id, rows, cursor=3, new_rows=3)
    await Message.filter(channel_id=ch.id, msg_id=1).update(media={"width": 800, "height": 600})
    f = await MediaFile.create(sha256="cd" * 32, size=9, mime_type="image/jpeg", key="cd/cd/x.jpg")
    common = {"channel": ch, "access_hash": 1, "dc_id": 2}
    await MediaDownload.create(msg_id=1, kind="photo", tg_media_id=1, status="done", file=f,
                               **common)
    await MediaDownload.create(msg_id=3, kind="video", tg_media_id=3, status="failed",
                               reason="FILE_ID_INVALID", **common)
    photo = await media_files.post_media(ch.id, 1)
    assert photo is not None and (photo.key, photo.size, photo.width) == ("cd/cd/x.jpg", 9, 800)
    ids = {m.msg_id: m.id for m in await Message.filter(channel_id=ch.id)}
    found = await media_files.media_by_message(list(ids.values()))
    assert {m.msg_id for m in found.values()} == {1, 3}
    posts = await media_files.media_of_posts([(ch.id, 3), (ch.id, 2), (ch.id, 1)])
    assert [(m.msg_id, m.status) for m in posts] == [(3, "failed"), (1, "done")]


async def test_the_apps_connections_run_without_jit(pg_repo: MessageRepository) -> None:
    """JIT compilation cost a big channel's /stats 0.5 s (db/config.py): every pooled
    connection has it off."""
    conn = connections.get("default")
    rows = await asyncio.gather(*(conn.execute_query_dict("SHOW jit") for _ in range(3)))
    assert {r[0]["jit"] for r in rows} == {"off"}


async def test_several_accounts_on_postgres(pg_repo: MessageRepository) -> None:
    """#18 on PostgreSQL: one row per Telegram user (0012's unique index), proxies
    bound to their row, channels held counted per account and a dead one's moved."""
    from db.accounts import AccountRepository, move_channels
    from db.vault import SessionVault

    repo = AccountRepository(SessionVault([SessionVault.generate_key()]))
    ids = []
    for user_id in (11, 22, 11):
        info = await repo.save_session(
            f"s{user_id}", phone=None, user_id=user_id, display_name=None, username=None
        )
        ids.append(info.id)
    ann, bob, again = ids
    assert again == ann and len(await repo.accounts()) == 2
    await repo.set_proxy(bob, "http://u:p@proxy.local:3128")
    assert await repo.proxy(bob) == "http://u:p@proxy.local:3128"
    for n, name in enumerate(("pa", "pb", None)):
        await Channel.create(tg_id=9100 + n, username=name, account_id=ann)
    assert await repo.held_counts() == {ann: 3}
    assert await move_channels(ann, {bob: 0}, 500, {bob: {9102}}) == (3, 0)
    assert await repo.held_counts() == {bob: 3}
