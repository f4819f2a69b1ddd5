"""THE channel type every layer shares, its label, THE one `post_link`, and what
adding channels answers (AddResult, HistoryChoice).

`Channel` is a plain snapshot of one stored channel row (no ORM object leaves db/):
db/ returns it, services pass it on, the bot reads it. Fields a caller has no use for
are simply ignored; every field has the meaning of the `channel` table's column of the
same name (db/models.py), plus two derived ones filled by the lookups that need them
(`comments_count`, `comments_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.media import MEDIA_KINDS, MediaMode, MediaPolicy

MB = 1024 * 1024


@dataclass(frozen=True)
class Completeness:
    """How complete a channel's archive is (/channels' detail view).

    `oldest_id`/`newest_id` and their dates: the archived messages with the smallest
    and largest id (service messages included: they take ids too), None when nothing
    is archived; `count` the messages archived; `missing` the ids between the two that
    are not archived (deleted on Telegram, or never fetched):
    newest_id - oldest_id + 1 - count. `deleted`: archived messages Telegram no
    longer has (marked `deleted_at`, kept): counted in `count`, so never `missing`.
    `old_group`: messages archived from the basic group the supergroup was upgraded
    from (None: none, or not upgraded).
    """

    oldest_id: int | None
    oldest_date: datetime | None
    newest_id: int | None
    newest_date: datetime | None
    count: int
    old_group: int | None = None
    deleted: int = 0

    @property
    def missing(self) -> int:
        if self.oldest_id is None or self.newest_id is None:
            return 0
        return max(0, self.newest_id - self.oldest_id + 1 - self.count)


@dataclass(frozen=True, kw_only=True)
class Channel:
    """One stored channel (or discussion group) as a frozen snapshot."""

    id: int  # the row id
    tg_id: int  # Telegram's bare channel id (no -100 prefix)
    username: str | None = None
    title: str = ""
    access_hash: int | None = None
    kind: str = "channel"
    # The account that reads it (#18; None: none given yet) and whose hash is stored.
    account_id: int | None = None
    hash_account_id: int | None = None
    # active | paused | disabled (the operator's channels) | linked (a discussion group
    # the fetcher stored on its own to key comments)
    status: str = "active"
    disabled_reason: str | None = None
    messages_count: int = 0
    cursor: int = 0  # the highest message id stored
    backfill_done: bool = False
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    deferred_until: datetime | None = None
    last_error: str | None = None
    interval_minutes: int | None = None  # None: the default interval
    comments_enabled: bool = False
    linked_chat_id: int | None = None
    linked_access_hash: int | None = None
    history_mode: str = "all"
    history_limit: int | None = None
    history_since: datetime | None = None
    # Messages stored from its discussion group (None: not counted, or no comments yet).
    comments_count: int | None = None
    # A discussion group (status `linked`): the name of its channel, "" when that
    # channel is no longer stored; None for other rows or when not looked up.
    comments_of: str | None = None
    alert_deletions: bool = False  # tell the operators when posts are found deleted
    # Telegram has history older than the oldest archived post (None: not known yet).
    history_before: bool | None = None
    # The basic group this supergroup was upgraded from, and its last message id.
    migrated_from_chat_id: int | None = None
    migrated_from_max_id: int | None = None
    # Messages of that old group the account cannot read, and why.
    migrated_missing: int | None = None
    migrated_error: str | None = None
    # Media kept (core/media.py): "off" | "photos" | "all", None: MEDIA_DEFAULT;
    # the kinds kept in mode "all" (MEDIA_KINDS order, None: every kind); the largest
    # file in MB (0: no cap; None: MEDIA_MAX_MB). `media_policy` resolves them.
    media_mode: str | None = None
    media_kinds: tuple[str, ...] | None = None
    media_max_mb: int | None = None
    # Filled by the lookup of one channel for its detail view (None: not looked up).
    completeness: Completeness | None = None

    @property
    def label(self) -> str:
        """`@username`, else the title, else the Telegram id: how the bot names it."""
        return f"@{self.username}" if self.username else (self.title or str(self.tg_id))

    @property
    def display_name(self) -> str:
        """How alerts name it, as the operator knows it: `Title (@username)`, the title,
        `@username`, or the Telegram id when it has neither."""
        if self.title and self.username:
            return f"{self.title} (@{self.username})"
        return self.label

    def media_policy(self, defaults: MediaPolicy) -> MediaPolicy:
        """What this channel keeps: its own media_mode / media_kinds / media_max_mb,
        each unset one taken from `defaults` (MEDIA_DEFAULT, every kind, MEDIA_MAX_MB:
        `default_media_policy`). The comments read through it (stored under its
        discussion group's row) and the old basic group of an upgraded supergroup
        follow it too."""
        mode = defaults.mode if self.media_mode is None else MediaMode(self.media_mode)
        kinds = defaults.kinds if self.media_kinds is None else frozenset(self.media_kinds)
        cap = defaults.max_bytes if self.media_max_mb is None else self.media_max_mb * MB
        return MediaPolicy(mode=mode, kinds=kinds, max_bytes=cap)


def default_media_policy(mode: str, max_mb: int) -> MediaPolicy:
    """The policy of a channel with no media settings of its own: `mode` MEDIA_DEFAULT
    ("off" | "photos" | "all"), every kind, `max_mb` MEDIA_MAX_MB (0: no cap)."""
    return MediaPolicy(mode=MediaMode(mode), kinds=None, max_bytes=max_mb * MB)


def media_kinds_text(kinds: frozenset[str] | tuple[str, ...] | list[str] | None) -> str | None:
    """Kinds as the `channel.media_kinds` column keeps them: comma-separated in
    MEDIA_KINDS order; None for None or every kind. ValueError on an unknown kind."""
    if kinds is None:
        return None
    unknown = set(kinds) - set(MEDIA_KINDS)
    if unknown:
        raise ValueError(f"unknown media kinds: {sorted(unknown)}")
    if set(MEDIA_KINDS) <= set(kinds):
        return None
    return ",".join(k for k in MEDIA_KINDS if k in kinds)


def media_kinds_of(text: str | None) -> tuple[str, ...] | None:
    """The `channel.media_kinds` column as a tuple (MEDIA_KINDS order, unknown names
    dropped); None: every kind."""
    if text is None:
        return None
    named = set(text.split(","))
    return tuple(k for k in MEDIA_KINDS if k in named)


@dataclass(frozen=True)
class IdentityChange:
    """A channel's title or username as Telegram gives it now, against what was stored.

    `took_from`: row ids of other channels that held `username` until now (they lost it
    and keep it as an alias: two channels never hold one current username)."""

    channel_id: int
    old_title: str
    title: str
    old_username: str | None
    username: str | None
    took_from: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        return (self.old_title, self.old_username) != (self.title, self.username)


def post_link(username: str | None, tg_id: int, message_id: int) -> str:
    """The t.me link of a post.

    Public channels: `https://t.me/<username>/<id>`. Private ones: the
    `https://t.me/c/<bare id>/<id>` form, where the bare id is the channel id without
    the Bot API's `-100` prefix (Telegram's "Message links" rule: t.me/c/ takes the
    MTProto channel id), so a Bot-API-style id is stripped of it.
    """
    if username:
        return f"https://t.me/{username}/{message_id}"
    raw = str(abs(int(tg_id)))
    if raw.startswith("100") and len(raw) > 12:
        raw = raw[3:]  # the -100 prefix of Bot-API-style channel ids
    return f"https://t.me/c/{raw}/{message_id}"


def comment_link(username: str | None, tg_id: int, post_id: int, comment_id: int) -> str:
    """The t.me link of comment `comment_id` (its id in the discussion group) under post
    `post_id` of the channel (`username`, `tg_id`): the post's link (`post_link`) with
    `?comment=<id>`, which opens the comment in the channel's thread. The one form every
    place uses (exports, /search)."""
    return f"{post_link(username, tg_id, post_id)}?comment={comment_id}"


class AddCode(StrEnum):
    """The outcome of one /add line (the bot renders `add_r_<code>` / `add_g_<code>`)."""

    ADDED = "added"
    ALREADY = "already"
    # Already added: the access hash just resolved replaced the stored one (another
    # account's), or a disabled channel was enabled again with it.
    REFRESHED = "refreshed"
    REENABLED = "reenabled"
    DUPLICATE = "duplicate"  # an earlier line of the same batch named it
    INVITE = "invite"  # an invite link awaiting the operator's confirmation
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    NOT_CHANNEL = "not_channel"
    TOO_MANY = "too_many"  # the account is in too many channels
    INVITE_INVALID = "invite_invalid"
    INVITE_GONE = "invite_gone"  # the confirmation came after the invite was forgotten
    GARBAGE = "garbage"
    BAD_OPTION = "bad_option"
    FLOOD = "flood"  # Telegram's flood wait: `seconds` to wait
    NOT_READY = "not_ready"  # no usable session
    ELSEWHERE = "elsewhere"  # the session is open in another process (a worker, #18)
    NO_WORKER = "no_worker"  # a bot-only process, and no worker has an account open (#18)
    SESSION_DEAD = "session_dead"
    ERROR = "error"


@dataclass(frozen=True)
class AddResult:
    """One /add line's outcome."""

    line: str
    code: AddCode
    label: str = ""
    channel_id: int | None = None
    seconds: int = 0  # FLOOD: how long to wait
    token: str | None = None  # INVITE: the key of the invite awaiting confirmation
    history_given: bool = False  # the line named its own history depth
    kind: str = ""


@dataclass(frozen=True)
class HistoryDepth:
    """How much history a new channel collects: all | last (`limit` posts) | since
    (`since`, UTC)."""

    mode: str = "all"
    limit: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class HistoryChoice:
    """The depth chosen for a batch: the channels it applies to, and those of the batch
    too late for it (history already being collected) or removed meanwhile."""

    depth: HistoryDepth
    channel_ids: tuple[int, ...]
    late: tuple[int, ...]


@dataclass(frozen=True)
class PendingInvite:
    """An invite of an /add batch awaiting the operator's answer."""

    token: str
    title: str
