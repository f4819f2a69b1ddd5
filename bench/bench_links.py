"""What the graph's links cost at ingest (#17): CPU time of db/links.py `links_sqlite`,
the hook store_batch runs on the database thread for every batch, per message row.

Rows of 100 in ascending id (a batch), written to a migrated SQLite file in one
transaction each, the hook timed alone (thread CPU time, so a busy machine inflates
it less than wall time). Texts:
- "Message <id>": the ingest benchmark's posts (no '@', no '/': the prefilter only);
- 300 characters of words (bench_ingest.py --text-size 300);
- linked: every post with an @name and a t.me link, every fifth a channel forward
  (the worst case: every row extracted and written).
Compare with the database thread's CPU per message of bench_ingest.py (~40 us).

    .venv/bin/python bench/bench_links.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from core.parsing import COLUMNS, Row  # noqa: E402
from db.links import links_sqlite  # noqa: E402
from tests.doubles.mtproto.__main__ import filler_text  # noqa: E402

BATCH = 100
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def make_row(channel_id: int, msg_id: int, text: str, fwd: str | None = None) -> Row:
    values = {
        "channel_id": channel_id, "msg_id": msg_id, "date": NOW - timedelta(seconds=msg_id),
        "text": text, "fwd_from": fwd, "fetched_at": NOW,
    }
    return tuple(values.get(c) for c in COLUMNS)


def linked_text(msg_id: int) -> str:
    return f"Post {msg_id} via @chan_{msg_id % 500:03d}, more at https://t.me/src_{msg_id % 50}/7"


def forward(msg_id: int) -> str | None:
    if msg_id % 5:
        return None
    return json.dumps({"from_type": "channel", "from_id": 10_000 + msg_id % 300,
                       "title": "Source", "username": f"source_{msg_id % 300}"})


async def migrated(path: Path) -> int:
    from db.database import close_db, init_db
    from db.models import Channel

    await init_db(f"sqlite://{path}")
    try:
        return (await Channel.create(tg_id=777, access_hash=1, username="bench")).id
    finally:
        await close_db()


def measure(path: Path, channel_id: int, messages: int, text: Callable[[int], str],
            fwd: Callable[[int], str | None]) -> tuple[float, int]:
    """(us of hook CPU per row, link rows written)."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DELETE FROM message_link")
    spent = 0.0
    try:
        for start in range(1, messages + 1, BATCH):
            rows = [make_row(channel_id, i, text(i), fwd(i))
                    for i in range(start, min(start + BATCH, messages + 1))]
            raw.execute("BEGIN")
            c0 = time.thread_time()
            links_sqlite(raw, channel_id, rows, [])
            spent += time.thread_time() - c0
            raw.execute("COMMIT")
        written = raw.execute("SELECT COUNT(*) FROM message_link").fetchone()[0]
    finally:
        raw.close()
    return spent / messages * 1e6, int(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "links.sqlite3"
        channel_id = asyncio.run(migrated(path))
        cases: list[tuple[str, Callable[[int], str], Callable[[int], str | None]]] = [
            ('"Message <id>"', lambda i: f"Message {i}", lambda i: None),
            ("300 chars of words", filler_text(300), lambda i: None),
            ("linked (all; 1 in 5 forwarded)", linked_text, forward),
        ]
        print(f"messages: {args.messages:,} per case, batches of {BATCH}, median of {args.runs}")
        for name, text, fwd in cases:
            results = [measure(path, channel_id, args.messages, text, fwd)
                       for _ in range(args.runs)]
            us = statistics.median(r[0] for r in results)
            print(f"{name:34} {us:6.2f} us CPU per message, {results[0][1]:,} link rows")


if __name__ == "__main__":
    main()
