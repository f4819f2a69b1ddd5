"""`kill -9` of the worker reading a channel (#18): real processes on PostgreSQL.

Two `tg-parser worker` processes share the module's cluster, LEASE_SECONDS=2; one
account, one channel read page by page. The worker holding the account is killed
mid-backfill: the other takes the account and the run after the leases expire and
finishes it, every message stored once, and the MTProto double never sees the
session's auth key on two live connections. (Each process costs its start, ~2 s of
imports on an idle machine: the bot's side of /status is tested in one process.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from db.database import asyncpg_dsn, close_db, init_db
from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.e2e.harness import ADMIN_ID, BOT_TOKEN, ROOT, app_env

pytestmark = pytest.mark.timeout(120)

PHONE, CODE = "+15550000001", "12345"
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


async def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_kill_9_of_the_reading_worker_moves_account_and_run(
    postgres_url: str, tmp_path: Path
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
            FETCH_WAIT_SECONDS=PAGE_WAIT, SUBSCRIBERS_INTERVAL_MINUTES="0", SNAPSHOT_AGES="",
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
            await _until(lambda: _between(stored, 100, MESSAGES - 600), 60, "the backfill")
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

            await _until(taken_over, 20, "another worker taking the account")
            # Within LEASE_SECONDS plus a look (LEASE_SECONDS/3) and a connection.
            assert time.monotonic() - killed_at < 2 + 0.7 + 3

            async def finished() -> bool:
                return await stored() == MESSAGES

            await _until(finished, 40, "the other worker finishing the channel")
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
