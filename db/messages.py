"""The message table: batches of fetched messages stored together with the channel cursor.

The hot path avoids ORM objects: rows are plain tuples written with raw
`INSERT ... ON CONFLICT (channel_id, msg_id) DO UPDATE` statements (SQLite: a few
multi-row VALUES statements per batch; PostgreSQL: one over one array per column), in
the same transaction as the cursor update and (SQLite) the full-text indexing of the
new rows, so a crash can never leave the cursor ahead of the rows it covers (nor
duplicate them: the key is (channel, msg_id)).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.parsing import COLUMNS, MSG_ID, Row
from core.words import message_terms
from db.counters import history_spans, snapshot_pg, snapshot_sqlite
from db.links import links_pg, links_sqlite
from db.media import MediaBatch, enqueue_pg, enqueue_sqlite
from db.models import Message
from db.versions import (
    CONTENT_SEEN_PG,
    CONTENT_SEEN_SQLITE,
    SAVE_VERSIONS_PG,
    SAVE_VERSIONS_SQLITE,
    SELECT_CONTENT_PG,
    SELECT_CONTENT_SQLITE,
    changed_ids,
)

__all__ = ["COLUMNS", "INDEX_PENDING", "MessageRepository", "Row", "database_size"]

# What a re-read (refresh window) may change. Not `fetched_at`: it is when the row's
# current content was first read (set on insert, and by store_batch when an edit is
# found), so a version's seen_at says since when the archive had that content.
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
    "content_text",
    "action",
)
_JSON_COLS = {"entities", "reactions", "media", "fwd_from", "action"}
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
    "content_text": "text",
    "action": "text",
}

_TEXT, _CONTENT = COLUMNS.index("text"), COLUMNS.index("content_text")

# Indexes the terms of every message above fts_state.indexed_to, then moves the mark.
# Run both in one transaction (message ids are AUTOINCREMENT: a new row is always above
# the mark). A row without terms yet goes in as an empty document; the trigger on
# `terms` (migration 0006) re-indexes it when they are written.
INDEX_PENDING = (
    "INSERT INTO message_fts(rowid, terms) SELECT id, terms FROM message"
    " WHERE id > (SELECT indexed_to FROM fts_state WHERE id = 1)",
    "UPDATE fts_state SET indexed_to ="
    " (SELECT COALESCE(MAX(m.id), fts_state.indexed_to) FROM message m) WHERE id = 1",
)


# A message Telegram returns again exists: a deletion seen earlier is undone.
_ON_CONFLICT = "ON CONFLICT (channel_id, msg_id) DO UPDATE SET " + ", ".join(
    [*(f"{c} = excluded.{c}" for c in _UPDATED), "deleted_at = NULL"]
)


def _upsert_pg() -> str:
    # One statement per batch: $1 = channel_id, $2 = fetched_at, then one array per
    # other column (asyncpg encodes arrays in C; an executemany binds and executes row
    # by row on the event loop). JSON travels as text.
    inner = COLUMNS[1:-1]
    arrays = ", ".join(f"${i}::{_PG_TYPES[c]}[]" for i, c in enumerate(inner, 3))
    picks = ", ".join(f"u.{c}::jsonb" if c in _JSON_COLS else f"u.{c}" for c in inner)
    return (
        f"INSERT INTO message ({', '.join(COLUMNS)}) "
        f"SELECT $1, {picks}, $2 FROM unnest({arrays}) AS u({', '.join(inner)}) "
        f"{_ON_CONFLICT}"
    )


_UPSERT_PG = _upsert_pg()


# SQLite: the rows of a batch go in as multi-row `INSERT ... VALUES (...), (...)`
# statements of fixed sizes, so the statement cache holds a few prepared statements and
# each one is bound in C and stepped once (sqlite3 releases the GIL for the step).
# Measured against the earlier one statement over a JSON array (`json_each` +
# `value ->> i` per column, the rows json.dumps'ed on the way) with
# bench/bench_ingest.py's 100k batches replayed: 8.7 against 16.3 us of the database
# thread's CPU a row; the JSON path spent ~6 us a row extracting columns.
# The sizes are whole pages first (getHistory's 100; the ingest's batches are mostly
# whole pages, so a batch is usually ONE statement), then powers of two for the rest (a
# batch of 385 rows: 300 + 64 + 16 + 4 + 1). Each statement is a hand-over of the GIL:
# while the event loop decodes, the database thread waits up to the switch interval
# (5 ms) to take it back, so statements cost time, not CPU (bench/bench_ingest.py:
# with chunks of at most 256 rows a batch of ~800 rows took 6 of them).
# Datetimes are bound as Unix times and written the way sqlite3's adapter writes them
# ("2026-01-02 03:04:05+00:00"; Telegram's times are whole seconds).
_SQLITE_CHUNKS = (*range(1200, 0, -100), 64, 32, 16, 8, 4, 2, 1)
_SQLITE_COLUMNS = (*COLUMNS, "terms")
_DATE, _EDIT_DATE = COLUMNS.index("date"), COLUMNS.index("edit_date")


def _sqlite_row_sql() -> str:
    cells = (
        "strftime('%Y-%m-%d %H:%M:%S+00:00', ?, 'unixepoch')" if c in _TIME_COLS else "?"
        for c in _SQLITE_COLUMNS
    )
    return f"({', '.join(cells)})"


class _SqliteUpsert:
    """The statements and parameters of one batch's upsert (SQLite)."""

    def __init__(self) -> None:
        self._head = f"INSERT INTO message ({', '.join(_SQLITE_COLUMNS)}) VALUES "
        self._tail = f" {_ON_CONFLICT}, terms = excluded.terms"
        self._row = _sqlite_row_sql()
        self._sql: dict[int, str] = {}
        self._chunks: tuple[int, ...] | None = None

    def _statement(self, size: int) -> str:
        sql = self._sql.get(size)
        if sql is None:
            sql = self._sql[size] = self._head + ", ".join([self._row] * size) + self._tail
        return sql

    def chunks(self, raw: sqlite3.Connection) -> tuple[int, ...]:
        if self._chunks is None:
            # A build with a low host-parameter limit (999 before SQLite 3.32) gets
            # smaller statements.
            limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            cols = len(_SQLITE_COLUMNS)
            self._chunks = tuple(k for k in _SQLITE_CHUNKS if k * cols <= limit)
        return self._chunks

    def run(self, raw: sqlite3.Connection, rows: list[Row], terms: list[str]) -> None:
        """Upsert `rows` (COLUMNS order) with their `terms`, in the caller's transaction."""
        fetched = str(rows[0][-1])  # one fetched_at per batch
        i, n = 0, len(rows)
        for size in self.chunks(raw):
            while n - i >= size:
                params: list[Any] = []
                add = params.extend
                for r, t in zip(rows[i : i + size], terms[i : i + size], strict=True):
                    edited = r[_EDIT_DATE]
                    add(
                        (
                            *r[:_DATE],
                            r[_DATE].timestamp(),
                            *r[_DATE + 1 : _EDIT_DATE],
                            None if edited is None else edited.timestamp(),
                            *r[_EDIT_DATE + 1 : -1],
                            fetched,
                            t,
                        )
                    )
                raw.execute(self._statement(size), params)
                i += size


class MessageRepository:
    """The only place that writes fetched messages (and moves the cursor with them)."""

    def __init__(
        self,
        *,
        snapshot_horizon: timedelta | None = None,
        history_ages: Sequence[timedelta] = (),
        refresh_window: timedelta = timedelta(0),
    ) -> None:
        """`snapshot_horizon`: messages younger than this get their counters kept as a
        series (db/counters.py; the largest SNAPSHOT_AGES plus the refresh window);
        None: no series. `history_ages`: the SNAPSHOT_AGES shorter than
        `refresh_window` (REFRESH_WINDOW_HOURS), marked on the reads of the history
        (db/counters.py `history_spans`); longer ones are ignored."""
        self._dialect: str | None = None  # the connection's, at the first store
        self._sqlite = _SqliteUpsert()
        self._horizon = snapshot_horizon
        self._spans = history_spans(history_ages, refresh_window)

    def _young_since(self) -> datetime | None:
        if self._horizon is None:
            return None
        return datetime.now(UTC) - self._horizon

    def _conn(self) -> Any:
        conn = connections.get("default")
        if self._dialect is None:
            self._dialect = conn.capabilities.dialect
        return conn

    # -- the hot path -------------------------------------------------------------------

    async def store_batch(
        self,
        channel_id: int,
        rows: list[Row],
        cursor: int,
        new_rows: int,
        media: MediaBatch | None = None,
    ) -> None:
        """Upsert `rows` and move the channel's cursor to `cursor`, in one transaction;
        `media`: the files of these messages to queue for download, in the same
        transaction (db/media.py: one statement; None or no refs: none).

        `rows` are in ascending msg_id order; `new_rows` counts the rows above the
        previous cursor (the last `new_rows` of them): those cannot exist yet, because
        rows and cursor always commit together, so they take the fast path. The rows
        before them are re-reads (the refresh window): where one's content changed
        (db/versions.py `changed_ids`), the stored content is first copied into
        message_version (seen_at its old fetched_at: when that content was first
        read; replaced_at this batch's fetched_at), and the row's fetched_at becomes
        this batch's (its new content's first read), in the same transaction. A
        re-read row clears `deleted_at`.
        """
        conn = self._conn()
        rereads = rows[: len(rows) - new_rows] if new_rows < len(rows) else []
        if self._dialect == "sqlite":
            await self._store_sqlite(conn, channel_id, rows, cursor, new_rows, rereads, media)
            return
        young_since = self._young_since()
        async with in_transaction("default") as tx:
            changed: list[int] = []
            if rereads:
                ids = [r[MSG_ID] for r in rereads]
                _, stored = await tx.execute_query(SELECT_CONTENT_PG, [channel_id, ids])
                changed = changed_ids((tuple(s.values()) for s in stored), rereads)
                if changed:
                    await tx.execute_query(
                        SAVE_VERSIONS_PG, [channel_id, changed, rows[0][-1]]
                    )
                    await tx.execute_query(
                        CONTENT_SEEN_PG, [channel_id, changed, rows[0][-1]]
                    )
            if rows:
                await snapshot_pg(
                    tx, channel_id, rows, rows[0][-1], young_since, self._spans
                )
                columns = [list(c) for c in zip(*(r[1:-1] for r in rows), strict=True)]
                await tx.execute_query(_UPSERT_PG, [rows[0][0], rows[0][-1], *columns])
                await links_pg(tx, channel_id, rows, changed)
                if media is not None:
                    await enqueue_pg(tx, channel_id, media, rows[0][-1])
            await tx.execute_query(
                "UPDATE channel SET cursor = GREATEST(cursor, $1), "
                "messages_count = messages_count + $2 WHERE id = $3",
                [cursor, new_rows, channel_id],
            )

    async def _store_sqlite(
        self,
        conn: Any,
        channel_id: int,
        rows: list[Row],
        cursor: int,
        new_rows: int,
        rereads: list[Row],
        media: MediaBatch | None = None,
    ) -> None:
        """The whole transaction in ONE hop to aiosqlite's thread, under Tortoise's lock.

        The rows go in as a few multi-row statements (`_SqliteUpsert`): sqlite3
        releases the GIL for each statement it steps, and an executemany steps once
        per row, so the database thread had to win the GIL back from the busy event
        loop a thousand times per transaction (the ingest rate halved). Now it holds
        the GIL only to stem the words (core.words.terms: the index holds stems) and
        to bind the parameters (in C), then SQLite inserts, indexes and commits
        without it while the loop decodes the next pages. Stemming here rather
        than on the loop keeps the bot responsive: the loop gets the GIL back every
        switch interval instead of waiting for a whole batch. Once queued, the function
        runs to its end even if this task is cancelled.
        """
        upsert = self._sqlite
        young_since = self._young_since()

        def write(raw: sqlite3.Connection) -> None:
            raw.execute("BEGIN")
            try:
                changed: list[int] = []
                if rereads:  # never on the path of new rows
                    ids = json.dumps([r[MSG_ID] for r in rereads])
                    stored = raw.execute(SELECT_CONTENT_SQLITE, (channel_id, ids)).fetchall()
                    changed = changed_ids(stored, rereads)
                    if changed:
                        seen = (channel_id, json.dumps(changed), str(rows[0][-1]))
                        raw.execute(SAVE_VERSIONS_SQLITE, seen)
                        raw.execute(CONTENT_SEEN_SQLITE, seen)
                if rows:
                    snapshot_sqlite(
                        raw, channel_id, rows, rows[0][-1], young_since, self._spans
                    )
                    terms = [message_terms(r[_TEXT] or "", r[_CONTENT] or "") for r in rows]
                    upsert.run(raw, rows, terms)
                    links_sqlite(raw, channel_id, rows, changed)
                    if media is not None:
                        enqueue_sqlite(raw, channel_id, media, str(rows[0][-1]))
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

    # -- what a run reads -------------------------------------------------------------

    async def refresh_from_id(self, channel_id: int, since: datetime) -> int | None:
        """The oldest stored post id dated at or after `since` (refresh window start)."""
        row = (
            await Message.filter(channel_id=channel_id, date__gte=since, comment_of=None)
            .order_by("msg_id")
            .first()
            .values_list("msg_id", flat=True)
        )
        return int(row) if row is not None else None  # type: ignore[call-overload,no-any-return]

    async def stored_above(self, channel_id: int, min_id: int) -> int:
        """How many of the channel's posts above `min_id` are stored (a run re-reads them)."""
        return await Message.filter(
            channel_id=channel_id, msg_id__gt=min_id, comment_of=None
        ).count()

    async def live_ids(self, channel_id: int, after: int, upto: int) -> list[int]:
        """The msg_ids of the channel's stored posts (comments aside) with
        `after < msg_id <= upto` not marked deleted, ascending."""
        ids = (
            await Message.filter(
                channel_id=channel_id,
                msg_id__gt=after,
                msg_id__lte=upto,
                comment_of=None,
                deleted_at=None,
            )
            .order_by("msg_id")
            .values_list("msg_id", flat=True)
        )
        return [int(i) for i in ids]  # type: ignore[call-overload]

    async def newest_live_id(self, channel_id: int) -> int:
        """The id of the channel's newest stored post (comments aside) not marked
        deleted; 0 when there is none."""
        newest = (
            await Message.filter(channel_id=channel_id, comment_of=None, deleted_at=None)
            .order_by("-msg_id")
            .first()
            .values_list("msg_id", flat=True)
        )
        return int(newest) if newest is not None else 0  # type: ignore[call-overload]

    async def mark_deleted(self, channel_id: int, ids: list[int], at: datetime) -> int:
        """Mark the channel's posts `ids` deleted at `at` (those not marked yet); the rows
        and their versions stay. How many were marked."""
        if not ids:
            return 0
        return await Message.filter(
            channel_id=channel_id, msg_id__in=ids, comment_of=None, deleted_at=None
        ).update(deleted_at=at)

    async def last_comment_id(self, discussion_id: int, post_id: int) -> int:
        """The id of the newest stored comment of post `post_id` (0: none), stored under
        the discussion group's row `discussion_id`."""
        last = (
            await Message.filter(channel_id=discussion_id, comment_of=post_id)
            .order_by("-msg_id")
            .first()
            .values_list("msg_id", flat=True)
        )
        return int(last) if last is not None else 0  # type: ignore[call-overload,no-any-return]


def database_size(db_path: str | None) -> int | None:
    """Bytes of the SQLite file at `db_path` and its WAL; None without a file
    (PostgreSQL)."""
    if not db_path:
        return None
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(db_path + suffix)
        except OSError:
            pass
    return total
