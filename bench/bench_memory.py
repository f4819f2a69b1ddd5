"""P3 memory: peak RSS of the app process while it backfills a large channel.

For each size (default 100,000 and 1,000,000 messages) a fresh MTProto double process
generates one public channel, the app starts as a separate process with the session
and the channel row stored beforehand, and backfills it on start. Peak RSS is the app
process's VmHWM from /proc/<pid>/status once the backfill is committed (VmRSS is also
polled every 0.2 s). Printed: peak RSS per size, the backfill time and rate.

    .venv/bin/python bench/bench_memory.py [--sizes 100000,1000000] [--text-size 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (
    SeedChannel,
    bot_and_app,
    login,
    proc_status_kb,
    seed_db,
    start_app,
)
from bench_iter_messages import CHANNEL, start_server


async def one_size(port: int, messages: int, tmp: Path, timeout: float) -> dict[str, Any]:
    session, user_id, (entity,) = await login(port, (CHANNEL,))
    async with bot_and_app(tmp, port) as stack:
        seed = SeedChannel(entity.channel_id, entity.access_hash, CHANNEL)
        (row_id,) = await seed_db(stack.env, session, user_id, [seed])
        t0 = time.monotonic()
        pid = await start_app(stack)
        start_rss = proc_status_kb(pid, "VmRSS") or 0
        polled_peak = start_rss
        done = False
        cursor = 0
        last_check = 0.0
        while time.monotonic() - t0 < timeout:
            rss = proc_status_kb(pid, "VmRSS")
            if rss is None:
                raise SystemExit(f"the app exited:\n{stack.app.log()[-3000:]}")
            polled_peak = max(polled_peak, rss)
            if time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                with sqlite3.connect(stack.app.db_path, timeout=10) as conn:
                    cursor, bf = conn.execute(
                        "SELECT cursor, backfill_done FROM channel WHERE id = ?", (row_id,)
                    ).fetchone()
                if bf and cursor >= messages:
                    done = True
                    break
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - t0
        hwm = proc_status_kb(pid, "VmHWM") or 0
        await stack.app.terminate()
    return {
        "messages": messages,
        "done": done,
        "committed": cursor,
        "seconds": elapsed,
        "rate": cursor / elapsed if elapsed else 0.0,
        "vmhwm_mb": hwm / 1024,
        "polled_peak_mb": polled_peak / 1024,
        "start_rss_mb": start_rss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--text-size", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per size")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            server, port = start_server(size, args.text_size, Path(tmp))
            built = time.monotonic() - t0
            try:
                result = asyncio.run(one_size(port, size, Path(tmp), args.timeout))
            finally:
                server.terminate()
                server.wait(timeout=30)
        result["double_build_seconds"] = built
        results.append(result)
        print(json.dumps(result), flush=True)
    print("peak RSS of the app process while backfilling (MTProto double in its own process)")
    print("| messages | committed | backfill s | msgs/s | VmHWM MB | polled peak MB |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['messages']:,} | {r['committed']:,}{'' if r['done'] else ' (timeout)'} "
            f"| {r['seconds']:.0f} | {r['rate']:,.0f} | {r['vmhwm_mb']:.0f} "
            f"| {r['polled_peak_mb']:.0f} |"
        )
    print(f"command: {command}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command, "results": results}))


if __name__ == "__main__":
    main()
