"""Tortoise models. Only `db/` queries them; other packages go through repositories."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Account(Model):
    """A Telegram user account the userbot runs as, with its encrypted session and
    proxy; one row per Telegram user (`user_id` unique: a new login of the same user
    refreshes its row)."""

    id = fields.IntField(primary_key=True)
    phone = fields.CharField(max_length=32, null=True)
    user_id = fields.BigIntField(null=True, unique=True)
    display_name = fields.CharField(max_length=256, null=True)
    username = fields.CharField(max_length=64, null=True)
    # Fernet token over "<row id>|<StringSession>"; never logged, never shown.
    session_ciphertext = fields.TextField(null=True)
    # active | revoked | logged_out
    status = fields.CharField(max_length=16, default="logged_out")
    status_reason = fields.TextField(null=True)
    # Fernet token over "account-proxy:<row id>|<proxy URL>" (core/proxy.py); None: the
    # default TELEGRAM_PROXY. Holds a password: never logged, shown as host:port only.
    proxy_ciphertext = fields.TextField(null=True)
    # Until when Telegram flood-waits this account beyond the sleep threshold (UTC),
    # for the other processes on one PostgreSQL database (#18); None: none known.
    flood_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "account"


class Channel(Model):
    """A watched channel or group, resolved once (id + access hash)."""

    id = fields.IntField(primary_key=True)
    tg_id = fields.BigIntField(unique=True)
    access_hash = fields.BigIntField(null=True)
    username = fields.CharField(max_length=64, null=True)
    title = fields.CharField(max_length=256, default="")
    # channel | megagroup | gigagroup | chat
    kind = fields.CharField(max_length=16, default="channel")
    # active | paused | disabled
    status = fields.CharField(max_length=16, default="active")
    disabled_reason = fields.TextField(null=True)
    # Highest message id committed together with every message below it.
    cursor = fields.BigIntField(default=0)
    # History depth on add: all | last | since
    history_mode = fields.CharField(max_length=8, default="all")
    history_limit = fields.IntField(null=True)
    history_since = fields.DatetimeField(null=True)
    backfill_done = fields.BooleanField(default=False)
    top_message_id = fields.BigIntField(null=True)
    # The account that reads this channel (#18; None: not given to one yet) and the one
    # whose access hash is stored (None: stored before #18, of whichever account).
    account_id = fields.IntField(null=True, db_index=True)
    hash_account_id = fields.IntField(null=True)
    interval_minutes = fields.IntField(null=True)
    comments_enabled = fields.BooleanField(default=False)
    linked_chat_id = fields.BigIntField(null=True)
    linked_access_hash = fields.BigIntField(null=True)
    messages_count = fields.BigIntField(default=0)
    last_run_at = fields.DatetimeField(null=True)
    next_run_at = fields.DatetimeField(null=True)
    deferred_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    added_at = fields.DatetimeField(auto_now_add=True)
    # Tell the operators when posts of this channel are found deleted.
    alert_deletions = fields.BooleanField(default=False, db_default=False)
    # Whether Telegram has history older than the oldest archived post (a `last:N` or
    # `since:` depth, or ids below it): None until a run found out.
    history_before = fields.BooleanField(null=True)
    # A supergroup upgraded from a basic group (channels.getFullChannel
    # migrated_from_chat_id / migrated_from_max_id): the old group's id and its last id.
    migrated_from_chat_id = fields.BigIntField(null=True)
    migrated_from_max_id = fields.BigIntField(null=True)
    # Messages of the old group the account cannot read, and why (None: none missing).
    migrated_missing = fields.IntField(null=True)
    migrated_error = fields.TextField(null=True)
    # Media kept (core/media.py): off | photos | all; None follows MEDIA_DEFAULT (rows
    # from before media downloads). /add stores MEDIA_DEFAULT.
    media_mode = fields.CharField(max_length=8, null=True)
    # The kinds kept in mode "all", comma-separated MEDIA_KINDS (None: every kind).
    media_kinds = fields.CharField(max_length=128, null=True)
    # Largest file kept, in MB (0: no cap; None: MEDIA_MAX_MB).
    media_max_mb = fields.IntField(null=True)

    class Meta:
        table = "channel"


class ChannelAlias(Model):
    """A username a channel has had: /export, /parse, /search and /stats find the channel
    by any of them. The current one is `channel.username`; this keeps every one seen."""

    id = fields.IntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="aliases", on_delete=fields.CASCADE
    )
    username = fields.CharField(max_length=64, db_index=True)
    first_seen = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "channel_alias"
        unique_together = (("channel", "username"),)


class Message(Model):
    """One stored message. (channel, msg_id) is the natural key, so repeats are harmless."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="messages", on_delete=fields.CASCADE
    )
    msg_id = fields.BigIntField()
    date = fields.DatetimeField()
    text = fields.TextField(default="")
    entities: Any = fields.JSONField(null=True)
    sender_id = fields.BigIntField(null=True)
    post_author = fields.CharField(max_length=256, null=True)
    views = fields.IntField(null=True)
    forwards = fields.IntField(null=True)
    replies = fields.IntField(null=True)
    reactions: Any = fields.JSONField(null=True)
    edit_date = fields.DatetimeField(null=True)
    media_kind = fields.CharField(max_length=32, null=True)
    media: Any = fields.JSONField(null=True)
    grouped_id = fields.BigIntField(null=True)
    reply_to_id = fields.BigIntField(null=True)
    fwd_from: Any = fields.JSONField(null=True)
    # For comments fetched through a discussion group: the channel post they answer.
    comment_of = fields.BigIntField(null=True)
    # The words of the non-text content (poll, venue, link preview, service event...).
    content_text = fields.TextField(default="", db_default="")
    # A service message's event ({"type": "pin_message", ...}); NULL for posts.
    action: Any = fields.JSONField(null=True)
    # Folded, stemmed words of text + content_text: the SQLite full-text index's input.
    terms = fields.TextField(null=True)
    # When the row's current content was first read (a re-read changing only views,
    # reactions... leaves it; an edit found sets it): the next version's seen_at.
    fetched_at = fields.DatetimeField(auto_now=True)
    # When a run found the post gone (channels.getMessages answered messageEmpty); the
    # row and its versions stay.
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "message"
        unique_together = (("channel", "msg_id"),)
        indexes = (("channel_id", "date"),)


class MessageVersion(Model):
    """An earlier version of an edited message: its content before a change of text,
    entities or media was seen (views or reactions alone make no version)."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="versions", on_delete=fields.CASCADE
    )
    msg_id = fields.BigIntField()
    text = fields.TextField(default="")
    entities: Any = fields.JSONField(null=True)
    media_kind = fields.CharField(max_length=32, null=True)
    media: Any = fields.JSONField(null=True)
    content_text = fields.TextField(default="")
    # Telegram's edit_date of this version (None: the original, never edited).
    edit_date = fields.DatetimeField(null=True)
    # When the archive first read this content (the message's fetched_at then: the
    # first read of the row, or the run that found the edit before), up to replaced_at.
    seen_at = fields.DatetimeField()
    # When the run that found it replaced read the newer content.
    replaced_at = fields.DatetimeField()

    class Meta:
        table = "message_version"
        indexes = (("channel_id", "msg_id"),)


class ParseRun(Model):
    """One fetch of one channel: what happened and how much came in."""

    id = fields.IntField(primary_key=True)
    channel: fields.ForeignKeyNullableRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    trigger = fields.CharField(max_length=16, default="schedule")
    # running | ok | deferred | failed | interrupted
    status = fields.CharField(max_length=16, default="running")
    fetched = fields.IntField(default=0)
    error = fields.TextField(null=True)
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "parse_run"


class Watch(Model):
    """A keyword alert: a pattern matched against newly stored messages."""

    id = fields.IntField(primary_key=True)
    pattern = fields.TextField()
    is_regex = fields.BooleanField(default=False)
    channel: fields.ForeignKeyNullableRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="watches", null=True, on_delete=fields.CASCADE
    )
    created_by = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "watch"


class MediaFile(Model):
    """A stored file, once per content: its SHA-256 names it (the storage key is
    "ab/cd/<sha256><.ext>" under MEDIA_DIR). `tg_media_id`: the photo or document id
    Telegram first gave it under (other ids with the same content link to this row)."""

    id = fields.BigIntField(primary_key=True)
    sha256 = fields.CharField(max_length=64, unique=True)
    size = fields.BigIntField()
    mime_type = fields.CharField(max_length=128, null=True)
    tg_media_id = fields.BigIntField(null=True, db_index=True)
    key = fields.CharField(max_length=255)
    first_seen = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "media_file"


class MediaDownload(Model):
    """A message's media file: the link from the message (channel, msg_id) to its
    stored file, and its place in the download queue until then.

    status: queued | downloading | done | skipped | failed (core/media.py
    DownloadStatus); `reason`: why skipped (too_big) or failed (Telegram's error).
    `file_reference` is hex; `from_discussion`: the message is a comment, read from the
    channel's discussion group (its reference is renewed there)."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="media_downloads", on_delete=fields.CASCADE
    )
    msg_id = fields.BigIntField()
    from_discussion = fields.BooleanField(default=False)
    kind = fields.CharField(max_length=16)
    tg_media_id = fields.BigIntField(db_index=True)
    access_hash = fields.BigIntField()
    file_reference = fields.CharField(max_length=512, default="")
    dc_id = fields.IntField()
    thumb = fields.CharField(max_length=8, null=True)
    size = fields.BigIntField(null=True)
    mime_type = fields.CharField(max_length=128, null=True)
    file_name = fields.CharField(max_length=255, null=True)
    status = fields.CharField(max_length=12, default="queued")
    reason = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    next_try_at = fields.DatetimeField(null=True)
    bytes_done = fields.BigIntField(default=0)
    file: fields.ForeignKeyNullableRelation[MediaFile] = fields.ForeignKeyField(
        "tg_parser.MediaFile", related_name="downloads", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "media_download"
        unique_together = (("channel", "msg_id"),)
        indexes = (("status", "next_try_at"),)


class CounterSnapshot(Model):
    """A post's counters as read at `taken_at`: one row each time a read found them
    changed (the first read of a post young enough to follow included), and one at
    each configured age past posting (SNAPSHOT_AGES, read with messages.getMessagesViews).

    `age_mark`: the configured age in seconds this read was made for; NULL for a read
    with the post's history (its first read or a re-read of the refresh window).
    `reactions`: the total of all reactions; NULL when the read gives none
    (getMessagesViews does not). The message row keeps the latest values."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="counter_snapshots", on_delete=fields.CASCADE
    )
    msg_id = fields.BigIntField()
    taken_at = fields.DatetimeField()
    age_mark = fields.IntField(null=True)
    views = fields.IntField(null=True)
    forwards = fields.IntField(null=True)
    replies = fields.IntField(null=True)
    reactions = fields.IntField(null=True)

    class Meta:
        table = "counter_snapshot"
        indexes = (("channel_id", "msg_id", "taken_at"),)


class SubscriberSnapshot(Model):
    """A channel's subscriber count (channels.getFullChannel `participants_count`) at
    `taken_at`; at most one per SUBSCRIBERS_INTERVAL_MINUTES per channel."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="subscriber_snapshots", on_delete=fields.CASCADE
    )
    taken_at = fields.DatetimeField()
    subscribers = fields.BigIntField()

    class Meta:
        table = "subscriber_snapshot"
        indexes = (("channel_id", "taken_at"),)


class MessageLink(Model):
    """An edge of the repost and mention graph: message (channel, msg_id) forwards from
    (`kind` "forward") or mentions (`kind` "mention": an @name or a t.me link) the
    channel `target`: "id:<channel id>" when Telegram gave its id (a forward, a
    t.me/c/ link), else "@<username>" in lower case. `target_title` and
    `target_username` name it as the message had them; `date` is the message's date."""

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "tg_parser.Channel", related_name="links", on_delete=fields.CASCADE
    )
    msg_id = fields.BigIntField()
    date = fields.DatetimeField()
    kind = fields.CharField(max_length=8)
    target = fields.CharField(max_length=72)
    target_tg_id = fields.BigIntField(null=True)
    target_username = fields.CharField(max_length=64, null=True)
    target_title = fields.CharField(max_length=256, null=True)

    class Meta:
        table = "message_link"
        unique_together = (("channel", "msg_id", "kind", "target"),)
        indexes = (("target", "channel_id"),)


class JobMark(Model):
    """Where a background job over the archive stands (`value`: its own meaning, for
    example the highest message row id a backfill has done)."""

    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "job_mark"
