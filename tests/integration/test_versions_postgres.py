"""Edits kept and deletions marked on PostgreSQL (issue #15, Must 7 and 8): the same
cases as tests/unit/db/test_versions.py over asyncpg (arrays, jsonb, timestamptz), plus
an export with the `deleted` column and the versions.

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

from pathlib import Path

from core.archive import ExportFormat, ExportQuery
from db.messages import MessageRepository
from db.models import Channel
from parser.history import message_row
from services.export import export_messages
from tests.integration.pg import truncate
from tests.unit.db import test_versions as cases
from tests.unit.db.test_versions import LATER
from tests.unit.export_fixtures import read_back
from tests.unit.message_fixtures import NOW, tl_message


async def _clean() -> None:
    await truncate("message_version", "message", "channel")


async def test_edits_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_an_edit_keeps_the_previous_version(pg_repo)
    await _clean()
    await cases.test_entities_and_media_are_content_views_and_votes_are_not(pg_repo)
    await _clean()
    await cases.test_a_versions_seen_at_is_when_that_content_was_first_read(pg_repo)


async def test_deletions_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_deletions_are_marked_and_a_post_that_comes_back_is_not(pg_repo)


async def test_export_deleted_and_versions_on_postgres(
    pg_repo: MessageRepository, tmp_path: Path
) -> None:
    await _clean()
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    await pg_repo.store_batch(
        ch.id, [message_row(ch.id, tl_message(i, f"m{i}"), NOW) for i in (1, 2)], 2, 2
    )
    edit = [message_row(ch.id, tl_message(1, "m1 fixed", edit_date=LATER), LATER)]
    await pg_repo.store_batch(ch.id, edit, 1, 0)
    await pg_repo.mark_deleted(ch.id, [2], LATER)
    query = ExportQuery(channel_id=ch.id, versions=True)
    result = await export_messages(query, ExportFormat.JSONL, tmp_path / "j", "x", 2**25)
    rows = {r["msg_id"]: r for p in result.files for r in read_back(p)}
    assert rows[2]["deleted"] == LATER.isoformat() and rows[1]["deleted"] is None
    (old,) = rows[1]["versions"]  # type: ignore[misc]
    assert old["text"] == "m1" and old["seen_at"] == NOW.isoformat()
    assert old["replaced_at"] == LATER.isoformat() and rows[2]["versions"] is None
