"""Read side of the media archive (issue #16): a message's media and its stored file,
for the bot to send it and for /export to add it.

Every function returns core.media.StoredMedia: `channel_id`/`msg_id` name the message
as stored (a comment under its discussion group's row), `status` the download's,
`key` the stored file's storage key once done, `size` the stored file's bytes once
done (else what Telegram announced), `width`/`height` from the message's media
description (message.media JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tortoise import connections

from core.media import StoredMedia
from db.database import placeholders

# SQLite's bound-parameter limit is 999 in older builds: stay well within it.
_BATCH = 500

_COLUMNS = (
    "SELECT d.channel_id, d.msg_id, d.kind, d.status, d.size, d.mime_type, d.file_name,"
    " d.reason, f.key AS file_key, f.size AS file_size, f.mime_type AS file_mime,"
    " m.media AS media, m.id AS message_id"
)
# By download: the media_download (channel, msg_id) index finds the rows.
_SELECT = (
    f"{_COLUMNS} FROM media_download d"
    " LEFT JOIN media_file f ON f.id = d.file_id"
    " LEFT JOIN message m ON m.channel_id = d.channel_id AND m.msg_id = d.msg_id"
)
# By message row id: the message drives (a LEFT JOIN from media_download would read
# every download first).
_BY_MESSAGE = (
    f"{_COLUMNS} FROM message m"
    " JOIN media_download d ON d.channel_id = m.channel_id AND d.msg_id = m.msg_id"
    " LEFT JOIN media_file f ON f.id = d.file_id"
)


def _dims(media: Any) -> tuple[int | None, int | None]:
    if isinstance(media, str):
        try:
            media = json.loads(media)
        except ValueError:
            return None, None
    if not isinstance(media, Mapping):
        return None, None
    w, h = media.get("width"), media.get("height")
    return (w if isinstance(w, int) else None), (h if isinstance(h, int) else None)


def _stored(r: Mapping[str, Any]) -> StoredMedia:
    done = r["status"] == "done" and r["file_key"] is not None
    width, height = _dims(r["media"])
    return StoredMedia(
        channel_id=int(r["channel_id"]),
        msg_id=int(r["msg_id"]),
        kind=r["kind"],
        status=r["status"],
        size=r["file_size"] if done else r["size"],
        mime_type=r["mime_type"] or (r["file_mime"] if done else None),
        file_name=r["file_name"],
        key=r["file_key"] if done else None,
        reason=r["reason"],
        width=width,
        height=height,
    )


async def post_media(channel_id: int, msg_id: int) -> StoredMedia | None:
    """The media of message `msg_id` stored under channel row `channel_id`; None when
    no download was ever recorded for it (no media, or a kind its channel does not
    keep)."""
    conn = connections.get("default")
    a, b = placeholders(conn.capabilities.dialect, 1, 2).split(", ")
    sql = f"{_SELECT} WHERE d.channel_id = {a} AND d.msg_id = {b}"
    rows = await conn.execute_query_dict(sql, [channel_id, msg_id])
    return _stored(rows[0]) if rows else None


async def media_by_message(message_ids: Sequence[int]) -> dict[int, StoredMedia]:
    """message.id (the row id, as search hits and watch hits carry it) -> its media,
    for the messages that have a recorded download."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    out: dict[int, StoredMedia] = {}
    ids = list(dict.fromkeys(message_ids))
    for i in range(0, len(ids), _BATCH):
        part = ids[i : i + _BATCH]
        sql = f"{_BY_MESSAGE} WHERE m.id IN ({placeholders(dialect, 1, len(part))})"
        for r in await conn.execute_query_dict(sql, part):
            out[int(r["message_id"])] = _stored(r)
    return out


async def media_of_posts(posts: Iterable[tuple[int, int]]) -> list[StoredMedia]:
    """The media of the messages `posts` ((channel row, msg_id) pairs, e.g. one chunk of
    an export), in the order given; messages without a recorded download are left
    out. One query per channel and 500 messages."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    order: list[tuple[int, int]] = list(dict.fromkeys(posts))
    by_channel: dict[int, list[int]] = {}
    for ch, msg in order:
        by_channel.setdefault(ch, []).append(msg)
    found: dict[tuple[int, int], StoredMedia] = {}
    for ch, msg_ids in by_channel.items():
        for i in range(0, len(msg_ids), _BATCH):
            part = msg_ids[i : i + _BATCH]
            first = "?" if dialect == "sqlite" else "$1"
            sql = (
                f"{_SELECT} WHERE d.channel_id = {first}"
                f" AND d.msg_id IN ({placeholders(dialect, 2, len(part))})"
            )
            for r in await conn.execute_query_dict(sql, [ch, *part]):
                m = _stored(r)
                found[(m.channel_id, m.msg_id)] = m
    return [found[p] for p in order if p in found]
