"""P8 scale-out (#18): messages/s with 1, 2 and 4 accounts across 1, 2 and 4 workers.

The MTProto double (in this process) answers each account's `messages.getHistory` late
by 1/`--rate` seconds, a fixed request rate per account like Telegram's flood limits.
Each configuration gets a fresh PostgreSQL database on one throwaway cluster: the
accounts' sessions and `--channels` channels per account of `--messages` messages
each (public, shared out round-robin, each with its account's access hash), then
`tg-parser worker` processes backfill them. Printed per configuration: messages/s from
the first stored message to the last, the ratio to one account on one worker, the
ratio to linear in min(accounts, workers) (the target is >= 0.8 x linear in
accounts), and the workers' RSS (VmRSS at the end). Then the lease cost: the
take + release round trip of one channel run's lease on the same cluster.

    .venv/bin/python bench/bench_scale_out.py [--configs 1x1,2x2,4x4,4x1,4x2]
        [--rate 4] [--channels 2] [--messages 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_counters import _Postgres  # noqa: E402

PHONES = [(f"+1555000100{i}", f"1234{i}", f"Acc{i}") for i in range(8)]


def _rss_mb(pid: int) -> float:
    """VmRSS of process `pid` in MiB (Linux), 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def _database(admin_url: str, name: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    from db.database import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _seed(url: str, keys: str, port: int, world: Any, accounts: int) -> None:
    from telethon.sessions import StringSession

    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.models import Channel as ChannelModel
    from db.vault import SessionVault
    from tests.doubles.mtproto import signed_in_client

    rows = []
    await init_db(url)
    try:
        repo = AccountRepository(SessionVault([keys]))
        for phone, code, name in PHONES[:accounts]:
            async with signed_in_client(port, phone, code) as (client, me):
                session = StringSession.save(client.session)
            row = await repo.save_session(
                session, phone=phone, user_id=me.id, display_name=name, username=None
            )
            rows.append((row.id, me.id))
        for i, ch in enumerate(world.channels.values()):
            account, uid = rows[i % accounts]
            await ChannelModel.create(
                tg_id=ch.id, access_hash=ch.access_hash_for(uid), username=ch.username,
                title=ch.title, account_id=account, hash_account_id=account,
            )
    finally:
        await close_db()


async def one(
    admin_url: str, accounts: int, workers: int, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    import asyncpg

    from db.database import asyncpg_dsn
    from tests.doubles.botapi import BotAPIDouble
    from tests.doubles.mtproto import MTProtoServer, World
    from tests.e2e.harness import BOT_TOKEN, app_env

    world = World()
    users = [world.add_account(phone=p, code=c, first_name=n) for p, c, n in PHONES[:accounts]]
    for i in range(accounts * args.channels):
        world.add_channel(username=f"chan{i:03d}", title=f"Chan {i}").add_messages(args.messages)
    total = accounts * args.channels * args.messages
    url = await _database(admin_url, f"p8_{accounts}x{workers}")
    async with MTProtoServer(world) as server, BotAPIDouble(token=BOT_TOKEN) as botapi:
        env = app_env(
            tmp, botapi, server, DATABASE_URL=url, LEASE_SECONDS="6",
            FETCH_WAIT_SECONDS="0", SUBSCRIBERS_INTERVAL_MINUTES="0", SNAPSHOT_AGES="none",
            MEDIA_DEFAULT="off", MEDIA_DIR=str(tmp / "media"), LOG_LEVEL="WARNING",
        )
        await _seed(url, env["SESSION_KEYS"], server.port, world, accounts)
        for user in users:  # a fixed request rate per account
            server.faults.add("messages.getHistory", None, times=None,
                              delay=1.0 / args.rate, user=user.id)
        db = await asyncpg.connect(asyncpg_dsn(url))
        procs = []
        try:
            for w in range(workers):
                log = open(tmp / f"p8-{accounts}x{workers}-{w}.log", "ab")
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "app.cli", "worker", cwd=str(REPO_ROOT),
                    env=env, stdout=log, stderr=log,
                ))
                log.close()
            first: tuple[float, int] | None = None
            deadline = time.monotonic() + args.timeout
            while True:
                n = int(await db.fetchval("SELECT count(*) FROM message"))
                now = time.monotonic()
                if first is None and n > 0:
                    first = (now, n)
                if n >= total or now > deadline:
                    break
                await asyncio.sleep(0.2)
            rss = [_rss_mb(p.pid) for p in procs]
            assert first is not None, "nothing stored"
            rate = (n - first[1]) / max(1e-6, now - first[0])
            held = await db.fetch(
                "SELECT holder, count(*) AS n FROM lease WHERE kind = 'account'"
                " AND expires_at > now() GROUP BY holder"
            )
            return {
                "accounts": accounts, "workers": workers, "stored": n, "total": total,
                "rate": rate, "rss": rss, "spread": sorted(int(r["n"]) for r in held),
            }
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    await asyncio.wait_for(p.wait(), 20)
                except TimeoutError:
                    p.kill()
            await db.close()


async def lease_cost(admin_url: str, rounds: int) -> float:
    """Median ms of one channel run's lease: take + release on one connection."""
    from db.database import close_db, init_db
    from db.leases import CHANNEL, LeaseStore
    from services.leases import worker_id

    url = await _database(admin_url, "p8_leases")
    await init_db(url)
    await close_db()
    store = LeaseStore(url, worker_id("bench"), 30)
    times = []
    try:
        for i in range(rounds):
            t = time.perf_counter()
            assert await store.take(CHANNEL, str(i))
            await store.release(CHANNEL, str(i))
            times.append((time.perf_counter() - t) * 1000)
    finally:
        await store.close()
    return statistics.median(times)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="1x1,2x2,4x4,2x1,4x1,4x2")
    ap.add_argument("--rate", type=float, default=4.0, help="getHistory/s per account")
    ap.add_argument("--channels", type=int, default=2, help="channels per account")
    ap.add_argument("--messages", type=int, default=3000, help="messages per channel")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per configuration")
    args = ap.parse_args()
    import tempfile

    pg = _Postgres()
    admin = pg.start()
    tmp = Path(tempfile.mkdtemp(prefix="p8-"))
    rows = []
    try:
        for cfg in args.configs.split(","):
            a, w = (int(x) for x in cfg.split("x"))
            row = await one(admin, a, w, args, tmp)
            rows.append(row)
            print(f"{a} account(s) x {w} worker(s): {row['stored']:,}/{row['total']:,} "
                  f"messages, {row['rate']:,.0f} msg/s, accounts per worker "
                  f"{row['spread']}, RSS {', '.join(f'{r:.0f}' for r in row['rss'])} MiB",
                  flush=True)
        cost = await lease_cost(admin, 200)
    finally:
        pg.stop()
    base = next((r["rate"] for r in rows if (r["accounts"], r["workers"]) == (1, 1)), None)
    print("\n| accounts | workers | msg/s | x 1x1 | / linear in min(a, w) | / linear in"
          " accounts | RSS per worker, MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        x = r["rate"] / base if base else float("nan")
        lin = x / min(r["accounts"], r["workers"])
        print(f"| {r['accounts']} | {r['workers']} | {r['rate']:,.0f} | {x:.2f} | {lin:.2f} |"
              f" {x / r['accounts']:.2f} | {statistics.mean(r['rss']):.0f} |")
    print(f"\nlease of one channel run (take + release): {cost:.2f} ms median"
          f" (rate {args.rate:g} getHistory/s per account, pid {os.getpid()})")


if __name__ == "__main__":
    asyncio.run(main())
