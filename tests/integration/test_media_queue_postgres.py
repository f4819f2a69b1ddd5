"""The downloader's side of the media queue on PostgreSQL (issue #16): the cases of
tests/unit/db/test_media_queue.py over asyncpg (claims, the done fan-out, counts with
their aggregates).

Starts a throwaway PostgreSQL cluster (tests/integration/test_postgres.py's fixture);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.database import close_db, init_db
from tests.integration.test_postgres import postgres_url  # noqa: F401 (the fixture)
from tests.unit.db import test_media_queue as cases


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[None]:  # noqa: F811
    await init_db(postgres_url)
    try:
        yield
    finally:
        await close_db()


async def _clean() -> None:
    from tortoise import connections

    await connections.get("default").execute_script(
        "TRUNCATE media_download, media_file, channel RESTART IDENTITY CASCADE"
    )


async def test_media_queue_cases_on_postgres(pg: None) -> None:
    for case in (
        cases.test_claim_order_due_and_one_per_media_id,
        cases.test_defer_fail_skip_release_requeue_counts,
        cases.test_update_ref_and_an_edited_media,
    ):
        await _clean()
        await case(Path("unused"))
