"""World objects -> TL objects (all through `tlbuild.build`), plus history paging."""

from __future__ import annotations

import bisect
import logging
import random
import struct
from collections.abc import Iterable
from typing import Any

from telethon.tl import TLObject, types

from .tlbuild import RawTL, build, peer_channel, peer_user, to_timestamp
from .world import BasicGroup, Channel, StoredMessage, User, World

log = logging.getLogger(__name__)


def render_user(user: User, *, is_self: bool = False) -> types.User:
    return build(
        types.User,
        id=user.id,
        access_hash=user.access_hash,
        first_name=user.first_name,
        last_name=user.last_name or None,
        username=user.username,
        phone=user.phone if is_self else None,
        is_self=is_self,
        status=build(types.UserStatusRecently),
    )


def render_channel(channel: Channel, viewer: User | None) -> types.Channel:
    member = viewer is not None and viewer.id in channel.members
    return build(
        types.Channel,
        id=channel.id,
        access_hash=channel.access_hash_for(viewer),
        title=channel.title,
        username=channel.username,
        photo=build(types.ChatPhotoEmpty),
        date=channel.date,
        broadcast=channel.broadcast or None,
        megagroup=channel.megagroup or None,
        left=not member,
        has_link=channel.linked is not None or None,
        participants_count=channel.member_count,
    )


def render_chat(chat: BasicGroup, viewer: User | None) -> Any:
    """A basic group as TL `chat` for a member, `chatForbidden` for anyone else; a
    migrated one is `deactivated` and names its supergroup in `migrated_to`."""
    if viewer is None or viewer.id not in chat.members:
        return build(types.ChatForbidden, id=chat.id, title=chat.title)
    target = chat.migrated_to
    migrated_to = None
    if target is not None:
        migrated_to = build(
            types.InputChannel, channel_id=target.id, access_hash=target.access_hash_for(viewer)
        )
    return build(
        types.Chat,
        id=chat.id,
        title=chat.title,
        photo=build(types.ChatPhotoEmpty),
        participants_count=chat.member_count,
        date=chat.date,
        version=1,
        deactivated=chat.deactivated or None,
        migrated_to=migrated_to,
    )


def render_peer_chat(chat: Channel, viewer: User | None) -> Any:
    """A channel or a basic group as the TL object of an answer's `chats`."""
    if isinstance(chat, BasicGroup):
        return render_chat(chat, viewer)
    return render_channel(chat, viewer)


def render_media(media: Any, msg: StoredMessage, world: World, dc_id: int = 2) -> Any:
    """A TL MessageMedia from a TL object, "photo"/"document"/"video"/"webpage" or a dict.

    Photos, documents and videos get content (`data`, or `size` deterministic bytes)
    that `upload.getFile` serves, so `download_media` works. A photo's largest size is
    `width` x `height` (800 x 600), a PhotoSizeProgressive with `progressive=True`; a
    video has `duration` (s), `width`, `height` and `round`.
    """
    if media is None or not isinstance(media, str | dict):
        return media
    spec: dict[str, Any] = {"type": media} if isinstance(media, str) else dict(media)
    kind = spec.get("type")
    rnd = random.Random(msg.id)
    file_id = rnd.getrandbits(62)
    data: bytes = spec.get("data") or b""
    if kind in ("photo", "document", "video"):
        if not data:
            data = rnd.randbytes(int(spec.get("size", 54321 if kind == "photo" else 12345)))
        world.files[file_id] = data
    if kind == "photo":
        w, h = int(spec.get("width", 800)), int(spec.get("height", 600))
        sizes: list[Any] = [build(types.PhotoSize, type="m", w=w // 4, h=h // 4, size=1)]
        if spec.get("progressive"):
            sizes.append(
                build(types.PhotoSizeProgressive, type="y", w=w, h=h, sizes=[1, len(data)])
            )
        else:
            sizes.append(build(types.PhotoSize, type="x", w=w, h=h, size=len(data)))
        photo = build(
            types.Photo,
            id=file_id,
            access_hash=rnd.getrandbits(62),
            file_reference=b"\x01" * 8,
            date=msg.date,
            sizes=sizes,
            dc_id=dc_id,
        )
        return build(types.MessageMediaPhoto, photo=photo)
    if kind in ("document", "video"):
        video = kind == "video"
        name = spec.get("file_name", "clip.mp4" if video else "file.pdf")
        attributes: list[Any] = [build(types.DocumentAttributeFilename, file_name=name)]
        if video:
            attributes.append(
                build(
                    types.DocumentAttributeVideo,
                    duration=float(spec.get("duration", 12.0)),
                    w=int(spec.get("width", 1280)),
                    h=int(spec.get("height", 720)),
                    round_message=spec.get("round") or None,
                )
            )
        document = build(
            types.Document,
            id=file_id,
            access_hash=rnd.getrandbits(62),
            file_reference=b"\x01" * 8,
            date=msg.date,
            mime_type=spec.get("mime_type", "video/mp4" if video else "application/pdf"),
            size=len(data),
            dc_id=dc_id,
            attributes=attributes,
        )
        return build(types.MessageMediaDocument, document=document)
    if kind == "webpage":
        url = spec.get("url", "https://example.com/")
        page = build(
            types.WebPage,
            id=rnd.getrandbits(62),
            url=url,
            display_url=url.split("://", 1)[-1],
            hash=0,
            type="article",
            site_name=spec.get("site_name", "Example"),
            title=spec.get("title", "Example page"),
            description=spec.get("description"),
        )
        return build(types.MessageMediaWebPage, webpage=page)
    raise ValueError(f"unknown media {media!r}")


def render_fwd(fwd: Any, msg: StoredMessage) -> Any:
    """A TL MessageFwdHeader from a TL header, a hidden user's name, a Channel, a User
    or a dict `{"from": Channel | User | None, "channel_post": id, "post_author": str,
    "name": str, "date": datetime | unix time}` (the date defaults to the message's)."""
    if fwd is None or not isinstance(fwd, str | Channel | User | dict):
        return fwd
    spec: dict[str, Any]
    if isinstance(fwd, str):
        spec = {"name": fwd}
    elif isinstance(fwd, dict):
        spec = fwd
    else:
        spec = {"from": fwd}
    source = spec.get("from")
    from_id = None
    if isinstance(source, Channel):
        from_id = peer_channel(source.id)
    elif isinstance(source, User):
        from_id = peer_user(source.id)
    date = to_timestamp(spec["date"]) if spec.get("date") is not None else msg.date
    return build(
        types.MessageFwdHeader,
        date=date,
        from_id=from_id,
        from_name=spec.get("name"),
        channel_post=spec.get("channel_post"),
        post_author=spec.get("post_author"),
    )


def fwd_source(fwd: Any) -> Channel | User | None:
    """The channel or user a world-level forward spec names (None: hidden or TL)."""
    if isinstance(fwd, Channel | User):
        return fwd
    if isinstance(fwd, dict):
        source = fwd.get("from")
        return source if isinstance(source, Channel | User) else None
    return None


def render_service(channel: Channel, msg: StoredMessage) -> Any:
    """A TL messageService: the action, its sender and the message a pin points at."""
    reply_to = None
    if msg.reply_to is not None:
        reply_to = build(types.MessageReplyHeader, reply_to_msg_id=msg.reply_to)
    return build(
        types.MessageService,
        id=msg.id,
        peer_id=channel.peer,
        date=msg.date,
        post=channel.broadcast or None,
        from_id=peer_user(msg.from_id) if msg.from_id is not None else None,
        reply_to=reply_to,
        action=msg.action,
    )


def render_message(channel: Channel, msg: StoredMessage) -> Any:
    if msg.action is not None:
        return render_service(channel, msg)
    views, forwards = msg.views, msg.forwards
    if channel.broadcast or views is not None or forwards is not None:
        # Views and forwards share one flag bit: both or neither.
        views = views or 0
        forwards = forwards or 0
    reply_to = None
    if msg.reply_to is not None:
        top = msg.reply_top if msg.reply_top not in (None, msg.reply_to) else None
        reply_to = build(
            types.MessageReplyHeader, reply_to_msg_id=msg.reply_to, reply_to_top_id=top
        )
    replies = None
    fwd_from = render_fwd(msg.fwd_from, msg)
    from_id = peer_user(msg.from_id) if msg.from_id is not None else None
    linked = channel.linked
    if channel.broadcast and linked is not None:
        group = linked
        root = group.thread_root(msg.id)
        thread = group.thread_ids(root) if root is not None else []
        replies = build(
            types.MessageReplies,
            replies=len(thread),
            replies_pts=group.pts,
            comments=True,
            channel_id=group.id,
            max_id=thread[-1] if thread else None,
        )
    elif msg.discussion_of is not None and linked is not None:
        post = linked.get(msg.discussion_of)
        from_id = peer_channel(linked.id)
        fwd_from = build(
            types.MessageFwdHeader,
            date=post.date if post else msg.date,
            from_id=peer_channel(linked.id),
            channel_post=msg.discussion_of,
            saved_from_peer=peer_channel(linked.id),
            saved_from_msg_id=msg.discussion_of,
        )
    reactions = None
    if msg.reactions:
        reactions = build(
            types.MessageReactions,
            results=[
                build(
                    types.ReactionCount,
                    reaction=build(types.ReactionEmoji, emoticon=emoji),
                    count=count,
                )
                for emoji, count in msg.reactions.items()
            ],
        )
    return build(
        types.Message,
        id=msg.id,
        peer_id=channel.peer,
        date=msg.date,
        message=msg.text,
        post=channel.broadcast or None,
        from_id=from_id,
        fwd_from=fwd_from,
        reply_to=reply_to,
        media=render_media(msg.media, msg, channel.world),
        entities=msg.entities,
        views=views,
        forwards=forwards,
        replies=replies,
        edit_date=msg.edit_date,
        post_author=msg.post_author,
        grouped_id=msg.grouped_id,
        reactions=reactions,
    )


def message_raw(channel: Channel, msg: StoredMessage) -> RawTL:
    """The message's TL bytes, serialized once and cached on the record."""
    raw = msg.raw
    if raw is None:
        raw = _fast_plain(channel, msg) if _is_plain(channel, msg) else None
        if raw is None:
            raw = bytes(render_message(channel, msg))
        msg.raw = raw
    return RawTL(raw)


def _is_plain(channel: Channel, msg: StoredMessage) -> bool:
    return (
        channel.broadcast
        and channel.linked is None
        and msg.entities is None
        and msg.reply_to is None
        and msg.fwd_from is None
        and not msg.reactions
        and msg.media is None
        and msg.grouped_id is None
        and msg.post_author is None
        and msg.from_id is None
        and msg.edit_date is None
        and msg.discussion_of is None
        and msg.action is None
    )


# Plain channel posts (the bulk of any benchmark) are serialized by splicing
# id/date/text/views/forwards into bytes that `render_message` produced for
# sentinel values. The template is checked against `render_message` before use,
# so a layer change that breaks the splice only disables this shortcut.
_SENTINELS = {
    "id": 0x3A3B3C3D,
    "date": 0x2B2C2D2E,
    "views": 0x1A1B1C1D,
    "forwards": 0x0A0B0C0E,
}
_SENTINEL_TEXT = "\x7f" * 8
_Template = list[tuple[bytes, str]]
_templates: dict[int, tuple[_Template, bytes] | None] = {}


def _fast_plain(channel: Channel, msg: StoredMessage) -> bytes | None:
    if channel.id not in _templates:
        _templates[channel.id] = _make_template(channel)
    template = _templates[channel.id]
    if template is None:
        return None
    plan, tail = template
    pack = struct.pack
    values = {
        "id": msg.id,
        "date": msg.date,
        "views": msg.views or 0,
        "forwards": msg.forwards or 0,
    }
    out = []
    for literal, name in plan:
        out.append(literal)
        if name == "text":
            out.append(TLObject.serialize_bytes(msg.text))
        else:
            out.append(pack("<i", values[name]))
    out.append(tail)
    return b"".join(out)


def _make_template(channel: Channel) -> tuple[_Template, bytes] | None:
    probe = StoredMessage(
        _SENTINELS["id"],
        _SENTINELS["date"],
        _SENTINEL_TEXT,
        views=_SENTINELS["views"],
        forwards=_SENTINELS["forwards"],
    )
    data = bytes(render_message(channel, probe))
    marks = {name: struct.pack("<i", value) for name, value in _SENTINELS.items()}
    marks["text"] = TLObject.serialize_bytes(_SENTINEL_TEXT)
    found = []
    for name, mark in marks.items():
        if data.count(mark) != 1:
            return None
        found.append((data.index(mark), name, len(mark)))
    found.sort()
    plan: _Template = []
    pos = 0
    for index, name, size in found:
        plan.append((data[pos:index], name))
        pos = index + size
    template = (plan, data[pos:])
    _templates[channel.id] = template
    for sample in (
        StoredMessage(7, 1_700_000_000, "short", views=3, forwards=1),
        StoredMessage(2**31 - 1, 1_800_000_000, "long é" * 80, views=0, forwards=0),
    ):
        if _fast_plain(channel, sample) != bytes(render_message(channel, sample)):
            log.warning("plain-message template does not match this layer; not using it")
            return None
    return template


def page_ids(
    channel: Channel,
    asc: list[int],
    *,
    offset_id: int,
    offset_date: int,
    add_offset: int,
    limit: int,
    max_id: int,
    min_id: int,
) -> list[int]:
    """Telegram's history paging over ascending `asc`, answered newest first.

    `min_id`/`max_id` (exclusive) bound the candidates first; the start position
    is the first candidate older than `offset_id` (or, with no offset_id, sent
    before `offset_date`); `add_offset` shifts it (negative: towards newer).
    """
    limit = max(0, min(limit, 100))
    lo = bisect.bisect_right(asc, min_id) if min_id > 0 else 0
    hi = bisect.bisect_left(asc, max_id) if max_id > 0 else len(asc)
    if hi <= lo or limit == 0:
        return []
    count = hi - lo
    if offset_id > 0:
        older = bisect.bisect_left(asc, offset_id, lo, hi) - lo
    elif offset_date > 0:
        msgs = channel._msgs
        older = bisect.bisect_left(asc, offset_date, lo, hi, key=lambda i: msgs[i].date) - lo
    else:
        older = count
    position = count - older + add_offset
    start = max(position, 0)
    end = min(position + limit, count)
    top = hi - 1
    return [asc[top - j] for j in range(start, end)]


def involved_users(world: World, channel: Channel, ids: Iterable[int]) -> list[User]:
    """The senders of messages `ids` and the users they were forwarded from."""
    msgs = channel._msgs
    found: list[int] = []
    for i in ids:
        m = msgs[i]
        if m.from_id is not None:
            found.append(m.from_id)
        if m.fwd_from is not None:
            source = fwd_source(m.fwd_from)
            if isinstance(source, User):
                found.append(source.id)
    return world.users_by_id(found)


def involved_channels(channel: Channel, ids: Iterable[int]) -> list[Channel]:
    """The channels messages `ids` name, as Telegram lists them in `chats`: a forward's
    source, a story's or a giveaway's channels, the linked channel for
    discussion-group copies of its posts, the supergroup a basic group migrated to and
    the basic group a supergroup migrated from (a `BasicGroup`)."""
    msgs = channel._msgs
    world = channel.world
    found: dict[int, Channel] = {}
    for i in ids:
        m = msgs[i]
        if m.fwd_from is not None:
            source = fwd_source(m.fwd_from)
            if isinstance(source, Channel):
                found[source.id] = source
        if m.discussion_of is not None and channel.linked is not None:
            found[channel.linked.id] = channel.linked
        action = m.action
        if isinstance(action, types.MessageActionChatMigrateTo):
            target = world.channels.get(action.channel_id)
            if target is not None:
                found[target.id] = target
        elif isinstance(action, types.MessageActionChannelMigrateFrom):
            old = world.chats.get(action.chat_id)
            if old is not None:
                found[-old.id] = old  # another id space: keyed apart from channels
        if m.media is not None:
            for cid in _media_channel_ids(m.media):
                named = world.channels.get(cid)
                if named is not None:
                    found[cid] = named
    return list(found.values())


def _media_channel_ids(media: Any) -> list[int]:
    if isinstance(media, types.MessageMediaStory) and isinstance(media.peer, types.PeerChannel):
        return [media.peer.channel_id]
    if isinstance(media, types.MessageMediaGiveaway):
        return list(media.channels)
    if isinstance(media, types.MessageMediaGiveawayResults):
        return [media.channel_id]
    return []
