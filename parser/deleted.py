"""Which messages of a channel are gone: `channels.getMessages` by id.

History pages simply skip a deleted message; asked for by id, Telegram answers
`messageEmpty` in its place (https://core.telegram.org/method/channels.getMessages,
at most 100 ids a request). Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telethon import TelegramClient
from telethon.tl import functions, types

from core.ports import Metrics

# Ids per channels.getMessages request (Telegram's limit).
IDS_PER_REQUEST = 100


async def gone_ids(
    client: TelegramClient, peer: Any, ids: Sequence[int], metrics: Metrics
) -> list[int]:
    """The ones of `ids` (message ids of channel `peer`, an InputPeerChannel) that
    Telegram answers with `messageEmpty` (deleted), ascending within each request. One
    request per IDS_PER_REQUEST ids, none for no ids. Telethon's errors (flood waits,
    RPC errors) propagate."""
    gone: list[int] = []
    for start in range(0, len(ids), IDS_PER_REQUEST):
        chunk = list(ids[start : start + IDS_PER_REQUEST])
        metrics.request("channels.getMessages")
        answer = await client(
            functions.channels.GetMessagesRequest(
                channel=peer, id=[types.InputMessageID(i) for i in chunk]
            )
        )
        asked = set(chunk)
        empty = {
            m.id for m in getattr(answer, "messages", ()) if isinstance(m, types.MessageEmpty)
        }
        # Only an explicit messageEmpty counts: an id left out of the answer is unknown.
        gone.extend(sorted(empty & asked))
    return gone
