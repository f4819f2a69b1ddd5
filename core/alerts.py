"""Alerts to admins: what an alert says, and the queue it waits in.

A caller (the parse worker, the supervisor, the userbot) must never wait for
Telegram: `Alerter.alert()` only checks the per-key window, logs and enqueues.
`bot.delivery.AlertDelivery` takes alerts off the queue and sends each admin the
alert in that admin's language, honouring Telegram's rate limits.

An alert's text is a catalogue key and its values (`AlertText`), rendered per
language by bot/ (bot.delivery); parser/, services/ and app/ never import bot/.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class AlertText:
    """A catalogue key (bot/texts) and the values its placeholders take."""

    __slots__ = ("args", "key")

    def __init__(self, key: str, /, **args: Any) -> None:
        self.key = key
        self.args: dict[str, Any] = args

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"AlertText({self.key!r}{', ' if args else ''}{args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlertText) and (self.key, self.args) == (other.key, other.args)

    __hash__ = None  # type: ignore[assignment]


class AlertLines:
    """Several catalogue texts sent as one message, one a line (a list of hits, ...)."""

    __slots__ = ("lines",)

    def __init__(self, lines: tuple[AlertText, ...]) -> None:
        self.lines = lines

    def __repr__(self) -> str:
        return f"AlertLines({self.lines!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlertLines) and self.lines == other.lines

    __hash__ = None  # type: ignore[assignment]


# What an alert says: a catalogue text, lines of them, plain text (the same for every
# language), or a function of the language returning Telegram HTML.
AlertBody = AlertText | AlertLines | str | Callable[[str], str]


@dataclass
class Alert:
    key: str | None
    body: AlertBody
    at: float = field(default_factory=time.monotonic)


class Alerter:
    """Sends each alert key at most once per window; never blocks, never raises."""

    def __init__(self, window_seconds: float = 600.0, max_queued: int = 1000) -> None:
        self._window = window_seconds
        self._last: dict[str, float] = {}
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._max_queued = max_queued

    def forget(self, key: str) -> None:
        """Allow `key` to be sent again at once (e.g. a problem was resolved)."""
        self._last.pop(key, None)

    def alert(self, key: str, text: AlertBody, *, force: bool = False) -> bool:
        """Queue an alert for every admin; False if `key` was already sent in the window."""
        now = time.monotonic()
        last = self._last.get(key)
        if not force and last is not None and now - last < self._window:
            return False
        self._last[key] = now
        log.warning("ALERT [%s] %r", key, text)
        self._put(Alert(key, text))
        return True

    def notify(self, body: AlertBody) -> None:
        """Queue a message for every admin without the per-key window."""
        self._put(Alert(None, body))

    def _put(self, alert: Alert) -> None:
        if self._queue.qsize() >= self._max_queued:
            dropped = self._queue.get_nowait()
            log.warning("alert queue full: dropped the oldest (%s)", dropped.key)
        self._queue.put_nowait(alert)

    async def next(self) -> Alert:
        """The oldest queued alert (waits for one)."""
        return await self._queue.get()

    def pending(self) -> list[Alert]:
        """Queued, not yet taken alerts (oldest first)."""
        return list(self._queue._queue)  # type: ignore[attr-defined]
