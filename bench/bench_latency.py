"""P2 responsiveness: /status and /channels reply latency, idle and during a backfill.

The app runs as a separate process (tests.e2e harness plumbing), the MTProto double as
another process with one public channel of N messages, the Bot API double in this
process. The operator's session is stored before start; the channel goes in through
`/add @benchchan all`, which starts its backfill at once. Latency is the Bot API
double's delivery of the update (getUpdates answer) to the bot's sendMessage request
(`Incoming.latency_to`); round trips are sequential, alternating /status and /channels.

    .venv/bin/python bench/bench_latency.py [--messages 200000] [--samples 50]
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
    ADMIN2_ID,
    BenchStack,
    bot_and_app,
    login,
    percentile,
    seed_db,
    start_app,
    wait_until,
)
from bench_iter_messages import CHANNEL, start_server


def _channel_state(stack: BenchStack) -> tuple[int, bool] | None:
    with sqlite3.connect(stack.app.db_path, timeout=10) as conn:
        row = conn.execute(
            "SELECT cursor, backfill_done FROM channel WHERE username = ?", (CHANNEL,)
        ).fetchone()
    return (int(row[0]), bool(row[1])) if row else None


async def _round_trip(stack: BenchStack, command: str) -> float:
    api = stack.botapi
    mark = api.mark()
    incoming = await api.send_text(api.users[ADMIN2_ID], command)
    reply = await api.wait_for_message(ADMIN2_ID, None, after=mark, timeout=30)
    return incoming.latency_to(reply)


async def _measure(stack: BenchStack, samples: int, while_running: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"/status": [], "/channels": []}
    for _ in range(samples):
        for command in out:
            latency = await _round_trip(stack, command)
            if while_running:
                state = _channel_state(stack)
                if state is None or state[1]:
                    return out  # the backfill ended: later samples would be idle ones
            out[command].append(latency)
            await asyncio.sleep(0.05)
    return out


async def bench(port: int, messages: int, samples: int, tmp: Path) -> dict[str, Any]:
    session, user_id, _ = await login(port)
    async with bot_and_app(tmp, port) as stack:
        await seed_db(stack.env, session, user_id, [])
        await start_app(stack)
        await asyncio.sleep(2)  # let the userbot connect before the idle samples
        idle = await _measure(stack, samples, while_running=False)

        api = stack.botapi
        t0 = time.monotonic()
        await api.send_text(api.users[ADMIN2_ID], f"/add @{CHANNEL} all")
        await api.wait_for_message(ADMIN2_ID, rf"added: @{CHANNEL}", timeout=60)
        await wait_until(
            lambda: (s := _channel_state(stack)) is not None and s[0] > 0,
            "the backfill to commit its first batch",
            stack.app,
            120,
        )
        loaded = await _measure(stack, samples, while_running=True)
        state = _channel_state(stack)
        await wait_until(
            lambda: (s := _channel_state(stack)) is not None and s[1] and s[0] >= messages,
            "the backfill to finish",
            stack.app,
            3600,
        )
        backfill_s = time.monotonic() - t0
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
    result: dict[str, Any] = {"messages": messages, "backfill_seconds": backfill_s}
    for label, data in (("idle", idle), ("backfill", loaded)):
        for command, values in data.items():
            key = f"{label} {command}"
            result[key] = {
                "n": len(values),
                "p50_ms": percentile(values, 50) * 1000 if values else None,
                "p99_ms": percentile(values, 99) * 1000 if values else None,
                "max_ms": max(values) * 1000 if values else None,
            }
    result["cursor_after_loaded_samples"] = state[0] if state else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(args.messages, 0, Path(tmp))
        try:
            result = asyncio.run(bench(port, args.messages, args.samples, Path(tmp)))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"reply latency (update delivered -> sendMessage), {args.messages:,}-message "
        f"backfill; app and MTProto double as separate processes"
    )
    print("| state | command | samples | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for key, value in result.items():
        if isinstance(value, dict):
            state, cmd = key.split(" ")
            fmt = [
                f"{value[k]:.1f}" if value[k] is not None else "n/a"
                for k in ("p50_ms", "p99_ms", "max_ms")
            ]
            print(f"| {state} | {cmd} | {value['n']} | {' | '.join(fmt)} |")
    print(
        f"backfill: {args.messages:,} messages in {result['backfill_seconds']:.1f} s "
        f"(from /add); cursor when the loaded samples ended: "
        f"{result['cursor_after_loaded_samples']:,}"
    )
    print(f"command: {command}")
    if args.json:
        result["command"] = command
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
