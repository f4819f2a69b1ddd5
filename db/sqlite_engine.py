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
"""

from __future__ import annotations

import weakref

from tortoise.backends.sqlite.client import SqliteClient, translate_exceptions

_OPEN: weakref.WeakSet[GuardedSqliteClient] = weakref.WeakSet()


def interrupt_running() -> int:
    """Abort the statements running on every open SQLite connection of this process
    (they fail with "interrupted"); safe from any thread. How many were open."""
    count = 0
    for client in list(_OPEN):
        raw = getattr(client._connection, "_connection", None)  # aiosqlite -> sqlite3
        if raw is not None:
            raw.interrupt()
            count += 1
    return count


class GuardedSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)
        _OPEN.add(self)

    async def close(self) -> None:
        _OPEN.discard(self)
        await super().close()

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
