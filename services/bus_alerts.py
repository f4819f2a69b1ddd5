"""Alerts raised in a worker process reach the admins through the bot process (#18).

A worker keeps its own core/alerts.py Alerter (the per-key windows and the folding work
as in one process); `AlertForwarder` takes its queue and tells the bot over the bus,
where `receive_alerts` puts each into the bot's Alerter, whose delivery renders it in
each admin's language. An alert body travels as JSON: catalogue texts with their values
(datetimes, nested texts), lines of them with their posts, plain text; a body that is
a function of the language is rendered here for every language the bot speaks.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from core.alerts import Alert, AlertBody, Alerter, AlertLines, AlertText
from core.errors import error_text
from services.bus import Bus

log = logging.getLogger(__name__)

ALERT = "alert"
# The bot's languages (bot/locales/<lang>): a body that is a function of the language
# is rendered in each before it leaves the worker.
LANGUAGES = ("en", "ru")


def _value(v: Any) -> Any:
    if isinstance(v, AlertText):
        return {"text": _text(v)}
    if isinstance(v, datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, list | tuple):
        return {"list": [_value(x) for x in v]}
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _text(t: AlertText) -> dict[str, Any]:
    return {"key": t.key, "args": {k: _value(v) for k, v in t.args.items()}}


def encode_alert(body: AlertBody) -> dict[str, Any]:
    """`body` as JSON (decode_alert gives it back)."""
    if isinstance(body, AlertText):
        return {"text": _text(body)}
    if isinstance(body, AlertLines):
        return {"lines": [_text(t) for t in body.lines], "posts": [list(p) for p in body.posts]}
    if isinstance(body, str):
        return {"plain": body}
    return {"html": {lang: body(lang) for lang in LANGUAGES}}


def _unvalue(v: Any) -> Any:
    if isinstance(v, dict):
        if "text" in v:
            return _untext(v["text"])
        if "datetime" in v:
            return datetime.fromisoformat(v["datetime"])
        if "list" in v:
            return [_unvalue(x) for x in v["list"]]
    return v


def _untext(d: dict[str, Any]) -> AlertText:
    return AlertText(d["key"], **{k: _unvalue(v) for k, v in d["args"].items()})


class _Rendered:
    """A body rendered per language in the worker: the admin's language, else English."""

    def __init__(self, html: dict[str, str]) -> None:
        self.html = html

    def __call__(self, lang: str) -> str:
        return self.html.get(lang) or self.html[LANGUAGES[0]]


def decode_alert(data: dict[str, Any]) -> AlertBody:
    """The AlertBody `encode_alert` wrote; ValueError for anything else."""
    if "text" in data:
        return _untext(data["text"])
    if "lines" in data:
        lines = tuple(_untext(t) for t in data["lines"])
        posts = tuple((int(a), int(b), int(c)) for a, b, c in data.get("posts", ()))
        return AlertLines(lines, posts)
    if "plain" in data:
        return str(data["plain"])
    if "html" in data:
        return _Rendered(dict(data["html"]))
    raise ValueError(f"not an alert body: {sorted(data)}")


class AlertForwarder:
    """A worker's supervised component (`name` "alerts"): sends each alert of the
    worker's Alerter to the bot process over the bus, in order. An alert the database
    does not take is kept and sent again (with the bus's backoff) until it lands or
    the worker stops (it is in the log already)."""

    name = "alerts"

    def __init__(self, bus: Bus, alerter: Alerter) -> None:
        self._bus = bus
        self._alerter = alerter
        self._stop = asyncio.Event()
        self._waiting: asyncio.Future[Alert] | None = None
        self.forwarded = 0

    async def run(self) -> None:
        self._stop.clear()
        while not self._stop.is_set():
            alert = await self._next()
            if alert is None:
                return
            try:
                payload = {"key": alert.key, "body": encode_alert(alert.body)}
            except Exception:
                log.exception("alert %s cannot be sent to the bot", alert.key)
                continue
            attempt = 0
            while not self._stop.is_set():
                try:
                    await self._bus.tell_bot(ALERT, payload)
                except Exception as exc:
                    attempt += 1
                    log.warning("alert %s not sent to the bot yet (%s)", alert.key,
                                error_text(exc))
                    await asyncio.sleep(min(30.0, 2.0 * attempt))
                    continue
                self.forwarded += 1
                break

    async def _next(self) -> Alert | None:
        """The next alert, or None once stopped (stop() cancels the wait)."""
        self._waiting = asyncio.ensure_future(self._alerter.next())
        try:
            return await self._waiting
        except asyncio.CancelledError:
            if self._stop.is_set():
                return None
            raise
        finally:
            self._waiting = None

    async def stop(self) -> None:
        self._stop.set()
        if self._waiting is not None:
            self._waiting.cancel()


def receive_alerts(bus: Bus, alerter: Alerter) -> None:
    """In the bot process: queue every alert a worker sends for the admins (the
    worker's Alerter already kept each key to once per window)."""

    async def on_alert(payload: dict[str, Any]) -> None:
        try:
            body = decode_alert(payload["body"])
        except (KeyError, TypeError, ValueError):
            log.warning("an alert from a worker cannot be read; dropped")
            return
        alerter.notify(body)

    bus.on_message(ALERT, on_alert)
