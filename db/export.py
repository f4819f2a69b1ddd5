"""The export's query: stored messages with their channel, in message.id order.

Rows are read in chunks by keyset pagination on message.id; the writers and the part
splitting live in services/export/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from tortoise import connections

from core.archive import ExportQuery


class ExportRecord(TypedDict):
    """One message and its channel as the database returns them (dates as stored:
    text on SQLite, datetime on PostgreSQL; `reactions` JSON text or a dict)."""

    id: int  # message row id (the keyset)
    msg_id: int
    date: Any
    text: str | None
    views: int | None
    forwards: int | None
    replies: int | None
    reactions: Any
    post_author: str | None
    sender_id: int | None
    edit_date: Any
    media_kind: str | None
    grouped_id: int | None
    reply_to_id: int | None
    tg_id: int
    username: str | None
    title: str | None


def _placeholder(dialect: str, n: int) -> str:
    return "?" if dialect == "sqlite" else f"${n}"


def _sql_time(dialect: str, value: datetime) -> Any:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    # Tortoise stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS+00:00": compare as text.
    return value.strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else value


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


async def iter_records(query: ExportQuery, chunk: int = 2000) -> AsyncIterator[list[ExportRecord]]:
    """The records `query` selects in message.id order, one list per round trip of at
    most `chunk` rows (a list may be empty when the keyword filtered a whole chunk)."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    needle = query.keyword.casefold() if query.keyword else None
    last_id = 0
    while True:
        params: list[Any] = [last_id]
        where = [f"m.id > {_placeholder(dialect, 1)}"]
        if query.channel_id is not None:
            params.append(query.channel_id)
            where.append(f"m.channel_id = {_placeholder(dialect, len(params))}")
        if query.since is not None:
            params.append(_sql_time(dialect, query.since))
            where.append(f"m.date >= {_placeholder(dialect, len(params))}")
        if query.until is not None:
            params.append(_sql_time(dialect, query.until))
            where.append(f"m.date < {_placeholder(dialect, len(params))}")
        params.append(chunk)
        sql = (
            "SELECT m.id, m.msg_id, m.date, m.text, m.views, m.forwards, m.replies,"
            " m.reactions, m.post_author, m.sender_id, m.edit_date, m.media_kind,"
            " m.grouped_id, m.reply_to_id, c.tg_id, c.username, c.title"
            " FROM message m JOIN channel c ON c.id = m.channel_id"
            f" WHERE {' AND '.join(where)} ORDER BY m.id"
            f" LIMIT {_placeholder(dialect, len(params))}"
        )
        records = cast(list[ExportRecord], await conn.execute_query_dict(sql, params))
        if not records:
            return
        if needle is not None:
            yield [r for r in records if needle in (r["text"] or "").casefold()]
        else:
            yield records
        last_id = records[-1]["id"]
        if len(records) < chunk:
            return
