"""Earlier versions of edited messages (table `message_version`), and what counts as an
edit.

A re-read message (the refresh window) whose *content* changed keeps its previous
content as a version: the text, the entities, the media kind and the media described
by parser/content.py, minus what changes without the author editing anything (a
poll's votes, a link preview (Telegram builds, re-targets and drops it; the link
typed is in the text), a live location's position, a to-do list's ticks, a story's
channel renamed). Views, forwards,
replies, reactions and `edit_date` are no content: a change of those alone makes no
version. db/messages.py `store_batch` calls `changed_ids` and `SAVE_VERSIONS_*` in the
transaction of the upsert, so a version is never lost nor written without its row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tortoise import connections

from core.parsing import COLUMNS, Row

_MSG_ID = COLUMNS.index("msg_id")
_TEXT = COLUMNS.index("text")
_ENTITIES = COLUMNS.index("entities")
_KIND = COLUMNS.index("media_kind")
_MEDIA = COLUMNS.index("media")
_ACTION = COLUMNS.index("action")

# The stored content of re-read rows, for `changed_ids` (msg_id, text, entities,
# media_kind, media); service messages (an `action`) are never edited.
SELECT_CONTENT_SQLITE = (
    "SELECT msg_id, text, entities, media_kind, media FROM message"
    " WHERE channel_id = ?1 AND msg_id IN (SELECT value FROM json_each(?2))"
    " AND action IS NULL"
)
SELECT_CONTENT_PG = (
    "SELECT msg_id, text, entities::text AS entities, media_kind, media::text AS media"
    " FROM message WHERE channel_id = $1 AND msg_id = ANY($2::bigint[]) AND action IS NULL"
)
# Copies the stored rows `msg_id IN ids` into message_version before the upsert
# overwrites them: seen_at = the row's fetched_at (when that content was first read: a
# re-read that changes no content leaves fetched_at alone), replaced_at = this run's
# fetch time; CONTENT_SEEN_* then stamps the rows' fetched_at with it (the new content's
# first read).
_VERSION_COLS = (
    "channel_id, msg_id, text, entities, media_kind, media, content_text, edit_date,"
    " seen_at, replaced_at"
)
_VERSION_PICK = (
    "channel_id, msg_id, text, entities, media_kind, media, content_text, edit_date,"
    " fetched_at"
)
SAVE_VERSIONS_SQLITE = (
    f"INSERT INTO message_version ({_VERSION_COLS}) SELECT {_VERSION_PICK}, ?3"
    " FROM message WHERE channel_id = ?1 AND msg_id IN (SELECT value FROM json_each(?2))"
)
SAVE_VERSIONS_PG = (
    f"INSERT INTO message_version ({_VERSION_COLS}) SELECT {_VERSION_PICK}, $3"
    " FROM message WHERE channel_id = $1 AND msg_id = ANY($2::bigint[])"
)
CONTENT_SEEN_SQLITE = (
    "UPDATE message SET fetched_at = ?3"
    " WHERE channel_id = ?1 AND msg_id IN (SELECT value FROM json_each(?2))"
)
CONTENT_SEEN_PG = (
    "UPDATE message SET fetched_at = $3 WHERE channel_id = $1 AND msg_id = ANY($2::bigint[])"
)

# media_kind -> keys of its description that change without an edit by the author.
_VOLATILE = {
    # Votes and what they reveal (the quiz's answer and solution show after voting;
    # results once the poll is closed).
    "poll": ("total_voters", "solution", "closed"),
    # (A link preview, kind "webpage", is no content at all: see `content_key`.)
    # A live location moves by itself while it is shared.
    "geo_live": ("lat", "long", "accuracy_radius", "heading",
                 "proximity_notification_radius"),
    # The story's channel's name is its current one, not the post's.
    "story": ("title", "username"),
}
_POLL_OPTION_VOLATILE = ("voters", "correct", "chosen")


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def media_content(kind: str | None, media: Any) -> Any:
    """The part of a stored media description (JSON text or decoded) that only the
    author's edit changes: the description minus the kind's volatile keys (see the
    module's docstring)."""
    if kind == "webpage":  # a link preview is Telegram's, never the author's
        return None
    described = _decoded(media)
    if not isinstance(described, dict) or kind is None:
        return described
    out = {k: v for k, v in described.items() if k not in _VOLATILE.get(kind, ())}
    if kind == "poll" and isinstance(out.get("options"), list):
        out["options"] = [
            {k: v for k, v in o.items() if k not in _POLL_OPTION_VOLATILE}
            if isinstance(o, dict) else o
            for o in out["options"]
        ]
    elif kind == "to_do" and isinstance(out.get("items"), list):
        out["items"] = [
            {k: v for k, v in i.items() if k != "completed"} if isinstance(i, dict) else i
            for i in out["items"]
        ]
    return out


def content_key(text: str | None, entities: Any, kind: str | None, media: Any) -> tuple[Any, ...]:
    """What makes two versions of a message the same content: text, entities (decoded
    JSON), media kind and `media_content`. A link preview is no content at all: Telegram
    builds it after the post (pending, then built), re-targets it (its `url` is the
    address after redirects, not the link typed), refreshes or drops it by itself; the
    link the author wrote is in the text or a text link's entity, whose change is an
    edit. So a post with a preview in any state, or none, is the same content."""
    if kind == "webpage":
        kind, media = None, None
    return (text or "", _decoded(entities) or None, kind, media_content(kind, media))


def changed_ids(stored: Iterable[Sequence[Any]], rows: Iterable[Row]) -> list[int]:
    """The msg_ids of `rows` whose content differs from the stored one.

    `stored`: (msg_id, text, entities, media_kind, media) of the rows as stored (JSON
    as text or decoded); `rows`: the same messages as read now (core.parsing.COLUMNS
    order). A row not stored yet, or a service message, is no change.
    """
    before = {int(s[0]): content_key(s[1], s[2], s[3], s[4]) for s in stored}
    out: list[int] = []
    for r in rows:
        old = before.get(r[_MSG_ID])
        if old is None or r[_ACTION] is not None:
            continue
        if old != content_key(r[_TEXT], r[_ENTITIES], r[_KIND], r[_MEDIA]):
            out.append(int(r[_MSG_ID]))
    return out


async def versions_of(
    keys: Iterable[tuple[int, int]],
) -> dict[tuple[int, int], list[Mapping[str, Any]]]:
    """Earlier versions by (channel row id, msg_id), oldest first: each a mapping with
    text, entities, media_kind, media, content_text, edit_date, seen_at, replaced_at
    (times as stored: text on SQLite, datetimes on PostgreSQL; JSON as text or decoded).
    Keys without versions are left out."""
    by_chat: dict[int, list[int]] = {}
    for chat, msg_id in keys:
        by_chat.setdefault(chat, []).append(msg_id)
    if not by_chat:
        return {}
    conn = connections.get("default")
    sqlite = conn.capabilities.dialect == "sqlite"
    out: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for chat, ids in by_chat.items():
        if sqlite:
            sql = (
                "SELECT msg_id, text, entities, media_kind, media, content_text, edit_date,"
                " seen_at, replaced_at FROM message_version WHERE channel_id = ?"
                " AND msg_id IN (SELECT value FROM json_each(?)) ORDER BY msg_id, id"
            )
            params: list[Any] = [chat, json.dumps(ids)]
        else:
            sql = (
                "SELECT msg_id, text, entities, media_kind, media, content_text, edit_date,"
                " seen_at, replaced_at FROM message_version WHERE channel_id = $1"
                " AND msg_id = ANY($2::bigint[]) ORDER BY msg_id, id"
            )
            params = [chat, ids]
        for r in await conn.execute_query_dict(sql, params):
            out.setdefault((chat, int(r["msg_id"])), []).append(r)
    return out


async def version_count(channel_id: int | None = None) -> int:
    """How many earlier versions are stored (of one channel row, or in all)."""
    from db.models import MessageVersion

    q = MessageVersion.all() if channel_id is None else MessageVersion.filter(
        channel_id=channel_id
    )
    return await q.count()
