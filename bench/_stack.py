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


async def login(port: int, resolve: tuple[str, ...] = ()) -> tuple[str, int, list[Any]]:
    """Sign in against the double at `port`: (session string, user id, input entities)."""
    from telethon.sessions import StringSession

    from tests.doubles.mtproto import signed_in_client

    async with signed_in_client(port, PHONE, CODE) as (client, me):
        entities = [await client.get_input_entity(name) for name in resolve]
        return StringSession.save(client.session), me.id, entities


async def seed_db(
    env: dict[str, str], session: str, user_id: int, channels: list[SeedChannel]
) -> list[int]:
    """Store the operator's session and channel rows before the app starts; row ids."""
    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.models import Channel
    from db.vault import SessionVault

    await init_db(env["DATABASE_URL"])
    try:
        accounts = AccountRepository(SessionVault([env["SESSION_KEYS"]]))
        await accounts.save_session(
            session, phone=PHONE, user_id=user_id, display_name="Bench", username=None
        )
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
