"""Ingest repository: batches of messages stored together with the channel cursor.

The hot path avoids ORM objects: rows are plain tuples written with ONE raw
`INSERT ... ON CONFLICT (channel_id, msg_id) DO UPDATE` per batch (SQLite: over a
JSON array; PostgreSQL: over one array per column), in the same transaction as
the cursor update and (SQLite) the full-text indexing of the new rows, so a crash
can never leave the cursor ahead of the rows it covers (nor duplicate them: the key
is (channel, msg_id)).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.channels import Channel
from db.channels import snapshot
from db.models import Channel as ChannelModel
from db.models import Message, ParseRun

# The columns of one row, in order (see parser/fetcher.py `message_row`).
COLUMNS = (
    "channel_id",
    "msg_id",
    "date",
    "text",
    "entities",
    "sender_id",
    "post_author",
    "views",
    "forwards",
    "replies",
    "reactions",
    "edit_date",
    "media_kind",
    "media",
    "grouped_id",
    "reply_to_id",
    "fwd_from",
    "comment_of",
    "fetched_at",
)
# What a re-read (refresh window) may change.
_UPDATED = (
    "text",
    "entities",
    "views",
    "forwards",
    "replies",
    "reactions",
    "edit_date",
    "media_kind",
    "media",
    "fetched_at",
)
_JSON_COLS = {"entities", "reactions", "media", "fwd_from"}
_TIME_COLS = {"date", "edit_date"}
_PG_TYPES = {
    "msg_id": "bigint",
    "date": "timestamptz",
    "text": "text",
    "entities": "text",
    "sender_id": "bigint",
    "post_author": "text",
    "views": "int",
    "forwards": "int",
    "replies": "int",
    "reactions": "text",
    "edit_date": "timestamptz",
    "media_kind": "text",
    "media": "text",
    "grouped_id": "bigint",
    "reply_to_id": "bigint",
    "fwd_from": "text",
    "comment_of": "bigint",
}

Row = tuple[Any, ...]

# Indexes every message above fts_state.indexed_to, then moves the mark. Run both in
# one transaction (message ids are AUTOINCREMENT: a new row is always above the mark).
INDEX_PENDING = (
    "INSERT INTO message_fts(rowid, text) SELECT id, text FROM message"
    " WHERE id > (SELECT indexed_to FROM fts_state WHERE id = 1)",
    "UPDATE fts_state SET indexed_to ="
    " (SELECT COALESCE(MAX(m.id), fts_state.indexed_to) FROM message m) WHERE id = 1",
)


def _upsert_sql(dialect: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
    conflict = f"ON CONFLICT (channel_id, msg_id) DO UPDATE SET {updates}"
    if dialect == "postgres":
        # One statement per batch too: $1 = channel_id, $2 = fetched_at, then one
        # array per other column (asyncpg encodes arrays in C; an executemany binds
        # and executes row by row on the event loop). JSON travels as text.
        inner = COLUMNS[1:-1]
        arrays = ", ".join(f"${i}::{_PG_TYPES[c]}[]" for i, c in enumerate(inner, 3))
        picks = ", ".join(f"u.{c}::jsonb" if c in _JSON_COLS else f"u.{c}" for c in inner)
        return (
            f"INSERT INTO message ({', '.join(COLUMNS)}) "
            f"SELECT $1, {picks}, $2 FROM unnest({arrays}) AS u({', '.join(inner)}) "
            f"{conflict}"
        )

    # SQLite: one statement per batch. ?1 = channel_id and ?2 = fetched_at (the same
    # for every row of a batch); ?3 = a JSON array of the other columns of each row,
    # datetimes as Unix times, stored the way sqlite3's adapter writes them
    # ("2026-01-02 03:04:05+00:00"; Telegram's times are whole seconds).
    # `WHERE true` tells the parser that ON CONFLICT belongs to the INSERT.
    def pick(i: int) -> str:
        if sqlite3.sqlite_version_info >= (3, 38):
            return f"value ->> {i}"
        return f"json_extract(value, '$[{i}]')"

    exprs = [
        f"strftime('%Y-%m-%d %H:%M:%S+00:00', {pick(i)}, 'unixepoch')"
        if c in _TIME_COLS
        else pick(i)
        for i, c in enumerate(COLUMNS[1:-1])
    ]
    return (
        f"INSERT INTO message ({', '.join(COLUMNS)}) "
        f"SELECT ?1, {', '.join(exprs)}, ?2 FROM json_each(?3) WHERE true {conflict}"
    )


@dataclass
class ChannelState:
    """What /status needs to know about one channel."""

    id: int
    label: str
    status: str
    deferred_until: datetime | None
    last_error: str | None
    disabled_reason: str | None
    messages_count: int


class IngestRepository:
    """The only place that writes fetched messages and run bookkeeping."""

    def __init__(self, db_path: str | None = None) -> None:
        self._db_path = db_path
        self._sql: str | None = None
        self._dialect = "sqlite"

    def _conn(self) -> Any:
        conn = connections.get("default")
        if self._sql is None:
            self._dialect = conn.capabilities.dialect
            self._sql = _upsert_sql(self._dialect)
        return conn

    # -- the hot path -------------------------------------------------------------------

    async def store_batch(
        self, channel_id: int, rows: list[Row], cursor: int, new_rows: int
    ) -> None:
        """Upsert `rows` and move the channel's cursor to `cursor`, in one transaction.

        `new_rows` counts the rows above the previous cursor: those cannot exist yet,
        because rows and cursor always commit together.
        """
        conn = self._conn()
        assert self._sql is not None
        if self._dialect == "sqlite":
            await self._store_sqlite(conn, channel_id, rows, cursor, new_rows)
            return
        async with in_transaction("default") as tx:
            if rows:
                columns = [list(c) for c in zip(*(r[1:-1] for r in rows), strict=True)]
                await tx.execute_query(self._sql, [rows[0][0], rows[0][-1], *columns])
            await tx.execute_query(
                "UPDATE channel SET cursor = GREATEST(cursor, $1), "
                "messages_count = messages_count + $2 WHERE id = $3",
                [cursor, new_rows, channel_id],
            )

    async def _store_sqlite(
        self, conn: Any, channel_id: int, rows: list[Row], cursor: int, new_rows: int
    ) -> None:
        """The whole transaction in ONE hop to aiosqlite's thread, under Tortoise's lock.

        The rows go in as ONE statement reading a JSON array (json_each): sqlite3
        releases the GIL for each statement it steps, and an executemany steps once
        per row, so the database thread had to win the GIL back from the busy event
        loop a thousand times per transaction (the ingest rate halved). Now it holds
        the GIL only to encode the array (~2 us a row, in C), then SQLite inserts,
        indexes and commits without it while the loop decodes the next pages. Once
        queued, the function runs to its end even if this task is cancelled.
        """
        sql = self._sql
        assert sql is not None

        def write(raw: sqlite3.Connection) -> None:
            raw.execute("BEGIN")
            try:
                if rows:
                    # Every row of a batch shares channel_id and fetched_at.
                    payload = json.dumps(
                        [r[1:-1] for r in rows],
                        ensure_ascii=False,
                        separators=(",", ":"),
                        default=datetime.timestamp,  # a C call per datetime
                    )
                    raw.execute(sql, (rows[0][0], str(rows[0][-1]), payload))
                for index_sql in INDEX_PENDING:
                    raw.execute(index_sql)
                raw.execute(
                    "UPDATE channel SET cursor = MAX(cursor, ?), "
                    "messages_count = messages_count + ? WHERE id = ?",
                    (cursor, new_rows, channel_id),
                )
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

        async with conn.acquire_connection() as aconn:
            await aconn._execute(write, aconn._conn)

    def _p(self, n: int) -> str:
        return f"${n}" if self._dialect == "postgres" else "?"

    # -- channels -----------------------------------------------------------------------

    async def channel(self, channel_id: int) -> Channel | None:
        ch = await ChannelModel.get_or_none(id=channel_id)
        return snapshot(ch) if ch else None

    async def channels(self, status: str | None = None) -> list[Channel]:
        qs = ChannelModel.all().order_by("id")
        if status is not None:
            qs = qs.filter(status=status)
        return [snapshot(c) for c in await qs]

    async def finish_run(
        self,
        channel_id: int,
        *,
        top_id: int | None,
        next_run_at: datetime | None,
    ) -> int:
        """Mark a successful run; recount stored messages only when something came in."""
        now = datetime.now(UTC)
        updates: dict[str, Any] = {
            "last_run_at": now,
            "next_run_at": next_run_at,
            "deferred_until": None,
            "last_error": None,
            "backfill_done": True,
        }
        if top_id:
            updates["top_message_id"] = top_id
        await ChannelModel.filter(id=channel_id).update(**updates)
        ch = await ChannelModel.get(id=channel_id)
        return ch.messages_count

    async def defer(self, channel_id: int, until: datetime, error: str) -> None:
        await ChannelModel.filter(id=channel_id).update(deferred_until=until, last_error=error)

    async def disable(self, channel_id: int, reason: str) -> None:
        await ChannelModel.filter(id=channel_id).update(
            status="disabled", disabled_reason=reason, last_error=reason
        )

    async def set_error(self, channel_id: int, error: str) -> None:
        # A failure after a flood wait: the channel is failing now, no longer deferred.
        await ChannelModel.filter(id=channel_id).update(
            last_error=error[:500], deferred_until=None
        )

    async def set_next_run(self, channel_id: int, when: datetime | None) -> None:
        await ChannelModel.filter(id=channel_id).update(next_run_at=when)

    async def set_linked(self, channel_id: int, linked_id: int, access_hash: int) -> None:
        await ChannelModel.filter(id=channel_id).update(
            linked_chat_id=linked_id, linked_access_hash=access_hash
        )

    async def discussion_row(self, tg_id: int, access_hash: int, title: str) -> int:
        """The channel row that keys comments (group message ids are their own id space).

        A discussion group the operator did not add gets a row with status `linked`,
        which the scheduler never runs on its own.
        """
        ch, _ = await ChannelModel.get_or_create(
            tg_id=tg_id,
            defaults={
                "access_hash": access_hash,
                "title": title[:256],
                "kind": "megagroup",
                "status": "linked",
                "backfill_done": True,
            },
        )
        return ch.id

    async def last_comment_id(self, discussion_id: int, post_id: int) -> int:
        last = (
            await Message.filter(channel_id=discussion_id, comment_of=post_id)
            .order_by("-msg_id")
            .first()
            .values_list("msg_id", flat=True)
        )
        return int(last) if last is not None else 0  # type: ignore[call-overload]

    async def refresh_from_id(self, channel_id: int, since: datetime) -> int | None:
        """The oldest stored post id dated at or after `since` (refresh window start)."""
        row = (
            await Message.filter(channel_id=channel_id, date__gte=since, comment_of=None)
            .order_by("msg_id")
            .first()
            .values_list("msg_id", flat=True)
        )
        return int(row) if row is not None else None  # type: ignore[call-overload]

    async def stored_above(self, channel_id: int, min_id: int) -> int:
        """How many of the channel's posts above `min_id` are stored (a run re-reads them)."""
        return await Message.filter(
            channel_id=channel_id, msg_id__gt=min_id, comment_of=None
        ).count()

    # -- runs ---------------------------------------------------------------------------

    async def start_run(self, channel_id: int, trigger: str) -> int:
        run = await ParseRun.create(channel_id=channel_id, trigger=trigger, status="running")
        return run.id

    async def end_run(self, run_id: int, status: str, fetched: int, error: str | None) -> None:
        await ParseRun.filter(id=run_id).update(
            status=status, fetched=fetched, error=error, finished_at=datetime.now(UTC)
        )

    async def interrupt_stale_runs(self) -> None:
        """Runs left `running` by a crash are marked interrupted at start."""
        await ParseRun.filter(status="running").update(status="interrupted")

    # -- status -------------------------------------------------------------------------

    async def channel_states(self) -> list[ChannelState]:
        """Every channel, light (no ORM objects: /status reads thousands of them)."""
        rows = await ChannelModel.all().order_by("id").values_list(
            "id", "username", "title", "tg_id", "status", "deferred_until", "last_error",
            "disabled_reason", "messages_count",
        )
        return [
            ChannelState(
                row_id,
                Channel(id=row_id, tg_id=tg_id, username=u, title=title).label,
                status,
                until,
                error,
                reason,
                count,
            )
            for row_id, u, title, tg_id, status, until, error, reason, count in rows
        ]

    async def recount(self, channel_id: int) -> None:
        count = await Message.filter(channel_id=channel_id).count()
        await ChannelModel.filter(id=channel_id).update(messages_count=count)

    def database_size(self) -> int | None:
        if not self._db_path:
            return None
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.path.getsize(self._db_path + suffix)
            except OSError:
                pass
        return total
