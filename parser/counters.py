"""A channel's counters read cheaply (#17): posts' views, forwards and replies with
messages.getMessagesViews, the subscriber count with channels.getFullChannel.

Telegram's rules (core.telegram.org/method/messages.getMessagesViews): `increment=False`
only reads (True would count this account's view); at most 100 ids a request, so ids
are sent 100 at a time; the answer has one `messageViews` per id in the order asked,
empty (no views) for an id that is gone or has no views (a group's message). Errors
become project errors (parser/errors.py `translate`): RateLimited(seconds),
ChannelUnavailable(reason), SessionDead, TransportError...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telethon import TelegramClient, functions, types

from parser.errors import reraise

# Telegram answers getMessagesViews for at most this many ids a request.
VIEWS_PER_REQUEST = 100

# (views, forwards, replies) of one post; None: Telegram gave none.
Counters = tuple[int | None, int | None, int | None]


def _replies(mv: Any) -> int | None:
    replies = getattr(mv, "replies", None)
    return int(replies.replies) if replies is not None else None


async def read_views(
    client: TelegramClient, peer: tuple[int, int | None], ids: Sequence[int]
) -> dict[int, Counters]:
    """Views, forwards and replies of channel posts `ids`, one request per 100 ids.

    `peer`: the channel as (tg_id, access_hash). Returns msg_id -> (views, forwards,
    replies); an id Telegram answered without any counter (deleted, a service or
    group message) is left out. Raises what parser/errors.py `translate` makes of
    Telegram's errors (RateLimited on a flood wait: the reads done before it are lost).
    """
    tg_id, access_hash = peer
    input_peer = types.InputPeerChannel(tg_id, access_hash or 0)
    out: dict[int, Counters] = {}
    unique = list(dict.fromkeys(int(i) for i in ids))
    for start in range(0, len(unique), VIEWS_PER_REQUEST):
        chunk = unique[start : start + VIEWS_PER_REQUEST]
        try:
            answer = await client(
                functions.messages.GetMessagesViewsRequest(
                    peer=input_peer, id=chunk, increment=False
                )
            )
        except Exception as exc:
            reraise(exc)
        for msg_id, mv in zip(chunk, answer.views, strict=False):
            counters = (mv.views, mv.forwards, _replies(mv))
            if counters != (None, None, None):
                out[msg_id] = counters
    return out


async def read_subscribers(client: TelegramClient, peer: tuple[int, int | None]) -> int | None:
    """The channel's subscriber count (channels.getFullChannel
    `full_chat.participants_count`; None when Telegram gives none). `peer`: (tg_id,
    access_hash). Errors as `read_views`."""
    tg_id, access_hash = peer
    try:
        full = await client(
            functions.channels.GetFullChannelRequest(types.InputChannel(tg_id, access_hash or 0))
        )
    except Exception as exc:
        reraise(exc)
    count = getattr(full.full_chat, "participants_count", None)
    return int(count) if count is not None else None
