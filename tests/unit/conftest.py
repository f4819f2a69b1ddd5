"""Fixtures shared by the unit tests: THE migrated database.

`db` is the one way a unit test gets a database: a SQLite file in tmp_path, migrated
by db/database.py `init_db` (as the app does at start-up), closed after the test.
Migrating from nothing takes 0.7-2 s, and hundreds of tests ask for a database: each
worker migrates one file once and every test starts from a copy of it (init_db then
finds every migration applied). Migrating from nothing, and over an old archive
(tests/old_archive.py), is what every end-to-end start and the migration tests do.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.redaction import REDACTOR
from db.database import close_db, init_db
from db.messages import MessageRepository

_migrated: list[Path] = []  # this worker's freshly migrated database, once made


async def _template(factory: pytest.TempPathFactory) -> Path:
    if not _migrated:
        path = factory.mktemp("migrated") / "db.sqlite3"
        await init_db(f"sqlite://{path}")
        await close_db()  # the last connection's close folds the WAL into the file
        _migrated.append(path)
    return _migrated[0]


@pytest.fixture
async def db(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path]:
    """A migrated SQLite database in tmp_path (Tortoise's `default` connection); its path."""
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(await _template(tmp_path_factory), path)
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
