"""Message conversion to rows and the batch+cursor write (SQLite through Tortoise)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from telethon.tl import custom, types

from db.messages import COLUMNS, IngestRepository
from db.models import Channel, Message
from parser.fetcher import message_row, post_link

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def tl_message(msg_id: int, text: str = "hello", **kw: object) -> custom.Message:
    return custom.Message(
        id=msg_id,
        peer_id=types.PeerChannel(777),
        date=NOW,
        message=text,
        **kw,  # type: ignore[arg-type]
    )


def full_message(msg_id: int) -> custom.Message:
    """A message with every field the row keeps."""
    return tl_message(
        msg_id,
        "Bold link",
        entities=[types.MessageEntityBold(0, 4), types.MessageEntityTextUrl(5, 4, "https://x.y")],
        views=42,
        forwards=3,
        replies=types.MessageReplies(replies=7, replies_pts=0, comments=True),
        reactions=types.MessageReactions(
            results=[
                types.ReactionCount(types.ReactionEmoji("👍"), 3),
                types.ReactionCount(types.ReactionCustomEmoji(99), 1),
            ]
        ),
        edit_date=NOW,
        media=types.MessageMediaDocument(
            document=types.Document(
                id=11,
                access_hash=1,
                file_reference=b"",
                date=NOW,
                mime_type="application/pdf",
                size=1234,
                dc_id=2,
                attributes=[types.DocumentAttributeFilename("a.pdf")],
            )
        ),
        grouped_id=123,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=4),
        fwd_from=types.MessageFwdHeader(date=NOW, from_name="Someone"),
        post_author="Ann",
    )


def test_message_row_keeps_every_field() -> None:
    m = full_message(5)
    row = dict(zip(COLUMNS, message_row(9, m, NOW), strict=True))
    assert row["channel_id"] == 9 and row["msg_id"] == 5 and row["text"] == "Bold link"
    assert json.loads(row["entities"]) == [["Bold", 0, 4], ["TextUrl", 5, 4, "https://x.y"]]
    assert (row["views"], row["forwards"], row["replies"]) == (42, 3, 7)
    assert json.loads(row["reactions"]) == {"👍": 3, "custom:99": 1}
    assert row["media_kind"] == "document"
    assert json.loads(row["media"]) == {
        "id": 11, "mime_type": "application/pdf", "size": 1234, "file_name": "a.pdf"
    }
    assert (row["grouped_id"], row["reply_to_id"], row["post_author"]) == (123, 4, "Ann")
    assert json.loads(row["fwd_from"])["from_name"] == "Someone"
    assert row["edit_date"] == NOW and row["comment_of"] is None
    assert post_link("news", 1, 5) == "https://t.me/news/5"
    assert post_link(None, 777, 5) == "https://t.me/c/777/5"


async def test_batches_are_idempotent_and_move_the_cursor(repo: IngestRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, tl_message(i, f"m{i}", views=i), NOW) for i in range(1, 101)]
    await repo.store_batch(ch.id, rows, cursor=100, new_rows=100)
    # A repeat (e.g. the refresh window) updates in place: no duplicates, cursor never moves back.
    again = [message_row(ch.id, tl_message(i, f"edited {i}", views=i * 10), NOW) for i in (1, 2)]
    await repo.store_batch(ch.id, again, cursor=2, new_rows=0)
    assert await Message.filter(channel_id=ch.id).count() == 100
    first = await Message.get(channel_id=ch.id, msg_id=2)
    assert first.text == "edited 2" and first.views == 20 and first.date == NOW
    row = await repo.channel(ch.id)
    assert row is not None and row.cursor == 100 and row.messages_count == 100
    found = await repo.find("https://t.me/news")
    assert found is not None and found.id == ch.id
    assert (await repo.find("@news")) == found and (await repo.find("nope")) is None
    assert await repo.refresh_from_id(ch.id, NOW) == 1


async def assert_stored_as_rows(rows: list[tuple[object, ...]]) -> None:
    """Every column of every row reads back from the database as the row had it."""
    for row in rows:
        want = dict(zip(COLUMNS, row, strict=True))
        got = await Message.get(channel_id=want["channel_id"], msg_id=want["msg_id"]).values(
            *COLUMNS
        )
        for col in ("entities", "reactions", "media", "fwd_from"):
            want[col] = json.loads(want[col]) if want[col] is not None else None
        assert got == want


async def test_every_field_survives_the_batch_write(repo: IngestRepository) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [message_row(ch.id, full_message(5), NOW), message_row(ch.id, tl_message(6), NOW)]
    rows.append(message_row(ch.id, tl_message(7, "a comment"), NOW, comment_of=5))
    await repo.store_batch(ch.id, rows, cursor=7, new_rows=3)
    await assert_stored_as_rows(rows)
