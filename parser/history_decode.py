"""A faster decoder of `messages.getHistory` answers, for the history fetcher only.

Telethon decodes every message of an answer into its custom `Message` (tl/custom:
~50 attributes set one by one, the chat and sender getters, a BinaryReader method call
per field). Reading a channel's history, the app needs none of that: `message_row`
reads about fifteen fields. `HistoryRequest` is `messages.getHistory` whose answer is
read by `HistoryReader`: the `message` constructor (layer 229) is decoded here into a
`HistoryMessage` (slots, the fields Telegram sent, under Telethon's names), with the
common nested objects read in place (peers, the plain message entities, a post's
replies header, its reaction counts); everything else (service messages, media,
forward and reply headers, chats, users, any other constructor) is still Telethon's,
from the same bytes.

Measured with `bench/bench_decode.py` (one process, the same answers decoded both
ways): see bench/RESULTS.md "#20 P1". The layout is Telegram's TL schema
(https://core.telegram.org/constructor/message, flags and flags2 as in Telethon's
generated `types.Message.from_reader`); `tests/unit/parser/test_history_decode.py`
checks every field against Telethon's decoder over every flag. With another Telethon
layer (`telethon.tl.alltlobjects.LAYER`) the fast path is off and Telethon decodes all.
"""

from __future__ import annotations

import inspect
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon.extensions import BinaryReader
from telethon.tl import alltlobjects, functions, types

__all__ = ["FAST", "HistoryMessage", "HistoryReader", "HistoryRequest"]

_LAYER = 229
_MESSAGE = 0x7600B9D3  # message#7600b9d3 (layer 229)
FAST = alltlobjects.LAYER == _LAYER and types.Message.CONSTRUCTOR_ID == _MESSAGE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_I = struct.Struct("<i").unpack_from
_Q = struct.Struct("<q").unpack_from
_II = struct.Struct("<ii").unpack_from  # flags, flags2 / offset, length / vector id, n

_PEERS: dict[int, Any] = {
    types.PeerChannel.CONSTRUCTOR_ID: types.PeerChannel,
    types.PeerUser.CONSTRUCTOR_ID: types.PeerUser,
    types.PeerChat.CONSTRUCTOR_ID: types.PeerChat,
}
_REPLIES = types.MessageReplies.CONSTRUCTOR_ID
_REACTIONS = types.MessageReactions.CONSTRUCTOR_ID
_REACTION_COUNT = types.ReactionCount.CONSTRUCTOR_ID
_EMOJI = types.ReactionEmoji.CONSTRUCTOR_ID
_CUSTOM_EMOJI = types.ReactionCustomEmoji.CONSTRUCTOR_ID
_PAID = types.ReactionPaid.CONSTRUCTOR_ID


def _plain_entities() -> dict[int, Any]:
    """The message entity constructors that are exactly (offset:int, length:int)."""
    out: dict[int, Any] = {}
    for name in dir(types):
        cls: Any = getattr(types, name)
        if not (isinstance(cls, type) and name.startswith("MessageEntity")):
            continue
        params = list(inspect.signature(cls).parameters)
        if params == ["offset", "length"]:
            out[vars(cls)["CONSTRUCTOR_ID"]] = cls
    return out


_ENTITIES = _plain_entities()


class HistoryMessage:
    """A `message` of a getHistory answer: the fields `parser.history.message_row` and
    the media queue read, named as in Telethon's `types.Message` (None when Telegram
    left the field out). Not a Telethon Message: no client, no getters."""

    __slots__ = (
        "date",
        "edit_date",
        "entities",
        "forwards",
        "from_id",
        "fwd_from",
        "grouped_id",
        "id",
        "media",
        "message",
        "peer_id",
        "post_author",
        "reactions",
        "replies",
        "reply_to",
        "views",
    )
    id: int
    peer_id: Any
    date: datetime
    message: str
    from_id: Any
    fwd_from: Any
    reply_to: Any
    media: Any
    entities: list[Any] | None
    views: int | None
    forwards: int | None
    replies: Any
    edit_date: datetime | None
    post_author: str | None
    grouped_id: int | None
    reactions: Any
    action = None  # a service message is Telethon's MessageService

    def __repr__(self) -> str:
        return f"HistoryMessage(id={self.id}, date={self.date})"


def _string(data: bytes, pos: int) -> tuple[str, int]:
    n = data[pos]
    if n < 254:
        start, end = pos + 1, pos + 1 + n
        return str(data[start:end], "utf-8", "replace"), pos + ((n + 4) & ~3)
    n = data[pos + 1] | data[pos + 2] << 8 | data[pos + 3] << 16
    start, end = pos + 4, pos + 4 + n
    return str(data[start:end], "utf-8", "replace"), start + ((n + 3) & ~3)


def _object(reader: BinaryReader, pos: int) -> tuple[Any, int]:
    """Telethon's decoding of the object at `pos`."""
    reader.position = pos
    obj = reader.tgread_object()
    return obj, reader.position


def _peer(reader: BinaryReader, data: bytes, pos: int) -> tuple[Any, int]:
    cls = _PEERS.get(_I(data, pos)[0] & 0xFFFFFFFF)
    if cls is None:
        return _object(reader, pos)
    return cls(_Q(data, pos + 4)[0]), pos + 12


def _replies(reader: BinaryReader, data: bytes, pos: int) -> tuple[Any, int]:
    if _I(data, pos)[0] & 0xFFFFFFFF != _REPLIES:
        return _object(reader, pos)
    flags = _I(data, pos + 4)[0]
    if flags & 2:  # recent_repliers: a vector of peers
        return _object(reader, pos)
    replies, pts = _II(data, pos + 8)
    pos += 16
    channel_id = max_id = read_max_id = None
    if flags & 1:
        channel_id = _Q(data, pos)[0]
        pos += 8
    if flags & 4:
        max_id = _I(data, pos)[0]
        pos += 4
    if flags & 8:
        read_max_id = _I(data, pos)[0]
        pos += 4
    r = types.MessageReplies(
        replies=replies,
        replies_pts=pts,
        comments=bool(flags & 1),
        recent_repliers=None,
        channel_id=channel_id,
        max_id=max_id,
        read_max_id=read_max_id,
    )
    return r, pos


def _reactions(reader: BinaryReader, data: bytes, pos: int) -> tuple[Any, int]:
    """messageReactions with its counts read here; with recent reactions or top
    reactors (a vector of peers each) Telethon reads the rest."""
    start = pos
    if _I(data, pos)[0] & 0xFFFFFFFF != _REACTIONS:
        return _object(reader, pos)
    flags = _I(data, pos + 4)[0]
    if flags & (2 | 16):
        return _object(reader, start)
    count = _I(data, pos + 12)[0]
    pos += 16
    results: list[Any] = []
    for _ in range(count):
        cid, cflags = _II(data, pos)
        if cid & 0xFFFFFFFF != _REACTION_COUNT:
            return _object(reader, start)
        pos += 8
        chosen = None
        if cflags & 1:
            chosen = _I(data, pos)[0]
            pos += 4
        kind = _I(data, pos)[0] & 0xFFFFFFFF
        if kind == _EMOJI:
            emoticon, pos = _string(data, pos + 4)
            reaction: Any = types.ReactionEmoji(emoticon)
        elif kind == _CUSTOM_EMOJI:
            reaction = types.ReactionCustomEmoji(_Q(data, pos + 4)[0])
            pos += 12
        elif kind == _PAID:
            reaction = types.ReactionPaid()
            pos += 4
        else:
            return _object(reader, start)
        results.append(types.ReactionCount(reaction, _I(data, pos)[0], chosen))
        pos += 4
    r = types.MessageReactions(
        results=results,
        min=bool(flags & 1),
        can_see_list=bool(flags & 4),
        reactions_as_tags=bool(flags & 8),
        recent_reactions=None,
        top_reactors=None,
    )
    return r, pos


def _entities(reader: BinaryReader, data: bytes, pos: int) -> tuple[list[Any], int]:
    count = _I(data, pos + 4)[0]  # after the vector constructor
    pos += 8
    out: list[Any] = []
    plain = _ENTITIES
    for _ in range(count):
        cls = plain.get(_I(data, pos)[0] & 0xFFFFFFFF)
        if cls is None:
            obj, pos = _object(reader, pos)
            out.append(obj)
        else:
            offset, length = _II(data, pos + 4)
            out.append(cls(offset, length))
            pos += 12
    return out, pos


def _vector(reader: BinaryReader, pos: int) -> tuple[list[Any], int]:
    reader.position = pos + 4  # the vector constructor
    items = [reader.tgread_object() for _ in range(reader.read_int())]
    return items, reader.position


def read_message(reader: BinaryReader) -> HistoryMessage:
    """Decode a `message` whose constructor id was just read (reader at its flags)."""
    data, pos = reader.stream, reader.position
    flags, flags2 = _II(data, pos)
    m = HistoryMessage()
    m.id = _I(data, pos + 8)[0]
    pos += 12
    if flags & 256:
        m.from_id, pos = _peer(reader, data, pos)
    else:
        m.from_id = None
    if flags & 536870912:  # from_boosts_applied
        pos += 4
    if flags2 & 4096:  # from_rank
        pos = _string(data, pos)[1]
    m.peer_id, pos = _peer(reader, data, pos)
    if flags & 268435456:  # saved_peer_id
        pos = _object(reader, pos)[1]
    if flags & 4:
        m.fwd_from, pos = _object(reader, pos)
    else:
        m.fwd_from = None
    if flags & 2048:  # via_bot_id
        pos += 8
    if flags2 & 1:  # via_business_bot_id
        pos += 8
    if flags2 & 524288:  # guestchat_via_from
        pos = _object(reader, pos)[1]
    if flags & 8:
        m.reply_to, pos = _object(reader, pos)
    else:
        m.reply_to = None
    m.date = _EPOCH + timedelta(seconds=_I(data, pos)[0])
    m.message, pos = _string(data, pos + 4)
    if flags & 512:
        m.media, pos = _object(reader, pos)
    else:
        m.media = None
    if flags & 64:  # reply_markup
        pos = _object(reader, pos)[1]
    if flags & 128:
        m.entities, pos = _entities(reader, data, pos)
    else:
        m.entities = None
    if flags & 1024:
        m.views, m.forwards = _II(data, pos)
        pos += 8
    else:
        m.views = m.forwards = None
    if flags & 8388608:
        m.replies, pos = _replies(reader, data, pos)
    else:
        m.replies = None
    if flags & 32768:
        m.edit_date = _EPOCH + timedelta(seconds=_I(data, pos)[0])
        pos += 4
    else:
        m.edit_date = None
    if flags & 65536:
        m.post_author, pos = _string(data, pos)
    else:
        m.post_author = None
    if flags & 131072:
        m.grouped_id = _Q(data, pos)[0]
        pos += 8
    else:
        m.grouped_id = None
    if flags & 1048576:
        m.reactions, pos = _reactions(reader, data, pos)
    else:
        m.reactions = None
    if flags & 4194304:  # restriction_reason
        pos = _vector(reader, pos)[1]
    if flags & 33554432:  # ttl_period
        pos += 4
    if flags & 1073741824:  # quick_reply_shortcut_id
        pos += 4
    if flags2 & 4:  # effect
        pos += 8
    if flags2 & 8:  # factcheck
        pos = _object(reader, pos)[1]
    if flags2 & 32:  # report_delivery_until_date
        pos += 4
    if flags2 & 64:  # paid_message_stars
        pos += 8
    if flags2 & 128:  # suggested_post
        pos = _object(reader, pos)[1]
    if flags2 & 1024:  # schedule_repeat_period
        pos += 4
    if flags2 & 2048:  # summary_from_language
        pos = _string(data, pos)[1]
    if flags2 & 8192:  # rich_message
        pos = _object(reader, pos)[1]
    reader.position = pos
    return m


class HistoryReader(BinaryReader):  # type: ignore[misc]
    """Telethon's reader, with `message` objects decoded by `read_message`."""

    def tgread_object(self) -> Any:
        if _I(self.stream, self.position)[0] & 0xFFFFFFFF == _MESSAGE:
            self.position += 4
            return read_message(self)
        return super().tgread_object()


class HistoryRequest(functions.messages.GetHistoryRequest):  # type: ignore[misc]
    """`messages.getHistory` whose answer's messages are `HistoryMessage`s (when FAST)."""

    def read_result(self, reader: BinaryReader) -> Any:
        if not FAST:
            return super().read_result(reader)
        fast = HistoryReader(reader.stream)
        fast.position = reader.position
        result = fast.tgread_object()
        reader.position = fast.position
        return result


def _wrapped_result(self: Any, reader: BinaryReader) -> Any:
    return self.query.read_result(reader)


# A client with receive_updates=False (parser/client.py) sends every request inside
# invokeWithoutUpdates, and Telethon reads the answer with the wrapper's read_result,
# a plain tgread_object, never the wrapped request's. The wrapper's answer is the
# wrapped request's (https://core.telegram.org/method/invokeWithoutUpdates), so it now
# reads it the wrapped request's way: the same for every request that has no reader of
# its own (TLRequest.read_result is that tgread_object), HistoryRequest's for it.
if "read_result" not in vars(functions.InvokeWithoutUpdatesRequest):
    functions.InvokeWithoutUpdatesRequest.read_result = _wrapped_result

