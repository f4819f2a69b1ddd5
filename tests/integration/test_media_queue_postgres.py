"""The downloader's side of the media queue on PostgreSQL (issue #16): the cases of
tests/unit/db/test_media_queue.py over asyncpg (claims, the done fan-out, counts with
their aggregates).

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pg import truncate
from tests.unit.db import test_media_queue as cases


@pytest.fixture
async def pg(pg_repo: object) -> None:
    """The app's schema on the module's cluster (the queue needs no repository)."""


async def _clean() -> None:
    await truncate("media_download", "media_file", "channel")


async def test_media_queue_cases_on_postgres(pg: None) -> None:
    for case in (
        cases.test_claim_order_due_and_one_per_media_id,
        cases.test_defer_fail_skip_release_requeue_counts,
        cases.test_update_ref_and_an_edited_media,
    ):
        await _clean()
        await case(Path("unused"))
