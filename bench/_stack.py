"""Shared bench plumbing: the app as a process, a stored session, seeded channels.

The MTProto double runs as a separate process (`bench_iter_messages.start_server`) or
in-process (tests.e2e.harness.running_stack); the Bot API double always runs in the
bench process. Nothing here is a test: the benches print figures.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.doubles.botapi import BotAPIDouble  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    ADMIN2_ID,
    ADMIN_ID,
    BOT_TOKEN,
    AppProcess,
    app_env,
)

PHONE, CODE = "+15550000001", "12345"
# The accounts of the multi-account benches: the first is PHONE's.
ACCOUNTS = [(PHONE, CODE)] + [(f"+1555000000{i}", f"1234{i}") for i in range(2, 9)]
MB = 1024 * 1024


@dataclass
class _Port:
    """What app_env needs from an MTProto server: its port."""

    port: int


@dataclass
class SeedChannel:
    tg_id: int
    access_hash: int
    username: str | None
    title: str = ""
    cursor: int = 0
    backfill_done: bool = False
    top_message_id: int | None = None
    next_run_at: datetime | None = None
    # Index into the accounts given to seed_db (`more`: 1..); None: no account_id stored.
    account: int | None = None
    status: str = "active"  # active | paused


async def login(
    port: int, resolve: tuple[str, ...] = (), phone: str = PHONE, code: str = CODE
) -> tuple[str, int, list[Any]]:
    """Sign in against the double at `port`: (session string, user id, input entities)."""
    from telethon.sessions import StringSession

    from tests.doubles.mtproto import signed_in_client

    async with signed_in_client(port, phone, code) as (client, me):
        entities = [await client.get_input_entity(name) for name in resolve]
        return StringSession.save(client.session), me.id, entities


async def seed_db(
    env: dict[str, str],
    session: str,
    user_id: int,
    channels: list[SeedChannel],
    more: list[tuple[str, int, str]] = (),  # type: ignore[assignment]
) -> list[int]:
    """Store the operator's session (and `more` accounts: (session, user id, phone)) and
    channel rows before the app starts; row ids. A channel's `account` indexes the
    accounts: 0 the operator's, 1.. those of `more`."""
    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.models import Channel
    from db.vault import SessionVault

    await init_db(env["DATABASE_URL"])
    try:
        accounts = AccountRepository(SessionVault([env["SESSION_KEYS"]]))
        first = await accounts.save_session(
            session, phone=PHONE, user_id=user_id, display_name="Bench", username=None
        )
        account_ids = [first.id]
        for i, (extra, uid, phone) in enumerate(more, start=2):
            info = await accounts.save_session(
                extra, phone=phone, user_id=uid, display_name=f"Bench {i}", username=None
            )
            account_ids.append(info.id)
        rows = [
            Channel(
                tg_id=c.tg_id,
                access_hash=c.access_hash,
                username=c.username,
                title=c.title or (c.username or ""),
                cursor=c.cursor,
                backfill_done=c.backfill_done,
                top_message_id=c.top_message_id,
                next_run_at=c.next_run_at,
                status=c.status,
                account_id=None if c.account is None else account_ids[c.account],
                hash_account_id=None if c.account is None else account_ids[c.account],
            )
            for c in channels
        ]
        if rows:
            await Channel.bulk_create(rows, batch_size=500)
        ids = await Channel.all().order_by("id").values_list("id", flat=True)
        return [int(i) for i in ids]  # type: ignore[call-overload]
    finally:
        await close_db()


@dataclass
class BenchStack:
    botapi: BotAPIDouble
    app: AppProcess
    env: dict[str, str]


@asynccontextmanager
async def bot_and_app(tmp: Path, mtproto_port: int, **env_extra: str) -> AsyncIterator[BenchStack]:
    """The Bot API double in this process and the app environment (app not started)."""
    async with BotAPIDouble(token=BOT_TOKEN) as botapi:
        botapi.add_user(ADMIN_ID, "Olga", username="olga", language_code="ru")
        botapi.add_user(ADMIN2_ID, "Adam", username="adam", language_code="en")
        env = app_env(tmp, botapi, _Port(mtproto_port), **env_extra)  # type: ignore[arg-type]
        env["LOG_LEVEL"] = env_extra.get("LOG_LEVEL", "WARNING")
        (tmp / "data").mkdir(parents=True, exist_ok=True)
        app = AppProcess(env=env, data_dir=tmp / "data", log_path=tmp / "app.log")
        stack = BenchStack(botapi, app, env)
        try:
            yield stack
        finally:
            if app.alive():
                await app.terminate()


async def start_app(stack: BenchStack) -> int:
    await stack.app.start()
    await stack.botapi.wait_for_poll(timeout=60)
    assert stack.app.proc is not None
    return stack.app.proc.pid


def proc_status_kb(pid: int, key: str) -> int | None:
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM), None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until(cond: Any, what: str, app: AppProcess, timeout: float) -> float:
    """Poll `cond()` every 0.2 s; seconds waited. Raises with the app log tail."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        if not app.alive():
            raise SystemExit(f"the app exited while waiting for {what}:\n{app.log()[-3000:]}")
        await asyncio.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}\n{app.log()[-2000:]}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


# -- a world of several kinds of load (P2 "under everything", P3 with three accounts) ---
#
# The MTProto double runs as its own process with `fill_world` as its scenario, told
# what to build by the BENCH_WORLD environment variable (JSON):
#   {"accounts": 3,
#    "backfill": [["benchchan0", 333334], ...],           # plain text channels
#    "media": {"channel": "benchmedia", "documents": 40, "document_mb": 16, "photos": 40},
#    "refresh": {"prefix": "fresh", "channels": 300, "hours": 31, "every_minutes": 30}}
# Refresh channels have a post every `every_minutes` over the last `hours` (each channel
# shifted by a fraction of the spacing), so a run re-reads its refresh window (24 h)
# and the counters job finds posts reaching 24 h all along.


def fill_world(world: Any) -> None:
    import json as _json
    import time as _time

    spec = _json.loads(os.environ["BENCH_WORLD"])
    for phone, code in ACCOUNTS[: int(spec.get("accounts", 1))]:
        world.add_account(phone=phone, code=code)
    text_fn = None
    if spec.get("text_size"):
        from tests.doubles.mtproto.__main__ import filler_text

        text_fn = filler_text(int(spec["text_size"]))
    for name, count in spec.get("backfill", []):
        world.add_channel(username=name, title=name).add_messages(int(count), text_fn=text_fn)
    media = spec.get("media")
    if media:
        ch = world.add_channel(username=media["channel"], title="Bench media")
        docs, photos = int(media.get("documents", 0)), int(media.get("photos", 0))
        size = int(float(media.get("document_mb", 1)) * MB)
        for i in range(max(docs, photos)):
            if i < photos:
                ch.add_media_post("photo", text=f"photo {i}")
            if i < docs:
                ch.add_media_post(
                    "document", size=size, file_name=f"doc{i}.bin",
                    mime_type="application/octet-stream",
                )
    refresh = spec.get("refresh")
    if refresh:
        n = int(refresh["channels"])
        every = float(refresh.get("every_minutes", 30)) * 60
        posts = int(float(refresh.get("hours", 31)) * 3600 / every)
        now = _time.time()
        for i in range(n):
            ch = world.add_channel(username=f"{refresh['prefix']}{i:04d}", title=f"Fresh {i}")
            start = now - posts * every + every * (i / n)
            ch.add_messages(posts, start_date=start, interval=every, views=100 + i)


def start_world(
    spec: dict[str, Any], workdir: Path, *, file_delay: float = 0.0
) -> tuple[Any, int, Path]:
    """The MTProto double as its own process with `fill_world(spec)`: (process, port,
    its stats file: `double_stats`)."""
    import json as _json
    import subprocess

    ready = workdir / "world-port"
    ready.unlink(missing_ok=True)
    stats = workdir / "world-stats.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tests.doubles.mtproto", "--port", "0",
            "--ready-file", str(ready), "--scenario", "_stack:fill_world",
            "--file-delay", str(file_delay), "--stats-file", str(stats),
        ],
        cwd=REPO_ROOT,
        env={
            **os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'bench'}",
            "BENCH_WORLD": _json.dumps(spec),
        },
    )
    deadline = time.monotonic() + 600
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the MTProto double did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text()), stats


def _stats_file(stats: Path) -> tuple[int | None, dict[str, Any]]:
    """(mtime in ns or None, the stats file's JSON or {})."""
    import json as _json

    try:
        return stats.stat().st_mtime_ns, dict(_json.loads(stats.read_text()))
    except (OSError, ValueError):
        return None, {}


async def double_stats(proc: Any, stats: Path) -> dict[str, Any]:
    """The double's counters so far (SIGUSR1: it writes its stats file at once)."""
    import signal

    before, _ = _stats_file(stats)
    proc.send_signal(signal.SIGUSR1)
    for _ in range(500):
        await asyncio.sleep(0.01)
        when, data = _stats_file(stats)
        if when is not None and when != before and data:
            return data
    raise SystemExit("the MTProto double wrote no stats")


async def login_accounts(
    port: int, count: int, resolve: list[tuple[str, ...]]
) -> list[tuple[str, int, dict[str, Any]]]:
    """Sign in ACCOUNTS[:count]; `resolve[i]`: the usernames account i resolves (its own
    access hashes). Each: (session string, user id, {username: input entity})."""
    out = []
    for i, (phone, code) in enumerate(ACCOUNTS[:count]):
        names = resolve[i] if i < len(resolve) else ()
        session, uid, entities = await login(port, names, phone=phone, code=code)
        out.append((session, uid, dict(zip(names, entities, strict=True))))
    return out


def dir_bytes(root: Path) -> tuple[int, int]:
    """(bytes, files) under `root` (0, 0 when missing)."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def sqlite_query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one read of the app's SQLite database (read-only connection)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
