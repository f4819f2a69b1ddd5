"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.database import close_db, init_db
from db.messages import IngestRepository


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[IngestRepository]:
    """A migrated SQLite database in tmp_path and the ingest repository over it."""
    await init_db(f"sqlite://{tmp_path / 'db.sqlite3'}")
    try:
        yield IngestRepository(str(tmp_path / "db.sqlite3"))
    finally:
        await close_db()
