"""Tortoise's SQLite client with a guard against cancelled bulk writes.

Tortoise 1.1.9 runs `bulk_create` as BEGIN / executemany / COMMIT and rolls back only
on `Exception`. A cancelled task raises `CancelledError` (a BaseException), so the
connection stays inside the open transaction: the next bulk insert fails with "cannot
start a transaction within a transaction" and later single-row writes look successful
but are never committed (tortoise-orm#1757). This client rolls back on any exception.
"""

from __future__ import annotations

from tortoise.backends.sqlite.client import SqliteClient, translate_exceptions


class GuardedSqliteClient(SqliteClient):
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
