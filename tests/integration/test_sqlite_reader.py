"""db/sqlite_engine.py: reads outside a transaction do not wait for the writer's lock.

A run's batch holds Tortoise's connection lock for its whole transaction; /status and
/channels read on a second connection meanwhile (#20 P2). Checked with a transaction
kept open until a read has answered: a read waiting for the lock never would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from db.database import close_db, init_db
from db.models import Channel

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def archive(tmp_path: Path) -> AsyncIterator[None]:
    await init_db(f"sqlite://{tmp_path / 'tg.sqlite3'}")
    try:
        yield
    finally:
        await close_db()


async def test_a_read_goes_on_while_a_write_transaction_holds_the_connection(
    archive: None,
) -> None:
    await Channel.create(tg_id=1, access_hash=1, username="before", title="before")
    read_done = asyncio.Event()
    in_tx = asyncio.Event()

    async def writer() -> None:
        async with in_transaction("default"):
            await Channel.create(tg_id=2, access_hash=2, username="during", title="during")
            in_tx.set()
            await read_done.wait()  # the lock is held until the read has answered

    task = asyncio.create_task(writer())
    await in_tx.wait()
    # ORM reads (execute_query) and raw ones (execute_query_dict), outside the
    # transaction: the committed state, not the open transaction's row.
    names = await asyncio.wait_for(
        Channel.all().order_by("id").values_list("username", flat=True), 10
    )
    raw = await asyncio.wait_for(
        connections.get("default").execute_query_dict("SELECT COUNT(*) AS n FROM channel"), 10
    )
    read_done.set()
    await task
    assert names == ["before"] and raw == [{"n": 1}]
    # Committed: the next read sees it; writes outside transactions still work.
    assert await Channel.all().count() == 2
    await Channel.filter(tg_id=1).update(title="renamed")
    assert await Channel.get(tg_id=1).values_list("title", flat=True) == "renamed"


async def test_an_in_memory_database_reads_on_its_one_connection() -> None:
    await init_db("sqlite://:memory:", migrate=False)
    try:
        await Tortoise.generate_schemas()
        await Channel.create(tg_id=1, access_hash=1, username="mem", title="mem")
        assert await Channel.all().count() == 1
        assert connections.get("default")._reader is None
    finally:
        await close_db()
