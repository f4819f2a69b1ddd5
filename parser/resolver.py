"""Which Telegram channel an operator's line means, and resolving it once.

`parse_line` is pure: it turns one line of /add input into a `ChannelRef` (plus an
optional history depth) or raises `BadLine`. `ChannelResolver` asks Telegram about a
ref through the one client and returns a `Resolved` snapshot (id, access hash, ...)
that is stored; later runs use the stored (id, access hash) and never resolve again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from time import monotonic
from typing import Any
from urllib.parse import parse_qs, urlsplit

from telethon import TelegramClient, functions, types
from telethon import errors as te

from core.errors import BadLine, ChannelUnavailable, NotAChannel, ResolveFlood, TelegramError
from parser.errors import reraise

__all__ = [
    "AddLine",
    "BadLine",
    "ChannelRef",
    "ChannelResolver",
    "HistoryDepth",
    "InvitePreview",
    "NotAChannel",
    "Resolved",
    "chat_identity",
    "parse_line",
    "parse_ref",
    "split_lines",
]

_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_INVITE_HASH = re.compile(r"[A-Za-z0-9_-]{8,64}")
# t.me paths that are not channels.
_RESERVED = {
    "joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "login", "setlanguage",
    "confirmphone", "addtheme", "bg", "invoice", "iv", "c", "s", "boost", "addlist",
}  # fmt: skip
_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me", "www.telegram.me"}


@dataclass(frozen=True)
class ChannelRef:
    """username | invite | id; `value` is the username, invite hash or bare channel id."""

    kind: str
    value: str

    @property
    def label(self) -> str:
        """How the operator sees the ref: `@name`, `t.me/+abcdef…` (an invite hash's first six
        characters) or `-100<id>` (the Bot API's form of a channel id)."""
        if self.kind == "username":
            return f"@{self.value}"
        if self.kind == "invite":
            return f"t.me/+{self.value[:6]}…"
        return f"-100{self.value}"


@dataclass(frozen=True)
class HistoryDepth:
    """all | last (with `limit`) | since (with `since`)."""

    mode: str = "all"
    limit: int | None = None
    since: datetime | None = None

    @classmethod
    def parse(cls, value: str, tz: tzinfo = UTC) -> HistoryDepth:
        """`all`, `N`, `last:N`, `YYYY-MM-DD` or `since:YYYY-MM-DD` (raises BadLine); the
        day is the operators' (`tz`, the TIMEZONE setting): `since` is its first
        instant there, in UTC (DST-safe: the first of two midnights, or the first real
        minute of a day whose midnight is skipped)."""
        v = value.strip().lower()
        if v == "all" or v == "all:":
            return cls()
        body = v.split(":", 1)[1] if ":" in v else v
        head = v.split(":", 1)[0] if ":" in v else ""
        if head in ("", "last") and re.fullmatch(r"[0-9]{1,9}", body) and 0 < int(body):
            return cls("last", limit=int(body))
        if head in ("", "since") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", body):
            try:
                day = date.fromisoformat(body)
            except ValueError:
                raise BadLine("bad_option", value) from None
            return cls("since", since=datetime.combine(day, time(0), tz).astimezone(UTC))
        raise BadLine("bad_option", value)


@dataclass(frozen=True)
class AddLine:
    """One parsed /add line: the channel reference and the history depth given with it."""

    ref: ChannelRef
    history: HistoryDepth | None  # None: not given, use the default


def parse_ref(text: str) -> ChannelRef:
    """One channel reference: @name, t.me links (incl. /s/, posts, invites), -100 ids,
    tg:// links. BadLine('garbage') for anything else."""
    s = text.strip().strip("<>").strip()
    if not s:
        raise BadLine("garbage", text)
    if s.startswith("@"):
        if _USERNAME.fullmatch(s[1:]):
            return ChannelRef("username", s[1:])
        raise BadLine("garbage", text)
    if re.fullmatch(r"-100\d{5,16}", s):
        return ChannelRef("id", str(int(s[4:])))
    if s.lower().startswith("tg://"):
        return _tg_link(s, text)
    link = s if re.match(r"(?i)https?://", s) else "https://" + s
    parts = urlsplit(link)
    if (parts.hostname or "").lower() not in _HOSTS:
        # A bare username without @ is accepted; anything else is not a link.
        if "/" not in s and "." not in s and _USERNAME.fullmatch(s):
            return ChannelRef("username", s)
        raise BadLine("garbage", text)
    return _tme_path([p for p in parts.path.split("/") if p], text)


def _tg_link(s: str, text: str) -> ChannelRef:
    """tg://resolve?domain=name or tg://join?invite=hash."""
    query = parse_qs(urlsplit(s).query)
    if "domain" in query and _USERNAME.fullmatch(query["domain"][0]):
        return ChannelRef("username", query["domain"][0])
    if "invite" in query and _INVITE_HASH.fullmatch(query["invite"][0]):
        return ChannelRef("invite", query["invite"][0])
    raise BadLine("garbage", text)


def _tme_path(path: list[str], text: str) -> ChannelRef:
    """The path of a t.me link: name[/post], s/name[/post], +hash, joinchat/hash, c/id."""
    if not path:
        raise BadLine("garbage", text)
    first = path[0]
    if first.startswith(("+", "%2B")):
        invite = first[1:] if first.startswith("+") else first[3:]
        if _INVITE_HASH.fullmatch(invite):
            return ChannelRef("invite", invite)
        raise BadLine("garbage", text)
    head = first.lower()
    if head == "joinchat" and len(path) >= 2 and _INVITE_HASH.fullmatch(path[1]):
        return ChannelRef("invite", path[1])
    if head == "s" and len(path) >= 2:
        first, path = path[1], path[1:]
    elif head == "c" and len(path) >= 2 and re.fullmatch(r"[0-9]{1,16}", path[1]):
        return ChannelRef("id", str(int(path[1])))
    if first.lower() in _RESERVED or not _USERNAME.fullmatch(first):
        raise BadLine("garbage", text)
    if len(path) > 1 and not re.fullmatch(r"[0-9]+", path[1]):
        raise BadLine("garbage", text)
    return ChannelRef("username", first)


def parse_line(line: str, tz: tzinfo = UTC) -> AddLine:
    """A line of /add: a reference, then optionally `all`, `last:N` or `since:YYYY-MM-DD`
    (a day in `tz`)."""
    tokens = line.split()
    if not tokens:
        raise BadLine("garbage", line)
    ref = parse_ref(tokens[0])
    history: HistoryDepth | None = None
    for tok in tokens[1:]:
        if history is not None:
            raise BadLine("bad_option", tok)
        low = tok.lower()
        if low != "all" and not low.startswith(("last:", "since:")):
            raise BadLine("bad_option", tok)
        history = HistoryDepth.parse(tok, tz)
    return AddLine(ref, history)


def split_lines(text: str) -> list[str]:
    """Non-empty lines of an /add message (commas also separate references)."""
    out: list[str] = []
    for raw in text.splitlines():
        for piece in raw.split(","):
            if piece.strip():
                out.append(piece.strip())
    return out


# -- asking Telegram --------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A channel as Telegram described it: `tg_id` (bare id), `access_hash`, the discussion
    group's id and access hash (`channels.getFullChannel` linked_chat_id, broadcast
    channels only: https://core.telegram.org/api/discussion), None when there is none."""

    tg_id: int
    access_hash: int
    title: str
    username: str | None
    kind: str  # channel | megagroup | gigagroup
    linked_chat_id: int | None = None
    linked_access_hash: int | None = None


@dataclass(frozen=True)
class InvitePreview:
    """What messages.checkChatInvite says of an invite: the chat's title and, when Telegram
    answers chatInviteAlready or chatInvitePeek, the channel already resolved."""

    title: str
    already_member: bool
    resolved: Resolved | None  # known when already a member


def _kind(chat: types.Channel) -> str:
    """channel | megagroup | gigagroup (https://core.telegram.org/api/channel)."""
    if chat.gigagroup:
        return "gigagroup"
    if chat.megagroup:
        return "megagroup"
    return "channel"


def chat_identity(chat: Any) -> tuple[str, str | None] | None:
    """`(title, username)` of a TL Channel as Telegram describes it now; the username is
    `username`, else the first active one of `usernames` (collectible usernames:
    https://core.telegram.org/api/usernames), None for a channel without one. None for
    anything but a types.Channel (a ChannelForbidden says nothing of its username)."""
    if not isinstance(chat, types.Channel):
        return None
    username = chat.username
    if not username:
        active = [u.username for u in chat.usernames or () if u.active]
        username = active[0] if active else None
    return chat.title or "", username


def _chats_of(answer: Any) -> list[Any]:
    """The chats a join answer carries: Updates, or (layer 229) Updates wrapped in
    messages.chatInviteJoinResultOk (https://core.telegram.org/method/messages.importChatInvite)."""
    if isinstance(answer, types.messages.ChatInviteJoinResultOk):
        answer = answer.updates
    if isinstance(answer, types.Updates | types.UpdatesCombined):
        return list(answer.chats)
    return []


class ChannelResolver:
    """Resolves references through the one client; every Telethon error is translated
    (parser/errors.py): ChannelUnavailable(reason), NotAChannel(kind), RateLimited,
    SessionDead, TransportError, or TelegramError named after an unknown RPC error."""

    def __init__(
        self, client: TelegramClient, *, dialogs_ttl: float = 600.0, resolve_pace: float = 3.0
    ) -> None:
        self._client = client
        self._dialogs_ttl = dialogs_ttl
        # A flood wait on contacts.resolveUsername holds every resolve of the account
        # until `_resolve_until` (monotonic s); `_waiting` channels were turned away so
        # far, each deferred `resolve_pace` s after the one before.
        self._resolve_pace = resolve_pace
        # What each username resolved to last (lower-cased name -> TL Channel): a name
        # that leads to another stored channel repairs that one (services/parsing/identity.py).
        self._named_to: dict[str, Any] = {}
        self._resolve_until = 0.0
        self._waiting = 0
        self._dialogs: dict[int, Any] | None = None  # the account's channels by id
        self._dialogs_at = 0.0

    @property
    def client(self) -> TelegramClient:
        return self._client

    async def resolve(self, ref: ChannelRef) -> Resolved:
        """A username via contacts.resolveUsername, a bare id via the account's dialogs, then
        channels.getFullChannel. NotAChannel for a user; ChannelUnavailable: not_found (an id
        not in the dialogs, USERNAME_NOT_OCCUPIED), private (CHANNEL_PRIVATE:
        https://core.telegram.org/method/channels.getFullChannel); ValueError for an invite."""
        try:
            if ref.kind == "username":
                res = await self._client(functions.contacts.ResolveUsernameRequest(ref.value))
                if not isinstance(res.peer, types.PeerChannel):
                    raise NotAChannel("user")
                chat = next(c for c in res.chats if c.id == res.peer.channel_id)
                return await self._finish(chat)
            if ref.kind == "id":
                return await self._by_id(int(ref.value))
        except TelegramError:
            raise
        except Exception as exc:
            reraise(exc)
        raise ValueError(f"cannot resolve {ref.kind} here")

    async def resolve_again(
        self, tg_id: int, username: str | None, *, full: bool = True
    ) -> Resolved:
        """Channel `tg_id` resolved anew for this client's account, after Telegram refused
        its stored access hash (CHANNEL_INVALID / PEER_ID_INVALID: an access hash belongs
        to the account that received it, https://core.telegram.org/api/peers).

        From the account's dialogs first (messages.getDialogs, all pages, read once and
        kept `dialogs_ttl` s for the next channel: a channel the account is a member of
        is there with its access hash, https://core.telegram.org/api/peers#access-hashes);
        else by `username` (contacts.resolveUsername, ResolveFlood while a flood wait on
        it lasts) while it still names this channel. `full`: channels.getFullChannel
        too, for the discussion group's id and access hash (a channel with comments);
        without it the discussion group is left as stored. ChannelUnavailable:
        not_found (its username leads elsewhere and the dialogs do not know it), private
        (no username and not in the dialogs, ChannelForbidden, CHANNEL_PRIVATE);
        RateLimited, SessionDead, TransportError as `resolve`.
        """
        try:
            chat = await self._dialog(tg_id)
            if not isinstance(chat, types.Channel) and username:
                chat = await self._named(tg_id, username) or chat
            if chat is None:
                # Not among the account's channels: a private one it is not a member
                # of, or a public one whose name no longer leads to it.
                raise ChannelUnavailable("not_found" if username else "private")
            if full:
                return await self._finish(chat)
            if isinstance(chat, types.ChannelForbidden):
                raise ChannelUnavailable("private")
            title, name = chat_identity(chat) or ("", None)
            return Resolved(chat.id, chat.access_hash or 0, title, name, _kind(chat))
        except TelegramError:
            raise
        except Exception as exc:
            reraise(exc)

    async def _named(self, tg_id: int, username: str) -> Any:
        """Channel `tg_id` as `username` resolves, None when the name is free or another's.

        ResolveFlood when Telegram answers FLOOD_WAIT_X, and without asking while that
        wait lasts: the limit is the account's on contacts.resolveUsername, and asking
        during it lengthens it (https://core.telegram.org/api/errors#420-flood)."""
        left = self._resolve_until - monotonic()
        if left > 0:
            self._waiting += 1
            raise ResolveFlood(math.ceil(left), math.ceil(self._waiting * self._resolve_pace))
        try:
            res = await self._client(functions.contacts.ResolveUsernameRequest(username))
        except (te.UsernameNotOccupiedError, te.UsernameInvalidError):
            return None
        except (te.FloodWaitError, te.FloodPremiumWaitError) as exc:
            wait = int(exc.seconds or 0)
            self._resolve_until, self._waiting = monotonic() + wait, 0
            raise ResolveFlood(wait) from None
        if isinstance(res.peer, types.PeerChannel):
            holder = res.peer.channel_id
            chat = next((c for c in res.chats if c.id == holder), None)
            if isinstance(chat, types.Channel):
                self._named_to[username.lower()] = chat
        if not (isinstance(res.peer, types.PeerChannel) and res.peer.channel_id == tg_id):
            return None
        return next((c for c in res.chats if c.id == tg_id), None)

    def holder_of(self, username: str) -> Resolved | None:
        """The channel `username` led to when this resolver last resolved it (another
        channel than the one asked for, after a rename or a swap of usernames), with
        its access hash for this account; None when it led to none."""
        chat = self._named_to.get(username.lower())
        if chat is None:
            return None
        title, name = chat_identity(chat) or ("", None)
        return Resolved(chat.id, chat.access_hash or 0, title, name, _kind(chat))

    async def _dialog(self, tg_id: int) -> Any:
        """Channel `tg_id` among the account's dialogs (messages.getDialogs, all pages),
        read again when the copy in hand is older than `dialogs_ttl` s."""
        fresh = monotonic() - self._dialogs_at < self._dialogs_ttl
        if self._dialogs is None or not fresh:
            found: dict[int, Any] = {}
            async for dialog in self._client.iter_dialogs(limit=None):
                entity = dialog.entity
                if isinstance(entity, types.Channel | types.ChannelForbidden):
                    found[entity.id] = entity
            self._dialogs, self._dialogs_at = found, monotonic()
        return self._dialogs.get(tg_id)

    async def _by_id(self, channel_id: int) -> Resolved:
        # A StringSession has no entity cache: only the account's own dialogs know the
        # access hash of a channel given by bare id.
        async for dialog in self._client.iter_dialogs(limit=None):
            entity = dialog.entity
            if isinstance(entity, types.Channel) and entity.id == channel_id:
                return await self._finish(entity)
        raise ChannelUnavailable("not_found")

    async def _finish(self, chat: Any) -> Resolved:
        if isinstance(chat, types.ChannelForbidden):
            raise ChannelUnavailable("private")
        if not isinstance(chat, types.Channel):
            raise NotAChannel(type(chat).__name__)
        # getFullChannel proves the channel is readable and names the discussion chat.
        full = await self._client(
            functions.channels.GetFullChannelRequest(
                types.InputChannel(chat.id, chat.access_hash or 0)
            )
        )
        kind = _kind(chat)
        info = full.full_chat
        linked = None
        if kind == "channel" and isinstance(info, types.ChannelFull):
            linked = info.linked_chat_id
        group = next(
            (c for c in full.chats if linked and c.id == linked and isinstance(c, types.Channel)),
            None,
        )
        title, username = chat_identity(chat) or ("", None)
        return Resolved(
            chat.id,
            chat.access_hash or 0,
            title,
            username,
            kind,
            linked,
            group.access_hash if group is not None else None,
        )

    async def check_invite(self, invite_hash: str) -> InvitePreview:
        """Look at an invite without joining; NotAChannel for a basic group, ChannelUnavailable
        for INVITE_HASH_EXPIRED / INVITE_HASH_INVALID
        (https://core.telegram.org/method/messages.checkChatInvite)."""
        try:
            res = await self._client(functions.messages.CheckChatInviteRequest(invite_hash))
            if isinstance(res, types.ChatInviteAlready | types.ChatInvitePeek):
                return InvitePreview(res.chat.title, True, await self._finish(res.chat))
            if not (isinstance(res, types.ChatInvite) and res.channel):
                raise NotAChannel("chat")
            return InvitePreview(res.title, False, None)
        except TelegramError:
            raise
        except Exception as exc:
            reraise(exc)

    async def join_invite(self, invite_hash: str) -> Resolved:
        """Join by invite and resolve the channel (USER_ALREADY_PARTICIPANT: resolved through
        check_invite); ChannelUnavailable (e.g. too_many_channels: CHANNELS_TOO_MUCH,
        https://core.telegram.org/method/messages.importChatInvite), NotAChannel."""
        try:
            try:
                res = await self._client(functions.messages.ImportChatInviteRequest(invite_hash))
            except te.UserAlreadyParticipantError:
                preview = await self.check_invite(invite_hash)
                if preview.resolved is None:
                    raise ChannelUnavailable("private") from None
                return preview.resolved
            chats = [c for c in _chats_of(res) if isinstance(c, types.Channel)]
            if not chats:
                raise NotAChannel("chat")
            return await self._finish(chats[0])
        except TelegramError:
            raise
        except Exception as exc:
            reraise(exc)
