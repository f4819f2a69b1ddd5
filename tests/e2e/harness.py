"""Runs the whole app as a separate OS process against both loopback doubles."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World, signed_in_client

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"
API_HASH = "0123456789abcdef0123456789abcdef"
ADMIN_ID = 1001
ADMIN2_ID = 1002
STRANGER_ID = 2002


@dataclass
class AppProcess:
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    _log_file: object | None = field(default=None, repr=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tg.sqlite3"

    async def start(self, *extra_args: str) -> None:
        self._log_file = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "run",
            *extra_args,
            cwd=str(ROOT),
            env=self.env,
            stdout=self._log_file,
            stderr=self._log_file,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            self._close_log()

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    world: World
    mtproto: MTProtoServer
    botapi: BotAPIDouble
    app: AppProcess


def app_env(
    tmp: Path, botapi: BotAPIDouble, mtproto: MTProtoServer, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "TELEGRAM_"))}
    env.update(
        BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_ID="12345",
        TELEGRAM_API_HASH=API_HASH,
        ADMIN_IDS=f"{ADMIN_ID},{ADMIN2_ID}",
        DATABASE_URL=f"sqlite://{tmp / 'data' / 'tg.sqlite3'}",
        SESSION_KEYS=Fernet.generate_key().decode(),
        BOT_API_URL=botapi.base_url,
        TELEGRAM_DC=f"2@127.0.0.1:{mtproto.port}",
        TELEGRAM_SERVER_KEY=str(PUBLIC_KEY_PATH),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


_migrated: list[Path] = []  # this worker's freshly migrated database, once made


async def migrated_copy(path: Path) -> None:
    """Put a freshly migrated SQLite database at `path` (a copy of one migrated once per
    worker: migrating from nothing takes 0.7-2 s, and the suite starts ~100 stacks)."""
    from db.database import close_db, init_db

    if not _migrated:
        template = Path(tempfile.mkdtemp(prefix="tgp-e2e-")) / "tg.sqlite3"
        atexit.register(shutil.rmtree, template.parent, ignore_errors=True)
        await init_db(f"sqlite://{template}")
        await close_db()  # the last connection's close folds the WAL into the file
        _migrated.append(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated[0], path)


@asynccontextmanager
async def running_stack(
    tmp: Path,
    world: World | None = None,
    start: bool = True,
    fresh_db: bool = False,
    **env_extra: str,
) -> AsyncIterator[Stack]:
    """Both doubles and the app (started unless `start` is False) on a migrated SQLite
    database in tmp/data; `fresh_db`: no database file, the app migrates from nothing."""
    world = world or World()
    async with MTProtoServer(world) as mtproto, BotAPIDouble(token=BOT_TOKEN) as botapi:
        botapi.add_user(ADMIN_ID, "Olga", username="olga", language_code="ru")
        botapi.add_user(ADMIN2_ID, "Adam", username="adam", language_code="en")
        botapi.add_user(STRANGER_ID, "Eve", username="eve", language_code="en")
        env = app_env(tmp, botapi, mtproto, **env_extra)
        app = AppProcess(env=env, data_dir=tmp / "data", log_path=tmp / "app.log")
        stack = Stack(world, mtproto, botapi, app)
        if not fresh_db and "DATABASE_URL" not in env_extra:
            await migrated_copy(app.db_path)
        if start:
            await app.start()
            await botapi.wait_for_poll(timeout=60)
        try:
            yield stack
        finally:
            if app.alive():
                await app.terminate()


async def store_logged_in_session(
    stack: Stack, phone: str = "+15550000001", code: str = "12345"
) -> Any:
    """Sign in against the MTProto double and store the session in the app's DB
    (encrypted with the app's SESSION_KEYS), as if the operator had used /login."""
    from telethon.sessions import StringSession

    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.vault import SessionVault

    port, dc_id = stack.mtproto.port, stack.mtproto.dc_id
    async with signed_in_client(port, phone, code, dc_id=dc_id) as (client, me):
        session = StringSession.save(client.session)
    env = stack.app.env
    await init_db(env["DATABASE_URL"])
    try:
        accounts = AccountRepository(SessionVault([env["SESSION_KEYS"]]))
        await accounts.save_session(
            session, phone=phone, user_id=me.id, display_name="Ann", username=None
        )
    finally:
        await close_db()
    return me
