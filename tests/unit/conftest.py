"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.database import close_db, init_db
from db.messages import MessageRepository


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[MessageRepository]:
    """A migrated SQLite database in tmp_path and the message repository over it."""
    await init_db(f"sqlite://{tmp_path / 'db.sqlite3'}")
    try:
        yield MessageRepository()
    finally:
        await close_db()
