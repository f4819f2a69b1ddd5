"""Several accounts across several processes on PostgreSQL (#18, the proof): one bot
process (`run --no-parser`) and three `tg-parser worker` processes, two accounts,
twenty channels (one large), LEASE_SECONDS=2, real processes against both doubles.

- the two accounts are spread over two workers (fair share: ceil(2 / 3) = 1 each);
- the worker reading the large channel is killed (-9) mid-backfill: another worker
  takes its account and finishes the channel within LEASE_SECONDS plus one run, every
  message stored exactly once; the nineteen others are complete too;
- the MTProto double never sees one auth key on two live connections;
- the operator's /parse in the bot process reaches a worker over the bus and is
  answered with the run's outcome.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from db.database import asyncpg_dsn, close_db, init_db
from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.e2e.harness import ADMIN_ID, BOT_TOKEN, app_env
from tests.integration.test_leases import _spawn, _until_db

pytestmark = pytest.mark.timeout(180)

ACCOUNTS = (("+15550000001", "12345", "Ann"), ("+15550000002", "54321", "Bob"))
BIG, SMALL, SMALL_CHANNELS = 2000, 20, 19
PAGE_WAIT = "0.25"  # FETCH_WAIT_SECONDS: the large backfill lasts ~5 s


async def _seed(url: str, keys: str, server: MTProtoServer, world: World) -> dict[str, int]:
    """Both sessions stored; the channels shared out (the large one and nine small ones
    to Ann, ten to Bob), each with its account's access hash. Row id by username."""
    from telethon.sessions import StringSession

    from db.accounts import AccountRepository
    from db.models import Channel as ChannelModel
    from db.vault import SessionVault

    sessions = []
    for phone, code, _ in ACCOUNTS:
        async with signed_in_client(server.port, phone, code) as (client, me):
            sessions.append((StringSession.save(client.session), me))
    await init_db(url)
    try:
        repo = AccountRepository(SessionVault([keys]))
        rows = []
        for (phone, _, name), (session, me) in zip(ACCOUNTS, sessions, strict=True):
            row = await repo.save_session(
                session, phone=phone, user_id=me.id, display_name=name, username=None
            )
            rows.append((row.id, me))
        ids = {}
        for i, ch in enumerate(world.channels.values()):
            account, me = rows[0] if i < 10 else rows[1]
            made = await ChannelModel.create(
                tg_id=ch.id, access_hash=ch.access_hash_for(me.id), username=ch.username,
                title=ch.title, account_id=account, hash_account_id=account,
            )
            ids[ch.username] = int(made.id)
        return ids
    finally:
        await close_db()


async def test_one_bot_three_workers_two_accounts_twenty_channels_and_a_kill_9(
    postgres_url: str, tmp_path: Path
) -> None:
    import asyncpg

    world = World()
    for phone, code, name in ACCOUNTS:
        world.add_account(phone=phone, code=code, first_name=name)
    big = world.add_channel(username="big", title="Big")
    big.add_messages(BIG)
    smalls = [world.add_channel(username=f"small{i}", title=f"Small {i}")
              for i in range(SMALL_CHANNELS)]
    for ch in smalls:
        ch.add_messages(SMALL)
    small3 = smalls[3]
    procs: dict[str, asyncio.subprocess.Process] = {}
    async with MTProtoServer(world) as server, BotAPIDouble(token=BOT_TOKEN) as botapi:
        olga = botapi.add_user(ADMIN_ID, "Olga", username="olga", language_code="en")
        env = app_env(
            tmp_path, botapi, server, DATABASE_URL=postgres_url, LEASE_SECONDS="2",
            FETCH_WAIT_SECONDS=PAGE_WAIT, SUBSCRIBERS_INTERVAL_MINUTES="0", SNAPSHOT_AGES="none",
            MEDIA_DEFAULT="off", MEDIA_DIR=str(tmp_path / "media"),
        )
        ids = await _seed(postgres_url, env["SESSION_KEYS"], server, world)
        db = await asyncpg.connect(asyncpg_dsn(postgres_url))
        victim = ""
        try:
            procs["bot"] = await _spawn(
                env, tmp_path / "bot.log", "run", "--no-parser"
            )
            for i in range(3):
                procs[f"w{i}"] = await _spawn(
                    env, tmp_path / f"w{i}.log", "worker"
                )
            pids = {p.pid: name for name, p in procs.items()}

            async def count(username: str) -> int:
                return int(await db.fetchval(
                    "SELECT count(*) FROM message WHERE channel_id = $1", ids[username]
                ))

            async def account_holders() -> list[str]:
                rows = await db.fetch(
                    "SELECT holder FROM lease WHERE kind = 'account' AND expires_at > now()"
                )
                return [r["holder"] for r in rows]

            # The two accounts on two different workers (never both on the first).
            async def spread() -> bool:
                holders = await account_holders()
                return len(holders) == 2 and len(set(holders)) == 2

            await _until_db(spread, 60, "the accounts spread over two workers")

            # Mid-backfill: the worker running the large channel dies.
            async def mid_backfill() -> bool:
                n = await count("big")
                assert n < BIG - 400, f"the backfill went too fast to be cut ({n} stored)"
                return n >= 100

            await _until_db(mid_backfill, 60, "the large backfill")
            runner = await db.fetchval(
                "SELECT holder FROM lease WHERE kind = 'channel' AND key = $1",
                str(ids["big"]),
            )
            assert runner is not None
            victim = pids[int(runner.split("/")[1])]
            assert victim != "bot"
            os.kill(procs[victim].pid, signal.SIGKILL)
            await procs[victim].wait()
            killed_at = time.monotonic()
            assert await count("big") < BIG

            async def big_done() -> bool:
                return await count("big") == BIG

            await _until_db(big_done, 60, "another worker finishing the large channel")
            # LEASE_SECONDS (2) for the leases to expire, a look (2/3 s), a connection,
            # then the rest of the run (~5 s of pages at most), with room for a loaded
            # machine.
            assert time.monotonic() - killed_at < 2 + 1 + 5 + 12

            async def all_done() -> bool:
                counts = [await count(f"small{i}") for i in range(SMALL_CHANNELS)]
                return counts == [SMALL] * SMALL_CHANNELS

            await _until_db(all_done, 60, "the twenty channels complete")
            duplicates = await db.fetchval(
                "SELECT count(*) - count(DISTINCT (channel_id, msg_id)) FROM message"
            )
            assert duplicates == 0
            assert await db.fetchval("SELECT count(*) FROM message") == (
                BIG + SMALL * SMALL_CHANNELS
            )
            assert server.peak_live_per_key == 1  # never two live connections of one key
            # Both accounts live again on the two workers left.
            await _until_db(spread, 30, "the accounts on the two workers left")
            assert not any(pids.get(int(h.split("/")[1])) == victim
                           for h in await account_holders())

            # The operator's /parse in the bot process runs on a worker (the bus).
            await botapi.wait_for_poll(timeout=60)
            small3.add_messages(5)
            await botapi.send_text(olga, "/parse @small3")
            await botapi.wait_for_message(ADMIN_ID, r"✅ @small3: 5 new messages", timeout=60)
            assert await count("small3") == SMALL + 5
        finally:
            for p in procs.values():
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    await asyncio.wait_for(p.wait(), 15)
                except TimeoutError:
                    p.kill()
            await db.close()
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
        for name, p in procs.items():
            if name != victim:
                assert p.returncode == 0, (name, logs[name][-3000:])
            assert "Traceback" not in logs[name], (name, logs[name][-3000:])
