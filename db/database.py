"""Database lifecycle: connect, apply migrations, close."""

from __future__ import annotations

import logging

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as migrate_api

from db.config import tortoise_config

log = logging.getLogger(__name__)


async def apply_migrations(database_url: str) -> None:
    """Apply every pending migration (Tortoise's built-in migrations)."""
    await migrate_api(config=tortoise_config(database_url))


async def init_db(database_url: str, *, migrate: bool = True) -> None:
    """Connect Tortoise (migrating first unless told not to)."""
    if migrate:
        await apply_migrations(database_url)
        await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(database_url))
    # tortoise.db_client logs query parameters at DEBUG: keep it quiet (secrets).
    logging.getLogger("tortoise").setLevel(max(logging.INFO, logging.getLogger().level))
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")


async def close_db() -> None:
    await Tortoise.close_connections()
