"""An archive stored before stemmed search: migration 0006, then the background rebuild.

The archive is made at migration 0005 (words in `text`, no terms), migrated to the end
as the app does at start, then stemmed by SearchIndexRebuild in small transactions
while other database users get through between them; progress is reported and the
FTS5 index stays exact (integrity-check) before, during and after.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import connections

from core.archive import IndexProgress
from db.database import close_db, init_db
from db.search import fill_index, pending_index, search_messages
from services.archive import ArchiveService
from services.search_index import SearchIndexRebuild
from tests.old_archive import migrate_to

OLD_TEXTS = [
    "В Москве прошли выборы",
    "Москва готовится к выборам",
    "Ёлка на площади",
    "Elections were held",
    "Результаты выборов",
] * 5  # 25 posts


def _archive_at_0005(path: Path) -> None:
    migrate_to(path, "0005_content")
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO channel (tg_id, username, title, kind, status, cursor, history_mode,"
        " backfill_done, comments_enabled, messages_count, added_at) VALUES (1, 'old',"
        " 'Old', 'channel', 'active', 0, 'all', 1, 0, 0, '2026-01-01')"
    )
    conn.executemany(
        "INSERT INTO message (channel_id, msg_id, date, text, fetched_at)"
        " VALUES (1, ?, '2026-01-01 00:00:00+00:00', ?, '2026-01-01 00:00:00+00:00')",
        list(enumerate(OLD_TEXTS, 1)),
    )
    conn.commit()
    conn.close()


@pytest.fixture
async def old_archive(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "old.sqlite3"
    _archive_at_0005(path)
    await init_db(f"sqlite://{path}")  # migrates 0006 as the app's start does
    try:
        yield path
    finally:
        await close_db()


async def _integrity_ok() -> None:
    await connections.get("default").execute_query(
        "INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"
    )


async def test_the_rebuild_stems_an_old_archive_with_progress(old_archive: Path) -> None:
    assert await pending_index() == 25
    await _integrity_ok()  # the old rows are in the index, as empty documents
    seen: list[IndexProgress | None] = []
    rebuild = SearchIndexRebuild(chunk=4, target_seconds=None)
    archive = ArchiveService(50, index=rebuild)

    async def fill(limit: int) -> int:
        seen.append(archive.index_progress())
        n = await fill_index(limit)
        await _integrity_ok()  # exact after every transaction
        return n

    rebuild._fill = fill
    assert await rebuild.rebuild(25) == 25
    assert archive.index_progress() is None  # done
    progress = [p for p in seen if p is not None]
    assert [p.done for p in progress] == [0, 4, 8, 12, 16, 20, 24]
    assert all(p.total == 25 for p in progress)
    assert progress[3].percent == 48
    assert await pending_index() == 0
    assert (await search_messages("москва", 0, 50)).total == 10
    assert (await search_messages("выборы", 0, 50)).total == 15
    assert (await search_messages("елка", 0, 50)).total == 5
    assert (await search_messages("election", 0, 50)).total == 5


async def test_other_database_users_get_through_between_chunks(old_archive: Path) -> None:
    order: list[str] = []
    rebuild = SearchIndexRebuild(chunk=2, target_seconds=None)

    async def fill(limit: int) -> int:
        n = await fill_index(limit)
        order.append("chunk")
        return n

    async def query() -> None:
        await asyncio.sleep(0)
        await pending_index()
        order.append("query")

    rebuild._fill = fill
    await asyncio.gather(rebuild.rebuild(25), query())
    assert order.index("query") < len(order) - 3, order  # long before the rebuild ended


async def test_the_component_runs_until_stopped_and_picks_up_new_rows(
    old_archive: Path,
) -> None:
    rebuild = SearchIndexRebuild(chunk=10, idle_seconds=0.05)
    task = asyncio.create_task(rebuild.run())
    try:
        for _ in range(200):
            if await pending_index() == 0:
                break
            await asyncio.sleep(0.02)
        assert await pending_index() == 0
        # Another path edits a post without its terms: stemmed again within idle_seconds.
        await connections.get("default").execute_query(
            "UPDATE message SET text = 'снегопад в Москве' WHERE msg_id = 3"
        )
        assert await pending_index() == 1
        for _ in range(200):
            if await pending_index() == 0:
                break
            await asyncio.sleep(0.02)
        assert (await search_messages("снегопады")).total == 1
    finally:
        await rebuild.stop()
        await asyncio.wait_for(task, 5)


async def test_the_chunk_follows_the_time_a_transaction_takes() -> None:
    sizes: list[int] = []
    now = [0.0]
    left = [100_000]

    async def fill(limit: int) -> int:
        sizes.append(limit)
        now[0] += limit * 0.0001  # 0.1 ms a row: 500 rows make the 50 ms target
        n = min(limit, left[0])
        left[0] -= n
        return n

    async def pending() -> int:
        return left[0]

    rebuild = SearchIndexRebuild(chunk=1000, fill=fill, pending=pending, clock=lambda: now[0])
    assert await rebuild.rebuild(100_000) == 100_000
    assert sizes[0] == 1000 and set(sizes[1:-1]) == {500}


async def test_rows_a_search_stems_count_in_the_rebuild_progress(old_archive: Path) -> None:
    """Searches during the rebuild stem some rows themselves (db.search.SEARCH_FILL):
    the progress counts them, so it reaches the total (it stopped at 80% before)."""
    seen: list[IndexProgress] = []
    rebuild = SearchIndexRebuild(chunk=4, target_seconds=None)

    async def fill(limit: int) -> int:
        p = rebuild.progress()
        if p is not None:
            seen.append(p)
        await fill_index(3)  # a /search between two chunks stems 3 rows itself
        return await fill_index(limit)

    rebuild._fill = fill
    assert await rebuild.rebuild(25) == 25
    assert [p.done for p in seen] == [0, 7, 14, 21]
    assert seen[-1].percent == 84 and all(p.total == 25 for p in seen)
    assert await pending_index() == 0
