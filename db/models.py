"""Tortoise models. Only `db/` queries them; other packages go through repositories."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Account(Model):
    """The Telegram user account the userbot runs as, with its encrypted session."""

    id = fields.IntField(primary_key=True)
    phone = fields.CharField(max_length=32, null=True)
    user_id = fields.BigIntField(null=True)
    display_name = fields.CharField(max_length=256, null=True)
    username = fields.CharField(max_length=64, null=True)
    # Fernet token over "<row id>|<StringSession>"; never logged, never shown.
    session_ciphertext = fields.TextField(null=True)
    # active | revoked | logged_out
    status = fields.CharField(max_length=16, default="logged_out")
    status_reason = fields.TextField(null=True)
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

    class Meta:
        table = "channel"


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
    fetched_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message"
        unique_together = (("channel", "msg_id"),)
        indexes = (("channel_id", "date"),)


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
