"""Ingest throughput: ChannelFetcher into SQLite vs plain Telethon `iter_messages`.

The MTProto double runs as a separate process with one public channel of N
messages. This process logs in once, then alternates `--runs` times: a plain
`iter_messages(reverse=True, wait_time=0)` pass, and a full backfill by the app's
`ChannelFetcher` into a fresh SQLite database (batch upserts + cursor + full-text
index), alternating which goes first. Printed: median messages/s of both, the median
of the per-run ratios, CPU per message of the event-loop thread (plain vs ingest)
and of the database thread, and peak RSS.

    .venv/bin/python bench/bench_ingest.py [--messages 100000] [--runs 3] [--text-size 0]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


async def bench(
    port: int, messages: int, runs: int, workdir: Path, database: str | None = None
) -> None:
    from db.channels import ChannelStateRepository
    from db.database import close_db, init_db
    from db.messages import MessageRepository
    from db.models import Channel
    from services.parsing.ingest import ChannelFetcher
    from tests.doubles.mtproto import signed_in_client

    plain: list[float] = []
    ingest: list[float] = []
    ratios: list[float] = []
    plain_cpu: list[float] = []
    ingest_cpu: list[float] = []
    writer_cpu: list[float] = []
    async with signed_in_client(port, PHONE, CODE) as (client, _me):
        entity = await client.get_input_entity(CHANNEL)
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

        for run in range(runs):
            # Alternate which goes first, so a slow spell of the machine hits both.
            if run % 2 == 0:
                await plain_pass()
                await ingest_pass(run)
            else:
                await ingest_pass(run)
                await plain_pass()
            ratios.append(ingest[-1] / plain[-1])
            line = (
                f"run {run + 1}: plain {plain[-1]:,.0f}/s, ingest {ingest[-1]:,.0f}/s, "
                f"ratio {ratios[-1]:.2f}"
            )
            print(line, flush=True)
    p, i = statistics.median(plain), statistics.median(ingest)
    med = statistics.median
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages: {messages:,}")
    print(f"plain iter_messages: {p:,.0f} msgs/s (median of {runs})")
    where = "PostgreSQL" if database else "SQLite"
    print(f"ingest into {where}:  {i:,.0f} msgs/s (median of {runs})")
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    print(f"ratio: {med(ratios):.2f} (median of the paired runs; {spread})")
    print(
        f"event-loop thread CPU per message: plain {med(plain_cpu):.1f} us, "
        f"ingest {med(ingest_cpu):.1f} us; database thread {med(writer_cpu):.1f} us"
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
            asyncio.run(bench(port, args.messages, args.runs, Path(tmp), args.database))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
