"""P4 scheduling cost: many channels on an interval with no new posts.

The MTProto double runs in this process (its request counters are read directly) with
`--channels` public channels of a few old posts each; the app runs as a separate
process with the session and every channel row stored beforehand as caught up
(backfill done, cursor at the top message). PARSE_INTERVAL_MINUTES is `--interval`
(1 by default, so several full rounds fit in a few minutes). Once every channel has
had its first run (which may make one-time requests), the bench measures over
`--window` seconds: channel runs finished (parse_run rows), MTProto requests by
method, and the app process's CPU time from /proc. CPU is
normalised to the target setting: CPU seconds per full round of all channels divided
by 300 s (one round every 5 minutes). The double's own CPU is in this process, not
in the app's figure.

`--window-posts N` gives each channel N posts of the last hour instead (inside the
refresh window, so every run re-reads them: issue #15's request cost); the channels
then start unread and the first round stores them. `--delete K` deletes K of each
channel's posts (not its newest) when the measured window starts, so the first run of
each channel in it asks for the missing ids (channels.getMessages) and marks them.

    .venv/bin/python bench/bench_schedule.py [--channels 1000] [--interval 1] [--window 150]
        [--window-posts 0] [--delete 0]
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
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (
    CODE,
    PHONE,
    SeedChannel,
    bot_and_app,
    cpu_seconds,
    login,
    seed_db,
    start_app,
    wait_until,
)

from tests.doubles.mtproto import MTProtoServer, World


def _channels_run(db: Path) -> int:
    """Channels with at least one finished run (a first run may make one-time requests:
    the window starts once every channel has had it)."""
    with sqlite3.connect(db, timeout=10) as conn:
        sql = "SELECT COUNT(DISTINCT channel_id) FROM parse_run WHERE finished_at IS NOT NULL"
        return int(conn.execute(sql).fetchone()[0])


def _finished_runs(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        sql = "SELECT COUNT(*) FROM parse_run WHERE finished_at IS NOT NULL"
        return int(conn.execute(sql).fetchone()[0])


def _marked_deleted(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        sql = "SELECT COUNT(*) FROM message WHERE deleted_at IS NOT NULL"
        return int(conn.execute(sql).fetchone()[0])


def _run_statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM parse_run GROUP BY status").fetchall()
    return {str(s): int(n) for s, n in rows}


async def bench(
    n_channels: int,
    interval: int,
    window: float,
    tmp: Path,
    window_posts: int = 0,
    delete: int = 0,
) -> dict[str, Any]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    old = datetime.now(UTC) - timedelta(days=400)
    recent = datetime.now(UTC) - timedelta(minutes=window_posts + 5)
    channels = []
    for i in range(n_channels):
        ch = world.add_channel(username=f"chan{i:05d}", title=f"Chan {i}")
        if window_posts:
            ch.add_messages(window_posts, start_date=recent, interval=60.0)
        else:
            ch.add_messages(3, start_date=old)
        channels.append(ch)
    async with MTProtoServer(world) as mtproto:
        session, user_id, _ = await login(mtproto.port)
        async with bot_and_app(tmp, mtproto.port, PARSE_INTERVAL_MINUTES=str(interval)) as stack:
            seeds = [
                SeedChannel(
                    ch.id,
                    ch.access_hash,
                    ch.username,
                    cursor=0 if window_posts else ch.last_id,
                    backfill_done=not window_posts,
                    top_message_id=None if window_posts else ch.last_id,
                )
                for ch in channels
            ]
            await seed_db(stack.env, session, user_id, seeds)
            pid = await start_app(stack)
            db = stack.app.db_path
            first_round = await wait_until(
                lambda: _channels_run(db) >= n_channels,
                "the first full round",
                stack.app,
                interval * 60 * 3 + 120,
            )
            for ch in channels if delete else ():
                for msg_id in list(ch.ids[:-1])[:delete]:
                    ch.delete_message(msg_id)
            mtproto.counters.clear()
            runs0, cpu0, t0 = _finished_runs(db), cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(window)
            runs1, cpu1, t1 = _finished_runs(db), cpu_seconds(pid), time.monotonic()
            counters = Counter(mtproto.counters)
            statuses = _run_statuses(db)
            await stack.app.terminate()
    runs = runs1 - runs0
    cpu = cpu1 - cpu0
    history = counters.get("messages.getHistory", 0)
    by_id = counters.get("channels.getMessages", 0)
    per_run_cpu = cpu / runs if runs else float("nan")
    return {
        "channels": n_channels,
        "interval_minutes": interval,
        "first_round_seconds": first_round,
        "window_seconds": t1 - t0,
        "runs": runs,
        "history_requests": history,
        "history_per_run": history / runs if runs else None,
        "get_messages_requests": by_id,
        "get_messages_per_run": by_id / runs if runs else None,
        "window_posts": window_posts,
        "deleted_per_channel": delete,
        "marked_deleted": _marked_deleted(db),
        "requests_by_method": dict(counters.most_common()),
        "app_cpu_seconds": cpu,
        "cpu_share_measured": cpu / (t1 - t0),
        "cpu_seconds_per_run": per_run_cpu,
        "cpu_share_at_5min": per_run_cpu * n_channels / 300.0,
        "run_statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=1, help="PARSE_INTERVAL_MINUTES")
    parser.add_argument("--window", type=float, default=150.0, help="measured seconds")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--window-posts", type=int, default=0, help="posts per channel in the refresh window"
    )
    parser.add_argument(
        "--delete", type=int, default=0, help="posts per channel deleted as the window starts"
    )
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])
    with tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(
            bench(
                args.channels, args.interval, args.window, Path(tmp),
                args.window_posts, args.delete,
            )
        )
    posts = (
        f", {r['window_posts']} posts each in the refresh window" if r["window_posts"] else ""
    )
    print(
        f"{r['channels']:,} caught-up channels{posts}, "
        f"PARSE_INTERVAL_MINUTES={r['interval_minutes']}, "
        f"first round done {r['first_round_seconds']:.0f} s after start; "
        f"measured {r['window_seconds']:.0f} s"
    )
    print(f"channel runs finished in the window: {r['runs']:,}")
    hpr = r["history_per_run"]
    print(
        f"messages.getHistory: {r['history_requests']:,} = {hpr:.2f} per channel run"
        if hpr is not None
        else "no runs in the window"
    )
    gpr = r["get_messages_per_run"]
    if gpr is not None:
        print(
            f"channels.getMessages: {r['get_messages_requests']:,} = {gpr:.2f} per channel "
            f"run ({r['deleted_per_channel']} posts deleted per channel; "
            f"{r['marked_deleted']:,} marked deleted)"
        )
    print(f"MTProto requests by method: {r['requests_by_method']}")
    print(
        f"app CPU: {r['app_cpu_seconds']:.1f} s in the window = "
        f"{r['cpu_share_measured'] * 100:.1f} % of a core at this interval; "
        f"{r['cpu_seconds_per_run'] * 1000:.1f} ms per channel run"
    )
    print(
        f"normalised to {r['channels']:,} channels every 5 minutes: "
        f"{r['cpu_share_at_5min'] * 100:.1f} % of a core"
    )
    print(f"parse_run statuses (whole session): {r['run_statuses']}")
    print(f"command: {command}")
    if args.json:
        r["command"] = command
        Path(args.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
