"""One export row per stored message: the columns every format writes, in order.

The same names in every format. CSV and XLSX are flat: a dict or list value is written
as JSON text; JSONL keeps it as a nested object or list. Times are aware datetimes in
the export's zone: ISO 8601 with the offset in CSV and JSONL ("2026-09-01T11:52:05+00:00"),
real date cells in XLSX (whose header names the zone: an Excel date has no offset).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from core.channels import comment_link, post_link
from db.export import ExportRecord, ParentChannel, parse_time

COLUMNS = (
    "channel_id",
    "channel",
    "msg_id",
    "date",
    "link",
    "text",
    "content_text",
    "action",
    "views",
    "forwards",
    "replies",
    "reactions_total",
    "reactions",
    "post_author",
    "sender_id",
    "edit_date",
    "deleted",
    "grouped_id",
    "reply_to_id",
    "reply_to_link",
    "fwd_from_type",
    "fwd_from_id",
    "fwd_from_title",
    "fwd_from_username",
    "fwd_from_msg_id",
    "fwd_from_date",
    "fwd_from_name",
    "fwd_from_link",
    "comment_of",
    "comment_of_channel",
    "comment_of_link",
    "media_kind",
    "media_id",
    "media_file_name",
    "media_mime_type",
    "media_size",
    "media_duration",
    "media_width",
    "media_height",
    "media",
    "entities",
)
# Columns holding times (datetimes in a row; date cells in XLSX).
TIME_COLUMNS = ("date", "edit_date", "deleted", "fwd_from_date")
# The column the `versions` option adds after COLUMNS: the message's earlier versions,
# oldest first, each {text, entities, media_kind, media, content_text, edit_date,
# seen_at, replaced_at} (JSON text in a flat format).
VERSIONS_COLUMN = "versions"
# Columns holding t.me links (clickable in XLSX).
LINK_COLUMNS = ("link", "reply_to_link", "fwd_from_link", "comment_of_link")
# Columns whose values are dicts or lists (JSON text in a flat format).
JSON_COLUMNS = ("action", "reactions", "media", "entities")
# The media keys parser/history.py stores for every kind that has them.
MEDIA_KEYS = ("id", "file_name", "mime_type", "size", "duration", "width", "height")

# A row: COLUMNS -> value (None when absent), its keys in COLUMNS order. Times are
# aware datetimes in the export's zone; `reactions` a dict of emoji -> count; `media`
# and `action` dicts; `entities` a list of {type, offset, length, text, url | user_id |
# language | document_id}.
ExportRow = dict[str, Any]

# Stored entity types (Telethon class names without "MessageEntity") whose fourth item
# is not a URL.
_ENTITY_EXTRA = {
    "MentionName": "user_id",
    "InputMessageEntityMentionName": "user_id",
    "Pre": "language",
    "CustomEmoji": "document_id",
}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _snake(name: str) -> str:
    out = [name[0].lower()] if name else []
    for ch in name[1:]:
        out.append(f"_{ch.lower()}" if ch.isupper() else ch)
    return "".join(out)


def entities_of(text: str, stored: Any) -> list[dict[str, Any]] | None:
    """The stored entities ([type, offset, length, extra?] items, offsets in UTF-16 code
    units as Telegram counts them) as dicts with the `text` they cover; None when none."""
    items = _json_value(stored)
    if not items:
        return None
    utf16 = text.encode("utf-16-le")
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):  # already in the exported shape
            out.append(item)
            continue
        kind, offset, length = str(item[0]), int(item[1]), int(item[2])
        piece = utf16[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")
        entity: dict[str, Any] = {
            "type": _snake(kind),
            "offset": offset,
            "length": length,
            "text": piece,
        }
        if len(item) > 3 and item[3] is not None:
            entity[_ENTITY_EXTRA.get(kind, "url")] = item[3]
        out.append(entity)
    return out


def _label(username: str | None, title: str | None) -> str:
    return username or title or ""


def _fwd_link(fwd: dict[str, Any]) -> str | None:
    post = fwd.get("channel_post")
    if not post:
        return None
    if fwd.get("username"):
        return f"https://t.me/{fwd['username']}/{post}"
    if fwd.get("from_type") == "channel" and fwd.get("from_id"):
        return post_link(None, int(fwd["from_id"]), int(post))
    return None


def _time(value: Any, tz: tzinfo) -> datetime | None:
    when = parse_time(value)
    return when.astimezone(tz) if when else None


def version_item(v: Mapping[str, Any], tz: tzinfo = UTC) -> dict[str, Any]:
    """One earlier version (db.versions.versions_of) as the export writes it: times in
    `tz`, entities and media as in a row."""
    text = v["text"] or ""
    return {
        "text": text,
        "entities": entities_of(text, v["entities"]),
        "media_kind": v["media_kind"],
        "media": _json_value(v["media"]),
        "content_text": v["content_text"] or "",
        "edit_date": _time(v["edit_date"], tz),
        "seen_at": _time(v["seen_at"], tz),
        "replaced_at": _time(v["replaced_at"], tz),
    }


def export_row(
    rec: ExportRecord,
    tz: tzinfo = UTC,
    parents: Mapping[int, ParentChannel] | None = None,
    versions: bool = False,
) -> ExportRow:
    """The export row of one database record (db.export.iter_records), times in `tz`.

    `deleted` is when a run found the message deleted (empty: it was not). With
    `versions`, the row ends with VERSIONS_COLUMN: the record's `versions` (earlier
    versions from db.versions, oldest first) as `version_item`s, None when it has none.

    `parents` (db.export.comment_parents: discussion group tg_id -> its channel) names
    the channel a comment answers; a comment's `link` is then the post's link with
    `?comment=<id>` (else the discussion group's own link). `reply_to_link` points into
    the chat the message is stored in.
    """
    # Reactions never stored (service events, comments, old rows): both columns empty,
    # as `views` is, not a count of 0.
    reactions = _json_value(rec["reactions"])
    reactions = reactions if isinstance(reactions, dict) else None
    total = (
        sum(v for v in reactions.values() if isinstance(v, int)) if reactions is not None else None
    )
    date = parse_time(rec["date"])
    edit = parse_time(rec["edit_date"])
    text = rec["text"] or ""
    media = _json_value(rec["media"])
    media_meta = media if isinstance(media, dict) else {}
    fwd = _json_value(rec["fwd_from"])
    fwd = fwd if isinstance(fwd, dict) else None
    fwd_date = parse_time(fwd.get("date")) if fwd else None
    username, tg_id, msg_id = rec["username"], rec["tg_id"], rec["msg_id"]
    # A basic group's messages (the group a supergroup was upgraded from) have no link.
    linkable = rec.get("kind") != "chat"
    own_link = post_link(username, tg_id, msg_id) if linkable else None
    comment_of = rec["comment_of"]
    parent = parents.get(tg_id) if comment_of is not None and parents else None
    parent_link = post_link(parent.username, parent.tg_id, comment_of) if parent else None
    thread_link = (
        comment_link(parent.username, parent.tg_id, comment_of, msg_id) if parent else None
    )
    reply_to = rec["reply_to_id"]
    row = {
        "channel_id": tg_id,
        "channel": _label(username, rec["title"]),
        "msg_id": msg_id,
        "date": date.astimezone(tz) if date else None,
        "link": thread_link or own_link,
        "text": text,
        "content_text": rec["content_text"] or "",
        "action": _json_value(rec["action"]),
        "views": rec["views"],
        "forwards": rec["forwards"],
        "replies": rec["replies"],
        "reactions_total": total,
        "reactions": reactions,
        "post_author": rec["post_author"],
        "sender_id": rec["sender_id"],
        "edit_date": edit.astimezone(tz) if edit else None,
        "deleted": _time(rec.get("deleted_at"), tz),
        "grouped_id": rec["grouped_id"],
        "reply_to_id": reply_to,
        "reply_to_link": post_link(username, tg_id, reply_to) if reply_to and linkable else None,
        "fwd_from_type": fwd.get("from_type") if fwd else None,
        "fwd_from_id": fwd.get("from_id") if fwd else None,
        "fwd_from_title": fwd.get("title") if fwd else None,
        "fwd_from_username": fwd.get("username") if fwd else None,
        "fwd_from_msg_id": fwd.get("channel_post") if fwd else None,
        "fwd_from_date": fwd_date.astimezone(tz) if fwd_date else None,
        "fwd_from_name": fwd.get("from_name") if fwd else None,
        "fwd_from_link": _fwd_link(fwd) if fwd else None,
        "comment_of": comment_of,
        "comment_of_channel": _label(parent.username, parent.title) if parent else None,
        "comment_of_link": parent_link,
        "media_kind": rec["media_kind"],
        "media_id": media_meta.get("id"),
        "media_file_name": media_meta.get("file_name"),
        "media_mime_type": media_meta.get("mime_type"),
        "media_size": media_meta.get("size"),
        "media_duration": media_meta.get("duration"),
        "media_width": media_meta.get("width"),
        "media_height": media_meta.get("height"),
        "media": media,
        "entities": entities_of(text, rec["entities"]),
    }
    if versions:
        earlier = rec.get("versions")
        row[VERSIONS_COLUMN] = [version_item(v, tz) for v in earlier] if earlier else None
    return row


# 64-bit ids (random, often beyond 2**53): JSONL writes these columns as strings always,
# so a reader in JavaScript (or any double-based JSON parser) gets every digit.
ID_STRING_COLUMNS = ("media_id", "grouped_id")
_EXACT = 2**53


def exact_ints(value: Any) -> Any:
    """`value` (JSON-ready: dicts, lists, scalars) with every int outside +-2**53 as a
    decimal string, at any depth; the rest as it is (the same object when none is)."""
    if isinstance(value, dict):
        return {k: exact_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact_ints(v) for v in value]
    if type(value) is int and not -_EXACT < value < _EXACT:
        return str(value)
    return value


def cell(value: Any) -> Any:
    """A value as a flat CSV cell: dicts and lists as JSON ("" when empty; ints beyond
    +-2**53 inside them as strings), times as ISO 8601 with their offset, None as ""."""
    if isinstance(value, dict | list):
        if not value:
            return ""
        return json.dumps(exact_ints(value), ensure_ascii=False, default=json_default)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def json_default(value: Any) -> Any:
    """json.dumps' fallback for a row: times as ISO 8601 with their offset."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
