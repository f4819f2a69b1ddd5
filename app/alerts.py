"""Alerts to admins. Until a Telegram sender is attached, alerts go to the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]


class Alerter:
    """Sends each alert key at most once per window; a failed send is logged, never raised."""

    def __init__(self, window_seconds: float = 600.0) -> None:
        self._window = window_seconds
        self._last: dict[str, float] = {}
        self._sender: Sender | None = None

    def attach(self, sender: Sender | None) -> None:
        self._sender = sender

    def forget(self, key: str) -> None:
        """Allow `key` to be sent again at once (e.g. a problem was resolved)."""
        self._last.pop(key, None)

    async def alert(self, key: str, text: str, *, force: bool = False) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if not force and last is not None and now - last < self._window:
            return False
        self._last[key] = now
        log.warning("ALERT [%s] %s", key, text)
        if self._sender is None:
            return True
        try:
            await self._sender(text)
        except Exception:
            log.exception("could not deliver alert %s", key)
        return True
