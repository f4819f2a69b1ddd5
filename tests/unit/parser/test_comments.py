"""Which threads need a messages.getReplies request, and a thread as stored rows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from telethon.tl import types

from core.media import MediaMode, MediaPolicy
from core.parsing import COLUMNS
from core.ports import NullMetrics
from parser.comments import comment_batches, needs_reading
from tests.unit.message_fixtures import NOW, tl_message
from tests.unit.parser.test_media_ref import photo


def test_a_thread_read_up_to_its_newest_comment_costs_no_request() -> None:
    assert not needs_reading(stored_last=40, newest=40)
    assert not needs_reading(stored_last=41, newest=40)  # a comment deleted since
    assert needs_reading(stored_last=40, newest=41)
    assert needs_reading(stored_last=0, newest=40)  # never read
    assert needs_reading(stored_last=40, newest=None)  # Telegram did not say


class ThreadClient:
    """Answers iter_messages(reply_to=...) with a thread, oldest first when reversed."""

    def __init__(self, thread: list[Any]) -> None:
        self.thread = thread
        self.asked: dict[str, Any] = {}

    async def iter_messages(self, peer: Any, **kw: Any) -> AsyncIterator[Any]:
        self.asked = kw
        for m in self.thread:
            if m.id > kw["min_id"]:
                yield m


async def test_a_thread_is_stored_with_its_events_and_forwards() -> None:
    fwd = types.MessageFwdHeader(date=NOW, from_name="Гость")
    thread = [
        tl_message(11, "первый"),
        types.MessageEmpty(id=12, peer_id=types.PeerChannel(888)),  # deleted: no row
        types.MessageService(
            id=13, peer_id=types.PeerChannel(888), date=NOW,
            action=types.MessageActionPinMessage(),
            reply_to=types.MessageReplyHeader(reply_to_msg_id=11),
        ),
        tl_message(14, "переслано", fwd_from=fwd, media=types.MessageMediaPhoto(photo=photo())),
        tl_message(15, "после последнего известного"),
    ]
    client = ThreadClient(thread)
    batches = comment_batches(
        client, "peer", 5, group_row=3, after=10, newest=14, now=NOW,  # type: ignore[arg-type]
        metrics=NullMetrics(), media=MediaPolicy(MediaMode.PHOTOS),
    )
    got = [b async for b in batches]
    rows = [dict(zip(COLUMNS, r, strict=True)) for b, _ in got for r in b]
    assert [(i, f.tg_id, f.thumb) for _, files in got for i, f in files] == [(14, 5, "y")]
    assert client.asked["reply_to"] == 5 and client.asked["reverse"] is True
    assert [r["msg_id"] for r in rows] == [11, 13, 14]  # stops at the newest, 14
    assert all(r["channel_id"] == 3 and r["comment_of"] == 5 for r in rows)
    assert json.loads(rows[1]["action"]) == {"type": "pin_message", "message_id": 11}
    assert json.loads(rows[2]["fwd_from"])["from_name"] == "Гость"
