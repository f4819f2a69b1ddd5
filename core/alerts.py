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
    """Several catalogue texts sent as one message, one a line (a list of hits, ...).

    `posts`: (number shown in the lines, channel row, msg_id) of the posts whose media
    the operator may ask for: the message gets a 📎 button for each (bot/media_send.py).
    """

    __slots__ = ("lines", "posts")

    def __init__(
        self, lines: tuple[AlertText, ...], posts: tuple[tuple[int, int, int], ...] = ()
    ) -> None:
        self.lines = lines
        self.posts = posts

    def __repr__(self) -> str:
        return f"AlertLines({self.lines!r}{f', posts={self.posts!r}' if self.posts else ''})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AlertLines)
            and self.lines == other.lines
            and self.posts == other.posts
        )

    __hash__ = None  # type: ignore[assignment]


# What an alert says: a catalogue text, lines of them, plain text (the same for every
# language), or a function of the language returning Telegram HTML.
AlertBody = AlertText | AlertLines | str | Callable[[str], str]


def folded_names(names: list[str], shown: int = 5) -> AlertText | str:
    """The first `shown` of `names` (channels' display names), then "and N more"
    (catalogue text alert_fold_more): a folded alert stays far within Telegram's
    4,096 characters whatever the count."""
    if len(names) <= shown:
        return ", ".join(names)
    return AlertText("alert_fold_more", n=len(names) - shown, names=", ".join(names[:shown]))


@dataclass
class _Fold:
    """Alerts of one kind waiting to go out as one message."""

    items: list[str]
    body_of: Callable[[list[str]], AlertBody]
    first: float
    timer: asyncio.TimerHandle | None = None


@dataclass
class Alert:
    key: str | None
    body: AlertBody
    at: float = field(default_factory=time.monotonic)


class Alerter:
    """Sends each alert key at most once per window; never blocks, never raises."""

    def __init__(
        self,
        window_seconds: float = 600.0,
        max_queued: int = 1000,
        *,
        fold_quiet: float = 5.0,
        fold_max: float = 60.0,
    ) -> None:
        self._window = window_seconds
        self._last: dict[str, float] = {}
        # `fold`: a kind's alerts go out `fold_quiet` s after the last one came, at
        # most `fold_max` s after the first.
        self._fold_quiet = fold_quiet
        self._fold_max = fold_max
        self._folds: dict[str, _Fold] = {}
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

    def fold(
        self,
        kind: str,
        item: str,
        body_of: Callable[[list[str]], AlertBody],
        *,
        key: str | None = None,
    ) -> bool:
        """Queue an alert of `kind` about `item` (a channel's display name) folded with
        the others of that kind raised close together: one message, `body_of(items)`
        (items in the order raised), once `fold_quiet` s pass without another (at most
        `fold_max` s after the first). `key`: the item's own per-window key, as
        `alert`'s; False when it was already sent in the window. Without a running
        event loop the alert goes out at once."""
        now = time.monotonic()
        if key is not None:
            last = self._last.get(key)
            if last is not None and now - last < self._window:
                return False
            self._last[key] = now
        log.warning("ALERT [%s] %s", kind, item)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._put(Alert(kind, body_of([item])))
            return True
        pending = self._folds.get(kind)
        if pending is None:
            pending = self._folds[kind] = _Fold([], body_of, now)
        if item not in pending.items:  # the same channel twice in one burst: named once
            pending.items.append(item)
        pending.body_of = body_of  # the latest word (e.g. a wait's seconds)
        if pending.timer is not None:
            pending.timer.cancel()
        delay = min(self._fold_quiet, pending.first + self._fold_max - now)
        pending.timer = loop.call_later(max(0.0, delay), self._flush, kind)
        return True

    def flush(self) -> None:
        """Queue every folded alert now (e.g. at a stop)."""
        for kind in list(self._folds):
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        pending = self._folds.pop(kind, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        try:
            body = pending.body_of(pending.items)
        except Exception:
            log.exception("alert %s cannot be folded", kind)
            return
        self._put(Alert(kind, body))

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
