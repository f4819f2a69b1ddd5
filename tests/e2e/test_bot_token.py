"""The app as a process with a bot token Telegram refuses (revoked or mistyped)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.harness import BOT_TOKEN, running_stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _healthz_until(port: int, ok: Callable[[dict[str, Any]], bool]) -> tuple[int, Any]:
    last: object = None
    deadline = time.monotonic() + 120  # the app's start-up alone can take 30 s under load
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    body: dict[str, Any] = await resp.json()
                    if ok(body):
                        return resp.status, body
                    last = (resp.status, body)
            except aiohttp.ClientConnectionError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never got there: {last}")


async def test_a_refused_token_stops_the_bot_for_good_with_one_line(tmp_path: Path) -> None:
    port = _free_port()
    async with running_stack(tmp_path, start=False, HEALTH_PORT=str(port)) as stack:
        stack.botapi.faults.add(None, 401, times=None)  # every method: Unauthorized
        await stack.app.start()
        status, body = await _healthz_until(
            port, lambda b: b["components"]["bot"]["state"] == "failed"
        )
        assert status == 503
        assert any("@BotFather" in p for p in body["problems"]), body["problems"]
        bot = body["components"]["bot"]
        assert "refused the bot token" in bot["last_error"]
        assert "@BotFather" in bot["last_error"] and bot["restarts"] == 0
        assert body["components"]["userbot"]["state"] == "running"
        assert stack.app.alive()
        assert stack.botapi.request_count("getMe") == 1
        assert await stack.app.terminate() == 0
        log = stack.app.log()
        assert len([line for line in log.splitlines() if "BotFather" in line]) == 1, log
        assert "Traceback" not in log
        assert BOT_TOKEN.split(":", 1)[1] not in log
