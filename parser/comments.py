"""Reading a post's comments through the channel's linked discussion group.

Telegram keeps a channel's comments as messages of its discussion group (a
megagroup); `messages.getReplies` reads one post's thread
(https://core.telegram.org/api/threads). A post's `replies.max_id` is the id of its
newest comment, so a thread whose newest comment is already stored needs no request.
Nothing here touches the database: the caller says where to start and stores the rows.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telethon import TelegramClient
from telethon.tl import functions

from core.media import MediaPolicy, MediaRef
from core.parsing import COLUMNS, Row
from core.ports import Metrics
from parser.history import BATCH, NOT_CONTENT, message_row, wanted_ref

_KIND = COLUMNS.index("media_kind")


@dataclass(frozen=True)
class DiscussionGroup:
    """A channel's linked discussion group: Telegram id, access hash and title."""

    tg_id: int
    access_hash: int
    title: str


async def discussion_group(
    client: TelegramClient, peer: Any, metrics: Metrics
) -> DiscussionGroup | None:
    """The discussion group linked to channel `peer`, or None when it has none.

    One `channels.getFullChannel` request (its `full_chat.linked_chat_id`:
    https://core.telegram.org/api/discussion). Telethon's errors propagate.
    """
    metrics.request("channels.getFullChannel")
    full = await client(functions.channels.GetFullChannelRequest(peer))
    linked_id = full.full_chat.linked_chat_id
    if not linked_id:
        return None
    group = next((c for c in full.chats if c.id == linked_id), None)
    return DiscussionGroup(
        linked_id,
        getattr(group, "access_hash", 0) or 0,
        getattr(group, "title", "") or "",
    )


def needs_reading(stored_last: int, newest: int | None) -> bool:
    """Whether a post's thread has comments not stored yet.

    `stored_last`: the id of its newest stored comment (0: none); `newest`: the post's
    `replies.max_id` as Telegram sent it with the post (None: unknown). A thread read
    before, with nothing newer since, costs no request: re-read posts (the refresh
    window) would otherwise ask for every thread on every run.
    """
    return not (stored_last and newest and stored_last >= newest)


async def comment_batches(
    client: TelegramClient,
    peer: Any,
    post_id: int,
    *,
    group_row: int,
    after: int,
    newest: int | None,
    now: datetime,
    metrics: Metrics,
    wait_time: float = 0.0,
    media: MediaPolicy | None = None,
) -> AsyncGenerator[tuple[list[Row], list[tuple[int, MediaRef]]], None]:
    """The comments of post `post_id` above id `after`, oldest first, as batches of at
    most BATCH `(rows, files)` stored under the discussion group's row id `group_row`;
    `files`: (msg_id, MediaRef) of the comments whose file `media` (the channel's
    policy; None: none) keeps.

    Ascending, so a crash between batches never skips older comments; reading stops at
    `newest` (the thread's newest comment: no request for the empty page after it).
    `messages.getReplies` through Telethon's `iter_messages(reply_to=...)`; its errors
    propagate untranslated.
    """
    rows: list[Row] = []
    files: list[tuple[int, MediaRef]] = []
    metrics.request("messages.getReplies")
    async for c in client.iter_messages(
        peer, reply_to=post_id, min_id=after, reverse=True, wait_time=wait_time
    ):
        if not isinstance(c, NOT_CONTENT):
            row = message_row(group_row, c, now, comment_of=post_id)
            rows.append(row)
            if media is not None and row[_KIND] is not None:
                ref = wanted_ref(media, c, row[_KIND])
                if ref is not None:
                    files.append((c.id, ref))
            if len(rows) >= BATCH:
                yield rows, files
                rows, files = [], []
        if newest and c.id >= newest:
            break
    if rows:
        yield rows, files
