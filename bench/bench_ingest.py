"""Ingest throughput: ChannelFetcher into SQLite (or PostgreSQL) vs the protocol limit.

The MTProto double runs as a separate process with one public channel of N
messages. This process logs in once, then runs `--runs` rounds of three passes over
the whole channel, in an order that rotates each round so a slow spell of the machine
hits all three:

- raw: `messages.getHistory` paging as the protocol allows it and nothing else: pages
  of 100 oldest first, the next request sent before the page in hand is counted (one
  request ahead), the answers decoded by Telethon into its TL objects, nothing done
  with the messages (issue #20's yardstick);
- plain: Telethon's `iter_messages(reverse=True, wait_time=0)` (the first wave's);
- ingest: a full backfill by the app's `ChannelFetcher` into a fresh database (rows,
  batch upserts, cursor, full-text index).

Printed: median messages/s of each, the medians of the per-round ratios ingest / raw
(target >= 0.9) and ingest / plain, CPU per message of the event-loop thread (raw,
plain, ingest) and of the database thread, and peak RSS.

    .venv/bin/python bench/bench_ingest.py [--messages 100000] [--runs 3] [--text-size 0]
        [--database postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_iter_messages import CHANNEL, CODE, PHONE, start_server  # noqa: E402


async def _fresh_postgres(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(
    port: int,
    messages: int,
    runs: int,
    workdir: Path,
    database: str | None = None,
    double_pid: int = 0,
) -> None:
    from db.channels import ChannelStateRepository
    from db.database import close_db, init_db
    from db.messages import MessageRepository
    from db.models import Channel
    from services.parsing.ingest import ChannelFetcher
    from tests.doubles.mtproto import signed_in_client

    raw: list[float] = []
    plain: list[float] = []
    ingest: list[float] = []
    ratios: list[float] = []
    raw_ratios: list[float] = []
    raw_cpu: list[float] = []
    plain_cpu: list[float] = []
    ingest_cpu: list[float] = []
    writer_cpu: list[float] = []
    # The MTProto double's CPU per message of each pass (its own process).
    double_cpu: dict[str, list[float]] = {"raw": [], "plain": [], "ingest": []}
    async with signed_in_client(port, PHONE, CODE) as (client, _me):
        entity = await client.get_input_entity(CHANNEL)
        async def raw_pass() -> None:
            from telethon.tl import functions, types

            def request(offset_id: int) -> Any:
                return client(
                    functions.messages.GetHistoryRequest(
                        peer=entity, offset_id=offset_id, offset_date=None, add_offset=-100,
                        limit=100, max_id=0, min_id=0, hash=0,
                    )
                )

            c0, t0 = time.thread_time(), time.perf_counter()
            count, last = 0, 0
            pending = asyncio.ensure_future(request(1))
            while pending is not None:
                r = await pending
                ids = [m.id for m in r.messages if not isinstance(m, types.MessageEmpty)]
                top = max(ids, default=0)
                # One request ahead: the next page is asked for before this one is counted.
                pending = asyncio.ensure_future(request(top + 1)) if top > last else None
                count += sum(1 for i in ids if i > last)
                last = max(last, top)
            assert count == messages, count
            raw.append(count / (time.perf_counter() - t0))
            raw_cpu.append((time.thread_time() - c0) / count * 1e6)

        async def plain_pass() -> None:
            c0, t0 = time.thread_time(), time.perf_counter()
            count = 0
            async for _m in client.iter_messages(entity, reverse=True, wait_time=0):
                count += 1
            assert count == messages, count
            plain.append(count / (time.perf_counter() - t0))
            plain_cpu.append((time.thread_time() - c0) / count * 1e6)

        async def ingest_pass(run: int) -> None:
            path = workdir / f"ingest{run}.sqlite3"
            if database:
                await _fresh_postgres(database)
            await init_db(database or f"sqlite://{path}")
            try:
                repo, state = MessageRepository(), ChannelStateRepository()
                row = await Channel.create(
                    tg_id=entity.channel_id, access_hash=entity.access_hash, username=CHANNEL
                )
                ch = await state.channel(row.id)
                assert ch is not None
                fetcher = ChannelFetcher(repo, state, refresh_window_hours=0)
                c0, p0, t0 = time.thread_time(), time.process_time(), time.perf_counter()
                result = await fetcher.run(client, ch)
                elapsed = time.perf_counter() - t0
                main = time.thread_time() - c0
                assert result.fetched == messages and result.status == "ok", result
                assert await Channel.get(id=row.id).values_list("cursor", flat=True) > 0
                ingest.append(messages / elapsed)
                ingest_cpu.append(main / messages * 1e6)
                writer_cpu.append((time.process_time() - p0 - main) / messages * 1e6)
            finally:
                await close_db()

        passes = [raw_pass, plain_pass, ingest_pass]
        names = ["raw", "plain", "ingest"]
        for run in range(runs):
            # Rotate the order, so a slow spell of the machine hits all three.
            for k in range(3):
                one = passes[(run + k) % 3]
                d0 = _cpu_of(double_pid) if double_pid else 0.0
                await (one(run) if one is ingest_pass else one())
                if double_pid:
                    used = _cpu_of(double_pid) - d0
                    double_cpu[names[(run + k) % 3]].append(used / messages * 1e6)
            ratios.append(ingest[-1] / plain[-1])
            raw_ratios.append(ingest[-1] / raw[-1])
            line = (
                f"run {run + 1}: raw {raw[-1]:,.0f}/s, plain {plain[-1]:,.0f}/s, "
                f"ingest {ingest[-1]:,.0f}/s, ingest/raw {raw_ratios[-1]:.2f}, "
                f"ingest/plain {ratios[-1]:.2f}"
            )
            print(line, flush=True)
    med = statistics.median
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages: {messages:,}")
    print(f"raw getHistory paging: {med(raw):,.0f} msgs/s (median of {runs})")
    print(f"plain iter_messages:   {med(plain):,.0f} msgs/s (median of {runs})")
    where = "PostgreSQL" if database else "SQLite"
    print(f"ingest into {where}:    {med(ingest):,.0f} msgs/s (median of {runs})")
    for name, values in (("ingest / raw", raw_ratios), ("ingest / plain", ratios)):
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"ratio {name}: {med(values):.2f} (median of the rounds; {spread})")
    print(
        f"event-loop thread CPU per message: raw {med(raw_cpu):.1f} us, plain "
        f"{med(plain_cpu):.1f} us, ingest {med(ingest_cpu):.1f} us; database thread "
        f"{med(writer_cpu):.1f} us"
    )
    if double_pid:
        print(
            "MTProto double's CPU per message (its process): "
            + ", ".join(f"{k} {med(v):.1f} us" for k, v in double_cpu.items())
        )
    print(f"peak RSS of this process: {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--text-size", type=int, default=0)
    parser.add_argument(
        "--database",
        help="a postgres:// URL to ingest into instead of SQLite (its public schema is "
        "dropped and recreated before every run)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(args.messages, args.text_size, Path(tmp))
        try:
            asyncio.run(
                bench(port, args.messages, args.runs, Path(tmp), args.database, proc.pid)
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
