"""P2 responsiveness: /status and /channels reply latency, idle and under load.

The app runs as a separate process (tests.e2e harness plumbing), the MTProto double as
another process, the Bot API double in this process. Latency is the Bot API double's
delivery of the update (getUpdates answer) to the bot's sendMessage request
(`Incoming.latency_to`); round trips are sequential, alternating /status and /channels,
50 ms apart.

`--load everything` (the default, issue #20's "P2 under everything"): the double
serves `--accounts` accounts (2), @benchchan with `--messages` posts (account 1),
@benchmedia with `--media-documents` documents of `--media-mb` MB and `--media-photos`
photos (account 2; every upload.getFile answer `--media-rtt` s late) and
`--refresh-channels` channels (account 2) with a post every 30 minutes over the last 31
hours. Steps, one SQLite database:
1. warm-up: the app starts with @benchchan and @benchmedia paused, SNAPSHOT_AGES and
   SUBSCRIBERS_INTERVAL_MINUTES off, PARSE_INTERVAL_MINUTES 60; every refresh channel
   gets its first run (its posts stored); then one /status + /channels pair not
   sampled (a process's first replies build the Bot API models they use; reported as
   "first replies") and `--samples` idle pairs; the app stops;
2. loaded: @benchchan and @benchmedia active, the refresh channels due one after
   another over the next `--refresh-interval` minutes, PARSE_INTERVAL_MINUTES =
   `--refresh-interval` (each run re-reads the channel's 24 h refresh window: the views
   refresh) and the counters job on with its defaults (SNAPSHOT_AGES 1h,24h,7d,30d:
   messages.getMessagesViews / getMessagesReactions of the posts reaching 24 h;
   subscriber counts hourly), MEDIA_DEFAULT=all, MEDIA_MAX_MB=0. The app starts again;
   once the backfill has committed its first batch and a media file is being written,
   one pair not sampled, then `--samples` pairs are taken while all three go on
   (sampling stops early when the backfill ends or every media file is down). What
   ran during the sampling is printed: messages the backfill committed, media bytes
   and files written, getHistory requests of the refresh channels (= refresh runs),
   getMessagesViews / getMessagesReactions / getFullChannel requests, from the double's
   counters (SIGUSR1) and the media directory.

`--load backfill` is the first wave's measurement: one account, `/add @benchchan all`,
samples while that backfill runs (JSON keys "idle ..." and "backfill ...").

    .venv/bin/python bench/bench_latency.py [--load everything] [--messages 200000]
        [--samples 50] [--accounts 2] [--refresh-channels 300] [--refresh-interval 1]
        [--media-documents 40] [--media-mb 16] [--media-photos 40] [--media-rtt 0.1]
        [--json out.json]
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (
    ACCOUNTS,
    ADMIN2_ID,
    BenchStack,
    SeedChannel,
    bot_and_app,
    dir_bytes,
    double_stats,
    login,
    login_accounts,
    percentile,
    proc_status_kb,
    seed_db,
    sqlite_query,
    start_app,
    start_world,
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


MEDIA_CHANNEL = "benchmedia"
REFRESH_PREFIX = "fresh"


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50) * 1000 if values else None,
        "p99_ms": percentile(values, 99) * 1000 if values else None,
        "max_ms": max(values) * 1000 if values else None,
    }


def _media(media_dir: Path) -> tuple[int, int, int]:
    """(bytes of complete files, complete files, bytes of partial files)."""
    partial, partial_files = dir_bytes(media_dir / "partial")
    total, files = dir_bytes(media_dir)
    return total - partial, files - partial_files, partial


def _backfill_state(db: Path) -> tuple[int, bool]:
    rows = sqlite_query(
        db, "SELECT cursor, backfill_done FROM channel WHERE username = ?", CHANNEL
    )
    return (int(rows[0][0]), bool(rows[0][1])) if rows else (0, False)


def _refresh_runs(db: Path, refresh_ids: set[int]) -> int:
    """Refresh channels with a finished run (their first runs store their posts)."""
    rows = sqlite_query(
        db,
        "SELECT channel.tg_id, COUNT(*) FROM parse_run JOIN channel"
        " ON channel.id = parse_run.channel_id WHERE parse_run.finished_at IS NOT NULL"
        " GROUP BY channel.tg_id",
    )
    return sum(1 for tg_id, _n in rows if int(tg_id) in refresh_ids)


def _activity(stats: dict[str, Any], refresh_ids: set[int], backfill_id: int) -> dict[str, int]:
    counters = stats.get("counters", {})
    history = {int(k): int(v) for k, v in stats.get("history_requests", {}).items()}
    return {
        "refresh_history_requests": sum(v for k, v in history.items() if k in refresh_ids),
        "backfill_history_requests": history.get(backfill_id, 0),
        "get_messages_views": int(counters.get("messages.getMessagesViews", 0)),
        "get_messages_reactions": int(counters.get("messages.getMessagesReactions", 0)),
        "get_full_channel": int(counters.get("channels.getFullChannel", 0)),
        "get_file": int(counters.get("upload.getFile", 0)),
        "bytes_served": sum(int(v) for v in stats.get("bytes_served", {}).values()),
    }


async def bench_everything(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    media_total = args.media_documents + args.media_photos
    spec: dict[str, Any] = {
        "accounts": args.accounts,
        "backfill": [[CHANNEL, args.messages]],
        "media": {
            "channel": MEDIA_CHANNEL, "documents": args.media_documents,
            "document_mb": args.media_mb, "photos": args.media_photos,
        } if media_total else None,
        "refresh": {
            "prefix": REFRESH_PREFIX, "channels": args.refresh_channels, "hours": 31,
            "every_minutes": 30,
        } if args.refresh_channels else None,
    }
    t_build = time.monotonic()
    server, port, stats_path = start_world(spec, tmp, file_delay=args.media_rtt)
    built = time.monotonic() - t_build
    try:
        return await _everything(args, tmp, server, port, stats_path, built, media_total)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _everything(
    args: argparse.Namespace, tmp: Path, server: Any, port: int, stats_path: Path,
    built: float, media_total: int,
) -> dict[str, Any]:
    other = 1 if args.accounts > 1 else 0  # reads the media and refresh channels
    refresh_names = [f"{REFRESH_PREFIX}{i:04d}" for i in range(args.refresh_channels)]
    names: list[list[str]] = [[] for _ in range(args.accounts)]
    names[0].append(CHANNEL)
    if media_total:
        names[other].append(MEDIA_CHANNEL)
    names[other].extend(refresh_names)
    logins = await login_accounts(port, args.accounts, [tuple(n) for n in names])
    seeds: list[SeedChannel] = []
    for account, (_session, _uid, entities) in enumerate(logins):
        for name, entity in entities.items():
            paused = name in (CHANNEL, MEDIA_CHANNEL)
            seeds.append(SeedChannel(
                entity.channel_id, entity.access_hash, name, account=account,
                status="paused" if paused else "active",
            ))
    refresh_ids = {s.tg_id for s in seeds if s.username in set(refresh_names)}
    backfill_id = next(s.tg_id for s in seeds if s.username == CHANNEL)
    media_dir = tmp / "media"
    warm_env = {
        "PARSE_INTERVAL_MINUTES": "60", "SUBSCRIBERS_INTERVAL_MINUTES": "0",
        # "," (no age): an empty value is ignored (the default ages), app/settings.py.
        "SNAPSHOT_AGES": ",",
        "MEDIA_DEFAULT": "all", "MEDIA_MAX_MB": "0", "MEDIA_DIR": str(media_dir),
    }
    async with bot_and_app(tmp, port, **warm_env) as stack:
        session, uid, _ = logins[0]
        more = [(s, u, ACCOUNTS[i + 1][0]) for i, (s, u, _) in enumerate(logins[1:])]
        await seed_db(stack.env, session, uid, seeds, more)
        db = stack.app.db_path
        # 1. warm-up: the refresh channels' first runs, then idle samples.
        t0 = time.monotonic()
        await start_app(stack)
        await wait_until(
            lambda: _refresh_runs(db, refresh_ids) >= len(refresh_ids),
            "every refresh channel's first run", stack.app, 600,
        )
        warm_s = time.monotonic() - t0
        await asyncio.sleep(3)
        # The first replies of a process build the Bot API models they use (pydantic,
        # bot/aiogram_lazy.py): one pair, reported apart, not sampled.
        first_idle = [await _round_trip(stack, c) for c in ("/status", "/channels")]
        idle = await _measure(stack, args.samples, while_running=False)
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]

        # 2. everything at once.
        now = datetime.now(UTC)
        period = args.refresh_interval * 60
        conn = sqlite3.connect(db, timeout=10)
        try:
            with conn:
                conn.execute(
                    "UPDATE channel SET status = 'active', next_run_at = ?"
                    " WHERE username IN (?, ?)",
                    (now - timedelta(minutes=1), CHANNEL, MEDIA_CHANNEL),
                )
                for i, name in enumerate(refresh_names):
                    when = now + timedelta(seconds=period * i / max(1, len(refresh_names)))
                    conn.execute(
                        "UPDATE channel SET next_run_at = ? WHERE username = ?", (when, name)
                    )
        finally:
            conn.close()
        for key in ("SNAPSHOT_AGES", "SUBSCRIBERS_INTERVAL_MINUTES"):
            stack.env.pop(key)
        stack.env["PARSE_INTERVAL_MINUTES"] = str(args.refresh_interval)
        stats_start = await double_stats(server, stats_path)
        t0 = time.monotonic()
        pid = await start_app(stack)

        def media_busy() -> bool:
            _done, files, partial = _media(media_dir)
            return files < media_total and (files > 0 or partial > 0)

        await wait_until(
            lambda: _backfill_state(db)[0] > 0 and (not media_total or media_busy()),
            "the backfill's first batch and a media download", stack.app, 300,
        )
        first_loaded = [await _round_trip(stack, c) for c in ("/status", "/channels")]
        start_s = time.monotonic() - t0
        cursor0 = _backfill_state(db)[0]
        media0 = _media(media_dir)
        stats0 = await double_stats(server, stats_path)
        t_sample = time.monotonic()
        loaded: dict[str, list[float]] = {"/status": [], "/channels": []}
        ended = "samples taken"
        for _ in range(args.samples):
            for command in loaded:
                latency = await _round_trip(stack, command)
                if _backfill_state(db)[1]:
                    ended = "the backfill ended"
                elif media_total and _media(media_dir)[1] >= media_total:
                    ended = "every media file was down"
                else:
                    loaded[command].append(latency)
                    await asyncio.sleep(0.05)
                    continue
                break
            if ended != "samples taken":
                break
        sample_s = time.monotonic() - t_sample
        stats1 = await double_stats(server, stats_path)
        cursor1 = _backfill_state(db)[0]
        media1 = _media(media_dir)
        rss = (proc_status_kb(pid, "VmRSS") or 0) / 1024
        await wait_until(
            lambda: (s := _backfill_state(db))[1] and s[0] >= args.messages,
            "the backfill to finish", stack.app, 3600,
        )
        backfill_s = time.monotonic() - t0
        hwm = (proc_status_kb(pid, "VmHWM") or 0) / 1024
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]

    a0 = _activity(stats0, refresh_ids, backfill_id)
    a1 = _activity(stats1, refresh_ids, backfill_id)
    during = {k: a1[k] - a0[k] for k in a0}
    a_start = _activity(stats_start, refresh_ids, backfill_id)
    since_start = {k: a1[k] - a_start[k] for k in a_start}
    during.update(
        messages_committed=cursor1 - cursor0,
        media_bytes_written=(media1[0] + media1[2]) - (media0[0] + media0[2]),
        media_files_completed=media1[1] - media0[1],
    )
    result: dict[str, Any] = {
        "load": "everything",
        "messages": args.messages,
        "accounts": args.accounts,
        "refresh_channels": args.refresh_channels,
        "refresh_interval_minutes": args.refresh_interval,
        "media_files": media_total,
        "media_mb": args.media_documents * args.media_mb + args.media_photos * 54321 / 2**20,
        "media_rtt": args.media_rtt,
        "double_build_seconds": built,
        "warm_up_seconds": warm_s,
        "load_start_seconds": start_s,
        "sampling_seconds": sample_s,
        "sampling_ended": ended,
        "backfill_seconds": backfill_s,
        "first_replies_ms": {
            "idle": [round(v * 1000, 1) for v in first_idle],
            "everything": [round(v * 1000, 1) for v in first_loaded],
        },
        "during_sampling": during,
        "from_load_start_to_sampling_end": since_start,
        "app_rss_after_sampling_mb": rss,
        "app_vmhwm_mb": hwm,
    }
    for label, data in (("idle", idle), ("everything", loaded)):
        for command, values in data.items():
            result[f"{label} {command}"] = _stats(values)
    return result


def _print_table(result: dict[str, Any]) -> None:
    print("| state | command | samples | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for key, value in result.items():
        if isinstance(value, dict) and "p99_ms" in value:
            state, cmd = key.split(" ")
            fmt = [
                f"{value[k]:.1f}" if value[k] is not None else "n/a"
                for k in ("p50_ms", "p99_ms", "max_ms")
            ]
            print(f"| {state} | {cmd} | {value['n']} | {' | '.join(fmt)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--load", choices=("everything", "backfill"), default="everything")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=50, help="command pairs per state")
    parser.add_argument("--accounts", type=int, default=2, help="everything: accounts (1-8)")
    parser.add_argument("--refresh-channels", type=int, default=300)
    parser.add_argument(
        "--refresh-interval", type=int, default=1,
        help="PARSE_INTERVAL_MINUTES while loaded (each refresh channel runs this often)",
    )
    parser.add_argument("--media-documents", type=int, default=40)
    parser.add_argument("--media-mb", type=float, default=16.0, help="MB per document")
    parser.add_argument("--media-photos", type=int, default=40)
    parser.add_argument(
        "--media-rtt", type=float, default=0.1, help="seconds added to each upload.getFile"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--workdir", help="everything: keep the app's database, log and media here"
    )
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])
    if args.load == "everything":
        if args.workdir:
            Path(args.workdir).mkdir(parents=True, exist_ok=False)
            result = asyncio.run(bench_everything(args, Path(args.workdir)))
        else:
            with tempfile.TemporaryDirectory(prefix="bench-p2-") as tmp:
                result = asyncio.run(bench_everything(args, Path(tmp)))
        d = result["during_sampling"]
        print(
            f"reply latency (update delivered -> sendMessage), idle, then under everything: "
            f"a {args.messages:,}-message backfill (account 1), {result['media_files']} media "
            f"files ({result['media_mb']:,.0f} MB, getFile +{args.media_rtt * 1000:.0f} ms) and "
            f"{args.refresh_channels} channels refreshed every {args.refresh_interval} min "
            f"with the counters job on (account {2 if args.accounts > 1 else 1}); "
            f"{args.accounts} accounts, app and MTProto double as separate processes"
        )
        _print_table(result)
        print(
            f"during the {result['sampling_seconds']:.1f} s of loaded sampling (ended: "
            f"{result['sampling_ended']}): backfill committed {d['messages_committed']:,} "
            f"messages ({d['backfill_history_requests']:,} getHistory); media "
            f"{d['media_bytes_written'] / 2**20:,.0f} MB written, {d['media_files_completed']} "
            f"files completed ({d['get_file']:,} getFile, {d['bytes_served'] / 2**20:,.0f} MB "
            f"served); views refresh: {d['refresh_history_requests']:,} refresh-window "
            f"getHistory of the refresh channels, {d['get_messages_views']:,} "
            f"getMessagesViews, {d['get_messages_reactions']:,} getMessagesReactions, "
            f"{d['get_full_channel']:,} getFullChannel"
        )
        f = result["first_replies_ms"]
        print(
            f"first /status and /channels of each process (not sampled: they build the "
            f"Bot API models they use): idle {f['idle'][0]:.0f} / {f['idle'][1]:.0f} ms, "
            f"everything {f['everything'][0]:.0f} / {f['everything'][1]:.0f} ms"
        )
        a = result["from_load_start_to_sampling_end"]
        print(
            f"from the loaded start to the end of sampling: {a['refresh_history_requests']:,} "
            f"refresh-window getHistory, {a['get_messages_views']:,} getMessagesViews, "
            f"{a['get_messages_reactions']:,} getMessagesReactions, {a['get_full_channel']:,} "
            f"getFullChannel, {a['bytes_served'] / 2**20:,.0f} MB of media served"
        )
        print(
            f"warm-up {result['warm_up_seconds']:.0f} s; loaded start to sampling "
            f"{result['load_start_seconds']:.1f} s; backfill done "
            f"{result['backfill_seconds']:.1f} s after the start; app RSS after sampling "
            f"{result['app_rss_after_sampling_mb']:.0f} MB, VmHWM {result['app_vmhwm_mb']:.0f} MB"
        )
    else:
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
        _print_table(result)
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
