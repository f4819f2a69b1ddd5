"""The app as a process: /healthz, and how it ends on signals."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.harness import ADMIN_ID, running_stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _healthz(port: int, want: int) -> dict[str, Any]:
    """Poll /healthz until it answers `want` (the app starts and restarts asynchronously)."""
    last: object = None
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    body: dict[str, Any] = await resp.json()
                    if resp.status == want:
                        return body
                    last = (resp.status, body)
            except aiohttp.ClientConnectionError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {want}: {last}")


async def test_healthz_200_with_component_states(tmp_path: Path) -> None:
    port = _free_port()
    # The app migrates a database from nothing here (the other stacks start migrated).
    async with running_stack(tmp_path, fresh_db=True, HEALTH_PORT=str(port)) as stack:
        body = await _healthz(port, 200)
        assert body["healthy"] is True
        assert body["components"]["bot"]["state"] == "running"
        assert body["components"]["userbot"]["state"] == "running"
        assert await stack.app.terminate() == 0


async def test_healthz_503_while_the_bot_keeps_failing(tmp_path: Path) -> None:
    port = _free_port()
    dead = _free_port()  # nothing listens there: getMe fails, the bot restarts
    async with running_stack(
        tmp_path, start=False, HEALTH_PORT=str(port), BOT_API_URL=f"http://127.0.0.1:{dead}"
    ) as stack:
        await stack.app.start()
        body = await _healthz(port, 503)
        assert body["healthy"] is False
        assert body["components"]["bot"]["state"] in ("restarting", "failed", "starting")
        assert body["components"]["userbot"]["state"] == "running"
        assert await stack.app.terminate() == 0


async def test_sigint_graceful_exit_0_within_10_s(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        api = stack.botapi
        await api.send_text(api.users[ADMIN_ID], "/start")
        await api.wait_for_message(ADMIN_ID, r"/login", timeout=15)
        assert stack.app.proc is not None
        started = time.monotonic()
        stack.app.proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(stack.app.proc.wait(), 10)
        assert rc == 0, stack.app.log()
        assert time.monotonic() - started < 10
        log = stack.app.log()
        assert "tg-parser stopped" in log
        assert "Traceback" not in log


async def test_sigterm_exit_0_within_10_s(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        rc = await stack.app.terminate(timeout=10)
        assert rc == 0, stack.app.log()
        assert "tg-parser stopped" in stack.app.log()


async def test_a_second_signal_forces_exit(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        proc = stack.app.proc
        assert proc is not None
        # Two different signals: a repeated SIGTERM could be merged by the kernel.
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(proc.wait(), 10)
        log = stack.app.log()
        assert rc == 130, log
        assert "second signal: exiting now" in log
        assert "tg-parser stopped" not in log  # it did not wait for the graceful path


async def test_wrong_key_at_start_fails_closed_and_keeps_the_ciphertext(tmp_path: Path) -> None:
    import sqlite3

    from cryptography.fernet import Fernet

    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.vault import SessionVault

    def stored(db: Path) -> bytes:
        conn = sqlite3.connect(db)
        conn.text_factory = bytes
        try:
            return bytes(conn.execute("SELECT session_ciphertext FROM account").fetchone()[0])
        finally:
            conn.close()

    async with running_stack(tmp_path, start=False) as stack:
        other_key = Fernet.generate_key().decode()
        await init_db(stack.app.env["DATABASE_URL"])
        try:
            await AccountRepository(SessionVault([other_key])).save_session(
                "1AbCdEf-some-session", phone=None, user_id=1, display_name=None, username=None
            )
        finally:
            await close_db()
        before = stored(stack.app.db_path)
        await stack.app.start()
        alert = await stack.botapi.wait_for_message(ADMIN_ID, r"cannot be decrypted", timeout=30)
        assert "SESSION_KEYS" in alert.text
        assert other_key not in alert.text
        assert stack.app.alive()
        assert await stack.app.terminate() == 0, stack.app.log()
        assert stored(stack.app.db_path) == before
        log = stack.app.log()
        assert other_key not in log and stack.app.env["SESSION_KEYS"] not in log
        assert "1AbCdEf-some-session" not in log
