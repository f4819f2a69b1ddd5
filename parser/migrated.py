"""The basic group a supergroup was upgraded from.

When a basic group becomes a supergroup (messages.migrateChat), Telegram starts a new
peer with its own message ids; the old history stays in the old group, a different
peer (`InputPeerChat`, no access hash) in another id space. The supergroup names it in
`channels.getFullChannel`: `full_chat.migrated_from_chat_id` and
`migrated_from_max_id`, the id of the old group's last message
(https://core.telegram.org/constructor/channelFull,
https://core.telegram.org/api/channel#migration). Only accounts that were members of
the old group can read it; others are refused (PEER_ID_INVALID, CHAT_ID_INVALID,
CHANNEL_PRIVATE, ...). Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telethon import TelegramClient
from telethon import errors as te
from telethon.tl import functions, types

from core.ports import Metrics
from parser.errors import rpc_name


@dataclass(frozen=True)
class MigratedFrom:
    """`chat_id` of the old basic group (0: the supergroup was not upgraded from one)
    and `max_id`, the id of its last message then."""

    chat_id: int
    max_id: int


async def migrated_from(client: TelegramClient, peer: Any, metrics: Metrics) -> MigratedFrom:
    """What supergroup `peer` says it was upgraded from: one `channels.getFullChannel`
    request. Telethon's errors propagate."""
    metrics.request("channels.getFullChannel")
    full = await client(functions.channels.GetFullChannelRequest(peer))
    info = full.full_chat
    chat_id = int(getattr(info, "migrated_from_chat_id", None) or 0)
    max_id = int(getattr(info, "migrated_from_max_id", None) or 0)
    return MigratedFrom(chat_id, max_id if chat_id else 0)


def chat_peer(chat_id: int) -> types.InputPeerChat:
    """The old group as a peer of `messages.getHistory`."""
    return types.InputPeerChat(chat_id=chat_id)


def row_tg_id(chat_id: int) -> int:
    """The `channel.tg_id` of the old group's row: the basic group's marked id
    (-chat_id, as the Bot API and Telethon's `get_peer_id` write it), so it can never
    meet a channel's id (chat ids and channel ids are separate counters)."""
    return -abs(chat_id)


def unreadable(exc: BaseException) -> str | None:
    """Telegram's error name when `exc` says this account cannot read the old group
    (a 400 or 403 answer: PEER_ID_INVALID, CHAT_ID_INVALID, CHANNEL_PRIVATE,
    CHAT_FORBIDDEN, ...); None for anything else (flood waits, a dead session, the
    network), which ends the run as any history request's error does."""
    if isinstance(exc, te.BadRequestError | te.ForbiddenError):
        return rpc_name(exc)
    return None
