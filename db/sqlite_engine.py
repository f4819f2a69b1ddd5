"""Tortoise's SQLite client with a guard against cancelled bulk writes.

Tortoise 1.1.9 runs `bulk_create` as BEGIN / executemany / COMMIT and rolls back only
on `Exception`. A cancelled task raises `CancelledError` (a BaseException), so the
connection stays inside the open transaction: the next bulk insert fails with "cannot
start a transaction within a transaction" and later single-row writes look successful
but are never committed (tortoise-orm#1757). This client rolls back on any exception.

It also keeps track of its open clients so that a signal during start-up can interrupt
a long statement (a migration indexing a big archive) running on aiosqlite's thread:
cancelling the awaiting task does not stop the statement, and every later call on that
connection, the rollback and the close included, queues behind it.

Reads outside a transaction go to a second connection (a database file in WAL mode,
not `:memory:`): Tortoise runs every statement of its one connection under one lock,
and a run's batch holds it for its whole transaction (tens of ms, db/messages.py
store_batch), so each query of /status or /channels waited for a batch while a
backfill ran, and a reply making ten queries waited for ten (#20 P2). WAL lets a reader
go on beside the writer; it sees what was committed when its statement started (a
statement of a transaction still runs on the transaction's connection and sees its own
writes). Only plain SELECT statements go there.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient, translate_exceptions

_OPEN: weakref.WeakSet[GuardedSqliteClient] = weakref.WeakSet()


def interrupt_running() -> int:
    """Abort the statements running on every open SQLite connection of this process
    (they fail with "interrupted"); safe from any thread. How many databases (clients:
    each has its connection and its reader) were open."""
    count = 0
    for client in list(_OPEN):
        found = False
        for conn in (client._connection, client._reader):  # the reader: see above
            raw = getattr(conn, "_connection", None)  # aiosqlite -> sqlite3
            if raw is not None:
                raw.interrupt()
                found = True
        count += found
    return count


def _is_select(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class GuardedSqliteClient(SqliteClient):
    _reader: aiosqlite.Connection | None = None

    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)
        _OPEN.add(self)
        if self._reader is None and self.filename not in ("", ":memory:") and not (
            self.filename.startswith("file:") and "memory" in self.filename
        ):
            reader = await aiosqlite.connect(self.filename, isolation_level=None)
            try:
                reader._conn.row_factory = sqlite3.Row
                await reader.execute("PRAGMA query_only = ON")
                await reader.execute("PRAGMA busy_timeout = 5000")
            except BaseException:
                await reader.close()
                raise
            self._reader = reader

    async def close(self) -> None:
        _OPEN.discard(self)
        reader, self._reader = self._reader, None
        try:
            if reader is not None:
                await reader.close()
        finally:
            await super().close()

    @translate_exceptions
    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, Sequence[dict[str, Any]]]:
        reader = self._reader
        if reader is None or not _is_select(query):
            return await super().execute_query(query, values)
        query = query.replace("\x00", "'||CHAR(0)||'")
        rows = list(await reader.execute_fetchall(query, values))
        return len(rows), rows  # type: ignore[return-value]

    @translate_exceptions
    async def execute_query_dict(
        self, query: str, values: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        reader = self._reader
        if reader is None or not _is_select(query):
            return await super().execute_query_dict(query, values)
        query = query.replace("\x00", "'||CHAR(0)||'")
        return list(map(dict, await reader.execute_fetchall(query, values)))

    @translate_exceptions
    async def execute_many(self, query: str, values: list[list]) -> None:
        async with self.acquire_connection() as connection:
            try:
                await connection.execute("BEGIN")
                await connection.executemany(query, values)
            except BaseException:
                # aiosqlite runs calls in order on its own thread: a cancelled BEGIN or
                # executemany still runs there, and this rollback is queued after it.
                await connection.rollback()
                raise
            await connection.commit()


client_class = GuardedSqliteClient
