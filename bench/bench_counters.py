"""Counters over time (#17): what a refresh costs in requests, and storage per snapshot.

Real Telethon against the in-process MTProto double, the app's repositories on a
migrated SQLite database (and PostgreSQL with --pg: a throwaway cluster from this
machine's server binaries).

1. Requests per channel, per posting rate (`--rates`, posts a day; 31 days of history):
   - a refresh run (services/parsing/ingest.py ChannelFetcher, REFRESH_WINDOW_HOURS=24,
     nothing new): messages.getHistory pages re-reading the window;
   - the counters job (services/counters) over one simulated day, one round every
     `--poll` seconds (its default 300), SNAPSHOT_AGES `--ages` (1h,24h,7d,30d),
     SUBSCRIBERS_INTERVAL_MINUTES 60: messages.getMessagesViews requests and ids per
     request, channels.getFullChannel requests. Posts of the simulated day are dated
     ahead of the real clock (the job's clock is simulated; the double does not care).
2. Storage per snapshot: `--rows` counter_snapshot rows (and a tenth as many
   subscriber_snapshot rows) written the app's way; bytes of the table and its indexes
   per row (SQLite: pages of the table and its index by dbstat, or the file's growth;
   PostgreSQL: pg_total_relation_size).

    .venv/bin/python bench/bench_counters.py [--rates 24,100,1000] [--poll 300]
        [--ages 1h,24h,7d,30d] [--rows 200000] [--pg] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

PHONE, CODE = "+15550000001", "12345"
AGES = (timedelta(hours=1), timedelta(hours=24), timedelta(days=7), timedelta(days=30))
DAY = 86400


def _rows(channel_id: int, chan: Any, fetched_at: datetime) -> list[tuple[Any, ...]]:
    from core.parsing import COLUMNS

    out = []
    for i in chan.ids:
        m = chan.message(i)
        values: dict[str, Any] = dict.fromkeys(COLUMNS)
        values.update(
            channel_id=channel_id, msg_id=i, date=datetime.fromtimestamp(m.date, UTC),
            text=m.text, views=m.views or 0, forwards=m.forwards or 0, content_text="",
            fetched_at=fetched_at,
        )
        out.append(tuple(values[c] for c in COLUMNS))
    return out


class _Session:
    def __init__(self, client: Any) -> None:
        self.client, self.state = client, "ready"

    async def session_dead(self, reason: str) -> None:
        raise RuntimeError(reason)


async def requests_per_rate(
    rate: int, poll: float, db_url: str, ages: tuple[timedelta, ...] = AGES
) -> dict[str, Any]:
    """One channel posting `rate` posts a day: a refresh run's getHistory pages, and the
    counters job's requests over a simulated day."""
    from core.analytics import age_label
    from db.channels import ChannelStateRepository
    from db.counters import CounterRepository
    from db.database import close_db, init_db
    from db.messages import MessageRepository
    from db.models import Channel
    from services.counters import CountersService
    from services.parsing.ingest import ChannelFetcher
    from tests.doubles.mtproto import MTProtoServer, World, signed_in_client

    world = World()
    world.add_account(phone=PHONE, code=CODE)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now.timestamp()
    interval = DAY / rate
    rng = random.Random(rate)
    # A: 31 days of history, read by the fetcher (then refreshed).
    hist = world.add_channel(username="history", title="History", participants_count=5000)
    hist.add_messages(31 * rate, start_date=t0 - 31 * DAY, interval=interval, views=100)
    # B: the counters job's channel: 31 days before the simulated day and the day itself.
    job = world.add_channel(username="counters", title="Counters", participants_count=5000)
    job.add_messages(32 * rate, start_date=t0 - 31 * DAY, interval=interval, views=100)
    for i in job.ids:
        world.set_counters(job, i, views=rng.randint(100, 10_000), forwards=rng.randint(0, 50))
    await init_db(db_url)
    try:
        async with MTProtoServer(world) as server, signed_in_client(
            server.port, PHONE, CODE, flood_sleep_threshold=0
        ) as (client, _me):
            state = ChannelStateRepository()
            entity = await client.get_input_entity("history")
            row = await Channel.create(tg_id=hist.id, access_hash=entity.access_hash,
                                       username="history", title="History")
            ch = await state.channel(row.id)
            assert ch is not None
            fetcher = ChannelFetcher(MessageRepository(), state, refresh_window_hours=24)
            await fetcher.run(client, ch)
            ch = await state.channel(row.id)
            assert ch is not None
            server.counters.clear()
            await fetcher.run(client, ch)
            refresh = dict(server.counters)

            jrow = await Channel.create(tg_id=job.id, access_hash=job.access_hash,
                                        username="counters", title="Counters")
            await MessageRepository().store_batch(jrow.id, _rows(jrow.id, job, now),
                                                  job.last_id, len(job))
            await Channel.filter(id=row.id).update(status="paused")  # only B in the job
            clock = [now]
            service = CountersService(
                CounterRepository(), _Session(client), ages=ages,
                subscribers_interval=timedelta(minutes=60), clock=lambda: clock[0],
            )
            from db.models import CounterSnapshot

            await service.tick()  # the backlog a new install reads first: not counted
            backlog = await CounterSnapshot.filter(channel_id=jrow.id).count()
            server.counters.clear()
            per_round: list[int] = []
            for step in range(1, int(DAY / poll) + 1):
                clock[0] = now + timedelta(seconds=step * poll)
                before = server.counters["messages.getMessagesViews"]
                await service.tick()
                per_round.append(server.counters["messages.getMessagesViews"] - before)
            ids_read = await CounterSnapshot.filter(channel_id=jrow.id).count() - backlog
            views_requests = server.counters["messages.getMessagesViews"]
            return {
                "ages": ",".join(age_label(a) for a in ages),
                "posts_per_day": rate,
                "refresh_window_posts": rate,
                "refresh_getHistory": refresh.get("messages.getHistory", 0),
                "refresh_requests": refresh,
                "day_getMessagesViews": views_requests,
                "day_age_snapshots": ids_read,
                "ids_per_getMessagesViews": round(ids_read / views_requests, 1)
                if views_requests else None,
                "max_getMessagesViews_per_round": max(per_round),
                "day_getFullChannel": server.counters["channels.getFullChannel"],
                "rounds": len(per_round),
                "backlog_age_snapshots_at_start": backlog,
            }
    finally:
        await close_db()


async def storage(db_url: str, rows: int, sqlite_path: Path | None) -> dict[str, Any]:
    """Bytes per counter_snapshot and per subscriber_snapshot row (table + indexes)."""
    from tortoise import connections

    from db.counters import CounterRepository
    from db.database import close_db, init_db
    from db.models import Channel, CounterSnapshot

    await init_db(db_url)
    try:
        ch = await Channel.create(tg_id=42, access_hash=1, username="store", title="Store")
        rng = random.Random(7)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        batch = []
        for i in range(rows):
            batch.append(CounterSnapshot(
                channel_id=ch.id, msg_id=1_000 + i // 6, taken_at=t0 + timedelta(seconds=i * 37),
                age_mark=rng.choice((None, None, 3600, 86400, 604800, 2592000)),
                views=rng.randint(0, 2_000_000), forwards=rng.randint(0, 5000),
                replies=rng.choice((None, rng.randint(0, 900))),
                reactions=rng.choice((None, rng.randint(0, 20_000))),
            ))
            if len(batch) == 5000:
                await CounterSnapshot.bulk_create(batch)
                batch = []
        if batch:
            await CounterSnapshot.bulk_create(batch)
        repo = CounterRepository()
        subs = max(1, rows // 10)
        for i in range(subs):
            await repo.record_subscribers(ch.id, 10_000 + i, t0 + timedelta(hours=i))
        conn = connections.get("default")
        if conn.capabilities.dialect == "postgres":
            out = {}
            for table, n in (("counter_snapshot", rows), ("subscriber_snapshot", subs)):
                await conn.execute_script(f"VACUUM ANALYZE {table}")
                _, res = await conn.execute_query(
                    f"SELECT pg_total_relation_size('{table}') AS b"
                )
                out[table] = round(res[0]["b"] / n, 1)
            return {"bytes_per_row": out}
        sizes: dict[str, float] = {}
        try:
            for table, n in (("counter_snapshot", rows), ("subscriber_snapshot", subs)):
                _, res = await conn.execute_query(
                    "SELECT SUM(pgsize) AS b FROM dbstat WHERE name = ? OR name IN"
                    " (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
                    [table, table],
                )
                sizes[table] = round(res[0]["b"] / n, 1)
        except Exception as exc:  # no dbstat in this SQLite build
            sizes["note"] = f"dbstat unavailable: {exc}"  # type: ignore[assignment]
        return {"bytes_per_row": sizes}
    finally:
        await close_db()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Postgres:
    """A throwaway cluster (as tests/integration/conftest.py starts one)."""

    def __init__(self) -> None:
        import glob

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise RuntimeError("no PostgreSQL server binaries")
        self.bindir = Path(initdb).parent
        self.root = Path(tempfile.mkdtemp(prefix="tgp-bench-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()

    def start(self) -> str:
        data = self.root / "data"
        subprocess.run([*self.as_user, str(self.bindir / "initdb"), "-D", str(data), "-A",
                        "trust", "-U", "postgres"], check=True, capture_output=True)
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "-w",
                        "-l", str(self.root / "log"), "-o",
                        f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
                        "start"], check=True, capture_output=True)
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D",
                        str(self.root / "data"), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="24,100,1000")
    ap.add_argument("--poll", type=float, default=300.0)
    ap.add_argument("--ages", default="1h,24h,7d,30d", help="SNAPSHOT_AGES of the job")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--pg", action="store_true", help="storage on PostgreSQL too")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    from core.analytics import parse_ages

    ages = parse_ages(args.ages)
    results: dict[str, Any] = {"requests": [], "storage": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (int(r) for r in args.rates.split(",")):
            path = Path(tmp) / f"req-{rate}.sqlite3"
            res = await requests_per_rate(rate, args.poll, f"sqlite://{path}", ages)
            results["requests"].append(res)
            print(json.dumps(res), flush=True)
        path = Path(tmp) / "store.sqlite3"
        results["storage"]["sqlite"] = await storage(f"sqlite://{path}", args.rows, path)
        print("sqlite", json.dumps(results["storage"]["sqlite"]), flush=True)
    if args.pg:
        pg = _Postgres()
        try:
            url = pg.start()
            results["storage"]["postgres"] = await storage(url, args.rows, None)
            print("postgres", json.dumps(results["storage"]["postgres"]), flush=True)
        finally:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
