"""One export row per stored message: the columns every format writes, in order."""

from __future__ import annotations

import json
from typing import Any

from core.channels import post_link
from db.export import ExportRecord, parse_time

COLUMNS = (
    "channel_id",
    "channel",
    "msg_id",
    "date",
    "text",
    "views",
    "forwards",
    "replies",
    "reactions_total",
    "reactions",
    "post_author",
    "sender_id",
    "edit_date",
    "media_kind",
    "grouped_id",
    "reply_to_id",
    "link",
)

# A row: COLUMNS -> value. Dates are "YYYY-MM-DD HH:MM:SS" UTC text ("" when absent),
# `reactions` a dict of emoji -> count, `channel` the username or title.
ExportRow = dict[str, Any]


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def export_row(rec: ExportRecord) -> ExportRow:
    """The export row of one database record (db.export.iter_records)."""
    reactions = _json_value(rec["reactions"]) or {}
    total = sum(v for v in reactions.values() if isinstance(v, int)) if reactions else 0
    date = parse_time(rec["date"])
    edit = parse_time(rec["edit_date"])
    return {
        "channel_id": rec["tg_id"],
        "channel": rec["username"] or rec["title"] or "",
        "msg_id": rec["msg_id"],
        "date": date.strftime("%Y-%m-%d %H:%M:%S") if date else "",
        "text": rec["text"] or "",
        "views": rec["views"],
        "forwards": rec["forwards"],
        "replies": rec["replies"],
        "reactions_total": total,
        "reactions": reactions,
        "post_author": rec["post_author"],
        "sender_id": rec["sender_id"],
        "edit_date": edit.strftime("%Y-%m-%d %H:%M:%S") if edit else "",
        "media_kind": rec["media_kind"],
        "grouped_id": rec["grouped_id"],
        "reply_to_id": rec["reply_to_id"],
        "link": post_link(rec["username"], rec["tg_id"], rec["msg_id"]),
    }


def cell(value: Any) -> Any:
    """A value as a CSV / XLSX cell: dicts as JSON ("" when empty), None as ""."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return "" if value is None else value
