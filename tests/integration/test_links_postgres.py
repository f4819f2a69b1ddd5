"""The graph's edges on PostgreSQL (issue #17 Must 4 and 6): the cases of
tests/unit/db/test_links.py over asyncpg (arrays, jsonb read back as text,
timestamptz). Skipped, saying why, where there are no server binaries."""

from __future__ import annotations

import pytest

from db.messages import MessageRepository
from tests.integration.pg import truncate
from tests.unit.db import test_links as cases


async def _clean() -> None:
    await truncate("message_link", "job_mark", "channel_alias", "message", "channel")


async def test_links_on_postgres(
    pg_repo: MessageRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _clean()
    await cases.test_store_batch_writes_the_links_and_an_edit_replaces_them(pg_repo)
    await _clean()
    await cases.test_backfill_covers_the_rows_stored_before_and_stops_at_its_end(
        pg_repo, monkeypatch
    )
    await _clean()
    await cases.test_newer_rules_run_the_backfill_again_and_drop_what_they_no_longer_find(
        pg_repo
    )
    await _clean()
    await cases.test_edges_merge_names_count_albums_once_and_follow_the_period(pg_repo)
