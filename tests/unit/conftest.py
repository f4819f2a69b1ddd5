"""Fixtures shared by the unit tests: THE migrated database.

`db` is the one way a unit test gets a database: a SQLite file in tmp_path, migrated
by db/database.py `init_db` (as the app does at start-up), closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.database import close_db, init_db
from db.messages import MessageRepository


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    """A migrated SQLite database in tmp_path (Tortoise's `default` connection); its path."""
    path = tmp_path / "db.sqlite3"
    await init_db(f"sqlite://{path}")
    try:
        yield path
    finally:
        await close_db()


@pytest.fixture
def repo(db: Path) -> MessageRepository:
    """The message repository over the migrated database."""
    return MessageRepository()
