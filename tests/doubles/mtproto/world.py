"""The scriptable world behind the MTProto double: accounts, channels, messages.

Plain Python objects, mutable while clients run. Messages are stored as compact
slotted records; TL objects are built (and their bytes cached) only when a page is
requested, so a channel with 100,000 messages builds in a fraction of a second.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import logging
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types

from .files import KIND_DEFAULTS, MEDIA_KINDS, Content, StoredFile
from .tlbuild import build, to_timestamp

# edit_message: "leave the media as it is" (None removes it).
_KEEP: Any = object()

log = logging.getLogger(__name__)

_USERNAME_RE = re.compile(r"^[A-Za-z](?:(?!__)\w){1,30}[A-Za-z0-9]$")


def normalize_phone(phone: str | int) -> str:
    """Digits only, as Telegram stores them ("+1 555 000" -> "1555000")."""
    return re.sub(r"\D", "", str(phone))


def build_action(name: str, **fields: Any) -> Any:
    """The TL MessageAction called `name` in snake_case without its prefix
    (`"chat_edit_title"` -> MessageActionChatEditTitle), fields filled by `build`."""
    camel = "".join(part.capitalize() for part in name.split("_"))
    cls = getattr(types, "MessageAction" + camel, None)
    if cls is None:
        raise ValueError(f"no MessageAction called {name!r}")
    return build(cls, **fields)


def _access_hash() -> int:
    return random.getrandbits(63)


@dataclass(slots=True, eq=False)
class User:
    """A Telegram user; an account is a user with a phone and a login code."""

    id: int
    access_hash: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    phone: str | None = None
    code: str | None = None
    password: str | None = None
    # Sessions issued before the last revoke_sessions() are dead.
    session_epoch: int = 0
    revoked_error: str = "AUTH_KEY_UNREGISTERED"
    # SRP material for the 2FA password, derived lazily.
    srp_salt1: bytes = b""
    srp_salt2: bytes = b""
    srp_verifier: int | None = None
    srp_password: str | None = None

    @property
    def is_account(self) -> bool:
        return self.phone is not None


@dataclass(slots=True, eq=False)
class StoredMessage:
    """One message in a channel or group; `raw` caches its serialized TL bytes."""

    id: int
    date: int
    text: str = ""
    views: int | None = None
    forwards: int | None = None
    entities: list[Any] | None = None
    reply_to: int | None = None
    fwd_from: Any = None
    reactions: dict[str, int] | None = None
    media: Any = None
    grouped_id: int | None = None
    post_author: str | None = None
    from_id: int | None = None
    edit_date: int | None = None
    # For comments in a discussion group: the id of the thread root message.
    reply_top: int | None = None
    # For the auto-forwarded copy of a channel post in its discussion group.
    discussion_of: int | None = None
    # A service message's TL MessageAction (a pin, a new title, ...); None: a message.
    action: Any = None
    # The comment count to show instead of the linked group's thread length
    # (`World.set_counters(..., replies=N)`); None: counted from the discussion group.
    replies: int | None = None
    # Users whose messages.getMessagesViews(increment=True) counted a view already.
    viewers: set[int] | None = None
    raw: bytes | None = None


class Channel:
    """A channel (broadcast) or supergroup (megagroup) with its messages."""

    def __init__(
        self,
        world: World,
        *,
        channel_id: int,
        title: str,
        username: str | None,
        megagroup: bool,
        broadcast: bool,
        private: bool,
        invite_hash: str | None,
        about: str = "",
        participants_count: int | None = None,
    ) -> None:
        self.world = world
        self.id = channel_id
        # The secret the per-account access hashes derive from (access_hash_for).
        self._hash_seed = _access_hash()
        self.title = title
        self.username = username
        self.megagroup = megagroup
        self.broadcast = broadcast
        self.private = private
        self.invite_hash = invite_hash
        self.about = about
        self.participants_count = participants_count
        self.date = world.now
        self.members: set[int] = set()
        # The discussion group of a channel, or the channel of a discussion group.
        self.linked: Channel | None = None
        self.pts = 1
        self._ids: list[int] = []
        self._msgs: dict[int, StoredMessage] = {}
        self._next_id = 1
        # Discussion group side: channel post id -> root message id in this group,
        # and root message id -> ascending ids of the comments in that thread.
        self._roots: dict[int, int] = {}
        self._threads: dict[int, list[int]] = {}
        # A supergroup upgraded from a basic group (`World.migrate`): the old group and
        # its last message id then (channels.getFullChannel migrated_from_chat_id /
        # migrated_from_max_id).
        self.migrated_from: BasicGroup | None = None
        self.migrated_from_max_id: int | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.id} @{self.username} {self.title!r} {len(self._ids)} msgs>"

    # -- identity ----------------------------------------------------------------

    def access_hash_for(self, user: User | int | None) -> int:
        """The channel's access hash as account `user` (a User or a user id) sees it.

        As on Telegram, an access hash belongs to the account that received it: the same
        channel has another access hash for another account, and a hash of account A sent
        by account B is refused (CHANNEL_INVALID, or `world.stale_hash_error`). Stable for
        the pair (channel, user); `None` (no login) and `world.shared_access_hashes = True`
        give one hash for everyone.
        """
        uid = user.id if isinstance(user, User) else user
        if uid is None or self.world.shared_access_hashes:
            return self._hash_seed
        digest = hashlib.blake2b(f"{self._hash_seed}:{uid}".encode(), digest_size=8).digest()
        return (int.from_bytes(digest, "big") >> 1) or 1

    @property
    def access_hash(self) -> int:
        """The access hash of the world's first account (`world.add_account`), the one most
        tests log in with; `access_hash_for(user)` for another account."""
        return self.access_hash_for(self.world.first_account())

    def rename(self, title: str, *, service: bool = True) -> StoredMessage | None:
        """Change the title. Like Telegram, the channel's history then shows a service
        message (messageActionChatEditTitle), returned; `service=False`: none."""
        self.title = title
        if service:
            return self.add_service("chat_edit_title", title=title)
        return None

    def set_username(self, username: str | None) -> None:
        """Change (or with None drop) the public username; ValueError when another
        channel or user holds it (Telegram: USERNAME_OCCUPIED). The old one is free at
        once: `contacts.resolveUsername` answers USERNAME_NOT_OCCUPIED for it, or the
        new holder after `world.take_username`."""
        if username is not None:
            if not _USERNAME_RE.match(username):
                raise ValueError(f"bad username {username!r}")
            holder = self.world.find_username(username)
            if holder is not None and holder is not self:
                raise ValueError(f"username @{username} is taken")
            if self.private:
                raise ValueError("a private channel has no username")
        self.username = username

    # -- reading -----------------------------------------------------------------

    @property
    def ids(self) -> list[int]:
        """Ascending ids of the messages that exist (do not mutate)."""
        return self._ids

    @property
    def last_id(self) -> int:
        return self._ids[-1] if self._ids else 0

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def peer(self) -> Any:
        """The TL peer of its messages' `peer_id`: PeerChannel (PeerChat for a basic
        group)."""
        return types.PeerChannel(channel_id=self.id)

    def get(self, msg_id: int) -> StoredMessage | None:
        return self._msgs.get(msg_id)

    def message(self, msg_id: int) -> StoredMessage:
        return self._msgs[msg_id]

    @property
    def member_count(self) -> int:
        if self.participants_count is not None:
            return self.participants_count
        return len(self.members)

    @property
    def subscribers(self) -> int:
        """The subscriber count channels.getFullChannel answers (`participants_count`);
        settable at any time (`channel.subscribers = 1500`) so a series changes."""
        return self.member_count

    @subscribers.setter
    def subscribers(self, count: int | None) -> None:
        self.participants_count = count

    def can_read(self, user: User | None) -> bool:
        if not self.private:
            return True
        return user is not None and user.id in self.members

    # -- writing -----------------------------------------------------------------

    def add_message(
        self,
        text: str = "",
        *,
        date: dt.datetime | int | float | None = None,
        views: int | None = None,
        forwards: int | None = None,
        entities: list[Any] | None = None,
        reply_to: int | None = None,
        fwd_from: Any = None,
        reactions: dict[str, int] | None = None,
        media: Any = None,
        grouped_id: int | None = None,
        post_author: str | None = None,
        from_id: int | User | None = None,
        msg_id: int | None = None,
    ) -> StoredMessage:
        """Append a message; `date` defaults to now (never before the last message)."""
        mid = self._take_id(msg_id)
        ts = to_timestamp(date) if date is not None else self._default_date()
        if isinstance(from_id, User):
            from_id = from_id.id
        media = self.world.media_from_spec(media, date=ts)
        msg = StoredMessage(
            mid,
            ts,
            text,
            views=views,
            forwards=forwards,
            entities=entities,
            reply_to=reply_to,
            fwd_from=fwd_from,
            reactions=reactions,
            media=media,
            grouped_id=grouped_id,
            post_author=post_author,
            from_id=from_id,
        )
        self._store(msg)
        if isinstance(media, StoredFile):
            media.posts.append((self, msg))
        return msg

    def add_media_post(
        self,
        kind: str,
        *,
        size: int | None = None,
        mime_type: str | None = None,
        file_name: str | None = None,
        media_id: int | None = None,
        content: bytes | None = None,
        same_content_as: int | None = None,
        text: str = "",
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
        title: str | None = None,
        performer: str | None = None,
        progressive: bool = False,
        **message_fields: Any,
    ) -> int:
        """Post a photo or a document of `kind` (one of MEDIA_KINDS); returns its media
        id (TL Photo.id / Document.id). The new message is `self.last_id`.

        `media_id` of a file the world already has re-posts that same media (same id,
        access hash and bytes; other arguments but `text` and message fields must be
        left out); a new `media_id` makes a new file with that id. `size` (bytes, default
        54321 for photos, 12345 otherwise) makes generated content (lazy: 2 GB costs
        nothing), `content` gives explicit bytes, `same_content_as` (a media id) makes a
        new media id with byte-identical content. `message_fields` go to `add_message`
        (date, views, grouped_id, msg_id, ...).
        """
        world = self.world
        if media_id is not None and media_id in world.files:
            stored = world.files[media_id]
            if stored.kind != kind:
                raise ValueError(f"media {media_id} is a {stored.kind}, not a {kind}")
            if any(v is not None for v in (size, mime_type, file_name, content, same_content_as)):
                raise ValueError("a re-post takes the stored media as it is")
        else:
            stored = world.add_file(
                kind,
                size=size,
                mime_type=mime_type,
                file_name=file_name,
                media_id=media_id,
                content=content,
                same_content_as=same_content_as,
                width=width,
                height=height,
                duration=duration,
                title=title,
                performer=performer,
                progressive=progressive,
            )
        self.add_message(text, media=stored, **message_fields)
        return stored.id

    def add_service(
        self,
        action: Any,
        *,
        date: dt.datetime | int | float | None = None,
        from_id: int | User | None = None,
        reply_to: int | None = None,
        msg_id: int | None = None,
        **fields: Any,
    ) -> StoredMessage:
        """Append a service message (rendered as TL `messageService`).

        `action`: a TL MessageAction, or the snake_case name of one without its prefix
        (`"pin_message"`, `"chat_edit_title"`, `"channel_create"`, ...) built with
        `fields` (`title="New"`). A pin's `reply_to` is the pinned message's id.
        """
        if isinstance(action, str):
            action = build_action(action, **fields)
        elif fields:
            raise TypeError("fields go with an action name, not a TL object")
        msg = self.add_message(date=date, from_id=from_id, reply_to=reply_to, msg_id=msg_id)
        msg.action = action
        return msg

    def add_messages(
        self,
        n: int,
        *,
        text_fn: Callable[[int], str] | None = None,
        start_date: dt.datetime | int | float | None = None,
        interval: float = 60.0,
        views: int | None = None,
    ) -> list[int]:
        """Append `n` plain text messages fast; `text_fn(msg_id)` gives each text.

        Dates start at `start_date` (default: `n * interval` seconds ago) and grow
        by `interval`; returns the new ids.
        """
        if n <= 0:
            return []
        now = self.world.now
        start = to_timestamp(start_date) if start_date is not None else now - int(n * interval)
        if self._ids:
            start = max(start, self._msgs[self._ids[-1]].date)
        first = self._next_id
        new_ids = list(range(first, first + n))
        msgs = self._msgs
        make = StoredMessage
        if text_fn is None:
            for i, mid in enumerate(new_ids):
                msgs[mid] = make(mid, start + int(i * interval), f"Message {mid}", views)
        else:
            for i, mid in enumerate(new_ids):
                msgs[mid] = make(mid, start + int(i * interval), text_fn(mid), views)
        self._ids.extend(new_ids)
        self._next_id = first + n
        self.pts += n
        return new_ids

    def edit_message(
        self,
        msg_id: int,
        *,
        text: str | None = None,
        views: int | None = None,
        forwards: int | None = None,
        reactions: dict[str, int] | None = None,
        entities: list[Any] | None = None,
        edit_date: dt.datetime | int | float | None = None,
        media: Any = _KEEP,
    ) -> StoredMessage:
        """Change a message; a text or `media` change (media as `add_message` takes it,
        None removes it) sets `edit_date` (default: now)."""
        msg = self._msgs[msg_id]
        if media is not _KEEP:
            media = self.world.media_from_spec(media, date=msg.date)
            msg.media = media
            if isinstance(media, StoredFile):
                media.posts.append((self, msg))
        if text is not None or media is not _KEEP:
            if text is not None:
                msg.text = text
            msg.edit_date = to_timestamp(edit_date) if edit_date is not None else self.world.now
        elif edit_date is not None:
            msg.edit_date = to_timestamp(edit_date)
        if views is not None:
            msg.views = views
        if forwards is not None:
            msg.forwards = forwards
        if reactions is not None:
            msg.reactions = reactions
        if entities is not None:
            msg.entities = entities
        msg.raw = None
        self.pts += 1
        return msg

    def delete_message(self, msg_id: int) -> None:
        msg = self._msgs.pop(msg_id)
        idx = bisect.bisect_left(self._ids, msg_id)
        del self._ids[idx]
        if msg.reply_top is not None and msg.reply_top in self._threads:
            thread = self._threads[msg.reply_top]
            thread.remove(msg_id)
            self._touch_root(msg.reply_top)
        self.pts += 1

    def add_comment(
        self,
        post_id: int,
        text: str = "",
        *,
        from_id: int | User | None = None,
        date: dt.datetime | int | float | None = None,
        reply_to: int | None = None,
        **extra: Any,
    ) -> StoredMessage:
        """Comment on post `post_id` of the linked channel (call on the group)."""
        channel = self.linked
        if channel is None or not channel.broadcast:
            raise ValueError(f"{self!r} is not the discussion group of a channel")
        root = self.thread_root(post_id, create=True)
        assert root is not None
        if from_id is None:
            from_id = self.world.default_commenter().id
        msg = self.add_message(
            text, from_id=from_id, date=date, reply_to=reply_to or root, **extra
        )
        msg.reply_top = root
        self._threads.setdefault(root, []).append(msg.id)
        self._touch_root(root)
        return msg

    def comments(self, post_id: int) -> list[int]:
        """Ascending ids (in this group) of the comments on channel post `post_id`."""
        root = self._roots.get(post_id)
        return list(self._threads.get(root, ())) if root is not None else []

    def thread_root(self, post_id: int, *, create: bool = False) -> int | None:
        root = self._roots.get(post_id)
        if root is None and create:
            channel = self.linked
            assert channel is not None
            post = channel.message(post_id)
            copy = self.add_message(post.text, entities=post.entities)
            copy.discussion_of = post_id
            root = copy.id
            self._roots[post_id] = root
            self._threads[root] = []
        return root

    def thread_ids(self, root: int) -> list[int]:
        return self._threads.get(root, [])

    def _touch_root(self, root: int) -> None:
        root_msg = self._msgs.get(root)
        if root_msg is not None and root_msg.discussion_of is not None and self.linked:
            post = self.linked.get(root_msg.discussion_of)
            if post is not None:
                post.raw = None

    def _take_id(self, msg_id: int | None) -> int:
        if msg_id is None:
            msg_id = self._next_id
        elif msg_id < self._next_id:
            raise ValueError(f"message id {msg_id} must exceed {self._next_id - 1}")
        self._next_id = msg_id + 1
        return msg_id

    def _default_date(self) -> int:
        now = self.world.now
        if self._ids:
            return max(now, self._msgs[self._ids[-1]].date)
        return now

    def _store(self, msg: StoredMessage) -> None:
        self._msgs[msg.id] = msg
        self._ids.append(msg.id)
        self.pts += 1


class BasicGroup(Channel):
    """A basic group (TL `chat`): read as InputPeerChat (no access hash), by members
    only; its ids are another id space than channels'. Members of a basic group share
    one message-id counter per user on Telegram, so its ids have gaps: give them with
    `msg_id=`. Telegram: https://core.telegram.org/api/channel#migration.

    `denied_error`: what messages.getHistory answers a non-member (PEER_ID_INVALID by
    default; CHAT_ID_INVALID or CHANNEL_PRIVATE work too). `migrated_to`: the
    supergroup it was upgraded to (`World.migrate`); it is then deactivated.
    """

    def __init__(self, world: World, *, chat_id: int, title: str) -> None:
        super().__init__(
            world,
            channel_id=chat_id,
            title=title,
            username=None,
            megagroup=False,
            broadcast=False,
            private=True,
            invite_hash=None,
        )
        self.denied_error = "PEER_ID_INVALID"
        self.migrated_to: Channel | None = None
        self.deactivated = False

    def __repr__(self) -> str:
        return f"<BasicGroup {self.id} {self.title!r} {len(self.ids)} msgs>"

    @property
    def peer(self) -> Any:
        return types.PeerChat(chat_id=self.id)


@dataclass(slots=True)
class PendingCode:
    phone: str
    phone_code_hash: str
    issued_at: float
    expired: bool = False


@dataclass(slots=True)
class QrToken:
    token: bytes
    owner: Any
    expires: int
    user_id: int | None = None


@dataclass
class World:
    """Accounts, users and channels the double serves; mutate freely in tests."""

    code_ttl: float = 300.0
    qr_ttl: int = 30
    clock: Callable[[], float] = time.time
    users: dict[int, User] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    # Basic groups by chat id (a separate id space from channels).
    chats: dict[int, BasicGroup] = field(default_factory=dict)
    # Photos and documents by media id, served by upload.getFile (`StoredFile`).
    files: dict[int, StoredFile] = field(default_factory=dict)
    # Bytes upload.getFile answered per media id, and the calls answered with bytes.
    bytes_served: Counter[int] = field(default_factory=Counter)
    getfile_requests: Counter[int] = field(default_factory=Counter)
    # messages.getHistory requests answered per channel id (benches tell a backfill's
    # pages from a refresh's by channel).
    history_requests: Counter[int] = field(default_factory=Counter)
    # The api_ids Telegram knows (None: any); others get API_ID_INVALID on initConnection.
    api_ids: set[int] | None = None
    # True: one access hash per channel for every account (before per-account hashes).
    shared_access_hashes: bool = False
    # The error a channel's access hash of another account gets (CHANNEL_INVALID, or
    # PEER_ID_INVALID as messages.* methods also answer on Telegram).
    stale_hash_error: str = "CHANNEL_INVALID"

    def __post_init__(self) -> None:
        self._by_phone: dict[str, User] = {}
        self._codes: dict[str, PendingCode] = {}
        self._qr: dict[bytes, QrToken] = {}
        self._qr_listeners: list[Callable[[QrToken], None]] = []
        self._next_user_id = 1_000_001
        self._next_channel_id = 1_500_000_001
        self._next_chat_id = 700_000_001
        self._commenter: User | None = None
        self._media_rng = random.Random()

    @property
    def now(self) -> int:
        return int(self.clock())

    # -- users -------------------------------------------------------------------

    def add_account(
        self,
        phone: str = "+15550000001",
        code: str = "12345",
        password: str | None = None,
        first_name: str = "Ann",
        username: str | None = None,
        user_id: int | None = None,
        last_name: str = "",
    ) -> User:
        """An account that can log in with `code` (and `password` when 2FA is on)."""
        digits = normalize_phone(phone)
        if not digits:
            raise ValueError(f"bad phone {phone!r}")
        if digits in self._by_phone:
            raise ValueError(f"account {phone} already exists")
        user = self.add_user(first_name, username=username, user_id=user_id, last_name=last_name)
        user.phone = digits
        user.code = code
        user.password = password
        self._by_phone[digits] = user
        return user

    def add_user(
        self,
        first_name: str = "User",
        *,
        username: str | None = None,
        user_id: int | None = None,
        last_name: str = "",
    ) -> User:
        """A user that cannot log in (comment authors, group members)."""
        uid = user_id if user_id is not None else self._next_user_id
        if uid in self.users:
            raise ValueError(f"user id {uid} already exists")
        self._next_user_id = max(self._next_user_id, uid + 1)
        user = User(uid, _access_hash(), first_name, last_name, username)
        self.users[uid] = user
        return user

    def account(self, phone: str | int) -> User | None:
        return self._by_phone.get(normalize_phone(phone))

    def first_account(self) -> User | None:
        """The account added first (None before any)."""
        return next(iter(self._by_phone.values()), None)

    def default_commenter(self) -> User:
        if self._commenter is None:
            self._commenter = self.add_user("Commenter")
        return self._commenter

    def revoke_sessions(self, phone: str, error: str = "AUTH_KEY_UNREGISTERED") -> None:
        """Kill every auth key logged in as this account; later calls fail with `error`."""
        user = self._require_account(phone)
        user.session_epoch += 1
        user.revoked_error = error

    # -- channels ----------------------------------------------------------------

    def add_channel(
        self,
        username: str | None = None,
        title: str = "Channel",
        megagroup: bool = False,
        invite_hash: str | None = None,
        private: bool = False,
        broadcast: bool | None = None,
        *,
        about: str = "",
        participants_count: int | None = None,
        channel_id: int | None = None,
    ) -> Channel:
        """A public channel (by `username`) or a private one (by `invite_hash`)."""
        if username is not None:
            if not _USERNAME_RE.match(username):
                raise ValueError(f"bad username {username!r}")
            if self.find_username(username) is not None:
                raise ValueError(f"username @{username} is taken")
        if private and username is not None:
            raise ValueError("a private channel has no username")
        if invite_hash is not None and self.find_invite(invite_hash) is not None:
            raise ValueError(f"invite hash {invite_hash!r} is taken")
        cid = channel_id if channel_id is not None else self._next_channel_id
        if cid in self.channels:
            raise ValueError(f"channel id {cid} already exists")
        self._next_channel_id = max(self._next_channel_id, cid + 1)
        channel = Channel(
            self,
            channel_id=cid,
            title=title,
            username=username,
            megagroup=megagroup,
            broadcast=(not megagroup) if broadcast is None else broadcast,
            private=private,
            invite_hash=invite_hash,
            about=about,
            participants_count=participants_count,
        )
        self.channels[cid] = channel
        return channel

    def link_discussion(self, channel: Channel, group: Channel) -> None:
        """Make `group` (a megagroup) the discussion group of broadcast `channel`."""
        if not group.megagroup:
            raise ValueError("a discussion group must be a megagroup")
        channel.linked = group
        group.linked = channel
        for mid in channel.ids:
            channel.message(mid).raw = None

    def add_chat(
        self, title: str = "Group", *, chat_id: int | None = None, members: Iterable[Any] = ()
    ) -> BasicGroup:
        """A basic group; `members`: accounts (User or phone) that can read it."""
        cid = chat_id if chat_id is not None else self._next_chat_id
        if cid in self.chats:
            raise ValueError(f"chat id {cid} already exists")
        self._next_chat_id = max(self._next_chat_id, cid + 1)
        chat = BasicGroup(self, chat_id=cid, title=title)
        self.chats[cid] = chat
        for who in members:
            self.join(who, chat)
        return chat

    def migrate(
        self,
        chat: BasicGroup,
        *,
        username: str | None = None,
        title: str | None = None,
        channel_id: int | None = None,
    ) -> Channel:
        """Upgrade basic group `chat` to a new supergroup, as Telegram does
        (messages.migrateChat): the old group gets a `chatMigrateTo` service message and
        is deactivated; the supergroup starts its own ids with a `channelMigrateFrom`
        service message (id 1), names the old group in channels.getFullChannel
        (`migrated_from_chat_id`, `migrated_from_max_id` = the old group's last id), and
        has the old group's members. Returns the supergroup."""
        if chat.migrated_to is not None:
            raise ValueError(f"{chat!r} was already migrated")
        group = self.add_channel(
            username=username, title=title or chat.title, megagroup=True, channel_id=channel_id
        )
        group.members |= chat.members
        chat.add_service("chat_migrate_to", channel_id=group.id)
        group.add_service("channel_migrate_from", title=chat.title, chat_id=chat.id)
        chat.migrated_to = group
        chat.deactivated = True
        group.migrated_from = chat
        group.migrated_from_max_id = chat.last_id
        return group

    def join(self, who: User | str, channel: Channel) -> None:
        user = who if isinstance(who, User) else self._require_account(who)
        channel.members.add(user.id)

    def leave(self, who: User | str, channel: Channel) -> None:
        user = who if isinstance(who, User) else self._require_account(who)
        channel.members.discard(user.id)

    def set_counters(
        self,
        channel: Channel,
        msg_id: int,
        *,
        views: int | None = None,
        forwards: int | None = None,
        replies: int | None = None,
        reactions: dict[str, int] | None = None,
    ) -> StoredMessage:
        """Set a post's counters as Telegram would count them later on (None: left as
        they are). History pages, channels.getMessages, messages.getMessagesViews and
        messages.getMessagesReactions (`reactions`)
        answer them from now on. `replies` overrides the comment count (a broadcast
        post then carries MessageReplies(replies=N), with comments=True and the linked
        group's id when it has one); `reactions={"👍": 5}`. No edit_date, no pts."""
        msg = channel.message(msg_id)
        if views is not None:
            msg.views = views
        if forwards is not None:
            msg.forwards = forwards
        if replies is not None:
            msg.replies = replies
        if reactions is not None:
            msg.reactions = reactions
        msg.raw = None
        return msg

    def find_username(self, username: str) -> User | Channel | None:
        name = username.lower()
        for channel in self.channels.values():
            if channel.username and channel.username.lower() == name:
                return channel
        for user in self.users.values():
            if user.username and user.username.lower() == name:
                return user
        return None

    def take_username(
        self, username: str, channel: Channel, *, old_holder_gets: str | None = None
    ) -> Channel | User | None:
        """`channel` takes `username` over from the channel or user holding it, which is
        left with `old_holder_gets` (None: no username); returns the old holder. On
        Telegram a username is free again once its holder changes it, and anyone may
        take it: an archive's stored @name can then mean another channel."""
        holder = self.find_username(username)
        if holder is channel:
            return None
        if holder is not None:
            holder.username = None
            if isinstance(holder, Channel):
                holder.set_username(old_holder_gets)
            else:
                holder.username = old_holder_gets
        channel.set_username(username)
        return holder

    def find_invite(self, invite_hash: str) -> Channel | None:
        for channel in self.channels.values():
            if channel.invite_hash == invite_hash:
                return channel
        return None

    # -- login codes ---------------------------------------------------------------

    def issue_code(self, phone: str) -> PendingCode:
        digits = normalize_phone(phone)
        for pending in self._codes.values():
            if pending.phone == digits:
                pending.expired = True
        pending = PendingCode(digits, os.urandom(9).hex(), self.clock())
        self._codes[pending.phone_code_hash] = pending
        return pending

    def pending_code(self, phone_code_hash: str) -> PendingCode | None:
        return self._codes.get(phone_code_hash)

    def code_expired(self, pending: PendingCode) -> bool:
        return pending.expired or self.clock() - pending.issued_at > self.code_ttl

    def expire_codes(self) -> None:
        """Every code sent so far expires (sign_in raises PhoneCodeExpiredError)."""
        for pending in self._codes.values():
            pending.expired = True

    # -- QR login ------------------------------------------------------------------

    def new_qr_token(self, owner: Any) -> QrToken:
        token = QrToken(os.urandom(32), owner, self.now + self.qr_ttl)
        self._qr[token.token] = token
        return token

    def qr_token(self, token: bytes) -> QrToken | None:
        return self._qr.get(token)

    def qr_tokens_of(self, owner: Any) -> list[QrToken]:
        return [t for t in self._qr.values() if t.owner is owner]

    def confirm_qr(self, token: bytes, phone: str) -> None:
        """The account `phone` scans QR `token` (as `qr.token` of Telethon's QRLogin)."""
        user = self._require_account(phone)
        qr = self._qr.get(token)
        if qr is None:
            raise KeyError("unknown QR login token")
        if qr.expires < self.now:
            raise ValueError("QR login token expired")
        qr.user_id = user.id
        for listener in list(self._qr_listeners):
            listener(qr)

    def add_qr_listener(self, listener: Callable[[QrToken], None]) -> None:
        self._qr_listeners.append(listener)

    def remove_qr_listener(self, listener: Callable[[QrToken], None]) -> None:
        if listener in self._qr_listeners:
            self._qr_listeners.remove(listener)

    # -- media files ---------------------------------------------------------------

    def add_file(
        self,
        kind: str,
        *,
        size: int | None = None,
        mime_type: str | None = None,
        file_name: str | None = None,
        media_id: int | None = None,
        content: bytes | None = None,
        same_content_as: int | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
        title: str | None = None,
        performer: str | None = None,
        progressive: bool = False,
        date: int | None = None,
    ) -> StoredFile:
        """A new photo or document (see `Channel.add_media_post`), not yet posted."""
        if kind not in MEDIA_KINDS:
            raise ValueError(f"unknown media kind {kind!r}; one of {MEDIA_KINDS}")
        if media_id is None:
            media_id = self._new_media_id()
        elif media_id in self.files:
            raise ValueError(f"media id {media_id} already exists")
        default_mime, default_name, default_size = KIND_DEFAULTS[kind]
        if content is not None:
            body = Content(len(content), data=bytes(content))
        elif same_content_as is not None:
            twin = self.files[same_content_as].content
            body = Content(twin.size, data=twin.data, seed=twin.seed)
        else:
            body = Content(default_size if size is None else int(size), seed=media_id)
        if body.size <= 0:
            raise ValueError("a file has at least one byte")
        if kind == "photo":
            width, height = width or 800, height or 600
        elif kind in ("video", "round", "animation"):
            width, height = width or (640 if kind == "round" else 1280), height or (
                640 if kind == "round" else 720
            )
            duration = 12.0 if duration is None else duration
        elif kind in ("voice", "audio"):
            duration = 30.0 if duration is None else duration
        elif kind == "sticker":
            width, height = width or 512, height or 512
        stored = StoredFile(
            id=media_id,
            access_hash=self._media_rng.getrandbits(63) or 1,
            kind=kind,
            content=body,
            mime_type=mime_type or default_mime,
            file_name=file_name if file_name is not None else default_name,
            width=width,
            height=height,
            duration=duration,
            title=title,
            performer=performer,
            date=self.now if date is None else date,
            file_reference=self._new_reference(),
            progressive=progressive,
        )
        if kind == "photo":
            # A smaller "m" thumb with its own bytes: Telethon and the app take the largest.
            thumb_size = max(1, body.size // 10)
            stored.thumbs["m"] = Content(thumb_size, seed=media_id ^ 0x6D)
        self.files[media_id] = stored
        return stored

    def media_from_spec(self, media: Any, *, date: int | None = None) -> Any:
        """`add_message`'s media argument as stored: "photo"/"document"/"video" or a dict
        of those types (`{"type": "document", "file_name": ..., "mime_type": ...,
        "size": ..., "data": b"..."}`, `{"type": "photo", "width", "height",
        "progressive"}`, `{"type": "video", "duration", "width", "height", "round"}`)
        become a new StoredFile; a StoredFile, TL media, webpage specs pass through."""
        if not isinstance(media, str | dict):
            return media
        spec: dict[str, Any] = {"type": media} if isinstance(media, str) else dict(media)
        kind = spec.get("type")
        if kind not in ("photo", "document", "video", "round"):
            return media
        if kind == "video" and spec.get("round"):
            kind = "round"
        return self.add_file(
            kind,
            size=spec.get("size"),
            mime_type=spec.get("mime_type"),
            file_name=spec.get("file_name"),
            content=spec.get("data") or None,
            width=spec.get("width"),
            height=spec.get("height"),
            duration=spec.get("duration"),
            progressive=bool(spec.get("progressive")),
            date=date,
        )

    def expire_file_reference(self, media_id: int) -> bytes:
        """The file reference of this media expires (upload.getFile with it answers 400
        FILE_REFERENCE_EXPIRED); history pages and channels.getMessages carry the new
        one, returned."""
        stored = self.files[media_id]
        stored.old_references.append(stored.file_reference)
        stored.file_reference = self._new_reference()
        for _channel, msg in stored.posts:
            msg.raw = None
        return stored.file_reference

    def refuse_file(self, media_id: int, error: str | None = "FILE_ID_INVALID", *,
                    code: int | None = None) -> None:
        """upload.getFile of this media answers `error` (a Telegram error name; its code
        from the name unless `code`) instead of bytes; None serves it again."""
        stored = self.files[media_id]
        stored.refused = error
        stored.refused_code = code

    def file_bytes(self, media_id: int, offset: int = 0, length: int | None = None) -> bytes:
        """The content of a media (its largest size for a photo), or a slice of it."""
        content = self.files[media_id].content
        return content.read(offset, content.size - offset if length is None else length)

    def file_sha256(self, media_id: int) -> str:
        """Hex SHA-256 of a media's content (read 1 MiB at a time)."""
        return self.files[media_id].content.sha256()

    def media_posts(self, media_id: int) -> list[tuple[Channel, int]]:
        """(channel, message id) of every post carrying this media."""
        stored = self.files[media_id]
        return [(c, m.id) for c, m in stored.posts if m.media is stored]

    def _new_media_id(self) -> int:
        while True:
            media_id = self._media_rng.getrandbits(62) | (1 << 61)
            if media_id not in self.files:
                return media_id

    def _new_reference(self) -> bytes:
        return b"\x02" + os.urandom(20)

    # -- helpers -------------------------------------------------------------------

    def _require_account(self, phone: str) -> User:
        user = self.account(phone)
        if user is None:
            raise KeyError(f"no account {phone}")
        return user

    def users_by_id(self, ids: Iterable[int]) -> list[User]:
        return [self.users[i] for i in dict.fromkeys(ids) if i in self.users]
