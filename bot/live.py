"""A message that keeps showing the latest state of something long (a run, an export)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter

from bot.session import retry_after_raised, rules_of

log = logging.getLogger(__name__)

# Tasks of live messages whose handler has moved on (a reference keeps them alive).
_flushers: set[asyncio.Task[None]] = set()


class LiveMessage:
    """Edits one message to the newest text it was given, never faster than Telegram allows.

    `show(text)` returns at once: a background task edits the message at most every
    `min_interval` s, and when Telegram answers 429 it waits `retry_after` and then
    sends whatever is newest by then (intermediate states are skipped, never queued).
    `finish(text)` waits until the final text is shown, at most `finish_timeout` s; if
    Telegram still refuses by then, the task goes on and shows it as soon as allowed
    (for at most `give_up_after` s). An edit that fails otherwise never stops the caller.
    """

    def __init__(
        self,
        message: Any,  # an aiogram Message (or anything with `edit_text`)
        *,
        min_interval: float = 2.0,
        finish_timeout: float = 120.0,
        give_up_after: float = 900.0,
    ) -> None:
        self.message = message
        self._min_interval = min_interval
        self._finish_timeout = finish_timeout
        self._give_up_after = give_up_after
        self._shown: str | None = getattr(message, "text", None)
        self._wanted: str | None = None
        self._final = False
        self._last_edit = -float("inf")
        self._not_before = 0.0  # Telegram's retry_after
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        rules = rules_of(getattr(message, "bot", None))
        self._sleep: Callable[[float], Awaitable[None]] = (
            rules.policy.sleep if rules is not None else asyncio.sleep
        )
        self._clock: Callable[[], float] = rules.policy.clock if rules else time.monotonic

    @property
    def shown(self) -> str | None:
        """The text Telegram last accepted."""
        return self._shown

    async def show(self, text: str) -> None:
        self._want(text)

    async def finish(self, text: str) -> None:
        self._final = True
        self._want(text)
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self._finish_timeout)
        except TimeoutError:
            log.warning(
                "the final text of a live message is not shown after %.0f s; "
                "it follows when Telegram allows",
                self._finish_timeout,
            )

    def _want(self, text: str) -> None:
        self._wanted = text
        self._changed.set()
        if self._task is None and text != self._shown:
            self._task = asyncio.create_task(self._flush(), name="live-message")
            _flushers.add(self._task)
            self._task.add_done_callback(_flushers.discard)

    async def _flush(self) -> None:
        give_up_at: float | None = None
        try:
            while self._wanted is not None and self._wanted != self._shown:
                now = self._clock()
                if self._final and give_up_at is None:
                    give_up_at = now + self._give_up_after
                if give_up_at is not None and now > give_up_at:
                    log.warning("a live message gave up on its final text")
                    return
                if now < self._not_before:
                    await self._sleep(self._not_before - now)
                    continue
                throttle = self._last_edit + self._min_interval - now
                if throttle > 0 and not self._final:
                    # Woken early by finish(): the final text does not wait for the throttle.
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), throttle)
                    continue
                await self._edit(self._wanted)
        except Exception:
            log.exception("live message stopped")
        finally:
            self._task = None

    async def _edit(self, text: str) -> None:
        try:
            with retry_after_raised():
                await self.message.edit_text(text)
        except TelegramRetryAfter as exc:
            self._not_before = self._clock() + exc.retry_after
            log.info("live message: Telegram asks to wait %d s", exc.retry_after)
            return
        except TelegramAPIError as exc:
            # Deleted, too old, Telegram down past the session's retries: this text is
            # dropped; a newer one is tried when it comes.
            log.info("live message edit failed: %s", type(exc).__name__)
        self._shown = text
        self._last_edit = self._clock()
