"""Fixtures shared by the unit tests: THE migrated database.

`db` is the one way a unit test gets a database: a SQLite file in tmp_path, migrated
by db/database.py `init_db` (as the app does at start-up), closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.redaction import REDACTOR
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


@pytest.fixture(autouse=True)
def _secrets_forgotten() -> Iterator[None]:
    """Secrets a test registers for redaction (login codes, session strings) are
    forgotten after it: the registry is process-wide."""
    with REDACTOR.scoped():
        yield
