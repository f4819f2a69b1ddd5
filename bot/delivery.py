"""Alert delivery: the one task that sends the Alerter's queue to the admins."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.media_send import media_buttons
from bot.session import rules_of
from bot.texts import escape, is_plural, reason_text, t, tn
from bot.times import UTC_ZONE, show
from core.alerts import Alert, AlertBody, Alerter, AlertLines, AlertText

log = logging.getLogger(__name__)


def render_alert(body: AlertBody, lang: str, tz: ZoneInfo = UTC_ZONE) -> str:
    """Telegram HTML for one language (t() escapes the values; a plain string is
    escaped whole, an `Html` one goes as it is). A datetime value is shown in `tz`,
    the operators' zone (bot/times.show)."""
    if isinstance(body, AlertText):
        # A value may itself be a catalogue text (a cause and its fix): rendered first.
        args = {k: _value(v, lang, tz) for k, v in body.args.items()}
        if isinstance(args.get("reason"), str):  # a reason code or Telegram error name
            args["reason"] = reason_text(args["reason"], lang)
        if is_plural(body.key):  # a count: the language's plural form for `n`
            return tn(body.key, int(args.pop("n")), lang, **args)
        return t(body.key, lang, **args)
    if isinstance(body, AlertLines):
        return "\n".join(render_alert(line, lang, tz) for line in body.lines)
    if isinstance(body, str):
        return escape(body)
    return body(lang)


def alert_markup(body: AlertBody) -> InlineKeyboardMarkup | None:
    """The 📎 buttons of an alert naming posts with media (AlertLines.posts), else None."""
    if isinstance(body, AlertLines) and body.posts:
        return InlineKeyboardMarkup(inline_keyboard=media_buttons(list(body.posts)))
    return None


def _value(value: Any, lang: str, tz: ZoneInfo) -> Any:
    if isinstance(value, AlertText):
        return render_alert(value, lang, tz)
    if isinstance(value, datetime):
        return show(value, tz)
    return value


class AlertDelivery:
    """A supervised component: sends each queued alert to every admin in that admin's
    language (`languages`: admin id -> language of their last update, else `default_lang`),
    its times in `tz`.

    Alerts go out one after another, to all admins at once. The session middleware
    waits out 429s and short outages; past its deadline this task keeps trying (retry
    after, backoff) for up to `give_up_after` s from when the alert was raised. A stop
    ends the wait at once: alerts still queued are in the log already.
    """

    name = "alerts"

    def __init__(
        self,
        bot: Bot,
        alerter: Alerter,
        admin_ids: set[int],
        languages: Mapping[int, str],
        default_lang: str,
        *,
        give_up_after: float = 3600.0,
        backoff: BackoffConfig | None = None,
        tz: ZoneInfo = UTC_ZONE,
    ) -> None:
        self._tz = tz
        self._bot = bot
        self._alerter = alerter
        self._admins = admin_ids
        self._languages = languages
        self._default = default_lang
        self._give_up_after = give_up_after
        self._backoff = backoff or BackoffConfig(
            min_delay=1.0, max_delay=60.0, factor=2.0, jitter=0.1
        )
        self._stop = asyncio.Event()
        self.delivered = 0

    def _sleep(self) -> Callable[[float], Awaitable[None]]:
        rules = rules_of(self._bot)
        return rules.policy.sleep if rules is not None else asyncio.sleep

    async def run(self) -> None:
        self._stop.clear()
        while not self._stop.is_set():
            alert = await self._until_stopped(self._alerter.next())
            if alert is None:
                return
            await self._deliver(alert)

    async def stop(self) -> None:
        self._stop.set()

    async def _until_stopped(self, awaitable: Awaitable[Any]) -> Any:
        """The awaitable's result, or None as soon as stop() is called."""
        task = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
        return task.result() if task.done() and not task.cancelled() else None

    async def _deliver(self, alert: Alert) -> None:
        texts: dict[str, str | None] = {}

        def text_for(lang: str) -> str | None:
            if lang not in texts:
                try:
                    texts[lang] = render_alert(alert.body, lang, self._tz)
                except Exception:
                    log.exception("alert %s cannot be rendered in %s", alert.key, lang)
                    texts[lang] = None
            return texts[lang]

        sends = []
        for admin in sorted(self._admins):
            text = text_for(self._languages.get(admin, self._default))
            if text is not None:
                sends.append(self._send(admin, text, alert))
        await asyncio.gather(*sends)

    async def _send(self, admin: int, text: str, alert: Alert) -> None:
        backoff = Backoff(self._backoff)
        give_up_at = alert.at + self._give_up_after
        while not self._stop.is_set():
            try:
                # The session may be retrying an outage for minutes: a stop ends it.
                sent = await self._until_stopped(
                    self._bot.send_message(
                        admin, text, parse_mode="HTML", reply_markup=alert_markup(alert.body)
                    )
                )
                if sent is not None:
                    self.delivered += 1
                return
            except TelegramRetryAfter as exc:
                delay: float = exc.retry_after
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                delay = next(backoff)
                log.info("alert to %s delayed: %s", admin, type(exc).__name__)
            except TelegramUnauthorizedError:
                return  # the token was refused: the bot component says so, once
            except TelegramAPIError as exc:
                # Blocked by the admin, chat not found, bad text: retrying changes nothing.
                log.warning("alert %s to %s not delivered: %s", alert.key, admin, exc.message)
                return
            if time.monotonic() + delay > give_up_at:
                log.warning("alert %s to %s dropped after %.0f s", alert.key, admin,
                            time.monotonic() - alert.at)
                return
            await self._until_stopped(self._sleep()(delay))
