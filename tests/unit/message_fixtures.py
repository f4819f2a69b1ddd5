"""Telethon messages for the ingest tests, and a check of what a batch stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from telethon.tl import custom, types

from db.messages import COLUMNS
from db.models import Message

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
