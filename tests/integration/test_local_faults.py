"""This machine's trouble at the wrong moment (issue #15, Must 3), in process: the real
fetcher and worker on a real SQLite file that really fills up (`PRAGMA max_page_count`:
SQLite answers SQLITE_FULL, "database or disk is full", exactly as on a full disk) or
that another process really locks (a second connection holding the write lock).

Neither needs a hook in the product: the limit and the lock are SQLite's own. What is
checked: the admins are told the cause (and where to free space), runs wait and try
again on their own once it clears, nothing stored is lost or stored twice, and no run
row is ever left `running`, even when the row's own write is what the database refuses.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from tortoise import connections

from db.database import close_db, init_db
from db.models import Channel, Message, ParseRun
from services.parsing.breaker import CircuitBreaker
from services.parsing.worker import ParseWorker
from tests.unit.parser.history_fakes import FakeClient, history
from tests.unit.services.parsing.fakes import FakeUserbot, real_fetcher, running, sent

N = 3000  # history(N): 2,572 messages


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    """A migrated SQLite file, as the app has it; its path."""
    path = tmp_path / "db.sqlite3"
    await init_db(f"sqlite://{path}")
    try:
        yield path
    finally:
        await close_db()


async def _pragma(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return int(next(iter(rows[0].values()))) if rows else 0


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _statuses(channel_id: int) -> list[str]:
    return [r.status for r in await ParseRun.filter(channel_id=channel_id).order_by("id")]


class PagesThenFull(FakeClient):
    """Fills the database up to its limit once `fill_at` pages were answered: the disk
    fills while the run goes on (another program wrote there)."""

    def __init__(self, on_page: Callable[[int], Awaitable[None]]) -> None:
        super().__init__(history(N))
        self._on_page = on_page

    async def __call__(self, req: object) -> object:
        answer = await super().__call__(req)
        await self._on_page(len(self.requests))
        return answer


async def test_a_disk_filling_up_mid_run_is_told_with_its_cause_and_waited_out(
    db: Path,
) -> None:
    async def fill(page: int) -> None:
        if page == 4:  # three pages are in: from now on nothing more fits
            await _pragma("PRAGMA wal_checkpoint(TRUNCATE)")
            await _pragma(f"PRAGMA max_page_count = {await _pragma('PRAGMA page_count')}")

    userbot = FakeUserbot()
    userbot.client = PagesThenFull(fill)
    async with running(
        real_fetcher(refresh_window_hours=0), userbot, breaker=CircuitBreaker(threshold=1),
        storage_dir=str(db.parent), local_probe_seconds=0.2,
    ) as env:
        sched: ParseWorker = env["sched"]
        ch = await Channel.create(tg_id=777, access_hash=1, username="news", title="News")
        await sched.add_channel(ch.id)
        await _until(lambda: _has(sched))
        assert sched.local is not None and sched.local.error.cause == "disk_full"
        part = await Message.filter(channel_id=ch.id).count()
        assert 0 < part < len(history(N))
        # Still full: probes go on, nothing is told twice, the transport is not blamed.
        await asyncio.sleep(1.0)
        assert env["breaker"].failures == 0
        told = [s for s in sent(env) if s.startswith("💽")]
        assert told == [
            "💽 Parsing News (@news) stopped: the disk is full, free space in "
            f"{db.parent} (OperationalError: database or disk is full). Parsing waits and "
            "tries again every 0 s; it goes on by itself once the cause is gone. Nothing "
            "already stored is lost."
        ], told
        # The run's row is closed at once when the full database still takes that one
        # write (it may, through the WAL), else kept and written once there is room
        # (checked below): a row left `running` is always one the worker still holds.
        async def closed_or_held() -> bool:
            held = await ParseRun.filter(status="running").values_list("id", flat=True)
            return set(held) <= set(sched._unclosed)

        await _until(closed_or_held)
        # Room again: the channel goes on by itself and ends whole, nothing twice.
        await _pragma("PRAGMA max_page_count = 1073741823")
        await _until(lambda: _ok(ch.id))
        msg_ids = await Message.filter(channel_id=ch.id).values_list("msg_id", flat=True)
        assert len(msg_ids) == len(set(msg_ids)) == len(history(N))
        statuses = await _statuses(ch.id)
        assert statuses[0] == "failed" and statuses[-1] == "ok"
        assert set(statuses) <= {"failed", "ok"}
        first = await ParseRun.filter(channel_id=ch.id).order_by("id").first()
        assert first is not None and first.fetched == part
        assert first.error == "OperationalError: database or disk is full"
        assert await ParseRun.filter(status="running").count() == 0
        assert sched.local is None
        cleared = [s for s in sent(env) if s.startswith("✅ The database can be written again")]
        assert cleared == ["✅ The database can be written again (after 1 min); parsing goes on."]
        assert len([s for s in sent(env) if s.startswith("💽")]) == 1
        row = await Channel.get(id=ch.id)
        assert row.backfill_done and row.last_error is None


async def _has(sched: ParseWorker) -> bool:
    return sched.local is not None


async def _ok(channel_id: int) -> bool:
    return "ok" in await _statuses(channel_id)


async def test_a_locked_database_keeps_the_run_row_and_closes_it_once_the_lock_goes(
    db: Path,
) -> None:
    """Another process holds the write lock when the run starts writing: the messages
    and even the run's own row cannot be written. The row is closed as soon as the lock
    goes, then the channel is fetched whole."""
    await _pragma("PRAGMA busy_timeout = 100")
    holder = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    locked = asyncio.Event()

    async def lock(page: int) -> None:
        if page == 2 and not locked.is_set():
            holder.execute("BEGIN IMMEDIATE")  # another process takes the write lock
            locked.set()

    userbot = FakeUserbot()
    userbot.client = PagesThenFull(lock)
    try:
        async with running(
            real_fetcher(refresh_window_hours=0), userbot, storage_dir=str(db.parent),
            local_probe_seconds=0.2,
        ) as env:
            sched: ParseWorker = env["sched"]
            ch = await Channel.create(tg_id=777, access_hash=1, username="news", title="News")
            await sched.add_channel(ch.id)
            await _until(lambda: _has(sched))
            assert sched.local is not None and sched.local.error.cause == "db_locked"
            # The run's row could not be closed either: its close waits, never dropped.
            assert sched._unclosed
            told = [s for s in sent(env) if s.startswith("💽")]
            assert len(told) == 1 and "the database is locked by another process" in told[0]
            assert "News (@news)" in told[0]
            holder.execute("ROLLBACK")  # the other process lets go
            await _until(lambda: _ok(ch.id))
            assert not sched._unclosed
            assert await ParseRun.filter(status="running").count() == 0
            first = await ParseRun.filter(channel_id=ch.id).order_by("id").first()
            assert first is not None and first.status == "failed"
            assert first.error == "OperationalError: database is locked"
            msg_ids = await Message.filter(channel_id=ch.id).values_list("msg_id", flat=True)
            assert len(msg_ids) == len(set(msg_ids)) == len(history(N))
    finally:
        holder.close()
