"""A real Userbot (parser/userbot.py) on a stored session, against the MTProto double,
and `until` to wait for what it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

from app.health import HealthRegistry
from core.alerts import Alerter
from core.backoff import Backoff
from parser.connection import ConnectionTracker
from parser.userbot import Userbot
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer


class StoredSession:
    """The session store of one account (row id 1) holding `session`."""

    def __init__(self, session: str) -> None:
        self.session = session

    async def load_session(self) -> str:
        return self.session

    async def current(self) -> Any:
        return SimpleNamespace(id=1, display_name="Ann", username=None)


def double_userbot(server: MTProtoServer, session: str, **kwargs: Any) -> Userbot:
    """A Userbot pointed at `server`, retrying connections within 0.2 s (`kwargs`: more
    Userbot options)."""
    settings: Any = SimpleNamespace(
        telegram_server_key=PUBLIC_KEY_PATH,
        dc=(server.dc_id, server.host, server.port),
        telegram_api_id=1,
        telegram_api_hash=SecretStr("x" * 32),
        telegram_proxy=None,
        flood_sleep_threshold=5,
    )
    tracker = ConnectionTracker(180, Backoff(base=0.05, cap=0.2))
    return Userbot(
        settings, StoredSession(session), HealthRegistry(), Alerter(600),  # type: ignore[arg-type]
        tracker=tracker, **kwargs,
    )


async def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until `cond()` is true, looking every 20 ms; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
