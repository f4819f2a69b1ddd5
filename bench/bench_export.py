"""Export and search over a large archive: time and peak RSS, search latency.

Builds a temporary SQLite database with the app's migrations, fills it with N messages
by stdlib `executemany` with their stems (`terms`, as the ingest path stores them), then
indexes them as the ingest path does (INDEX_PENDING),
then runs each measurement in its own process so peak RSS is that step's alone:

- export to CSV and to XLSX through `services.export.export_messages` (the bot's code path,
  zip parts at the 50 MB upload limit);
- `/search` latency: `db.search.search_messages` first pages for random 1-2 word
  queries (full words and prefixes), p50/p99.

    .venv/bin/python bench/bench_export.py [--messages 1000000] [--queries 300]
        [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SYLLABLES_RU = "ка ло ми но ра ст пр ви де ти ль на ре ко по то ма бо гу зе".split()
SYLLABLES_EN = "ta le mi no ra st pr vi de ti on an re co po to ma bo gu ze".split()


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    words = set()
    while len(words) < size:
        syl = SYLLABLES_RU if rng.random() < 0.7 else SYLLABLES_EN
        words.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _migrate(db_path: Path) -> None:
    from db.database import close_db, init_db

    await init_db(f"sqlite://{db_path}")
    await close_db()


def generate(db_path: Path, n: int) -> dict[str, Any]:
    from core.words import terms  # the stems the ingest path stores with every row

    asyncio.run(_migrate(db_path))
    rng = random.Random(42)
    vocab = _vocabulary(rng)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    now = "2026-01-01 00:00:00+00:00"
    conn.executemany(
        "INSERT INTO channel (tg_id, username, title, kind, status, cursor, history_mode,"
        " backfill_done, comments_enabled, messages_count, added_at)"
        " VALUES (?, ?, ?, 'channel', 'active', 0, 'all', 1, 0, 0, ?)",
        [(-1001000000000 - i, f"chan{i}", f"Канал {i}", now) for i in range(10)],
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    batch: list[tuple[Any, ...]] = []
    for i in range(n):
        words = rng.choices(vocab, k=rng.randint(8, 40))
        if i % 7 == 0:
            words.insert(rng.randrange(len(words)), "\n")
        text = " ".join(words).capitalize() + "."
        date = (start + timedelta(seconds=30 * i)).strftime("%Y-%m-%d %H:%M:%S+00:00")
        reactions = json.dumps({"👍": rng.randint(0, 50)}) if i % 3 == 0 else None
        views = rng.randint(0, 10**5)
        batch.append((i % 10 + 1, i // 10 + 1, date, text, views, reactions, now, terms(text)))
        if len(batch) == 10_000:
            conn.executemany(
                "INSERT INTO message (channel_id, msg_id, date, text, views, reactions,"
                " fetched_at, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany(
            "INSERT INTO message (channel_id, msg_id, date, text, views, reactions,"
            " fetched_at, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        conn.commit()
    # As the app leaves an archive: the ingest path indexes each batch for search.
    from db.messages import INDEX_PENDING

    for sql in INDEX_PENDING:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return {"seconds": time.perf_counter() - t0, "db_mb": db_path.stat().st_size / 2**20}


async def _export(db_path: Path, fmt: str, out: Path) -> dict[str, Any]:
    from core.archive import ExportFormat, ExportQuery
    from db.database import close_db, init_db
    from services.export import export_messages

    await init_db(f"sqlite://{db_path}", migrate=False)
    try:
        t0 = time.perf_counter()
        result = await export_messages(ExportQuery(), ExportFormat(fmt), out, "bench", 50 * 2**20)
        seconds = time.perf_counter() - t0
    finally:
        await close_db()
    return {
        "rows": result.rows,
        "files": len(result.files),
        "total_mb": sum(p.stat().st_size for p in result.files) / 2**20,
        "seconds": seconds,
        "rows_per_s": result.rows / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


async def _search(db_path: Path, queries: int) -> dict[str, Any]:
    from db.database import close_db, init_db
    from db.search import search_messages

    rng = random.Random(7)
    vocab = _vocabulary(random.Random(42))
    await init_db(f"sqlite://{db_path}", migrate=False)
    times: list[float] = []
    totals: list[int] = []
    try:
        for i in range(queries):
            words = rng.sample(vocab, 1 if i % 2 else 2)
            if i % 3 == 0:
                words[0] = words[0][:3] + "*"  # a prefix query (core.words syntax)
            t0 = time.perf_counter()
            page = await search_messages(" ".join(words), 0, 5)
            times.append(time.perf_counter() - t0)
            totals.append(page.total)
    finally:
        await close_db()
    times.sort()
    return {
        "queries": queries,
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "max_ms": times[-1] * 1000,
        "median_hits": statistics.median(totals),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(args: argparse.Namespace) -> None:
    db_path = Path(args.db)
    if args.step == "generate":
        res = generate(db_path, args.messages)
    elif args.step == "search":
        res = asyncio.run(_search(db_path, args.queries))
    else:
        res = asyncio.run(_export(db_path, args.step, Path(args.out) / args.step))
    res["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(res))


def _run_step(step: str, args: argparse.Namespace, db: Path, out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        step,
        "--db",
        str(db),
        "--out",
        str(out),
        "--messages",
        str(args.messages),
        "--queries",
        str(args.queries),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", help="work directory to keep (default: a temp dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.step = args.child
        _child(args)
        return
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.sqlite3"
    if not db.exists():
        gen = _run_step("generate", args, db, work)
        print(
            f"generated {args.messages:,} messages in {gen['seconds']:.1f} s "
            f"(full-text indexed), database {gen['db_mb']:.0f} MB",
            flush=True,
        )
    for fmt in ("csv", "xlsx"):
        r = _run_step(fmt, args, db, work)
        print(
            f"export {fmt}: {r['rows']:,} rows in {r['seconds']:.1f} s "
            f"({r['rows_per_s']:,.0f} rows/s), {r['files']} file(s), {r['total_mb']:.0f} MB, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    s = _run_step("search", args, db, work)
    print(
        f"search: {s['queries']} queries, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
        f"max {s['max_ms']:.1f} ms (median {s['median_hits']:,.0f} hits), "
        f"peak RSS {s['peak_rss_mb']:.0f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
