"""An archive stored on PostgreSQL before migration 0016 becomes searchable after it:
every stored row is queued once, and the search-index component writes their vectors
in the background, newest first, while searches say how many are not searchable yet."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from db.config import tortoise_config
from db.database import close_db, init_db
from db.messages import MessageRepository
from db.models import Channel
from db.search import pending_index, search_messages
from parser.history import message_row
from services.search_index import SearchIndexRebuild
from tests.unit.message_fixtures import tl_message

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_an_archive_stored_before_0016_is_indexed_after_the_upgrade(
    postgres_url: str,
) -> None:
    await migrate(config=tortoise_config(postgres_url), target="tg_parser.0015_stats_rollup")
    await Tortoise.close_connections()
    await init_db(postgres_url, migrate=False)
    try:
        ch = await Channel.create(tg_id=801, access_hash=1, username="old")
        rows = [
            message_row(ch.id, tl_message(i, f"Паводок на реке {i}"), NOW) for i in range(1, 701)
        ]
        await MessageRepository().store_batch(ch.id, rows, cursor=700, new_rows=700)
    finally:
        await close_db()

    await init_db(postgres_url)  # migrates to 0016 and on
    try:
        assert await pending_index() == 700
        page = await search_messages("реки")
        # The search indexed the newest 500 itself and says 200 are not searchable yet.
        assert (page.total, page.unindexed) == (500, 200)
        assert page.hits[0].msg_id == 700
        rebuild = SearchIndexRebuild(chunk=64, target_seconds=None)
        assert await rebuild.rebuild(200) == 200
        assert await pending_index() == 0 and rebuild.progress() is None
        page = await search_messages("паводок реку")
        assert (page.total, page.unindexed) == (700, 0)
    finally:
        await close_db()
