"""/stats metric query time on a big archive (issue #17: <= 1 s at p99 on 10 million
messages, SQLite and PostgreSQL).

1. The archive: `--url` names one bench/archive_gen.py made (or any archive); without
   it, one of `--messages` messages is generated into a temporary SQLite file.
2. The app's migrations run on it (0010 builds the metrics index: timed), then what the
   app's `stats_rollup` component does in the background after start: the per-hour
   rollup's dirty hours built (on an archive from before 0015, all of them: timed); the
   rollup's rows and bytes.
3. The sampled channels' posts are classified once (ads, reactions totals: what the
   first /stats of a channel does after the upgrade; timed, rows per second).
4. `--queries` calls of services.analytics.AnalyticsService.metrics (what /stats
   computes before drawing: the posts aggregate with the posts chart's data, the tops
   with their texts, the subscriber summary and series) for random (channel, days)
   pairs over the sampled channels, days from `--days`; p50/p99/max overall and per
   days value, and the biggest channel at each days value (the worst case). With
   SQLite the queries run in this process (aiosqlite's thread): `cpu_*` is their CPU
   time, a figure that does not grow when other jobs share the machine, unlike the
   wall time.
5. The biggest channel's posts aggregate at each days value through the rollup and from
   the raw rows: equal or not (`rollup_equals_raw`).
6. `--replies` whole replies (bench_reply: the query and the four charts).

    .venv/bin/python bench/bench_stats.py                      # 200k messages, SQLite
    .venv/bin/python bench/archive_gen.py --url sqlite:///tmp/a10m.sqlite3 --messages 10000000
    .venv/bin/python bench/bench_stats.py --url sqlite:///tmp/a10m.sqlite3
    .venv/bin/python bench/bench_stats.py --url postgres://postgres@127.0.0.1:5432/a10m
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
# `--worker ROOT`: this file serves replies with the code of another checkout (--versus).
sys.path.insert(0, sys.argv[sys.argv.index("--worker") + 1] if "--worker" in sys.argv
                else str(REPO_ROOT))  # fmt: skip


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def summary(values: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    out = {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(pct(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }
    if cpu:  # this process's CPU (SQLite runs in it; PostgreSQL's server does not)
        out["cpu_p50_ms"] = round(statistics.median(cpu) * 1000, 1)
        out["cpu_p99_ms"] = round(pct(cpu, 0.99) * 1000, 1)
    return out


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from db import analytics as adb
    from db.channels import get_channel
    from db.database import close_db, init_db
    from db.models import Channel as ChannelModel
    from services.analytics import AnalyticsService, period

    out: dict[str, Any] = {"url": url.split("@")[-1]}
    t0 = time.perf_counter()
    await init_db(url)  # migration 0010 when the archive predates it
    out["migrate_s"] = round(time.perf_counter() - t0, 1)
    try:
        from services.stats_rollup import RollupBuild

        t0 = time.perf_counter()
        await RollupBuild(pause=0).build()
        out["rollup_build_s"] = round(time.perf_counter() - t0, 1)
        out["rollup"] = await rollup_size()
        rows = await ChannelModel.all().order_by("-messages_count").values("id", "messages_count")
        out["messages"] = sum(int(r["messages_count"]) for r in rows)
        rng = random.Random(args.seed)
        ids = [int(r["id"]) for r in rows]
        sample = ids[:3] + rng.sample(ids[3:], min(len(ids) - 3, max(0, args.channels - 3)))
        biggest = ids[0]
        out["biggest_channel_messages"] = int(rows[0]["messages_count"])
        tz = ZoneInfo(args.tz)
        now = datetime.fromisoformat(args.now).astimezone(UTC) if args.now else datetime.now(UTC)
        days = [int(d) for d in args.days.split(",")]
        longest, _ = period(max(days), tz, now)
        t0 = time.perf_counter()
        classified = 0
        for cid in sample:
            classified += await adb.classify([cid], longest, now + timedelta(seconds=1))
        spent = time.perf_counter() - t0
        out["classify_once"] = {
            "rows": classified,
            "seconds": round(spent, 1),
            "rows_per_s": round(classified / spent) if spent else None,
        }
        service = AnalyticsService(clock=lambda: now)
        channels = {cid: await get_channel(cid) for cid in sample}

        cpu: list[float] = []

        async def one(cid: int, d: int) -> float:
            ch = channels[cid]
            assert ch is not None
            t, c = time.perf_counter(), time.process_time()
            await service.metrics(ch, d, tz)
            cpu.append(time.process_time() - c)
            return time.perf_counter() - t

        await one(biggest, max(days))  # warm the caches once, like a running app
        times: list[float] = []
        per_days: dict[int, list[float]] = {d: [] for d in days}
        cpu_days: dict[int, list[float]] = {d: [] for d in days}
        cpu.clear()
        for _ in range(args.queries):
            cid, d = rng.choice(sample), rng.choice(days)
            spent = await one(cid, d)
            times.append(spent)
            per_days[d].append(spent)
            cpu_days[d].append(cpu[-1])
        out["all"] = summary(times, list(cpu))
        out["by_days"] = {str(d): summary(v, cpu_days[d]) for d, v in per_days.items() if v}
        worst: dict[str, Any] = {}
        for d in days:
            cpu.clear()
            runs = [await one(biggest, d) for _ in range(args.worst_runs)]
            m = await service.metrics(channels[biggest], d, tz)  # type: ignore[arg-type]
            worst[str(d)] = {**summary(runs, list(cpu)), "posts": m.posts}
        out["biggest_channel"] = worst
        # The rollup's answer is the raw rows' (db/rollup.py): the biggest channel's.
        same: dict[str, bool] = {}
        for d in days:
            since, until = period(d, tz, now)
            fast = await adb.posts_aggregate([biggest], since, until, now, tz)
            raw = await adb.posts_aggregate([biggest], since, until, now, tz, use_rollup=False)
            same[str(d)] = _same(fast, raw)
        out["rollup_equals_raw"] = same
        if args.reply:
            out["reply"] = await bench_reply(
                args, channels, sample, biggest, days, tz, now, service
            )
    finally:
        await close_db()
    return out


async def rollup_size() -> dict[str, Any]:
    """The per-hour rollup (migration 0015): rows, bytes (its table with its key; SQLite
    dbstat, PostgreSQL pg_total_relation_size), bytes per stored message."""
    from tortoise import connections

    conn = connections.get("default")
    rows = await conn.execute_query_dict("SELECT COUNT(*) AS n FROM stats_hour")
    msgs = await conn.execute_query_dict("SELECT COUNT(*) AS n FROM message")
    if conn.capabilities.dialect == "sqlite":
        size = await conn.execute_query_dict(
            "SELECT SUM(pgsize) AS b FROM dbstat WHERE name = 'stats_hour'"
        )
    else:
        size = await conn.execute_query_dict(
            "SELECT pg_total_relation_size('stats_hour') AS b"
        )
    n, b, m = int(rows[0]["n"]), int(size[0]["b"] or 0), int(msgs[0]["n"])
    return {"rows": n, "bytes": b, "bytes_per_message": round(b / m, 1) if m else None}


def _same(a: Any, b: Any) -> bool:
    """Two db.analytics.PostsAggregate alike (float sums to 1e-9 relative; the views of
    a day in any order)."""

    def norm(x: Any) -> Any:
        return (
            {k: (c.posts, c.reached, c.views, c.rated) for k, c in x.cells.items()},
            x.ad_posts,
            [(p.channel_id, p.msg_id, p.views) for p in x.top_by_views + x.top_by_er],
            x.day_posts,
            {d: sorted(v) for d, v in x.day_views.items()},
            x.deleted,
        )

    ers = all(
        abs(c.er_sum - b.cells[k].er_sum) <= 1e-9 * max(1.0, abs(c.er_sum))
        for k, c in a.cells.items()
        if k in b.cells
    )
    return bool(norm(a) == norm(b) and ers)


async def bench_reply(
    args: argparse.Namespace,
    channels: dict[int, Any],
    sample: list[int],
    biggest: int,
    days: list[int],
    tz: ZoneInfo,
    now: datetime,
    service: Any,
) -> dict[str, Any]:
    """The whole /stats <channel> reply up to the album's upload: bot.routers.stats.
    prepare (the metrics query, which brings the posts chart's data too, then the four
    charts, each in its own thread), as cmd_stats runs it; CPU time is the process's
    (the SQLite thread and the drawing threads included; PostgreSQL's server is another
    process). Parts, biggest channel, longest period: `metrics` the query alone, `draw`
    the charts alone (from its answer)."""
    from bot.routers.stats import draw_charts_at_once, prepare

    rng = random.Random(args.seed + 1)
    lang = args.lang

    async def one(cid: int, d: int) -> tuple[float, float]:
        ch = channels[cid]
        t, c = time.perf_counter(), time.process_time()
        await prepare(ch, ch.label, d, service, lang, tz)
        return time.perf_counter() - t, time.process_time() - c

    await one(biggest, max(days))  # warm: matplotlib's import, the caches
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.replies):
        w, c = await one(rng.choice(sample), rng.choice(days))
        wall.append(w)
        cpu.append(c)
    res: dict[str, Any] = {"all": summary(wall, cpu)}
    worst: dict[str, Any] = {}
    for d in days:
        runs = [await one(biggest, d) for _ in range(args.worst_runs)]
        worst[str(d)] = summary([w for w, _ in runs], [c for _, c in runs])
    res["biggest_channel"] = worst
    d = max(days)
    ch = channels[biggest]
    m = await service.metrics(ch, d, tz)
    parts: dict[str, Any] = {}
    for name, call in (
        ("metrics", lambda: service.metrics(ch, d, tz)),
        ("draw", lambda: draw_charts_at_once(m, ch.label, d, lang, tz)),
    ):
        w_, c_ = [], []
        for _ in range(args.worst_runs):
            t, c = time.perf_counter(), time.process_time()
            await call()
            w_.append(time.perf_counter() - t)
            c_.append(time.process_time() - c)
        parts[name] = summary(w_, c_)
    res[f"biggest_channel_{d}d_parts"] = parts
    return res


async def worker(root: str, url: str, now_text: str, tz_name: str, lang: str) -> None:
    """--versus: one side of the A/B. Imports the checkout at `root` (its own
    bot.routers.stats.prepare, whatever its signature), then answers lines
    `{"cid": .., "d": ..}` on stdin with the reply's `{"wall": .., "cpu": ..}`."""
    import inspect

    from bot.routers.stats import prepare
    from db.channels import get_channel
    from db.database import close_db, init_db
    from services.analytics import AnalyticsService

    await init_db(url)
    tz = ZoneInfo(tz_name)
    now = datetime.fromisoformat(now_text).astimezone(UTC)
    service = AnalyticsService(clock=lambda: now)
    old = "archive" in inspect.signature(prepare).parameters  # before: two queries
    archive: Any = None
    if old:
        from services.archive import ArchiveService

        class _Archive:
            def __init__(self) -> None:
                self._svc = ArchiveService(upload_limit_mb=50)

            async def stats(self, channel: Any, d: int, zone: Any) -> Any:
                return await self._svc.stats(channel, d, zone, now=now)

        archive = _Archive()
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            ask = json.loads(line)
            ch = await get_channel(int(ask["cid"]))
            assert ch is not None
            t, c = time.perf_counter(), time.process_time()
            if old:
                await prepare(ch, ch.label, ask["d"], archive, service, lang, tz)  # type: ignore[call-arg]
            else:
                await prepare(ch, ch.label, ask["d"], service, lang, tz)  # type: ignore[call-arg, arg-type]
            out = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c}
            print(json.dumps(out), flush=True)
    finally:
        await close_db()


def versus(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Whole replies of two checkouts side by side: `--versus DIR` (before) and this one
    (after), each a process of its own (its own imports, its own SQLite connection),
    asked the same (channel, days) in turn, the order alternating, so that both see the
    same load. `--replies` random pairs over the `--channels` biggest... sampled
    channels, then `--worst-runs` of the biggest channel at each days value."""
    import sqlite3

    def spawn(root: str) -> subprocess.Popen[str]:
        py = Path(root) / ".venv" / "bin" / "python"
        return subprocess.Popen(
            [str(py if py.exists() else sys.executable), __file__, "--worker", root, "--url", url,
             "--now", args.now, "--tz", args.tz, "--lang", args.lang],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    if url.startswith("sqlite"):
        conn = sqlite3.connect(f"file:{url.split('://', 1)[1]}?mode=ro", uri=True)
        rows = conn.execute("SELECT id FROM channel ORDER BY messages_count DESC").fetchall()
        conn.close()
        ids = [int(r[0]) for r in rows]
    else:
        ids = asyncio.run(_pg_ids(url))
    rng = random.Random(args.seed)
    sample = ids[:3] + rng.sample(ids[3:], min(len(ids) - 3, max(0, args.channels - 3)))
    days = [int(d) for d in args.days.split(",")]
    sides = {"before": spawn(args.versus), "after": spawn(str(REPO_ROOT))}

    def ask(side: str, cid: int, d: int) -> tuple[float, float]:
        proc = sides[side]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"cid": cid, "d": d}) + "\n")
        proc.stdin.flush()
        got = json.loads(proc.stdout.readline())
        return float(got["wall"]), float(got["cpu"])

    def pair(cid: int, d: int, i: int) -> dict[str, tuple[float, float]]:
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        return {side: ask(side, cid, d) for side in order}

    try:
        for side in sides:  # warm: imports, caches
            ask(side, ids[0], max(days))
        out: dict[str, Any] = {"versus": args.versus, "url": url.split("@")[-1]}
        runs = [pair(rng.choice(sample), rng.choice(days), i) for i in range(args.replies)]
        out["all"] = {
            side: summary([r[side][0] for r in runs], [r[side][1] for r in runs]) for side in sides
        }
        worst: dict[str, Any] = {}
        for d in days:
            got = [pair(ids[0], d, i) for i in range(args.worst_runs)]
            worst[str(d)] = {
                side: summary([r[side][0] for r in got], [r[side][1] for r in got])
                for side in sides
            }
        out["biggest_channel"] = worst
        return out
    finally:
        for proc in sides.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)


async def _pg_ids(url: str) -> list[int]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id FROM channel ORDER BY messages_count DESC")
        return [int(r["id"]) for r in rows]
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--url", help="an archive (sqlite:///path or postgres://...)")
    ap.add_argument("--messages", type=int, default=200_000, help="without --url")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--channels", type=int, default=20, help="channels sampled")
    ap.add_argument("--days", default="7,30,90,365")
    ap.add_argument("--worst-runs", type=int, default=5)
    ap.add_argument("--tz", default="Europe/Moscow")
    ap.add_argument("--now", default="2026-11-30T00:00:00+00:00", help="archive_gen's --until")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument(
        "--replies",
        type=int,
        default=100,
        help="whole /stats replies (queries + charts) over random channels",
    )
    ap.add_argument(
        "--no-reply", dest="reply", action="store_false", help="time the metric query alone"
    )
    ap.add_argument("--lang", default="ru", help="the charts' language")
    ap.add_argument(
        "--versus",
        metavar="DIR",
        help="another checkout (its .venv): time its replies and this one's side by side",
    )
    ap.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    url = args.url
    if args.worker:
        asyncio.run(worker(args.worker, url, args.now, args.tz, args.lang))
        return
    if args.versus:
        print(json.dumps(versus(args, url), indent=1))
        return
    tmp = None
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-stats-")
        url = f"sqlite://{tmp.name}/archive.sqlite3"
        gen = subprocess.run(
            [sys.executable, str(REPO_ROOT / "bench" / "archive_gen.py"), "--url", url,
             "--messages", str(args.messages), "--until", args.now],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        print("generated:", gen.stdout.strip(), file=sys.stderr)
    try:
        print(json.dumps(asyncio.run(bench(args, url)), indent=1))
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
