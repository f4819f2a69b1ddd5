"""The export's query: stored messages with their channel, in message.id order.

Rows are read in chunks by keyset pagination on message.id; the writers and the part
splitting live in services/export/. A comment (a row with `comment_of`) learns the
channel whose post it answers from the stored channel linked to its discussion group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from core.archive import ExportQuery
from db.channels import OWN_STATUSES, migrated_row_id

# One message and its chat as the database returns it, a mapping with the keys id (the
# row id, the keyset), msg_id, date, text, entities, views, forwards, replies,
# reactions, post_author, sender_id, edit_date, media_kind, media, grouped_id,
# reply_to_id, fwd_from, comment_of, content_text, action, deleted_at, terms, chat_row
# (the chat's row id), tg_id, username, title, kind (`chat`: the basic group a
# supergroup was upgraded from, whose messages have no t.me link). Dates as stored
# (text on SQLite, datetime on PostgreSQL); JSON columns as text (or decoded); `terms`
# None unless the export filters by words.
ExportRecord = Mapping[str, Any]


@dataclass(frozen=True)
class ParentChannel:
    """The stored channel a discussion group's comments answer."""

    tg_id: int
    username: str | None
    title: str | None


# Decides whether one record's words match the export's keyword.
RecordMatch = Callable[[ExportRecord], bool]

_SELECT = (
    "SELECT m.id, m.msg_id, m.date, m.text, m.entities, m.views, m.forwards, m.replies,"
    " m.reactions, m.post_author, m.sender_id, m.edit_date, m.media_kind, m.media,"
    " m.grouped_id, m.reply_to_id, m.fwd_from, m.comment_of, m.content_text, m.action,"
    " m.deleted_at,"
    " {terms} AS terms, m.channel_id AS chat_row, c.tg_id, c.username, c.title, c.kind"
    " FROM message m JOIN channel c ON c.id = m.channel_id"
)


def _placeholder(dialect: str, n: int) -> str:
    return "?" if dialect == "sqlite" else f"${n}"


def sql_time(dialect: str, value: datetime) -> Any:
    """`value` as a query parameter compared with a stored datetime column: on SQLite
    the text Tortoise writes, str() of the UTC datetime ("YYYY-MM-DD HH:MM:SS+00:00",
    with ".ffffff" before the zone when there are microseconds), which sorts as the
    instants do; on PostgreSQL the aware datetime. (Cut to the second, a bound left
    out the rows of its own second that carry microseconds.)"""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return str(value) if dialect == "sqlite" else value


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


async def comment_parents() -> dict[int, ParentChannel]:
    """Discussion group tg_id -> the operator's channel linked to it (the first added):
    the channel a comment (a row with `comment_of`) stored under that group answers."""
    conn = connections.get("default")
    statuses = ", ".join(f"'{s}'" for s in OWN_STATUSES)
    rows = await conn.execute_query_dict(
        "SELECT tg_id, username, title, linked_chat_id FROM channel"
        f" WHERE linked_chat_id IS NOT NULL AND status IN ({statuses}) ORDER BY id"
    )
    out: dict[int, ParentChannel] = {}
    for r in rows:
        parent = ParentChannel(r["tg_id"], r["username"], r["title"])
        out.setdefault(int(r["linked_chat_id"]), parent)
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
    query: ExportQuery,
    chunk: int,
    group_row: int | None,
    old_row: int | None = None,
    *,
    albums_only: bool = False,
    terms: bool = False,
) -> AsyncIterator[list[ExportRecord]]:
    """Rows `query` selects (its keyword aside) in message.id order, `chunk` a trip;
    `terms` NULL unless asked for (it is as long as the text: read only to filter)."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    select = _SELECT.format(terms="m.terms" if terms else "NULL")
    last_id = 0
    while True:
        w = _Where(dialect)
        w.clauses.append(f"m.id > {w.arg(last_id)}")
        if query.channel_id is not None:
            if old_row is None:
                own = f"m.channel_id = {w.arg(query.channel_id)}"
            else:  # and the basic group it was upgraded from
                own = f"m.channel_id IN ({w.arg(query.channel_id)}, {w.arg(old_row)})"
            if group_row is not None:
                own = (
                    f"({own} OR (m.channel_id = {w.arg(group_row)} AND m.comment_of IS NOT NULL))"
                )
            w.clauses.append(own)
        if query.since is not None:
            w.clauses.append(f"m.date >= {w.arg(sql_time(dialect, query.since))}")
        if query.until is not None:
            w.clauses.append(f"m.date < {w.arg(sql_time(dialect, query.until))}")
        if albums_only:
            w.clauses.append("m.grouped_id IS NOT NULL")
        limit = w.arg(chunk)
        sql = f"{select} WHERE {' AND '.join(w.clauses)} ORDER BY m.id LIMIT {limit}"
        _, found = await conn.execute_query(sql, w.params)
        if not found:
            return
        # dict(zip()) over the row's values: a third of what dict(row) costs (sqlite3.Row
        # looks each key up by name).
        keys: list[str] = list(found[0].keys())
        rows: list[ExportRecord] = [dict(zip(keys, r, strict=True)) for r in found]
        yield rows
        last_id = rows[-1]["id"]
        if len(rows) < chunk:
            return


async def iter_records(
    query: ExportQuery, chunk: int = 2000, match: RecordMatch | None = None
) -> AsyncIterator[list[ExportRecord]]:
    """The records `query` selects in message.id order, one list per round trip of at
    most `chunk` rows (a list may be empty when the keyword filtered a whole chunk).

    `match` decides the keyword (None: every record): a record is kept when it matches
    or when any item of its album (same chat, same grouped_id, also in the query's
    window) does; albums are found by a first pass over the album items alone.
    """
    group_row = old_row = None
    if query.channel_id is not None and query.comments:
        group_row = await _group_row(query.channel_id)
    if query.channel_id is not None:
        old_row = await migrated_row_id(query.channel_id)
    albums: set[tuple[int, int]] = set()
    if match is not None:
        async for rows in _scan(query, chunk, group_row, old_row, albums_only=True, terms=True):
            for row in rows:
                if match(row):
                    albums.add((row["chat_row"], row["grouped_id"]))
    async for rows in _scan(query, chunk, group_row, old_row, terms=match is not None):
        if match is not None:
            rows = [
                r
                for r in rows
                if (r["grouped_id"] is not None and (r["chat_row"], r["grouped_id"]) in albums)
                or match(r)
            ]
        yield rows
