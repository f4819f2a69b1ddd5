"""Telegram's rules for every outgoing Bot API call, kept in one session middleware.

aiogram retries nothing it sends except getUpdates (and that one ignores
`retry_after` and retries a 409 forever). `TelegramRules` is registered on the bot's
session, so every call of every handler, alert and progress message goes through it:

- 429: sleep `retry_after` and send again, until a deadline, then re-raise;
- 5xx, network errors, a proxy's non-JSON page: retry with backoff for a bounded
  time, so a reply that failed during an outage is sent after it instead of dropped
  (at least once: a reply whose answer alone was lost may arrive twice; getMe is
  not retried, the supervisor restarts the bot instead);
- 400 "message is not modified" on an edit: not an error (answers True);
- answerCallbackQuery: a refusal (too late, already answered, ...) is logged and
  swallowed, so it never stops what the handler does next;
- getUpdates passes straight through (aiogram's polling loop retries it), but its
  409 Conflict (another process polls this token) and 401 are recorded in
  `TransportState` for /status, /healthz and one alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    GetUpdates,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiogram.utils.backoff import Backoff, BackoffConfig

log = logging.getLogger(__name__)

EDIT_METHODS = (EditMessageText, EditMessageCaption, EditMessageReplyMarkup, EditMessageMedia)
NOT_MODIFIED = "message is not modified"
# What an outage looks like from here: Telegram's 5xx, no connection, a proxy's HTML page.
OUTAGE_ERRORS = (TelegramServerError, TelegramNetworkError, ClientDecodeError)
UNDECODABLE = "Failed to decode object"  # ClientDecodeError of a non-JSON body

# Set by callers that handle 429 themselves (LiveMessage coalesces instead of waiting).
_RAISE_RETRY_AFTER: ContextVar[bool] = ContextVar("raise_retry_after", default=False)


@contextmanager
def retry_after_raised() -> Iterator[None]:
    """Calls made inside raise TelegramRetryAfter at once instead of waiting it out."""
    token = _RAISE_RETRY_AFTER.set(True)
    try:
        yield
    finally:
        _RAISE_RETRY_AFTER.reset(token)


@dataclass
class TransportPolicy:
    """How long one call may wait for Telegram. Tests shorten these; nothing else should."""

    # Longest total time one call spends waiting out 429s before the error is re-raised.
    retry_after_deadline: float = 180.0
    # Longest time one call is retried through 5xx / network errors.
    outage_deadline: float = 120.0
    outage_backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(
            min_delay=1.0, max_delay=15.0, factor=1.6, jitter=0.1
        )
    )
    # A conflict counts as over once getUpdates succeeds this long after the last 409:
    # two processes polling one token take turns, so single successes come and go.
    conflict_quiet: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic


Listener = Callable[[str], None]

CONFLICT, CONFLICT_OVER, UNAUTHORIZED = "conflict", "conflict_over", "unauthorized"


class TransportState:
    """What getUpdates and the other calls told us about this token."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.conflict = False
        self.unauthorized = False
        self._last_conflict = 0.0
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        """`listener(CONFLICT | CONFLICT_OVER | UNAUTHORIZED)`, called synchronously."""
        self._listeners.append(listener)

    def _emit(self, change: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("transport state listener failed")

    def conflict_seen(self) -> None:
        self._last_conflict = self._clock()
        if not self.conflict:
            self.conflict = True
            self._emit(CONFLICT)

    def poll_succeeded(self, quiet: float) -> None:
        if self.conflict and self._clock() - self._last_conflict >= quiet:
            self.conflict = False
            self._emit(CONFLICT_OVER)

    def unauthorized_seen(self) -> None:
        if not self.unauthorized:
            self.unauthorized = True
            self._emit(UNAUTHORIZED)


class TelegramRules(BaseRequestMiddleware):
    """The session middleware; see the module docstring."""

    def __init__(self, policy: TransportPolicy | None = None) -> None:
        self.policy = policy or TransportPolicy()
        self.state = TransportState(lambda: self.policy.clock())

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            if isinstance(method, GetUpdates):
                return await self._poll(make_request, bot, method)
            if isinstance(method, AnswerCallbackQuery):
                return await self._answer_callback(make_request, bot, method)
            return await self._send(make_request, bot, method)
        except TelegramUnauthorizedError:
            self.state.unauthorized_seen()
            raise

    async def _poll(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            result = await make_request(bot, method)
        except TelegramConflictError:
            self.state.conflict_seen()
            raise
        except TelegramUnauthorizedError:
            self.state.unauthorized_seen()
            # aiogram would retry (and log) this every few seconds forever; the bot
            # component stops polling for good as soon as it hears of it.
            await self.policy.sleep(60)
            raise
        self.state.poll_succeeded(self.policy.conflict_quiet)
        return result

    async def _answer_callback(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramUnauthorizedError:
            raise
        except (TelegramAPIError, ClientDecodeError) as exc:
            # Too late (15 s), answered twice, Telegram busy: the spinner just stops by
            # itself. Whatever the handler does next matters more.
            log.info("callback query not answered: %s", _describe(exc))
            return cast(Response[TelegramType], False)

    async def _send(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        policy = self.policy
        name = type(method).__name__
        waited = 0.0
        outage_until: float | None = None
        backoff: Backoff | None = None
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if _RAISE_RETRY_AFTER.get() or waited + exc.retry_after > (
                    policy.retry_after_deadline
                ):
                    raise
                log.info("%s: Telegram asks to wait %d s", name, exc.retry_after)
                waited += exc.retry_after
                await policy.sleep(exc.retry_after)
            except TelegramBadRequest as exc:
                if isinstance(method, EDIT_METHODS) and NOT_MODIFIED in exc.message:
                    # Same text and markup as shown: the message already says it.
                    return cast(Response[TelegramType], True)
                raise
            except TelegramEntityTooLarge:
                raise
            except OUTAGE_ERRORS as exc:
                if isinstance(method, GetMe):
                    raise  # start_polling's first call: the supervisor's backoff shows in health
                if isinstance(exc, ClientDecodeError) and exc.message != UNDECODABLE:
                    raise  # JSON that aiogram cannot read: sending again would not help
                now = policy.clock()
                if outage_until is None:
                    outage_until = now + policy.outage_deadline
                    backoff = Backoff(policy.outage_backoff)
                assert backoff is not None
                delay = next(backoff)
                if now + delay > outage_until:
                    raise
                log.warning("%s failed (%s); retrying in %.1f s", name, _describe(exc), delay)
                await policy.sleep(delay)


def _describe(exc: BaseException) -> str:
    """Type and Telegram's description; never the URL (it carries the token)."""
    message = getattr(exc, "message", "")
    if isinstance(exc, (TelegramNetworkError, ClientDecodeError)):
        return type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def install_rules(bot: Bot, policy: TransportPolicy | None = None) -> TelegramRules:
    """The bot session's TelegramRules, registered now if it is not there yet."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, TelegramRules):
            if policy is not None:
                middleware.policy = policy
            return middleware
    rules = TelegramRules(policy)
    bot.session.middleware(rules)
    return rules


def rules_of(bot: Any) -> TelegramRules | None:
    session = getattr(bot, "session", None)
    for middleware in getattr(session, "middleware", ()):
        if isinstance(middleware, TelegramRules):
            return middleware
    return None
