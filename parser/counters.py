"""A channel's counters read cheaply (#17): posts' views, forwards and replies with
messages.getMessagesViews and their reactions with messages.getMessagesReactions, the
subscriber count with channels.getFullChannel.

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
from parser.history import _reactions

# Telegram answers getMessagesViews for at most this many ids a request.
VIEWS_PER_REQUEST = 100

# (views, forwards, replies, reactions) of one post; None: Telegram gave none
# (reactions: emoji or "custom:<doc id>" -> count, {} for none).
Counts = tuple[int | None, int | None, int | None, dict[str, int] | None]


def _replies(mv: Any) -> int | None:
    replies = getattr(mv, "replies", None)
    return int(replies.replies) if replies is not None else None


def _chunk_reactions(answer: Any, chunk: Sequence[int]) -> dict[int, dict[str, int]]:
    """msg_id -> reactions (emoji or "custom:<doc id>" -> count, {} for none) of the
    updateMessageReactions of a getMessagesReactions answer, for the ids asked."""
    wanted = set(chunk)
    out: dict[int, dict[str, int]] = {}
    for update in getattr(answer, "updates", None) or ():
        if isinstance(update, types.UpdateMessageReactions) and update.msg_id in wanted:
            out[update.msg_id] = _reactions(update.reactions) or {}
    return out


async def read_views(
    client: TelegramClient,
    peer: tuple[int, int | None],
    ids: Sequence[int],
    into: dict[int, Counts] | None = None,
) -> dict[int, Counts]:
    """Views, forwards, replies and reactions of channel posts `ids`: per 100 ids one
    messages.getMessagesViews and one messages.getMessagesReactions.

    `peer`: the channel as (tg_id, access_hash). Returns (and adds to `into`, when
    given) msg_id -> (views, forwards, replies, reactions): reactions as parser/history
    stores them (emoji or "custom:<doc id>" -> count; {} when the post has none; None
    when Telegram sent no update for it). An id Telegram answered without any view
    counter (deleted, a service or group message) is left out. Raises what
    parser/errors.py `translate` makes of Telegram's errors (RateLimited on a flood
    wait): the chunks read before it are in `into` already, so a caller passing one
    keeps them.

    getMessagesReactions (core.telegram.org/method/messages.getMessagesReactions):
    Updates with one updateMessageReactions per message that still exists; the ids
    100 at a time like getMessagesViews.
    """
    tg_id, access_hash = peer
    input_peer = types.InputPeerChannel(tg_id, access_hash or 0)
    out: dict[int, Counts] = into if into is not None else {}
    unique = list(dict.fromkeys(int(i) for i in ids))
    for start in range(0, len(unique), VIEWS_PER_REQUEST):
        chunk = unique[start : start + VIEWS_PER_REQUEST]
        try:
            answer = await client(
                functions.messages.GetMessagesViewsRequest(
                    peer=input_peer, id=chunk, increment=False
                )
            )
            reacted = _chunk_reactions(
                await client(
                    functions.messages.GetMessagesReactionsRequest(peer=input_peer, id=chunk)
                ),
                chunk,
            )
        except Exception as exc:
            reraise(exc)
        for msg_id, mv in zip(chunk, answer.views, strict=False):
            views = (mv.views, mv.forwards, _replies(mv))
            if views != (None, None, None):
                out[msg_id] = (*views, reacted.get(msg_id))
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
