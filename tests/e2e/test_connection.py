"""The app as a process when the userbot cannot reach Telegram: honest state in /status and
/healthz (both languages), one alert past the threshold, and a clock 40 s off corrected."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, seed, wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _healthz(port: int, until: Any, stack: Stack, timeout: float = 60) -> dict[str, Any]:
    """/healthz's body once `until(status, body)` holds."""
    deadline = time.monotonic() + timeout
    last: object = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert stack.app.alive(), stack.app.log()[-3000:]
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    body: dict[str, Any] = await resp.json()
                    if until(resp.status, body):
                        return body
                    last = (resp.status, body)
            except aiohttp.ClientConnectionError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never got there: {last}\n{stack.app.log()[-3000:]}")


async def _status(stack: Stack, user_id: int, pattern: str) -> str:
    api = stack.botapi
    await api.send_text(api.users[user_id], "/status")
    reply = await api.wait_for_message(user_id, pattern, timeout=15)
    return reply.text or ""


def _alerts(stack: Stack, user_id: int, pattern: str) -> list[str]:
    return [
        e.text for e in stack.botapi.transcript(user_id) if e.text and re.search(pattern, e.text)
    ]


async def test_unreachable_telegram_is_reported_alerted_once_and_recovers(
    tmp_path: Path,
) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    port = _free_port()
    async with running_stack(
        tmp_path, world, start=False, HEALTH_PORT=str(port), CONNECTION_ALERT_SECONDS="2"
    ) as stack:
        await seed(stack, [])
        await stack.mtproto.stop()  # Telegram unreachable: connections refused
        # Queued before the start: the bot learns each admin's language before any alert.
        for admin in (ADMIN_ID, ADMIN2_ID):
            await stack.botapi.send_text(stack.botapi.users[admin], "/start")
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)

        body = await _healthz(
            port, lambda status, b: status == 503 and b["session"]["attempts"] >= 1, stack
        )
        assert body["session"]["state"] == "connecting"
        problem = [p for p in body["problems"] if p.startswith("session: connecting: ")]
        assert problem and "no connection to Telegram (ConnectionError)" in problem[0], body

        # One alert past the threshold, in each admin's language, with the cause and the fix.
        ru_alert = await stack.botapi.wait_for_message(
            ADMIN_ID, r"не может подключиться к Telegram", timeout=30
        )
        assert "нет связи с Telegram" in (ru_alert.text or "")
        en_alert = await stack.botapi.wait_for_message(
            ADMIN2_ID, r"has not been able to connect to Telegram", timeout=30
        )
        assert "no connection to Telegram" in (en_alert.text or "")

        ru = await _status(stack, ADMIN_ID, r"Аккаунт:")
        assert "Аккаунт: Ann (ещё не подключён к Telegram)" in ru, ru
        assert re.search(r"подключение к Telegram: \d+ неудачн\w+ попыт\w+, последняя ошибка: "
                         r"нет связи с Telegram \(ConnectionError\)\. Проверьте сеть", ru), ru
        assert "Связь с Telegram: ждёт подключения аккаунта" in ru
        en = await _status(stack, ADMIN2_ID, r"Account:")
        assert "Account: Ann (not connected to Telegram yet)" in en, en
        assert re.search(r"connecting to Telegram: \d+ failed attempts?, last error: "
                         r"no connection to Telegram \(ConnectionError\)", en), en
        assert "Telegram connection: waiting for the account to connect" in en

        # More failed attempts, still one alert.
        seen = body["session"]["attempts"]
        await _healthz(port, lambda s, b: b["session"]["attempts"] >= seen + 1, stack)
        assert len(_alerts(stack, ADMIN_ID, r"не может подключиться")) == 1

        # Telegram is back: connected, said once, healthy again.
        await stack.mtproto.start()
        await stack.botapi.wait_for_message(ADMIN_ID, r"снова подключён к Telegram", timeout=60)
        body = await _healthz(port, lambda status, b: status == 200, stack)
        assert body["session"]["state"] == "ready" and body["session"]["attempts"] == 0
        en = await _status(stack, ADMIN2_ID, r"Account:")
        assert "Account: Ann\n" in en and "Session: active" in en
        assert await stack.app.terminate() == 0


async def test_telegrams_clock_40_s_ahead_is_measured_corrected_and_shown(
    tmp_path: Path,
) -> None:
    """A saved session with the server's clock 40 s ahead: before, the userbot stayed
    'connecting' forever; now it parses, and /status names the difference and the fix."""
    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    news = world.add_channel(username="news", title="News")
    news.add_messages(500)
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [news])
        stack.mtproto.clock_offset = 40
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, ids["news"], news), "the backfill", stack, 60)

        log = stack.app.log()
        found = re.search(r"Telegram's clock is \+(\d+) s off this machine's", log)
        assert found, log[-3000:]
        seconds = int(found[1])
        assert seconds in (39, 40, 41)
        assert "Sync the system clock" in log
        ru = await _status(stack, ADMIN_ID, r"Аккаунт:")
        assert "Сессия: активна" in ru, ru
        assert f"Часы этой машины отстают от часов Telegram на {seconds} с" in ru, ru
        assert "системное время стоит синхронизировать" in ru
        en = await _status(stack, ADMIN2_ID, r"Account:")
        assert f"This machine's clock is {seconds} s behind Telegram's" in en, en
        assert "sync the system clock" in en and "Session: active" in en
        assert await stack.app.terminate() == 0
