"""Regression for tortoise-orm#1757: a cancelled bulk_create must not poison later writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from tortoise import Tortoise

from db.config import tortoise_config
from db.database import close_db, init_db, shielded_write
from db.models import Channel, Message

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _count(path: Path, table: str) -> int:
    """Counted from a separate connection: only committed rows are visible."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


async def _cancel_bulk_midway(channel: Channel, yields: int) -> None:
    rows = [Message(channel=channel, msg_id=i, date=NOW, text="x" * 200) for i in range(1, 20001)]

    async def write() -> None:
        await Message.bulk_create(rows, batch_size=100)

    task = asyncio.create_task(write())
    for _ in range(yields):
        await asyncio.sleep(0)
    assert not task.done(), "the bulk write finished before it could be cancelled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _later_writes(channel: Channel) -> None:
    await Message.bulk_create(
        [Message(channel=channel, msg_id=100_000 + i, date=NOW) for i in range(10)]
    )
    await Channel.create(tg_id=2, title="written after the cancel")


@pytest.mark.parametrize("yields", [1, 5, 30])
async def test_writes_after_a_cancelled_bulk_create_are_committed(
    tmp_path: Path, yields: int
) -> None:
    path = tmp_path / "db.sqlite3"
    await init_db(f"sqlite://{path}")
    try:
        channel = await Channel.create(tg_id=1, title="big")
        await _cancel_bulk_midway(channel, yields)
        await _later_writes(channel)
    finally:
        await close_db()
    assert _count(path, "channel") == 2
    # Each chunk of 100 is its own transaction: chunks done before the cancel stay, the
    # one cut short is rolled back whole, and the ten later rows are all there.
    conn = sqlite3.connect(path)
    try:
        early = conn.execute("SELECT count(*) FROM message WHERE msg_id < 100000").fetchone()[0]
        late = conn.execute("SELECT count(*) FROM message WHERE msg_id >= 100000").fetchone()[0]
    finally:
        conn.close()
    assert early % 100 == 0 and early < 20000
    assert late == 10


async def _stock_client_loses_writes(path: Path, yields: int) -> bool:
    await init_db(f"sqlite://{path}")
    await close_db()
    config = tortoise_config(f"sqlite://{path}")
    config["connections"]["default"]["engine"] = "tortoise.backends.sqlite"
    await Tortoise.init(config=config)
    try:
        channel = await Channel.create(tg_id=1, title="big")
        await _cancel_bulk_midway(channel, yields)
        try:
            await _later_writes(channel)
        except Exception as exc:
            assert "within a transaction" in str(exc)
        await Channel.create(tg_id=3, title="looks saved")
    finally:
        await Tortoise.close_connections()
    return _count(path, "channel") < 3


async def test_the_defect_reproduces_on_the_stock_client(tmp_path: Path) -> None:
    """Why the guard exists: the stock Tortoise SQLite client loses the later writes.

    A cancel that happens to land on the COMMIT leaves no transaction open, so a few
    cancel points are tried; the defect must show on at least one.
    """
    lost = [await _stock_client_loses_writes(tmp_path / f"db{n}.sqlite3", n) for n in (5, 8, 13)]
    assert any(lost)


async def test_shielded_write_lands_the_batch_and_reraises_the_cancel(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    await init_db(f"sqlite://{path}")
    try:
        channel = await Channel.create(tg_id=1, title="big")
        rows = [Message(channel=channel, msg_id=i, date=NOW) for i in range(1, 5001)]

        async def ingest() -> None:
            await shielded_write(Message.bulk_create(rows, batch_size=100))

        task = asyncio.create_task(ingest())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await Channel.create(tg_id=2, title="after")
    finally:
        await close_db()
    assert _count(path, "message") == 5000
    assert _count(path, "channel") == 2
