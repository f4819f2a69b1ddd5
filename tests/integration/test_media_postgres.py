"""The media download queue written with the messages on PostgreSQL (issue #16): the
cases of tests/unit/db/test_media.py over asyncpg (arrays, booleans, the upsert).

Starts a throwaway PostgreSQL cluster (tests/integration/test_postgres.py's fixture);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from db.database import close_db, init_db
from db.messages import MessageRepository
from tests.integration.test_postgres import postgres_url  # noqa: F401 (the fixture)
from tests.unit.db import test_media as cases


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
        "TRUNCATE media_download, media_file, message_version, message, channel"
        " RESTART IDENTITY CASCADE"
    )


async def test_media_queue_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_new_files_are_queued_skipped_over_the_cap_or_linked_at_once(pg_repo)
    await _clean()
    await cases.test_a_re_read_refreshes_the_location_and_edited_media_is_queued_again(pg_repo)
    await _clean()
    await cases.test_a_new_policy_applies_to_the_files_not_fetched_yet(pg_repo)
