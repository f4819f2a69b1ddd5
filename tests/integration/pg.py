"""Emptying tables between the cases a PostgreSQL module replays from the SQLite unit
tests (the cluster and the schema: tests/integration/conftest.py)."""

from __future__ import annotations


async def truncate(*tables: str) -> None:
    """Empty `tables` (and what references them), ids from 1 again."""
    from tortoise import connections

    await connections.get("default").execute_script(
        f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"
    )
