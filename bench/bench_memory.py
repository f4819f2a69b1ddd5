"""P3 memory: peak RSS of the app process while it backfills and downloads media.

For each size (default 100,000 and 1,000,000 messages) a fresh MTProto double process
serves `--accounts` accounts (3); the app starts as a separate process with every
account's session and the channel rows stored beforehand, and backfills on start.
`--layout spread` (the default): the size is split over one channel per account
(@benchchan0.., each read by its own account, so every account backfills at once);
`--layout one`: one channel of that size, read by the first account. With
`--media-documents`/`--media-photos` (40 x 16 MB documents and 40 photos), @benchmedia
(held by the last account) has its media downloaded (MEDIA_DEFAULT=all, MEDIA_MAX_MB=0)
while the backfill runs: a first app process runs it alone (the backfill channels
paused) until the first media bytes are written and stops; the measured process starts
with every channel active and resumes the queued downloads at once; each upload.getFile answer
is `--media-rtt` s late (0.3) so the downloads last. Peak RSS is the app process's
VmHWM from /proc/<pid>/status once every backfill channel is committed (VmRSS is also
polled every 0.2 s). Printed: peak RSS per size, the backfill time and rate, and the
media written meanwhile (and whether downloads were still going at the end).
`--accounts 1 --media-documents 0 --media-photos 0` is the first wave's measurement.

    .venv/bin/python bench/bench_memory.py [--sizes 100000,1000000] [--accounts 3]
        [--layout spread] [--media-documents 40] [--media-mb 16] [--media-photos 40]
        [--media-rtt 0.3] [--text-size 0] [--json out.json]
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
    SeedChannel,
    bot_and_app,
    dir_bytes,
    login_accounts,
    proc_status_kb,
    seed_db,
    sqlite_query,
    start_app,
    start_world,
    wait_until,
)

MEDIA_CHANNEL = "benchmedia"


def _backfills(size: int, accounts: int, layout: str) -> list[tuple[str, int, int]]:
    """(username, messages, account index) of the backfill channels."""
    if layout == "one" or accounts == 1:
        return [("benchchan0", size, 0)]
    share, extra = divmod(size, accounts)
    return [(f"benchchan{i}", share + (1 if i < extra else 0), i) for i in range(accounts)]


def _media(media_dir: Path) -> tuple[int, int]:
    """(bytes written, complete partial included; complete files)."""
    total, files = dir_bytes(media_dir)
    _, partial_files = dir_bytes(media_dir / "partial")
    return total, files - partial_files


async def one_size(
    args: argparse.Namespace, size: int, tmp: Path
) -> dict[str, Any]:
    backfills = _backfills(size, args.accounts, args.layout)
    media_files = args.media_documents + args.media_photos
    spec: dict[str, Any] = {
        "accounts": args.accounts,
        "backfill": [[name, n] for name, n, _ in backfills],
        "media": {
            "channel": MEDIA_CHANNEL,
            "documents": args.media_documents,
            "document_mb": args.media_mb,
            "photos": args.media_photos,
        }
        if media_files
        else None,
    }
    if args.text_size:
        spec["text_size"] = args.text_size
    t0 = time.monotonic()
    server, port, _stats = start_world(spec, tmp, file_delay=args.media_rtt)
    built = time.monotonic() - t0
    try:
        return await _one(args, size, tmp, port, backfills, media_files, built)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _one(
    args: argparse.Namespace,
    size: int,
    tmp: Path,
    port: int,
    backfills: list[tuple[str, int, int]],
    media_files: int,
    built: float,
) -> dict[str, Any]:
    media_account = args.accounts - 1
    names: list[list[str]] = [[] for _ in range(args.accounts)]
    if media_files:
        names[media_account].append(MEDIA_CHANNEL)
    for name, _n, account in backfills:
        names[account].append(name)
    logins = await login_accounts(port, args.accounts, [tuple(n) for n in names])
    now = datetime.now(UTC)
    seeds = [
        SeedChannel(
            entity.channel_id, entity.access_hash, name, account=account,
            next_run_at=now - timedelta(hours=1 if name == MEDIA_CHANNEL else 0),
            # With media: paused until a first app process has queued the downloads.
            status="paused" if media_files and name != MEDIA_CHANNEL else "active",
        )
        for account, (_s, _u, entities) in enumerate(logins)
        for name, entity in entities.items()
    ]
    media_dir = tmp / "media"
    env = {"MEDIA_DEFAULT": "all", "MEDIA_MAX_MB": "0", "MEDIA_DIR": str(media_dir)}
    async with bot_and_app(tmp, port, **env) as stack:
        session, uid, _ = logins[0]
        more = [(s, u, ACCOUNTS[i + 1][0]) for i, (s, u, _) in enumerate(logins[1:])]
        row_ids = await seed_db(stack.env, session, uid, seeds, more)
        by_name = dict(zip((s.username for s in seeds), row_ids, strict=True))
        backfill_rows = {by_name[name]: n for name, n, _ in backfills}
        if media_files:
            # A first process runs @benchmedia (its downloads queued, the first bytes
            # written) and stops; the measured one resumes them at start beside the
            # backfills (else the media channel's run may wait for a backfill's lane).
            await start_app(stack)
            await wait_until(
                lambda: _media(media_dir)[0] > 0, "a first media byte", stack.app, 300
            )
            assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
            conn = sqlite3.connect(stack.app.db_path, timeout=10)
            try:
                with conn:
                    conn.execute("UPDATE channel SET status = 'active'")
            finally:
                conn.close()
        media_at_start = _media(media_dir)[0]
        t0 = time.monotonic()
        pid = await start_app(stack)
        start_rss = proc_status_kb(pid, "VmRSS") or 0
        polled_peak = start_rss
        done = False
        committed = 0
        last_check = 0.0
        first_media: float | None = None
        while time.monotonic() - t0 < args.timeout:
            rss = proc_status_kb(pid, "VmRSS")
            if rss is None:
                raise SystemExit(f"the app exited:\n{stack.app.log()[-3000:]}")
            polled_peak = max(polled_peak, rss)
            if time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                if first_media is None and media_files and _media(media_dir)[0] > 0:
                    first_media = last_check - t0
                rows = sqlite_query(
                    stack.app.db_path, "SELECT id, cursor, backfill_done FROM channel"
                )
                state = {int(r[0]): (int(r[1]), bool(r[2])) for r in rows}
                committed = sum(state.get(i, (0, False))[0] for i in backfill_rows)
                if all(
                    state.get(i, (0, False))[1] and state[i][0] >= n
                    for i, n in backfill_rows.items()
                ):
                    done = True
                    break
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - t0
        hwm = proc_status_kb(pid, "VmHWM") or 0
        media_bytes, media_done = _media(media_dir)
        await stack.app.terminate()
    return {
        "messages": size,
        "accounts": args.accounts,
        "layout": "one channel" if len(backfills) == 1 else f"{len(backfills)} channels",
        "done": done,
        "committed": committed,
        "seconds": elapsed,
        "rate": committed / elapsed if elapsed else 0.0,
        "vmhwm_mb": hwm / 1024,
        "polled_peak_mb": polled_peak / 1024,
        "start_rss_mb": start_rss / 1024,
        "media_files": media_files,
        "media_mb_written": media_bytes / 2**20,
        "media_mb_before_start": media_at_start / 2**20,
        "media_files_done": media_done,
        "media_first_byte_s": first_media,
        "media_still_downloading": bool(media_files) and media_done < media_files,
        "double_build_seconds": built,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--accounts", type=int, default=3, help="logged-in accounts (1-8)")
    parser.add_argument(
        "--layout", choices=("spread", "one"), default="spread",
        help="spread: one backfill channel per account; one: a single channel",
    )
    parser.add_argument("--media-documents", type=int, default=40)
    parser.add_argument("--media-mb", type=float, default=16.0, help="MB per document")
    parser.add_argument("--media-photos", type=int, default=40)
    parser.add_argument(
        "--media-rtt", type=float, default=0.3, help="seconds added to each upload.getFile"
    )
    parser.add_argument("--text-size", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per size")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--workdir", help="keep each size's database, log and media here")
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        if args.workdir:
            where = Path(args.workdir) / str(size)
            where.mkdir(parents=True, exist_ok=False)
            result = asyncio.run(one_size(args, size, where))
        else:
            with tempfile.TemporaryDirectory(prefix="bench-p3-") as tmp:
                result = asyncio.run(one_size(args, size, Path(tmp)))
        results.append(result)
        print(json.dumps(result), flush=True)
        if result["media_files"] and result["media_mb_written"] <= result["media_mb_before_start"]:
            print(f"WARNING: {size:,}: no media byte was written (the figure is without "
                  "media downloading)", flush=True)
    media = (
        f"{args.media_documents} x {args.media_mb:g} MB documents + {args.media_photos} photos "
        f"downloading (getFile +{args.media_rtt * 1000:.0f} ms)"
        if args.media_documents + args.media_photos
        else "no media"
    )
    print(
        f"peak RSS of the app process while backfilling, {args.accounts} account(s), "
        f"{media}; MTProto double in its own process"
    )
    print(
        "| messages | layout | committed | backfill s | msgs/s | VmHWM MB | polled peak MB "
        "| media MB written by it (files done) | still downloading at the end |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['messages']:,} | {r['layout']} | {r['committed']:,}"
            f"{'' if r['done'] else ' (timeout)'} | {r['seconds']:.0f} | {r['rate']:,.0f} "
            f"| {r['vmhwm_mb']:.0f} | {r['polled_peak_mb']:.0f} "
            f"| {r['media_mb_written'] - r['media_mb_before_start']:,.0f} "
            f"({r['media_files_done']}/{r['media_files']}) "
            f"| {'yes' if r['media_still_downloading'] else 'no'} |"
        )
    if len(results) == 2:
        a, b = results[0]["vmhwm_mb"], results[1]["vmhwm_mb"]
        flat = abs(b - a) <= max(20.0, 0.15 * a)
        print(f"flat between sizes: {b - a:+.0f} MB ({'yes' if flat else 'no'}: <= +15 % / 20 MB)")
    print(f"command: {command}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command, "results": results}))


if __name__ == "__main__":
    main()
