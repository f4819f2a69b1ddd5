"""Stemmed search on a big archive: the upgrade's index rebuild and the search latency.

1. Builds an archive of N messages as an older version left it: the app's migrations up
   to 0005 (words in `text`, no `terms`), filled by stdlib executemany with Russian and
   English texts whose words come in several inflected forms, Zipf-distributed.
2. Migrates it to the end as the app's start does (0006: the stemmed FTS5 index; the
   old rows go in as empty documents) and times that.
3. Runs the background rebuild (services.search_index.SearchIndexRebuild, 1,000 rows a
   transaction) to the end and reports its rate, while a probe measures what the bot
   would feel meanwhile: the event loop's lag (a 10 ms timer) and a small query's
   latency (the /status kind), p50/p99/max.
4. `/search` latency (db.search.search_messages, the first page of 5 as the bot asks):
   one word, two words, a phrase, an exclusion, a prefix; p50/p99/max and median hits.

    .venv/bin/python bench/bench_search.py [--messages 1000000] [--queries 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.old_archive import migrate_to  # noqa: E402

SYL_RU = "ка ло ми но ра ст пр ви де ти ль на ре ко по то ма бо гу зе вы бо ры мо скв".split()
SYL_EN = "ta le mi no ra st pr vi de ti on an re co po to ma bo gu ze".split()
# Endings the Snowball stemmers strip: each stem appears in several forms.
END_RU = ["", "а", "ы", "е", "у", "ой", "ами", "ах", "ов", "ом", "и"]
END_EN = ["", "s", "ed", "ing", "er"]
STOP = ["в", "и", "на", "с", "по", "the", "a", "of", "к", "не"]


def vocabulary(rng: random.Random, size: int) -> list[tuple[str, list[str]]]:
    """`size` stems, each with its inflected forms; Cyrillic 70 %."""
    seen: set[str] = set()
    out: list[tuple[str, list[str]]] = []
    while len(out) < size:
        ru = rng.random() < 0.7
        syl = SYL_RU if ru else SYL_EN
        stem = "".join(rng.choice(syl) for _ in range(rng.randint(2, 4)))
        if stem in seen:
            continue
        seen.add(stem)
        ends = END_RU if ru else END_EN
        out.append((stem, [stem + e for e in rng.sample(ends, 4)]))
    return out


def _texts(n: int, vocab_size: int, seed: int = 42) -> Any:
    rng = random.Random(seed)
    vocab = vocabulary(rng, vocab_size)
    cum: list[float] = []
    total = 0.0
    for r in range(len(vocab)):  # Zipf: the r-th word is 1/r as frequent as the first
        total += 1 / (r + 1)
        cum.append(total)
    for i in range(n):
        k = rng.randint(8, 40)
        words = [rng.choice(forms) for _, forms in rng.choices(vocab, cum_weights=cum, k=k)]
        for _ in range(k // 5):
            words.insert(rng.randrange(len(words)), rng.choice(STOP))
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), str(rng.randint(1, 100_000)))
        yield i, " ".join(words).replace("е", "ё", 1 if i % 11 == 0 else 0) + "."


def build_old_archive(path: Path, n: int, vocab_size: int) -> float:
    migrate_to(path, "0005_content", timeout=None)
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executemany(
        "INSERT INTO channel (tg_id, username, title, kind, status, cursor, history_mode,"
        " backfill_done, comments_enabled, messages_count, added_at)"
        " VALUES (?, ?, ?, 'channel', 'active', 0, 'all', 1, 0, 0, '2026-01-01')",
        [(-1001000000000 - i, f"chan{i}", f"Канал {i}") for i in range(10)],
    )
    batch: list[tuple[Any, ...]] = []
    for i, text in _texts(n, vocab_size):
        date = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:00:00+00:00"
        batch.append((i % 10 + 1, i // 10 + 1, date, text, "2026-01-01 00:00:00+00:00"))
        if len(batch) == 20_000:
            conn.executemany(
                "INSERT INTO message (channel_id, msg_id, date, text, fetched_at)"
                " VALUES (?, ?, ?, ?, ?)",
                batch,
            )
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany(
            "INSERT INTO message (channel_id, msg_id, date, text, fetched_at)"
            " VALUES (?, ?, ?, ?, ?)",
            batch,
        )
    conn.commit()
    # 0003/0004's text index, as the older version kept it up to date.
    conn.execute(
        "INSERT INTO message_fts(rowid, text) SELECT id, text FROM message"
        " WHERE id > (SELECT indexed_to FROM fts_state)"
    )
    conn.execute("UPDATE fts_state SET indexed_to = (SELECT MAX(id) FROM message)")
    conn.commit()
    conn.close()
    return time.perf_counter() - t0


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def _probe(stop: asyncio.Event, lags: list[float], queries: list[float]) -> None:
    from tortoise import connections

    conn = connections.get("default")
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - t0 - 0.01)
        t0 = time.perf_counter()
        await conn.execute_query_dict("SELECT count(*) AS n FROM channel")
        queries.append(time.perf_counter() - t0)


def _queries(count: int, vocab_size: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    vocab = vocabulary(random.Random(42), vocab_size)
    common = vocab[:200]  # frequent words (Zipf head)
    out: list[tuple[str, str]] = []
    kinds = ["word", "two words", "phrase", "exclusion", "prefix", "rare word"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        (s1, f1), (_, f2) = rng.sample(common, 2)
        if kind == "word":
            q = rng.choice(f1)
        elif kind == "two words":
            q = f"{rng.choice(f1)} {rng.choice(f2)}"
        elif kind == "phrase":
            q = f'"{rng.choice(f1)} {rng.choice(f2)}"'
        elif kind == "exclusion":
            q = f"{rng.choice(f1)} -{rng.choice(f2)}"
        elif kind == "prefix":
            q = s1[:3] + "*"
        else:
            q = rng.choice(rng.choice(vocab[-5000:])[1])
        out.append((kind, q))
    return out


async def run(path: Path, n: int, queries: int, vocab_size: int) -> None:
    from db.database import close_db, init_db
    from db.search import pending_index, search_messages
    from services.search_index import SearchIndexRebuild

    t0 = time.perf_counter()
    await init_db(f"sqlite://{path}")
    print(f"migration 0006 on {n:,} messages: {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        pending = await pending_index()
        rebuild = SearchIndexRebuild(chunk=1000)
        stop = asyncio.Event()
        lags: list[float] = []
        small: list[float] = []
        probe = asyncio.create_task(_probe(stop, lags, small))
        t0 = time.perf_counter()
        done = await rebuild.rebuild(pending)
        seconds = time.perf_counter() - t0
        stop.set()
        await probe
        print(
            f"rebuild: {done:,} messages stemmed and indexed in {seconds:.1f} s "
            f"({done / seconds:,.0f} messages/s)",
            flush=True,
        )
        print(
            f"meanwhile: event-loop lag p50 {_pct(lags, 0.5) * 1000:.1f} ms, "
            f"p99 {_pct(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms; "
            f"a small query p50 {_pct(small, 0.5) * 1000:.1f} ms, "
            f"p99 {_pct(small, 0.99) * 1000:.1f} ms, max {max(small) * 1000:.1f} ms "
            f"({len(small)} probes)",
            flush=True,
        )
        by_kind: dict[str, list[float]] = {}
        times: list[float] = []
        hits: list[int] = []
        for kind, q in _queries(queries, vocab_size):
            t0 = time.perf_counter()
            page = await search_messages(q, 0, 5)
            dt = time.perf_counter() - t0
            times.append(dt)
            by_kind.setdefault(kind, []).append(dt)
            hits.append(page.total)
        print(
            f"search: {len(times)} queries, p50 {_pct(times, 0.5) * 1000:.1f} ms, "
            f"p99 {_pct(times, 0.99) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
            f"(median {statistics.median(hits):,.0f} hits)",
            flush=True,
        )
        for kind, ts in by_kind.items():
            print(
                f"  {kind}: p50 {_pct(ts, 0.5) * 1000:.1f} ms, max {max(ts) * 1000:.1f} ms",
                flush=True,
            )
    finally:
        await close_db()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--vocabulary", type=int, default=30_000)
    parser.add_argument("--keep", help="work directory to keep (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "search.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    seconds = build_old_archive(db, args.messages, args.vocabulary)
    print(
        f"old archive: {args.messages:,} messages (migrations to 0005, text index) in "
        f"{seconds:.1f} s, {db.stat().st_size / 2**20:.0f} MB",
        flush=True,
    )
    asyncio.run(run(db, args.messages, args.queries, args.vocabulary))


if __name__ == "__main__":
    main()
