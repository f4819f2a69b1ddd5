"""The SQLite full-text index of stems is written per batch, never per row.

Rows stored by the ingest path get their terms (stems) and are indexed in the same
transaction; rows written by any other path are stemmed and indexed before the next
search (or by the background rebuild); edits and deletes keep the index exact, whether
or not the row had been indexed yet (FTS5 integrity-check proves it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import connections

from db.messages import MessageRepository
from db.models import Channel, Message
from db.search import fill_index, index_pending, pending_index, search_messages
from parser.history import message_row
from tests.unit.message_fixtures import tl_message

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _scalar(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return int(next(iter(rows[0].values())))


async def _integrity_ok() -> None:
    # Raises "database disk image is malformed" unless the index holds exactly the
    # table's rows with their current text.
    await connections.get("default").execute_query(
        "INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"
    )


async def test_no_per_row_insert_trigger(repo: MessageRepository) -> None:
    triggers = await connections.get("default").execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    )
    assert [t["name"] for t in triggers] == [
        "message_ad_stale",  # migration 0010: on UPDATE of text, reactions... (#17)
        "message_fts_ad",
        "message_fts_au",
        # migration 0015 (#17's rollup): UPDATE and DELETE only; new rows are found by
        # id (stats_state.rolled_to), as the full-text index finds them.
        "message_stats_ad",
        "message_stats_au",
        "message_terms_stale",
    ]


async def test_ingested_batch_is_indexed_in_its_own_transaction(repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, tl_message(i, f"apple number {i}"), NOW) for i in range(1, 51)]
    await repo.store_batch(ch.id, rows, cursor=50, new_rows=50)
    # Stemmed and indexed by store_batch itself, not by a later search.
    assert await _scalar("SELECT indexed_to FROM fts_state") == await _scalar(
        "SELECT MAX(id) FROM message"
    )
    assert await pending_index() == 0
    assert await _scalar("SELECT count(*) FROM message WHERE terms = 'appl number 7'") == 1
    assert await _scalar("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'appl'") == 50
    await _integrity_ok()


async def test_edits_and_deletes_keep_the_index_exact(repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, tl_message(i, f"pear {i}"), NOW) for i in range(1, 11)]
    await repo.store_batch(ch.id, rows, cursor=10, new_rows=10)
    # Written by another path: not indexed until the next search.
    await Message.create(channel_id=ch.id, msg_id=11, date=NOW, text="plum 11")
    await Message.create(channel_id=ch.id, msg_id=12, date=NOW, text="plum 12")
    assert await _scalar("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'plum'") == 0
    assert await pending_index() == 2
    # Edit an indexed row and an unindexed one; delete one of each.
    await Message.filter(channel_id=ch.id, msg_id=1).update(text="quince 1")
    await Message.filter(channel_id=ch.id, msg_id=11).update(text="quince 11")
    await Message.filter(channel_id=ch.id, msg_id__in=[2, 12]).delete()
    await index_pending()
    await _integrity_ok()
    # A search indexes what another path wrote since.
    await Message.create(channel_id=ch.id, msg_id=13, date=NOW, text="quince 13")
    page = await search_messages("quince")
    assert sorted(h.msg_id for h in page.hits) == [1, 11, 13]
    assert (await search_messages("plum")).total == 0
    assert (await search_messages("pear")).total == 8  # 10 minus the edited and the deleted
    await _integrity_ok()
    # The ingest path repeats a stored row (refresh window): updated in place, re-indexed.
    again = [message_row(ch.id, tl_message(3, "apricot 3"), NOW)]
    await repo.store_batch(ch.id, again, cursor=3, new_rows=0)
    assert [h.msg_id for h in (await search_messages("apricot")).hits] == [3]
    assert (await search_messages("pear")).total == 7
    await _integrity_ok()


async def test_an_edit_by_another_path_unstems_the_row_until_stemmed_again(
    repo: MessageRepository,
) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, tl_message(1, "выборы в Москве"), NOW)]
    await repo.store_batch(ch.id, rows, cursor=1, new_rows=1)
    assert (await search_messages("выбор")).total == 1
    # The ORM writes text without terms: the stale stems leave the index at once.
    await Message.filter(channel_id=ch.id, msg_id=1).update(text="снегопад в Петербурге")
    assert await pending_index() == 1
    assert await _scalar("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'выбор'") == 0
    await _integrity_ok()
    assert await fill_index(100) == 1 and await fill_index(100) == 0
    assert (await search_messages("снегопады")).total == 1
    assert (await search_messages("выборы")).total == 0
    await _integrity_ok()
    # A re-read that changes nothing re-indexes nothing (and keeps the terms).
    await repo.store_batch(
        ch.id,
        [message_row(ch.id, tl_message(1, "снегопад в Петербурге"), NOW)],
        cursor=1,
        new_rows=0,
    )
    assert await pending_index() == 0
    await _integrity_ok()
