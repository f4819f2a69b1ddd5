"""parser/history_decode.py reads getHistory answers as Telethon does, field for field."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from parser import history_decode
from parser.history import message_row
from parser.history_decode import HistoryMessage, HistoryReader, HistoryRequest

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
LONG_TEXT = "Длинный пост, больше 254 байт в UTF-8. " * 12  # the 4-byte string header


def _peer(i: int) -> Any:
    return types.PeerUser(100 + i)


# Every optional field of `message` (layer 229, flags and flags2), with a value.
OPTIONAL: dict[str, Any] = {
    "out": True,
    "mentioned": True,
    "media_unread": True,
    "silent": True,
    "post": True,
    "from_scheduled": True,
    "legacy": True,
    "edit_hide": True,
    "pinned": True,
    "noforwards": True,
    "invert_media": True,
    "offline": True,
    "video_processing_pending": True,
    "paid_suggested_post_stars": True,
    "paid_suggested_post_ton": True,
    "from_id": _peer(1),
    "from_boosts_applied": 3,
    "from_rank": "админ",
    "saved_peer_id": _peer(2),
    "fwd_from": types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(77), channel_post=9),
    "via_bot_id": 555,
    "via_business_bot_id": 556,
    "guestchat_via_from": _peer(3),
    "reply_to": types.MessageReplyHeader(reply_to_msg_id=5, quote_text="цитата"),
    "media": types.MessageMediaDice(value=3, emoticon="🎲"),
    "reply_markup": types.ReplyInlineMarkup(rows=[]),
    "entities": [
        types.MessageEntityBold(0, 5),
        types.MessageEntityTextUrl(6, 4, "https://example.org/a"),
        types.MessageEntityHashtag(11, 3),
        types.MessageEntityMentionName(15, 2, 42),
        types.MessageEntityPre(18, 3, "python"),
        types.MessageEntityCustomEmoji(22, 2, 987654321),
        types.MessageEntityBlockquote(0, 4, collapsed=True),
    ],
    "views": 12345,  # with forwards: one flag for both
    "replies": types.MessageReplies(
        replies=8, replies_pts=90, comments=True, channel_id=4242, max_id=31, read_max_id=30
    ),
    "edit_date": datetime(2026, 3, 5, tzinfo=UTC),
    "post_author": "Анна",
    "grouped_id": 1234567890123,
    "reactions": types.MessageReactions(
        results=[
            types.ReactionCount(reaction=types.ReactionEmoji("👍"), count=12),
            types.ReactionCount(reaction=types.ReactionCustomEmoji(777), count=2, chosen_order=1),
            types.ReactionCount(reaction=types.ReactionPaid(), count=5),
        ],
        can_see_list=True,
    ),
    "restriction_reason": [types.RestrictionReason("android", "porn", "текст")],
    "ttl_period": 86400,
    "quick_reply_shortcut_id": 11,
    "effect": 5555,
    "factcheck": types.FactCheck(
        hash=99, country="RU", need_check=True, text=types.TextWithEntities("факт", [])
    ),
    "report_delivery_until_date": datetime(2026, 4, 1, tzinfo=UTC),
    "paid_message_stars": 25,
    "suggested_post": types.SuggestedPost(accepted=True),
    "schedule_repeat_period": 3600,
    "summary_from_language": "en",
    "rich_message": types.RichMessage(blocks=[], photos=[], documents=[]),
}

# The same fields with the variants the fast path leaves to Telethon.
VARIANTS: dict[str, Any] = {
    "replies": types.MessageReplies(
        replies=2, replies_pts=3, recent_repliers=[_peer(5), types.PeerChannel(6)]
    ),
    "reactions": types.MessageReactions(
        results=[types.ReactionCount(reaction=types.ReactionEmoji("🔥"), count=1)],
        recent_reactions=[
            types.MessagePeerReaction(
                peer_id=_peer(7), date=T0, reaction=types.ReactionEmoji("🔥")
            )
        ],
    ),
    "from_id": types.PeerChannel(99),
    "entities": [],
}


def _message(msg_id: int, text: str = "текст поста", **fields: Any) -> Any:
    if "views" in fields:
        fields.setdefault("forwards", 67)
    return types.Message(
        id=msg_id, peer_id=types.PeerChannel(1001), date=T0, message=text, **fields
    )


def _page(messages: list[Any]) -> bytes:
    chats = [types.ChannelForbidden(id=1001, access_hash=5, title="канал")]
    users = [types.UserEmpty(id=101)]
    page = types.messages.ChannelMessages(
        pts=1, count=len(messages), messages=messages, topics=[], chats=chats, users=users
    )
    return bytes(page)


def _same(telethon: Any, fast: Any) -> None:
    if isinstance(telethon, types.Message):
        assert isinstance(fast, HistoryMessage)
        for name in HistoryMessage.__slots__:
            assert getattr(fast, name) == getattr(telethon, name), name
        now = datetime(2026, 12, 2, tzinfo=UTC)
        assert message_row(7, fast, now, peers={}) == message_row(7, telethon, now, peers={})
    else:
        assert type(fast) is type(telethon)
        assert fast == telethon


def _check(data: bytes) -> None:
    telethon = BinaryReader(data).tgread_object()
    reader = HistoryReader(data)
    fast = reader.tgread_object()
    assert reader.position == len(data)
    assert len(fast.messages) == len(telethon.messages)
    for a, b in zip(telethon.messages, fast.messages, strict=True):
        _same(a, b)
    assert fast.chats == telethon.chats
    assert fast.users == telethon.users
    assert getattr(fast, "count", None) == getattr(telethon, "count", None)


def test_the_layer_is_the_one_the_decoder_reads() -> None:
    assert history_decode.FAST, "Telethon's layer changed: check parser/history_decode.py"


@pytest.mark.parametrize("name", sorted(OPTIONAL))
def test_each_optional_field_alone_and_after_it_the_next_message(name: str) -> None:
    fields = {name: OPTIONAL[name]}
    _check(_page([_message(1, **fields), _message(2), _message(3, LONG_TEXT, **fields)]))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_left_to_telethon(name: str) -> None:
    _check(_page([_message(1, **{name: VARIANTS[name]}), _message(2, post=True)]))


def test_every_field_at_once_and_random_mixes() -> None:
    rng = random.Random(20)
    pool = {**OPTIONAL}
    messages = [_message(1, LONG_TEXT, **pool)]
    for i in range(2, 150):
        chosen = rng.sample(sorted(pool), rng.randint(0, len(pool)))
        fields = {k: VARIANTS[k] if k in VARIANTS and rng.random() < 0.3 else pool[k]
                  for k in chosen}
        text = rng.choice(["", "a", "абв", LONG_TEXT, "x" * 253, "я" * 127])
        messages.append(_message(i, text, **fields))
    messages.insert(40, types.MessageService(
        id=999, peer_id=types.PeerChannel(1001), date=T0,
        action=types.MessageActionPinMessage(),
    ))
    messages.insert(60, types.MessageEmpty(id=1000, peer_id=types.PeerChannel(1001)))
    _check(_page(messages))


def test_other_answers_are_telethons() -> None:
    slice_ = types.messages.MessagesSlice(
        count=3, messages=[_message(1, views=5, forwards=1)], topics=[], chats=[], users=[]
    )
    _check(bytes(slice_))
    plain = types.messages.Messages(messages=[_message(4)], topics=[], chats=[], users=[])
    _check(bytes(plain))


def _request() -> HistoryRequest:
    return HistoryRequest(
        peer=types.InputPeerChannel(1001, 5), offset_id=0, offset_date=None, add_offset=0,
        limit=100, max_id=0, min_id=0, hash=0,
    )


def test_the_answer_is_read_through_invoke_without_updates() -> None:
    # parser/client.py's clients have receive_updates=False: Telethon wraps the request.
    data = _page([_message(1, views=3, forwards=0)])
    wrapped = functions.InvokeWithoutUpdatesRequest(_request())
    answer = wrapped.read_result(BinaryReader(data))
    assert isinstance(answer.messages[0], HistoryMessage)
    assert answer.messages[0].views == 3
    # Any other request is read as before: Telethon's objects.
    other = functions.InvokeWithoutUpdatesRequest(
        functions.messages.GetHistoryRequest(
            peer=types.InputPeerChannel(1001, 5), offset_id=0, offset_date=None,
            add_offset=0, limit=100, max_id=0, min_id=0, hash=0,
        )
    )
    assert isinstance(other.read_result(BinaryReader(data)).messages[0], types.Message)


def test_without_the_layer_telethon_decodes_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_decode, "FAST", False)
    answer = _request().read_result(BinaryReader(_page([_message(1)])))
    assert isinstance(answer.messages[0], types.Message)
