"""The batch+cursor write (SQLite through Tortoise)."""

from __future__ import annotations

from db.channels import ChannelStateRepository, find_channel
from db.messages import MessageRepository
from db.models import Channel, Message
from parser.history import message_row
from tests.unit.message_fixtures import NOW, assert_stored_as_rows, full_message, tl_message


async def test_batches_are_idempotent_and_move_the_cursor(repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, tl_message(i, f"m{i}", views=i), NOW) for i in range(1, 101)]
    await repo.store_batch(ch.id, rows, cursor=100, new_rows=100)
    # A repeat (e.g. the refresh window) updates in place: no duplicates, cursor never moves back.
    again = [message_row(ch.id, tl_message(i, f"edited {i}", views=i * 10), NOW) for i in (1, 2)]
    await repo.store_batch(ch.id, again, cursor=2, new_rows=0)
    assert await Message.filter(channel_id=ch.id).count() == 100
    first = await Message.get(channel_id=ch.id, msg_id=2)
    assert first.text == "edited 2" and first.views == 20 and first.date == NOW
    row = await ChannelStateRepository().channel(ch.id)
    assert row is not None and row.cursor == 100 and row.messages_count == 100
    found = await find_channel("https://t.me/news")
    assert found is not None and found.id == ch.id
    assert (await find_channel("@news")) == found and (await find_channel("nope")) is None
    assert await repo.refresh_from_id(ch.id, NOW) == 1


async def test_every_field_survives_the_batch_write(repo: MessageRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, full_message(5), NOW), message_row(ch.id, tl_message(6), NOW)]
    rows.append(message_row(ch.id, tl_message(7, "a comment"), NOW, comment_of=5))
    await repo.store_batch(ch.id, rows, cursor=7, new_rows=3)
    await assert_stored_as_rows(rows)


async def test_batches_of_any_size_are_stored_whole(repo: MessageRepository) -> None:
    """The SQLite upsert splits a batch into statements of whole pages and powers of
    two (db.messages._SQLITE_CHUNKS): every size stores every row, in place, searchable;
    a batch re-read with other sizes updates the same rows."""
    from db.search import search_messages

    ch = await Channel.create(tg_id=778, access_hash=1, username="sizes")
    start = 1
    for size in (1, 99, 100, 385, 1100, 1199):
        rows = [
            message_row(ch.id, tl_message(i, f"ледоход {i}", views=i), NOW)
            for i in range(start, start + size)
        ]
        await repo.store_batch(ch.id, rows, cursor=start + size - 1, new_rows=size)
        await assert_stored_as_rows(rows)
        start += size
    total = start - 1
    assert await Message.filter(channel_id=ch.id).count() == total
    again = [
        message_row(ch.id, tl_message(i, f"ледоход {i}", views=-i), NOW) for i in range(1, 731)
    ]
    await repo.store_batch(ch.id, again, cursor=730, new_rows=0)
    await assert_stored_as_rows(again)
    assert await Message.filter(channel_id=ch.id).count() == total
    assert (await search_messages("ледоход")).total == total
