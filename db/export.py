"""The export's query: stored messages with their channel, in message.id order.

Rows are read in chunks by keyset pagination on message.id; the writers and the part
splitting live in services/export/. A comment (a row with `comment_of`) learns the
channel whose post it answers from the stored channel linked to its discussion group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from tortoise import connections

from core.archive import ExportQuery
from db.channels import OWN_STATUSES


class ExportRecord(TypedDict):
    """One message and its channel as the database returns them (dates as stored:
    text on SQLite, datetime on PostgreSQL; JSON columns as text or decoded values).

    `parent_*` name the channel a comment's post belongs to (None for a post, or a
    comment whose channel is not stored); `terms` is the search index's text (None
    where it was never computed)."""

    id: int  # message row id (the keyset)
    msg_id: int
    date: Any
    text: str | None
    entities: Any
    views: int | None
    forwards: int | None
    replies: int | None
    reactions: Any
    post_author: str | None
    sender_id: int | None
    edit_date: Any
    media_kind: str | None
    media: Any
    grouped_id: int | None
    reply_to_id: int | None
    fwd_from: Any
    comment_of: int | None
    content_text: str | None
    action: Any
    terms: str | None
    tg_id: int
    username: str | None
    title: str | None
    parent_tg_id: int | None
    parent_username: str | None
    parent_title: str | None


@dataclass(frozen=True)
class _Parent:
    tg_id: int
    username: str | None
    title: str | None


# Decides whether one record's words match the export's keyword.
RecordMatch = Callable[[ExportRecord], bool]

_SELECT = (
    "SELECT m.id, m.msg_id, m.date, m.text, m.entities, m.views, m.forwards, m.replies,"
    " m.reactions, m.post_author, m.sender_id, m.edit_date, m.media_kind, m.media,"
    " m.grouped_id, m.reply_to_id, m.fwd_from, m.comment_of, m.content_text, m.action,"
    " m.terms, m.channel_id AS chat_row, c.tg_id, c.username, c.title"
    " FROM message m JOIN channel c ON c.id = m.channel_id"
)


def _placeholder(dialect: str, n: int) -> str:
    return "?" if dialect == "sqlite" else f"${n}"


def _sql_time(dialect: str, value: datetime) -> Any:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    # Tortoise stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS+00:00": compare as text.
    return value.strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else value


def parse_time(value: Any) -> datetime | None:
    """A stored time (SQLite text, a datetime, an ISO 8601 string in JSON) as an aware
    UTC datetime; None for None or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


async def _parents() -> dict[int, _Parent]:
    """Discussion group tg_id -> the operator's channel linked to it (the first added)."""
    conn = connections.get("default")
    statuses = ", ".join(f"'{s}'" for s in OWN_STATUSES)
    rows = await conn.execute_query_dict(
        "SELECT tg_id, username, title, linked_chat_id FROM channel"
        f" WHERE linked_chat_id IS NOT NULL AND status IN ({statuses}) ORDER BY id"
    )
    out: dict[int, _Parent] = {}
    for r in rows:
        out.setdefault(int(r["linked_chat_id"]), _Parent(r["tg_id"], r["username"], r["title"]))
    return out


async def _group_row(channel_id: int) -> int | None:
    """The row id of the discussion group stored for channel row `channel_id`."""
    conn = connections.get("default")
    p = _placeholder(conn.capabilities.dialect, 1)
    rows = await conn.execute_query_dict(
        "SELECT g.id FROM channel c JOIN channel g ON g.tg_id = c.linked_chat_id"
        f" WHERE c.id = {p}",
        [channel_id],
    )
    return int(rows[0]["id"]) if rows else None


class _Where:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.params: list[Any] = []
        self.clauses: list[str] = []

    def arg(self, value: Any) -> str:
        self.params.append(value)
        return _placeholder(self.dialect, len(self.params))


async def _scan(
    query: ExportQuery, chunk: int, group_row: int | None, *, albums_only: bool = False
) -> AsyncIterator[list[dict[str, Any]]]:
    """Raw rows `query` selects (its keyword aside) in message.id order, `chunk` a trip."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    last_id = 0
    while True:
        w = _Where(dialect)
        w.clauses.append(f"m.id > {w.arg(last_id)}")
        if query.channel_id is not None:
            own = f"m.channel_id = {w.arg(query.channel_id)}"
            if group_row is not None:
                own = (
                    f"({own} OR (m.channel_id = {w.arg(group_row)} AND m.comment_of IS NOT NULL))"
                )
            w.clauses.append(own)
        if query.since is not None:
            w.clauses.append(f"m.date >= {w.arg(_sql_time(dialect, query.since))}")
        if query.until is not None:
            w.clauses.append(f"m.date < {w.arg(_sql_time(dialect, query.until))}")
        if albums_only:
            w.clauses.append("m.grouped_id IS NOT NULL")
        limit = w.arg(chunk)
        sql = f"{_SELECT} WHERE {' AND '.join(w.clauses)} ORDER BY m.id LIMIT {limit}"
        rows = await conn.execute_query_dict(sql, w.params)
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]
        if len(rows) < chunk:
            return


def _finish(row: dict[str, Any], parents: dict[int, _Parent]) -> ExportRecord:
    parent = parents.get(row["tg_id"]) if row["comment_of"] is not None else None
    row["parent_tg_id"] = parent.tg_id if parent else None
    row["parent_username"] = parent.username if parent else None
    row["parent_title"] = parent.title if parent else None
    return cast(ExportRecord, row)


async def iter_records(
    query: ExportQuery, chunk: int = 2000, match: RecordMatch | None = None
) -> AsyncIterator[list[ExportRecord]]:
    """The records `query` selects in message.id order, one list per round trip of at
    most `chunk` rows (a list may be empty when the keyword filtered a whole chunk).

    `match` decides the keyword (None: every record): a record is kept when it matches
    or when any item of its album (same chat, same grouped_id, also in the query's
    window) does; albums are found by a first pass over the album items alone.
    """
    parents = await _parents()
    group_row = None
    if query.channel_id is not None and query.comments:
        group_row = await _group_row(query.channel_id)
    albums: set[tuple[int, int]] = set()
    if match is not None:
        async for rows in _scan(query, chunk, group_row, albums_only=True):
            for row in rows:
                if match(cast(ExportRecord, row)):
                    albums.add((row["chat_row"], row["grouped_id"]))
    async for rows in _scan(query, chunk, group_row):
        if match is not None:
            rows = [
                r
                for r in rows
                if (r["grouped_id"] is not None and (r["chat_row"], r["grouped_id"]) in albums)
                or match(cast(ExportRecord, r))
            ]
        yield [_finish(r, parents) for r in rows]
