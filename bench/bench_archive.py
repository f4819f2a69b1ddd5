"""P7 (issue #20): a big archive as the operator lives with it, SQLite or PostgreSQL.

Given `--url` of an archive bench/archive_gen.py made searchable (`--texts zipf
--search`; 10 million messages over 1,000 channels for P7), each step in turn:

- size: the database's bytes (SQLite: the file with its WAL; PostgreSQL:
  pg_database_size) per stored message, against the raw text (the UTF-8 bytes of
  text + content_text); the ratio; where the bytes are (tables and their indexes).
- search: `/search` as the bot runs it (services.archive.ArchiveService.search ->
  db.search.search_messages, the first page of bot.routers.search.PER_PAGE hits):
  Russian and English single words drawn by rank from archive_gen's Zipf vocabulary
  (common, middling, rare; inflected forms), two words, a prefix*, and "phrases" cut
  from stored texts; p50 / p99 / max overall and by kind, and the hits.
- stats: bench/bench_stats.py run on the archive as a child process (the metric query
  of /stats over random channels and periods, then whole replies with the charts);
  its p99s.
- export: the CSV export /export makes (ArchiveService.export, 50 MB upload limit) of
  the newest ~`--export-rows` messages (every channel, a date range) in a child
  process: rows, seconds, files, peak RSS, and the RSS sampled every 50,000 rows (the
  export's progress callback) to show whether it stays flat.
- startup: the app (`python -m app.cli run`, the Bot API double in this process, no
  Telegram account: nothing to connect to) started on the archive, until its first
  getUpdates poll and until it answers /status; its RSS then.
- check (SQLite): the background integrity check as app/maintenance.py runs it
  (db.sqlite_files.quick_check: `PRAGMA quick_check` throttled by a progress handler
  that sleeps 1 ms every 20,000 VM steps), its wall time; `--check-unthrottled` times
  the bare PRAGMA too.

Every figure line names the database and the archive size. `--json FILE` writes them.

    .venv/bin/python bench/archive_gen.py --url sqlite:///work/arch/arch10m.sqlite3 \\
        --messages 10000000 --channels 1000 --texts zipf --search --stem-workers 2
    .venv/bin/python bench/bench_archive.py --url sqlite:///work/arch/arch10m.sqlite3
    .venv/bin/python bench/bench_archive.py --url postgres://postgres@127.0.0.1:55461/arch10m
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_stats import pct  # noqa: E402

STEPS = ("size", "search", "stats", "export", "startup", "check")


def engine(url: str) -> str:
    return "SQLite" if url.startswith("sqlite://") else "PostgreSQL"


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://"))


def sqlite_bytes(path: Path) -> int:
    """The file and its WAL."""
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def label(url: str, messages: int) -> str:
    return f"[{engine(url)}, {messages / 1e6:.2f}M messages]"


def ms(values: list[float], q: float) -> float:
    return round(pct(values, q) * 1000, 1)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _count(url: str) -> int:
    from tortoise import connections

    from db.database import close_db, init_db

    await init_db(url, migrate=False)
    try:
        rows = await connections.get("default").execute_query_dict(
            "SELECT count(*) AS n FROM message"
        )
        return int(rows[0]["n"])
    finally:
        await close_db()


# -- size --------------------------------------------------------------------------


async def size(url: str, messages: int, breakdown: bool) -> dict[str, Any]:
    from tortoise import connections

    from db.database import close_db, init_db

    await init_db(url, migrate=False)
    try:
        conn = connections.get("default")
        sqlite = engine(url) == "SQLite"
        if sqlite:
            raw = await conn.execute_query_dict(
                "SELECT sum(length(CAST(text AS BLOB))) AS t,"
                " sum(length(CAST(content_text AS BLOB))) AS c FROM message"
            )
            db_bytes = sqlite_bytes(sqlite_path(url))
        else:
            raw = await conn.execute_query_dict(
                "SELECT sum(octet_length(text)) AS t, sum(octet_length(content_text)) AS c"
                " FROM message"
            )
            got = await conn.execute_query_dict(
                "SELECT pg_database_size(current_database()) AS b"
            )
            db_bytes = int(got[0]["b"])
        raw_bytes = int(raw[0]["t"] or 0) + int(raw[0]["c"] or 0)
        out: dict[str, Any] = {
            "db_bytes": db_bytes,
            "raw_text_bytes": raw_bytes,
            "db_bytes_per_message": round(db_bytes / messages, 1),
            "raw_bytes_per_message": round(raw_bytes / messages, 1),
            "ratio": round(db_bytes / raw_bytes, 2) if raw_bytes else None,
        }
        if breakdown:
            if sqlite:
                # dbstat reads every page: a minute or two on a 10M archive.
                rows = await conn.execute_query_dict(
                    "SELECT name, sum(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC"
                )
                parts = {str(r["name"]): int(r["b"]) for r in rows}
            else:
                rows = await conn.execute_query_dict(
                    "SELECT c.relname AS name, pg_relation_size(c.oid) AS b FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't', 'm')"
                    " ORDER BY b DESC"
                )
                parts = {str(r["name"]): int(r["b"]) for r in rows}
                toast = await conn.execute_query_dict(
                    "SELECT pg_total_relation_size('message') - pg_relation_size('message')"
                    " - pg_indexes_size('message') AS b"
                )
                parts["message (TOAST)"] = int(toast[0]["b"])
            out["parts_bytes_per_message"] = {
                k: round(v / messages, 1) for k, v in parts.items() if v >= messages // 10
            }
        return out
    finally:
        await close_db()


# -- search ------------------------------------------------------------------------


def search_queries(
    count: int, seed: int, phrases: list[str], rng: random.Random
) -> list[tuple[str, str]]:
    """(kind, query) pairs: words by their rank in archive_gen's Zipf vocabulary."""
    from archive_gen import EN_ENDINGS, RU_ENDINGS, zipf_vocab

    v = zipf_vocab(seed)
    stop = 10  # the first ranks are stop words

    def form(words: list[str], lo: int, hi: int, endings: list[str]) -> str:
        w = words[rng.randrange(stop + lo, min(hi, len(words)))]
        return w + (rng.choice(endings) if len(w) > 3 else "")

    kinds = {
        "ru common word": lambda: form(v.ru, 0, 300, RU_ENDINGS),
        "ru middling word": lambda: form(v.ru, 300, 5000, RU_ENDINGS),
        "ru rare word": lambda: form(v.ru, 20000, 60000, RU_ENDINGS),
        "en common word": lambda: form(v.en, 0, 300, EN_ENDINGS),
        "en rare word": lambda: form(v.en, 10000, 30000, EN_ENDINGS),
        "ru two words": lambda: " ".join(
            (form(v.ru, 0, 300, RU_ENDINGS), form(v.ru, 300, 5000, RU_ENDINGS))
        ),
        "ru prefix*": lambda: v.ru[rng.randrange(stop + 100, 3000)][:5] + "*",
        "phrase from a post": lambda: f'"{rng.choice(phrases)}"',
    }
    if not phrases:
        del kinds["phrase from a post"]
    names = list(kinds)
    return [(names[i % len(names)], kinds[names[i % len(names)]]()) for i in range(count)]


async def _phrases(rng: random.Random, n: int) -> list[str]:
    """Two or three consecutive words of `n` random stored posts."""
    from tortoise import connections

    from core.words import words

    conn = connections.get("default")
    top = await conn.execute_query_dict("SELECT max(id) AS n FROM message")
    hi = int(top[0]["n"] or 0)
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < n * 20 and hi:
        tries += 1
        mid = rng.randint(1, hi)
        sql = "SELECT text FROM message WHERE id = " + str(mid)
        rows = await conn.execute_query_dict(sql)
        ws = [w for w in words(rows[0]["text"] or "") if len(w) > 2] if rows else []
        if len(ws) < 3:
            continue
        k = rng.randint(2, 3)
        i = rng.randrange(len(ws) - k + 1)
        out.append(" ".join(ws[i : i + k]))
    return out


async def search(
    url: str, queries: int, seed: int, warm: int, timeout: float | None = None
) -> dict[str, Any]:
    from bot.routers.search import PER_PAGE
    from db.database import close_db, init_db
    from services.archive import ArchiveService

    rng = random.Random(seed + 20)
    await init_db(url, migrate=False)
    try:
        archive = ArchiveService(upload_limit_mb=50)
        phrases = await _phrases(rng, max(10, queries // 8))
        plan = search_queries(queries + warm, seed, phrases, rng)
        by_kind: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        times: list[float] = []
        slowest: list[tuple[float, str, int]] = []
        timed_out = 0
        for i, (kind, q) in enumerate(plan):
            t0 = time.perf_counter()
            try:
                page = await asyncio.wait_for(archive.search(q, 0, PER_PAGE), timeout)
                total = page.total
            except TimeoutError:  # counted as `timeout` seconds (a lower bound)
                timed_out += 1
                total = -1
            dt = time.perf_counter() - t0
            if i < warm:
                continue  # a running app's caches are warm
            times.append(dt)
            by_kind.setdefault(kind, []).append(dt)
            hits.setdefault(kind, []).append(total)
            slowest.append((dt, q, total))
        slowest.sort(reverse=True)
        return {
            "queries": len(times),
            "p50_ms": ms(times, 0.5),
            "p99_ms": ms(times, 0.99),
            "max_ms": round(max(times) * 1000, 1),
            "timed_out": timed_out,
            "timeout_s": timeout,
            "by_kind": {
                k: {
                    "n": len(ts),
                    "p50_ms": ms(ts, 0.5),
                    "p99_ms": ms(ts, 0.99),
                    "max_ms": round(max(ts) * 1000, 1),
                    "median_hits": int(statistics.median(hits[k])),
                }
                for k, ts in by_kind.items()
            },
            "slowest": [
                {"ms": round(dt * 1000, 1), "query": q, "hits": n} for dt, q, n in slowest[:5]
            ],
        }
    finally:
        await close_db()


# -- stats -------------------------------------------------------------------------


def stats(url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(REPO_ROOT / "bench" / "bench_stats.py"),
        "--url",
        url,
        "--queries",
        str(args.stats_queries),
        "--replies",
        str(args.stats_replies),
        "--now",
        args.now,
    ]
    if args.stats_replies == 0:
        cmd.append("--no-reply")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench_stats failed:\n{proc.stderr[-3000:]}")
    got: dict[str, Any] = json.loads(proc.stdout)
    out: dict[str, Any] = {
        "command": shlex.join(cmd),
        "metric_query": got["all"],
        "metric_query_biggest_channel": got["biggest_channel"],
    }
    if "reply" in got:
        out["reply"] = got["reply"]["all"]
        out["reply_biggest_channel"] = got["reply"]["biggest_channel"]
    out["raw"] = got
    return out


# -- export ------------------------------------------------------------------------


async def _newest_since(rows: int) -> datetime:
    """The date from which the newest `rows` messages were posted."""
    from tortoise import connections

    from db.export import parse_time

    conn = connections.get("default")
    got = await conn.execute_query_dict(
        f"SELECT date FROM message ORDER BY date DESC LIMIT 1 OFFSET {int(rows) - 1}"
    )
    if not got:
        return datetime(1970, 1, 1, tzinfo=UTC)
    when = got[0]["date"]
    parsed = when if isinstance(when, datetime) else parse_time(when)
    assert parsed is not None
    return parsed


async def export_child(url: str, rows: int, out_dir: Path) -> dict[str, Any]:
    from core.archive import ExportFormat
    from db.database import close_db, init_db
    from services.archive import ArchiveService

    await init_db(url, migrate=False)
    try:
        since = await _newest_since(rows)
        archive = ArchiveService(upload_limit_mb=50, work_dir=out_dir)
        samples: list[tuple[int, float]] = []
        base = rss_mb()

        async def progress(done: int) -> None:
            samples.append((done, round(rss_mb(), 1)))

        t0 = time.perf_counter()
        result = await archive.export(None, ExportFormat.CSV, since, None, progress=progress)
        seconds = time.perf_counter() - t0
        files = [(p.name, p.stat().st_size) for p in result.files]
        await archive.cleanup(result)
    finally:
        await close_db()
    return {
        "since": since.isoformat(),
        "rows": result.rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(result.rows / seconds),
        "files": len(files),
        "bytes": sum(b for _, b in files),
        "rss_before_mb": round(base, 1),
        "rss_samples": samples,  # (rows written, RSS MB) every 50,000 rows
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def export(url: str, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-archive-export-") as tmp:
        cmd = [sys.executable, __file__, "--url", url, "--child-export", str(rows), "--out", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{proc.stderr[-3000:]}")
    got: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    s = got["rss_samples"]

    def at(n: int) -> float | None:
        later = [r for d, r in s if d >= n]
        return later[0] if later else None

    got["rss_at_100k_mb"] = at(100_000)
    got["rss_at_500k_mb"] = at(500_000)
    got["rss_at_end_mb"] = s[-1][1] if s else None
    return got


# -- start-up ----------------------------------------------------------------------


async def startup(url: str) -> dict[str, Any]:
    from _stack import ADMIN2_ID, bot_and_app, proc_status_kb

    with tempfile.TemporaryDirectory(prefix="bench-archive-app-") as tmp:
        # No account: nothing for the userbot to connect to (port 9: discard).
        async with bot_and_app(Path(tmp), 9, DATABASE_URL=url) as stack:
            api = stack.botapi
            t0 = time.monotonic()
            await stack.app.start()
            await api.wait_for_poll(timeout=600)
            t_poll = time.monotonic() - t0
            mark = api.mark()
            await api.send_text(api.users[ADMIN2_ID], "/status")
            await api.wait_for_message(ADMIN2_ID, None, after=mark, timeout=600)
            t_status = time.monotonic() - t0
            # And once more, now that it runs: the reply time a user sees afterwards.
            t1 = time.monotonic()
            mark = api.mark()
            await api.send_text(api.users[ADMIN2_ID], "/status")
            await api.wait_for_message(ADMIN2_ID, None, after=mark, timeout=600)
            again = time.monotonic() - t1
            assert stack.app.proc is not None
            rss = proc_status_kb(stack.app.proc.pid, "VmRSS")
            code = await stack.app.terminate(timeout=60)
            log_tail = stack.app.log()[-2000:] if code != 0 else ""
    return {
        "first_poll_s": round(t_poll, 2),
        "first_status_reply_s": round(t_status, 2),
        "second_status_round_trip_ms": round(again * 1000, 1),
        "rss_mb": round(rss / 1024, 1) if rss else None,
        "exit_code": code,
        "log_tail": log_tail,
    }


# -- integrity check ---------------------------------------------------------------


async def check(url: str, unthrottled: bool) -> dict[str, Any]:
    import sqlite3

    from db.sqlite_files import quick_check

    path = sqlite_path(url)
    t0 = time.perf_counter()
    result = await quick_check(path)
    out: dict[str, Any] = {
        "throttled_seconds": round(time.perf_counter() - t0, 1),
        "result": result,
        "file_bytes": path.stat().st_size,
    }
    if unthrottled:
        t0 = time.perf_counter()
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA quick_check(20)").fetchall()
        finally:
            conn.close()
        out["unthrottled_seconds"] = round(time.perf_counter() - t0, 1)
    return out


# -- report ------------------------------------------------------------------------


def report(url: str, res: dict[str, Any]) -> None:
    lab = label(url, res["messages"])
    if "size" in res:
        s = res["size"]
        print(
            f"{lab} size: {s['db_bytes'] / 2**30:.2f} GiB, {s['db_bytes_per_message']:.0f}"
            f" B/message; raw text {s['raw_bytes_per_message']:.0f} B/message;"
            f" database / raw text = {s['ratio']}"
        )
        for k, v in (s.get("parts_bytes_per_message") or {}).items():
            print(f"{lab}   {k}: {v:.0f} B/message")
    if "search" in res:
        s = res["search"]
        print(
            f"{lab} /search: {s['queries']} queries, p50 {s['p50_ms']} ms, p99 {s['p99_ms']}"
            f" ms, max {s['max_ms']} ms (target p99 <= 150 ms)"
            + (
                f"; {s['timed_out']} cut at {s['timeout_s']} s (counted as that)"
                if s.get("timed_out")
                else ""
            )
        )
        for k, v in s["by_kind"].items():
            print(
                f"{lab}   {k}: p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, max {v['max_ms']}"
                f" ms, median {v['median_hits']:,} hits"
            )
        for q in s["slowest"]:
            print(f"{lab}   slow: {q['ms']} ms {q['query']!r} ({q['hits']:,} hits)")
    if "stats" in res:
        s = res["stats"]
        m = s["metric_query"]
        print(
            f"{lab} /stats metric query: {m['n']} queries, p50 {m['p50_ms']} ms,"
            f" p99 {m['p99_ms']} ms, max {m['max_ms']} ms (target p99 <= 1 s)"
        )
        for d, v in s["metric_query_biggest_channel"].items():
            print(f"{lab}   biggest channel, {d} days: p99 {v['p99_ms']} ms ({v['posts']} posts)")
        if "reply" in s:
            r = s["reply"]
            print(
                f"{lab} /stats whole reply (query + 4 charts): {r['n']} replies, p50"
                f" {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms"
            )
    if "export" in res:
        e = res["export"]
        print(
            f"{lab} CSV export: {e['rows']:,} rows (since {e['since'][:10]}) in"
            f" {e['seconds']} s ({e['rows_per_s']:,} rows/s), {e['files']} file(s),"
            f" {e['bytes'] / 2**20:.0f} MiB; RSS {e['rss_before_mb']} MB before,"
            f" {e['rss_at_100k_mb']} MB at 100k rows, {e['rss_at_500k_mb']} MB at 500k,"
            f" {e['rss_at_end_mb']} MB at the end; peak {e['peak_rss_mb']} MB"
        )
    if "startup" in res:
        s = res["startup"]
        print(
            f"{lab} start-up: first getUpdates poll {s['first_poll_s']} s, first /status"
            f" reply {s['first_status_reply_s']} s after the process started; then /status"
            f" in {s['second_status_round_trip_ms']} ms; RSS {s['rss_mb']} MB;"
            f" exit {s['exit_code']}"
        )
    if "check" in res:
        c = res["check"]
        extra = (
            f", unthrottled PRAGMA quick_check {c['unthrottled_seconds']} s"
            if "unthrottled_seconds" in c
            else ""
        )
        print(
            f"{lab} integrity check (app/maintenance.py: quick_check throttled, 1 ms sleep"
            f" every 20,000 steps): {c['throttled_seconds']} s over"
            f" {c['file_bytes'] / 2**30:.2f} GiB, {c['result']}{extra}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--url", required=True, help="sqlite:///path or postgres://...")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"any of {','.join(STEPS)}")
    ap.add_argument("--queries", type=int, default=400, help="/search queries timed")
    ap.add_argument("--warm", type=int, default=20, help="/search queries run first, not timed")
    ap.add_argument("--seed", type=int, default=17, help="archive_gen's --seed")
    ap.add_argument(
        "--search-timeout",
        type=float,
        help="seconds a /search may take; a slower one is cut and counted as this long",
    )
    ap.add_argument("--now", default="2026-11-30T00:00:00+00:00", help="archive_gen's --until")
    ap.add_argument("--stats-queries", type=int, default=200)
    ap.add_argument("--stats-replies", type=int, default=50, help="0: the metric query alone")
    ap.add_argument("--export-rows", type=int, default=1_000_000)
    ap.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                    help="skip where the bytes are (SQLite: dbstat reads every page)")  # fmt: skip
    ap.add_argument("--check-unthrottled", action="store_true")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--child-export", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    url = args.url
    if args.child_export:
        print(json.dumps(asyncio.run(export_child(url, args.child_export, Path(args.out)))))
        return
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown steps: {', '.join(sorted(unknown))}")
    command = shlex.join([sys.executable, *sys.argv])
    res: dict[str, Any] = {"database": engine(url), "url": url.split("@")[-1]}
    res["messages"] = asyncio.run(_count(url))
    timings: dict[str, float] = {}
    for step in steps:
        t0 = time.perf_counter()
        if step == "size":
            res["size"] = asyncio.run(size(url, res["messages"], args.breakdown))
        elif step == "search":
            res["search"] = asyncio.run(
                search(url, args.queries, args.seed, args.warm, args.search_timeout)
            )
        elif step == "stats":
            res["stats"] = stats(url, args)
        elif step == "export":
            res["export"] = export(url, args.export_rows)
        elif step == "startup":
            res["startup"] = asyncio.run(startup(url))
        elif step == "check":
            if engine(url) != "SQLite":
                continue  # PostgreSQL checks itself; the app runs no check on it
            res["check"] = asyncio.run(check(url, args.check_unthrottled))
        timings[step] = round(time.perf_counter() - t0, 1)
        print(f"... {step} done in {timings[step]} s", file=sys.stderr, flush=True)
    res["step_seconds"] = timings
    res["command"] = command
    res["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report(url, res)
    print(f"command: {command}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

