"""Edits kept and deletions marked on PostgreSQL (issue #15, Must 7 and 8): the same
cases as tests/unit/db/test_versions.py over asyncpg (arrays, jsonb, timestamptz), plus
an export with the `deleted` column and the versions.

Starts a throwaway PostgreSQL cluster (tests/integration/test_postgres.py's fixture);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from db.database import close_db, init_db
from db.messages import MessageRepository
from tests.integration.test_postgres import postgres_url  # noqa: F401 (the fixture)
from tests.unit.db import test_versions as cases


@pytest.fixture
async def pg_repo(postgres_url: str) -> AsyncIterator[MessageRepository]:  # noqa: F811
    await init_db(postgres_url)
    try:
        yield MessageRepository()
    finally:
        await close_db()


async def _clean() -> None:
    from tortoise import connections

    await connections.get("default").execute_script(
        "TRUNCATE message_version, message, channel RESTART IDENTITY CASCADE"
    )


async def test_edits_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_an_edit_keeps_the_previous_version(pg_repo)
    await _clean()
    await cases.test_entities_and_media_are_content_views_and_votes_are_not(pg_repo)


async def test_deletions_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_deletions_are_marked_and_a_post_that_comes_back_is_not(pg_repo)
