"""Leases between processes on PostgreSQL (#18), in one process against the module's
cluster: rows taken with FOR UPDATE SKIP LOCKED and the database's clock, a lease not
renewed given up here before it expires there, a session opened only under its
account's lease (the MTProto double never sees one auth key live twice), migrations
of processes starting together serialised. The kill -9 takeover between real
processes: test_workers_takeover.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from db.database import MIGRATION_LOCK_ID, apply_migrations, asyncpg_dsn, close_db, init_db
from db.leases import ACCOUNT, CHANNEL, LeaseStore
from parser.userbot import READY, STANDBY, Userbot
from services.leases import LeaseKeeper, worker_id
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.integration.double_userbot import double_userbot

pytestmark = pytest.mark.timeout(60)

PHONE, CODE = "+15550000001", "12345"


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Any]:
    """The schema (migrations), empty lease tables, and a plain asyncpg connection."""
    import asyncpg

    await init_db(postgres_url)
    await close_db()
    conn = await asyncpg.connect(asyncpg_dsn(postgres_url))
    await conn.execute("TRUNCATE lease, worker")
    try:
        yield conn
    finally:
        await conn.close()


def _store(url: str, seconds: int = 2, host: str = "box") -> LeaseStore:
    return LeaseStore(url, worker_id(host), seconds)


async def _until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_one_holder_at_a_time_by_the_database_clock(postgres_url: str, pg: Any) -> None:
    a, b = _store(postgres_url, host="a"), _store(postgres_url, host="b")
    try:
        assert await a.take(CHANNEL, "7")
        assert await a.take(CHANNEL, "7")  # its own: renewed
        assert not await b.take(CHANNEL, "7")
        assert await b.holder_of(CHANNEL, "7") == a.holder
        row = await pg.fetchrow(
            "SELECT expires_at - heartbeat_at AS span, expires_at > now() AS live FROM lease"
        )
        assert row["span"].total_seconds() == 2 and row["live"]
        # Renewed only while live, and only the leases named.
        assert await a.renew(set()) == set()
        # Expired by the database's clock (its row's time moved back, as if 3 s passed
        # there): free for the next taker, and no longer renewed for the old holder.
        await pg.execute("UPDATE lease SET expires_at = now() - interval '1 second'")
        assert await b.holder_of(CHANNEL, "7") is None
        assert await b.take(CHANNEL, "7")
        from db.leases import HeldLease

        assert await a.renew({HeldLease(CHANNEL, "7")}) == set()
        assert await b.renew({HeldLease(CHANNEL, "7")}) == {HeldLease(CHANNEL, "7")}
        await a.release(CHANNEL, "7")  # not a's: nothing happens
        assert await a.holder_of(CHANNEL, "7") == b.holder
        await b.release(CHANNEL, "7")
        assert await a.holder_of(CHANNEL, "7") is None
    finally:
        await a.close()
        await b.close()


async def test_takers_at_once_get_it_once_and_a_locked_row_is_skipped(
    postgres_url: str, pg: Any
) -> None:
    stores = [_store(postgres_url, host=f"h{i}") for i in range(6)]
    try:
        for key in ("1", "2", "3"):
            won = await asyncio.gather(*(s.take(ACCOUNT, key) for s in stores))
            assert sum(won) == 1, (key, won)
        # A row another process is taking right now (locked) is not waited for.
        async with pg.transaction():
            await pg.execute("SELECT 1 FROM lease WHERE key = '1' FOR UPDATE")
            started = time.monotonic()
            assert not await asyncio.wait_for(stores[0].take(ACCOUNT, "1"), 5)
            assert time.monotonic() - started < 1
    finally:
        for s in stores:
            await s.close()


async def test_a_lease_not_renewed_is_given_up_here_before_it_expires_there(
    postgres_url: str, pg: Any
) -> None:
    """The database stops answering the heartbeat (it hangs): on_lost runs while the
    row is still live, before anyone else could take it; then another takes it."""
    keeper = LeaseKeeper(_store(postgres_url, seconds=2, host="a"), "worker")
    keeper.start()
    other = _store(postgres_url, host="b")
    lost: list[bool] = []

    async def on_lost() -> None:
        lost.append(await pg.fetchval("SELECT expires_at > now() FROM lease WHERE key = '5'"))

    try:
        await asyncio.wait_for(keeper.registered.wait(), 10)
        assert await keeper.take(CHANNEL, "5", on_lost)
        await asyncio.sleep(2.5)  # renewed meanwhile: still held
        assert keeper.holds(CHANNEL, "5") and not lost

        async def hang(*_: Any) -> Any:
            await asyncio.sleep(3600)

        keeper._store.renew = hang  # type: ignore[method-assign]
        await _until(lambda: bool(lost), 5)
        assert lost == [True]  # given up while the row was still live
        assert not keeper.holds(CHANNEL, "5")
        assert not await other.take(CHANNEL, "5")  # not expired there yet
        await asyncio.sleep(1.0)
        assert await other.take(CHANNEL, "5")
    finally:
        await keeper.close()
        await other.close()


async def test_a_closed_keeper_stops_what_it_still_holds_then_gives_it_back(
    postgres_url: str, pg: Any
) -> None:
    keeper = LeaseKeeper(_store(postgres_url, seconds=2), "all")
    keeper.start()
    await asyncio.wait_for(keeper.registered.wait(), 10)
    stopped: list[tuple[str, int]] = []

    def on_lost(kind: str) -> Callable[[], Any]:
        async def lost() -> None:  # the work is stopped while its row still holds it
            stopped.append((kind, await pg.fetchval("SELECT count(*) FROM lease")))

        return lost

    assert await keeper.take(ACCOUNT, "1", on_lost("account"))
    assert await keeper.take(CHANNEL, "3", on_lost("channel"))
    (worker,) = await keeper.workers()
    assert worker.accounts == ("1",) and worker.channels == ("3",)
    assert worker.alive and worker.this and worker.role == "all"
    await keeper.release(CHANNEL, "3")  # its run ended
    await keeper.close()
    assert stopped == [("account", 1)]
    assert await pg.fetchval("SELECT count(*) FROM lease") == 0
    assert await pg.fetchval("SELECT count(*) FROM worker") == 0
    assert not await keeper.take(ACCOUNT, "1", on_lost("account"))  # closed: no more


async def test_migrations_of_processes_starting_together_wait_for_each_other(
    postgres_url: str, pg: Any
) -> None:
    import asyncpg

    holder = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        migrating = asyncio.create_task(apply_migrations(postgres_url))
        await asyncio.sleep(0.5)
        assert not migrating.done()  # another process is migrating: it waits
    finally:
        await holder.close()  # that process ends: the lock goes with its session
    await asyncio.wait_for(migrating, 30)


# -- the userbot under its account's lease --------------------------------------------


def _userbot(server: MTProtoServer, session: str, keeper: LeaseKeeper) -> Userbot:
    return double_userbot(server, session, leases=keeper)


async def test_a_session_opens_only_under_its_lease_and_moves_when_it_is_lost(
    postgres_url: str, pg: Any
) -> None:
    """Two processes' userbots on one stored session: one connects, the other waits as
    standby naming it; the holder cut off from the database closes its client before
    its lease expires, the standby connects after: never two live connections."""
    from telethon.sessions import StringSession

    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    async with MTProtoServer(world) as server:
        async with signed_in_client(server.port, PHONE, CODE) as (client, _me):
            session = StringSession.save(client.session)
        keepers = [
            LeaseKeeper(_store(postgres_url, seconds=2, host=h), "worker") for h in ("a", "b")
        ]
        bots = [_userbot(server, session, k) for k in keepers]
        for k in keepers:
            k.start()
        tasks = [asyncio.create_task(x.run()) for x in bots]
        try:
            await _until(lambda: {b.state for b in bots} == {READY, STANDBY})
            first = next(b for b in bots if b.state == READY)
            second = next(b for b in bots if b is not first)
            held_by = keepers[bots.index(first)]
            assert second.reason == held_by.holder_id.rsplit("/", 1)[0]
            assert server.connections == 1
            await asyncio.sleep(1.5)  # heartbeats go on: nothing moves
            assert first.state == READY and second.state == STANDBY

            async def hang(*_: Any) -> Any:
                await asyncio.sleep(3600)

            # Cut off from the database: neither renewed nor taken again.
            held_by._store.renew = hang  # type: ignore[method-assign]
            held_by._store.take = hang  # type: ignore[method-assign]
            await _until(lambda: second.state == READY, 15)
            assert first.state == STANDBY and first.client is None
            assert server.peak_live_per_key == 1
        finally:
            for b in bots:
                await b.stop()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
            for b in bots:
                await b.close()
            for k in keepers:
                await k.close()
