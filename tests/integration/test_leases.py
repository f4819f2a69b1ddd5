"""Leases between processes on PostgreSQL (#18), in one process against the module's
cluster: rows taken with FOR UPDATE SKIP LOCKED and the database's clock, a lease not
renewed given up here before it expires there, a session opened only under its
account's lease (the MTProto double never sees one auth key live twice), migrations
of processes starting together serialised; and, between real processes, the kill -9
takeover (last: one cluster for the module)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from db.database import MIGRATION_LOCK_ID, apply_migrations, asyncpg_dsn, close_db, init_db
from db.leases import ACCOUNT, CHANNEL, LeaseStore
from parser.userbot import READY, STANDBY, Userbot
from services.leases import LeaseKeeper, worker_id
from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.e2e.harness import ADMIN_ID, BOT_TOKEN, ROOT, app_env
from tests.integration.double_userbot import double_userbot
from tests.integration.double_userbot import until as _until

pytestmark = pytest.mark.timeout(120)

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


async def test_accounts_spread_over_the_parser_processes_by_fair_share(
    postgres_url: str, pg: Any
) -> None:
    """Four accounts: a process alone takes them all; once a second parser process
    beats, each one's share is ceil(4 / 2) = 2, so the first gives two back (the keeper
    closes their clients first) and the second takes them; a bot-only process does
    not count."""
    await pg.execute("DELETE FROM account")
    for i in range(4):
        await pg.execute(
            "INSERT INTO account (phone, user_id, status, session_ciphertext, created_at,"
            " updated_at) VALUES ($1, $2, 'active', 'x', now(), now())",
            f"+1555000010{i}", 900 + i,
        )
    keys = [str(r["id"]) for r in await pg.fetch("SELECT id FROM account ORDER BY id")]
    first = LeaseKeeper(_store(postgres_url, seconds=2, host="a"), "worker")
    second = _store(postgres_url, seconds=2, host="b")
    bot = _store(postgres_url, seconds=2, host="c")
    closed: list[str] = []
    try:
        first.start()
        await asyncio.wait_for(first.registered.wait(), 10)
        for key in keys:

            async def lost(key: str = key) -> None:
                closed.append(key)

            assert await first.take(ACCOUNT, key, lost)
        # At its share, an account lease it holds is still its own to take again (a
        # session reconnecting: before, it stood by behind itself for good).
        assert await first.take(ACCOUNT, keys[0], _noop)
        await bot.register("c", 3, "bot")
        assert await first._store.excess_accounts() == 0  # the bot is not a worker
        await second.register("b", 2, "worker")
        assert not await second.take(ACCOUNT, keys[0])  # held
        await _until(lambda: len(closed) == 2, 10)  # given back at a heartbeat
        assert sorted(closed) == sorted(keys[2:])  # the last taken first
        assert [await second.take(ACCOUNT, k) for k in keys[2:]] == [True, True]
        assert await second.excess_accounts() == 0
        spare = await pg.fetchval(
            "SELECT count(*) FROM lease WHERE kind = 'account' AND holder = $1",
            first.holder_id,
        )
        assert spare == 2
    finally:
        await first.close()
        await second.close()
        await bot.close()


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


# -- kill -9 of the worker reading a channel: real processes ----------------------------
#
# Two `tg-parser worker` processes share the module's cluster, LEASE_SECONDS=2; one
# account, one channel read page by page. The worker holding the account is killed
# mid-backfill: the other takes the account and the run after the leases expire and
# finishes it, every message stored once, and the MTProto double never sees the
# session's auth key on two live connections. (Each process costs its start, ~2 s of
# imports on an idle machine: the bot's side of /status is tested in one process.)
MESSAGES = 2000  # 20 history pages
PAGE_WAIT = "0.25"  # FETCH_WAIT_SECONDS: the backfill lasts ~5 s


async def _seed(url: str, keys: str, server: MTProtoServer, channel: Any) -> int:
    from telethon.sessions import StringSession

    from db.accounts import AccountRepository
    from db.models import Channel as ChannelModel
    from db.vault import SessionVault

    async with signed_in_client(server.port, PHONE, CODE) as (client, me):
        session = StringSession.save(client.session)
    await init_db(url)
    try:
        await AccountRepository(SessionVault([keys])).save_session(
            session, phone=PHONE, user_id=me.id, display_name="Ann", username=None
        )
        row = await ChannelModel.create(
            tg_id=channel.id, access_hash=channel.access_hash, username=channel.username,
            title=channel.title,
        )
        return int(row.id)
    finally:
        await close_db()


async def _spawn(env: dict[str, str], log: Path, *args: str) -> asyncio.subprocess.Process:
    out = open(log, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", *args, cwd=str(ROOT), env=env,
            stdout=out, stderr=out,
        )
    finally:
        out.close()


async def _until_db(check: Any, timeout: float, what: str) -> Any:
    """`await check()` until it is true (its value), every 0.1 s, failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_kill_9_of_the_reading_worker_moves_account_and_run(
    postgres_url: str, pg: Any, tmp_path: Path
) -> None:
    import asyncpg

    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    channel = world.add_channel(username="big", title="Big")
    channel.add_messages(MESSAGES)
    procs: list[asyncio.subprocess.Process] = []
    async with MTProtoServer(world) as server, BotAPIDouble(token=BOT_TOKEN) as botapi:
        botapi.add_user(ADMIN_ID, "Olga", username="olga", language_code="en")
        env = app_env(
            tmp_path, botapi, server, DATABASE_URL=postgres_url, LEASE_SECONDS="2",
            FETCH_WAIT_SECONDS=PAGE_WAIT, SUBSCRIBERS_INTERVAL_MINUTES="0", SNAPSHOT_AGES="none",
            MEDIA_DEFAULT="off", MEDIA_DIR=str(tmp_path / "media"),
        )
        row = await _seed(postgres_url, env["SESSION_KEYS"], server, channel)
        db = await asyncpg.connect(asyncpg_dsn(postgres_url))
        try:
            for i in range(2):
                procs.append(await _spawn(env, tmp_path / f"worker{i}.log", "worker"))

            async def stored() -> int:
                return int(await db.fetchval(
                    "SELECT count(*) FROM message WHERE channel_id = $1", row
                ))

            async def account_holder() -> str | None:
                return await db.fetchval(  # type: ignore[no-any-return]
                    "SELECT holder FROM lease WHERE kind = 'account' AND expires_at > now()"
                )

            # Mid-backfill: the worker holding the account (and the run) dies.
            await _until_db(lambda: _between(stored, 100, MESSAGES - 600), 60, "the backfill")
            holder = await account_holder()
            assert holder is not None
            assert await db.fetchval(
                "SELECT holder FROM lease WHERE kind = 'channel' AND key = $1", str(row)
            ) == holder
            pid = int(holder.split("/")[1])
            victim = next(p for p in procs if p.pid == pid)
            os.kill(pid, signal.SIGKILL)
            await victim.wait()
            killed_at, at_kill = time.monotonic(), await stored()
            assert at_kill < MESSAGES

            async def taken_over() -> bool:
                other = await account_holder()
                return other is not None and other != holder

            await _until_db(taken_over, 20, "another worker taking the account")
            # Within LEASE_SECONDS plus a look (LEASE_SECONDS/3) and a connection.
            assert time.monotonic() - killed_at < 2 + 0.7 + 3

            async def finished() -> bool:
                return await stored() == MESSAGES

            await _until_db(finished, 40, "the other worker finishing the channel")
            distinct = await db.fetchval(
                "SELECT count(DISTINCT msg_id) FROM message WHERE channel_id = $1", row
            )
            assert distinct == MESSAGES
            assert await db.fetchval("SELECT cursor FROM channel WHERE id = $1", row) == (
                channel.last_id
            )
            assert server.peak_live_per_key == 1  # never two live connections of one key

            rows = await db.fetch("SELECT id FROM worker ORDER BY id")
            assert len(rows) == 2  # the dead one's row stays (shown as dead) until forgotten
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    await asyncio.wait_for(p.wait(), 15)
                except TimeoutError:
                    p.kill()
            await db.close()
        logs = "".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
        assert [p.returncode for p in procs if p is not victim] == [0], logs[-3000:]
        assert "Traceback" not in logs, logs[-3000:]


async def _between(count: Any, low: int, high: int) -> bool:
    n = await count()
    assert n <= high, f"the backfill went too fast to be cut ({n} stored)"
    return bool(n >= low)


async def _noop() -> None:
    return None
