"""Deletions detected, never erased (issue #15, Must 8).

A run that re-read the refresh window (the posts above `after`) knows every post
Telegram still returns there. A stored post of that range it did not get back is
asked for by id (parser/deleted.py: `channels.getMessages`, at most 100 ids a request,
none when nothing is missing); those Telegram answers `messageEmpty` for are marked
deleted with the time of this run (the row and its versions stay). Deletions older
than the refresh window are not seen: nothing re-reads those posts.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from telethon import TelegramClient

from core.ports import Metrics
from parser.deleted import gone_ids

# How many deleted posts a run names (links in the alert); the rest are counted.
NAMED = 5


class DeletionStore(Protocol):
    """The message table as the deletion check reads and marks it (db/messages.py)."""

    async def live_ids(self, channel_id: int, after: int, upto: int) -> list[int]:
        """Stored post ids (comments aside) with after < id <= upto not marked deleted."""

    async def mark_deleted(self, channel_id: int, ids: list[int], at: datetime) -> int:
        """Mark posts `ids` deleted at `at`; how many were marked."""

    async def newest_live_id(self, channel_id: int) -> int:
        """The newest stored post id not marked deleted (0: none): where a re-read with
        nothing new ends (parser/history.py `history_pages` caught_up_at)."""


async def detect_deletions(
    client: TelegramClient,
    peer: Any,
    store: DeletionStore,
    channel_id: int,
    *,
    after: int,
    upto: int,
    seen: Collection[int],
    now: datetime,
    metrics: Metrics,
) -> list[int]:
    """The ids of the posts found deleted (now marked at `now`), ascending.

    `after`..`upto` (exclusive, inclusive): the msg_id range the run read completely;
    `seen`: the ids it got back in that range. Telethon's errors propagate (the
    caller classifies them); nothing is marked then.
    """
    if upto <= after:
        return []
    missing = [i for i in await store.live_ids(channel_id, after, upto) if i not in seen]
    if not missing:
        return []
    gone = await gone_ids(client, peer, missing, metrics)
    await store.mark_deleted(channel_id, gone, now)
    return gone
