"""Counters over time (#17): what a refresh costs in requests, and storage per snapshot.

Real Telethon against the in-process MTProto double, the app's repositories on a
migrated SQLite database (and PostgreSQL with --pg: a throwaway cluster from this
machine's server binaries). The defaults are the app's: PARSE_INTERVAL_MINUTES 60,
REFRESH_WINDOW_HOURS 24, SNAPSHOT_AGES 1h,24h,7d,30d, SUBSCRIBERS_INTERVAL_MINUTES 60.

1. Requests per channel per refresh, per posting rate (`--rates`, posts a day; 31 days
   of history), against the issue's target (at most one messages.getMessagesViews per
   100 posts in the window, one channels.getFullChannel per interval):
   - a refresh run (services/parsing/ingest.py ChannelFetcher, nothing new):
     messages.getHistory pages re-reading the window;
   - one simulated day of a second channel: a run every `--interval` minutes (its
     re-read of the window stored as a run stores it, with the simulated time as the
     read's time: the ages shorter than the window are marked there; the requests of
     such a run are those measured above) and the counters job (services/counters)
     every `--poll` seconds (its default 300) reading the other ages: its
     messages.getMessagesViews, messages.getMessagesReactions (one each per 100 due
     posts) and channels.getFullChannel requests, per refresh
     interval (mean and largest) and a day, and the age snapshots each way. Posts of
     the simulated day are dated ahead of the real clock (the double does not care).
2. The job's due-post scan (`--scan channels,posts a day,days`): database time of one
   round's `due_posts` over every job age on a steady archive (every post past an age
   already has that age's snapshot), SQLite (and PostgreSQL with --pg), without and
   with counter_snapshot's (channel_id, msg_id, age_mark) index on the same data
   (migration 0011 `counter_snapshot_due`: dropped for the "without" figures), each
   with the engine's plan of one scan.
3. The job's subscriber due query (`--subs channels,days`: hourly counts; 1,000 x 365 is
   8.76M rows): database time of one `subscribers_due` (each channel's latest count),
   the GROUP BY ... MAX of before B1 and the per-channel correlated MAX of now, on the
   same data, median and largest of 5, SQLite (and PostgreSQL with --pg).
4. Storage per snapshot: `--rows` counter_snapshot rows (and a tenth as many
   subscriber_snapshot rows) written the app's way; bytes of the table and its indexes
   per row (SQLite: pages of the table and its index by dbstat, or the file's growth;
   PostgreSQL: pg_total_relation_size).

    .venv/bin/python bench/bench_counters.py [--rates 24,100,1000] [--interval 60]
        [--window 24] [--poll 300] [--ages 1h,24h,7d,30d] [--rows 200000]
        [--scan 100,100,40] [--subs 1000,365] [--pg] [--json out.json]
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
HOUR = timedelta(hours=1)
AGES = (HOUR, 24 * HOUR, timedelta(days=7), timedelta(days=30))
DAY = 86400


def _rows(
    channel_id: int, chan: Any, ids: list[int], fetched_at: datetime
) -> list[tuple[Any, ...]]:
    from core.parsing import COLUMNS

    out = []
    for i in ids:
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
    rate: int,
    poll: float,
    db_url: str,
    ages: tuple[timedelta, ...] = AGES,
    interval: timedelta = HOUR,
    window: timedelta = 24 * HOUR,
) -> dict[str, Any]:
    """One channel posting `rate` posts a day: a refresh run's requests, and a simulated
    day of runs every `interval` and counters job rounds every `poll` seconds."""
    from core.analytics import age_label
    from db.channels import ChannelStateRepository
    from db.counters import CounterRepository, split_ages
    from db.database import close_db, init_db
    from db.messages import MessageRepository
    from db.models import Channel, CounterSnapshot
    from services.counters import CountersService
    from services.parsing.ingest import ChannelFetcher
    from tests.doubles.mtproto import MTProtoServer, World, signed_in_client

    history_ages, job_ages = split_ages(ages, window)
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now.timestamp()
    gap = DAY / rate
    rng = random.Random(rate)
    # A: 31 days of history, read by the fetcher (then refreshed).
    hist = world.add_channel(username="history", title="History", participants_count=5000)
    hist.add_messages(31 * rate, start_date=t0 - 31 * DAY, interval=gap, views=100)
    # B: the simulated day's channel: 31 days before the simulated day and the day itself.
    job = world.add_channel(username="counters", title="Counters", participants_count=5000)
    job.add_messages(32 * rate, start_date=t0 - 31 * DAY, interval=gap, views=100)
    for i in job.ids:
        world.set_counters(job, i, views=rng.randint(100, 10_000), forwards=rng.randint(0, 50))
    horizon = (ages[-1] if ages else timedelta(0)) + window
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
            hours = int(window.total_seconds() // 3600)
            fetcher = ChannelFetcher(MessageRepository(), state, refresh_window_hours=hours)
            await fetcher.run(client, ch)
            ch = await state.channel(row.id)
            assert ch is not None
            server.counters.clear()
            await fetcher.run(client, ch)
            refresh = dict(server.counters)
            await Channel.filter(id=row.id).update(status="paused")  # only B from here

            jrow = await Channel.create(tg_id=job.id, access_hash=job.access_hash,
                                        username="counters", title="Counters")
            store = MessageRepository(snapshot_horizon=horizon, history_ages=history_ages,
                                      refresh_window=window)
            cursor = 0

            async def run_at(when: datetime) -> None:
                """A run's reads at `when`: the new posts and the window's re-read."""
                nonlocal cursor
                since, until = (when - window).timestamp(), when.timestamp()
                ids = [i for i in job.ids if job.message(i).date <= until
                       and (job.message(i).date > since or i > cursor)]
                if ids:
                    new = sum(1 for i in ids if i > cursor)
                    await store.store_batch(jrow.id, _rows(jrow.id, job, ids, when),
                                            max(cursor, ids[-1]), new)
                    cursor = max(cursor, ids[-1])

            await run_at(now)  # the archive as it stands: not counted
            clock = [now]
            service = CountersService(
                CounterRepository(), _Session(client), ages=job_ages,
                subscribers_interval=timedelta(minutes=60), clock=lambda: clock[0],
            )
            await service.tick()  # the backlog a new install reads first: not counted

            async def marks() -> dict[int | None, int]:
                rows = await CounterSnapshot.filter(channel_id=jrow.id).values_list(
                    "age_mark", flat=True)
                out: dict[int | None, int] = {}
                for a in rows:
                    out[a] = out.get(a, 0) + 1
                return out

            before = await marks()
            server.counters.clear()
            views: list[int] = []  # getMessagesViews per refresh interval
            reacts: list[int] = []  # getMessagesReactions per refresh interval
            full: list[int] = []
            step_s, every = int(poll), int(interval.total_seconds())
            for t in range(step_s, DAY + 1, step_s):
                clock[0] = now + timedelta(seconds=t)
                if t // every != (t - step_s) // every:  # a run (then the woken job)
                    await run_at(clock[0])
                    views.append(0)
                    reacts.append(0)
                    full.append(0)
                v0 = server.counters["messages.getMessagesViews"]
                r0 = server.counters["messages.getMessagesReactions"]
                f0 = server.counters["channels.getFullChannel"]
                await service.tick()
                if views:
                    views[-1] += server.counters["messages.getMessagesViews"] - v0
                    reacts[-1] += server.counters["messages.getMessagesReactions"] - r0
                    full[-1] += server.counters["channels.getFullChannel"] - f0
            after = await marks()
            made = {a: after.get(a, 0) - before.get(a, 0) for a in after}
            in_window = sum(1 for i in job.ids
                            if (now + timedelta(days=1) - window).timestamp()
                            < job.message(i).date <= (now + timedelta(days=1)).timestamp())
            return {
                "posts_per_day": rate,
                "posts_in_window": in_window,
                "history_ages": ",".join(age_label(a) for a in history_ages),
                "job_ages": ",".join(age_label(a) for a in job_ages),
                "refresh_getHistory": refresh.get("messages.getHistory", 0),
                "refresh_requests": refresh,
                "getMessagesViews_per_refresh": round(sum(views) / len(views), 2),
                "getMessagesViews_per_refresh_max": max(views),
                "target_getMessagesViews_per_refresh": -(-in_window // 100),
                "getMessagesReactions_per_refresh": round(sum(reacts) / len(reacts), 2),
                "getMessagesReactions_per_refresh_max": max(reacts),
                "getFullChannel_per_refresh": round(sum(full) / len(full), 2),
                "refreshes": len(views),
                "day_getMessagesViews": sum(views),
                "day_getMessagesReactions": sum(reacts),
                "day_age_snapshots_history": {
                    age_label(a): made.get(int(a.total_seconds()), 0) for a in history_ages
                },
                "day_age_snapshots_job": {
                    age_label(a): made.get(int(a.total_seconds()), 0) for a in job_ages
                },
                "day_plain_snapshots": made.get(None, 0),
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


async def due_scan(
    db_url: str, channels: int, per_day: int, days: int, ages: tuple[timedelta, ...],
    rounds: int = 5, pairs: int = 3,
) -> dict[str, Any]:
    """Database time of the counters job's due-post scan (db/counters.py `due_posts`,
    every age of `ages`, one round) on `channels` channels of `per_day` posts a day over
    `days` days, every post past an age already holding that age's snapshot (a steady
    archive: almost nothing due). Milliseconds per round, median and largest of
    `rounds`, without and with counter_snapshot_due, `pairs` times each alternately
    (each side's medians, sorted)."""
    import time

    from tortoise import connections

    from db.counters import CounterRepository
    from db.database import close_db, init_db
    from db.messages import MessageRepository
    from db.models import Channel, CounterSnapshot

    await init_db(db_url)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        step = DAY / per_day
        ids = []
        marks = []
        for c in range(channels):
            ch = await Channel.create(tg_id=10_000 + c, access_hash=1, username=f"c{c}",
                                      title=f"C{c}")
            ids.append(ch.id)
            total = per_day * days
            rows = []
            for i in range(total):
                date = now - timedelta(seconds=(total - i) * step)
                values = _row_values(ch.id, i + 1, date, now)
                rows.append(values)
                for age in ages:
                    if now - date >= age:
                        marks.append(CounterSnapshot(
                            channel_id=ch.id, msg_id=i + 1, taken_at=date + age,
                            age_mark=int(age.total_seconds()), views=1, forwards=0,
                        ))
            for start in range(0, len(rows), 5000):
                await MessageRepository().store_batch(
                    ch.id, rows[start : start + 5000], start + 5000, 0
                )
            for start in range(0, len(marks), 5000):
                await CounterSnapshot.bulk_create(marks[start : start + 5000])
            marks = []
        conn = connections.get("default")
        if conn.capabilities.dialect == "postgres":
            for table in ("message", "counter_snapshot"):
                await conn.execute_script(f"VACUUM ANALYZE {table}")
        else:
            await conn.execute_script("ANALYZE")
        repo = CounterRepository()
        pg = conn.capabilities.dialect == "postgres"

        async def measure() -> dict[str, Any]:
            times = []
            per_age: dict[str, list[float]] = {}
            due = 0
            for _ in range(rounds):
                t = time.perf_counter()
                due = 0
                for age in ages:
                    a = time.perf_counter()
                    found = await repo.due_posts(ids, age, now)
                    per_age.setdefault(str(age), []).append((time.perf_counter() - a) * 1000)
                    due += sum(len(v) for v in found.values())
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            return {
                "due": due, "ms_per_round_median": round(times[len(times) // 2], 1),
                "ms_per_round_max": round(times[-1], 1),
                "ms_per_age_median": {
                    k: round(sorted(v)[len(v) // 2], 1) for k, v in per_age.items()
                },
                "plan": await _due_plan(conn, ids, ages[-1], now, pg),
            }

        _, count = await conn.execute_query("SELECT COUNT(*) AS n FROM message")
        out: dict[str, Any] = {"channels": channels, "messages": int(count[0]["n"])}
        exists = (
            "SELECT 1 FROM pg_indexes WHERE indexname = 'counter_snapshot_due'" if pg
            else "SELECT 1 FROM sqlite_master WHERE name = 'counter_snapshot_due'"
        )
        analyze = "VACUUM ANALYZE counter_snapshot" if pg else "ANALYZE"
        # Without and with the index on the same data, in alternating pairs (so neither
        # side has all the warm caches).
        runs: dict[str, list[dict[str, Any]]] = {"without_index": [], "with_index": []}
        for _ in range(pairs):
            for key in ("without_index", "with_index"):
                have = bool((await conn.execute_query(exists))[1])
                if key == "with_index" and not have:
                    await conn.execute_script(
                        "CREATE INDEX counter_snapshot_due ON counter_snapshot"
                        " (channel_id, msg_id, age_mark)"
                    )
                    await conn.execute_script(analyze)
                elif key == "without_index" and have:
                    await conn.execute_script("DROP INDEX counter_snapshot_due")
                    await conn.execute_script(analyze)
                runs[key].append(await measure())
        for key, found in runs.items():
            out[key] = {
                "due": found[-1]["due"],
                "ms_per_round_median": sorted(r["ms_per_round_median"] for r in found),
                "ms_per_round_max": max(r["ms_per_round_max"] for r in found),
                "ms_per_age_median": [r["ms_per_age_median"] for r in found],
                "plan": found[-1]["plan"],
            }
        return out
    finally:
        await close_db()


async def subscribers_due_time(db_url: str, channels: int, days: int) -> dict[str, Any]:
    """Milliseconds of one `subscribers_due` over `channels` channels with an hourly
    count for `days` days: the GROUP BY ... MAX query it ran before (B1) and the
    correlated per-channel MAX it runs now, alternately, 5 each (median, largest)."""
    import time

    from tortoise import connections
    from tortoise.functions import Max

    from db.counters import CounterRepository
    from db.database import close_db, init_db
    from db.models import Channel, SubscriberSnapshot

    await init_db(db_url)
    try:
        conn = connections.get("default")
        pg = conn.capabilities.dialect == "postgres"
        await Channel.bulk_create([
            Channel(tg_id=50_000 + c, access_hash=1, username=f"s{c}", title=f"S{c}")
            for c in range(channels)
        ])
        ids = [c.id for c in await Channel.all().order_by("id")]
        hours = days * 24
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        build = time.perf_counter()
        if pg:
            await conn.execute_script(
                "INSERT INTO subscriber_snapshot (channel_id, taken_at, subscribers)"
                f" SELECT c.id, TIMESTAMPTZ '{t0.isoformat()}' + h * INTERVAL '1 hour', 1000"
                f" FROM channel c, generate_series(0, {hours - 1}) h"
            )
            await conn.execute_script("VACUUM ANALYZE subscriber_snapshot")
        else:
            await conn.execute_script(
                f"WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < "
                f"{hours - 1}) INSERT INTO subscriber_snapshot (channel_id, taken_at,"
                " subscribers) SELECT c.id, strftime('%Y-%m-%d %H:%M:%S+00:00', "
                f"'{t0.strftime('%Y-%m-%d %H:%M:%S')}', '+' || h.i || ' hours'), 1000"
                " FROM channel c, h; ANALYZE"
            )
        built = time.perf_counter() - build
        repo = CounterRepository()
        now = t0 + timedelta(hours=hours)

        async def before() -> Any:
            return dict(
                await SubscriberSnapshot.filter(channel_id__in=ids)
                .group_by("channel_id")
                .annotate(last=Max("taken_at"))
                .values_list("channel_id", "last")
            )

        async def after() -> Any:
            return await repo.subscribers_due(ids, HOUR, now)

        times: dict[str, list[float]] = {"group_by_max": [], "per_channel_max": []}
        for _ in range(5):
            for key, fn in (("group_by_max", before), ("per_channel_max", after)):
                t = time.perf_counter()
                await fn()
                times[key].append((time.perf_counter() - t) * 1000)
        due, _ = await after()
        assert len(due) == channels, len(due)
        return {
            "channels": channels, "rows": channels * hours, "build_s": round(built, 1),
            **{k: {"ms_median": round(sorted(v)[2], 1), "ms_max": round(max(v), 1)}
               for k, v in times.items()},
        }
    finally:
        await close_db()


async def _due_plan(
    conn: Any, ids: list[int], age: timedelta, now: datetime, pg: bool
) -> list[str]:
    """The plan of one due scan (db/counters.py _DUE_SQL) as the engine explains it."""
    from db.counters import _DUE_SQL, _db_time, due_window

    newest = now - age
    oldest = newest - due_window(age)
    values: list[Any] = [_db_time(oldest, not pg), _db_time(newest, not pg),
                         int(age.total_seconds()), *ids]
    p = (lambda n: f"${n}") if pg else (lambda n: f"?{n}")
    sql = _DUE_SQL.format(channels=", ".join(p(4 + i) for i in range(len(ids))),
                          oldest=p(1), newest=p(2), mark=p(3))
    if pg:
        rows = await conn.execute_query_dict("EXPLAIN (ANALYZE, BUFFERS) " + sql, values)
        return [r["QUERY PLAN"] for r in rows]
    rows = await conn.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)
    return [str(r["detail"]) for r in rows]


def _row_values(channel_id: int, msg_id: int, date: datetime, fetched_at: datetime
                ) -> tuple[Any, ...]:
    from core.parsing import COLUMNS

    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(channel_id=channel_id, msg_id=msg_id, date=date, text=f"post {msg_id}",
                  views=1, forwards=0, content_text="", fetched_at=fetched_at)
    return tuple(values[c] for c in COLUMNS)


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


def _table(rows: list[dict[str, Any]]) -> str:
    """The per-refresh figures as the README's table."""
    out = [
        "| posts a day | getHistory | getMessagesViews (largest) | getMessagesReactions"
        " (largest) | target | getFullChannel |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['posts_per_day']:,} | {r['refresh_getHistory']} "
            f"| {r['getMessagesViews_per_refresh']} ({r['getMessagesViews_per_refresh_max']}) "
            f"| {r['getMessagesReactions_per_refresh']} "
            f"({r['getMessagesReactions_per_refresh_max']}) "
            f"| <= {r['target_getMessagesViews_per_refresh']} "
            f"| {r['getFullChannel_per_refresh']} |"
        )
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="24,100,1000")
    ap.add_argument("--interval", type=float, default=60.0, help="minutes between runs")
    ap.add_argument("--window", type=int, default=24, help="REFRESH_WINDOW_HOURS")
    ap.add_argument("--poll", type=float, default=300.0, help="seconds between job rounds")
    ap.add_argument("--ages", default="1h,24h,7d,30d", help="SNAPSHOT_AGES")
    ap.add_argument("--rows", type=int, default=200_000, help="storage rows (0: skip)")
    ap.add_argument("--pg", action="store_true", help="storage on PostgreSQL too")
    ap.add_argument("--scan", default="100,100,40",
                    help="due scan: channels,posts a day,days (empty: skip)")
    ap.add_argument("--scan-sqlite", default="yes", choices=("yes", "no"),
                    help="the due scans (--scan, --subs) on SQLite too (no: PostgreSQL only,"
                         " with --pg)")
    ap.add_argument("--subs", default="",
                    help="subscriber due query: channels,days of hourly counts (e.g."
                         " 1000,365; empty: skip)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    from core.analytics import parse_ages
    from db.counters import split_ages

    ages = parse_ages(args.ages)
    interval, window = timedelta(minutes=args.interval), timedelta(hours=args.window)
    results: dict[str, Any] = {"requests": [], "storage": {}, "due_scan": {}, "subs_due": {}}
    subs = tuple(int(x) for x in args.subs.split(",")) if args.subs else None
    scan: tuple[int, int, int] | None = None
    if args.scan:
        c, per_day, days = (int(x) for x in args.scan.split(","))
        scan = (c, per_day, days)
    _, job_ages = split_ages(ages, window)
    with tempfile.TemporaryDirectory() as tmp:
        if subs and args.scan_sqlite == "yes":
            path = Path(tmp) / "subs.sqlite3"
            results["subs_due"]["sqlite"] = await subscribers_due_time(
                f"sqlite://{path}", *subs
            )
            print("subscribers due sqlite", json.dumps(results["subs_due"]["sqlite"]),
                  flush=True)
        if scan and args.scan_sqlite == "yes":
            path = Path(tmp) / "scan.sqlite3"
            results["due_scan"]["sqlite"] = await due_scan(f"sqlite://{path}", *scan, job_ages)
            print("due scan sqlite", json.dumps(results["due_scan"]["sqlite"], indent=1),
                  flush=True)
        for rate in (int(r) for r in args.rates.split(",") if r):
            path = Path(tmp) / f"req-{rate}.sqlite3"
            res = await requests_per_rate(
                rate, args.poll, f"sqlite://{path}", ages, interval, window
            )
            results["requests"].append(res)
            print(json.dumps(res), flush=True)
        if results["requests"]:
            print(_table(results["requests"]), flush=True)
        if args.rows:
            path = Path(tmp) / "store.sqlite3"
            results["storage"]["sqlite"] = await storage(f"sqlite://{path}", args.rows, path)
            print("sqlite", json.dumps(results["storage"]["sqlite"]), flush=True)
    if args.pg and (args.rows or scan or subs):
        pg = _Postgres()
        try:
            url = pg.start()
            # Storage first: the cluster is shared, and the other parts leave rows.
            if args.rows:
                results["storage"]["postgres"] = await storage(url, args.rows, None)
                print("postgres", json.dumps(results["storage"]["postgres"]), flush=True)
            if subs:
                results["subs_due"]["postgres"] = await subscribers_due_time(url, *subs)
                print("subscribers due postgres", json.dumps(results["subs_due"]["postgres"]),
                      flush=True)
            if scan:
                results["due_scan"]["postgres"] = await due_scan(url, *scan, job_ages)
                print("due scan postgres", json.dumps(results["due_scan"]["postgres"], indent=1),
                      flush=True)
        finally:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
