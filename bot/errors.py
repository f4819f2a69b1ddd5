"""The one place project errors are shown to an operator.

`install(dispatcher, default_lang)` registers an error handler for `ProjectError`
(aiogram's ExceptionTypeFilter) ahead of the catch-all one: a handler that lets a
`ProjectError` out gets its text in the operator's language, from the catalogues
(bot/locales), and the error is logged without a traceback (it was raised on purpose).
`render` gives the same text (and buttons) to code that reports an error outside a
handler (the QR login's task).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, InlineKeyboardMarkup, User

from bot.keyboards import resend_button
from bot.labels import duration
from bot.texts import Html, keys, pick_lang, t
from core.archive import MAX_PATTERN, BadPattern
from core.database_failure import database_unreachable
from core.errors import LoginFailed, ProjectError, RateLimited, error_text
from core.login import LoginCode
from core.words import MAX_QUERY_TERMS, BadQuery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """An error's text (Telegram HTML) and the buttons that go with it."""

    text: Html
    markup: InlineKeyboardMarkup | None = None


def login_text(err: LoginFailed, lang: str) -> Html:
    """`login_err_<code>` with its values (attempts left, the wait, who holds the flow)."""
    key = f"login_err_{err.login_code.value}"
    if key not in keys():
        key = "login_err_unknown"
    return t(
        key,
        lang,
        left=err.attempts_left or 0,
        wait=duration(err.retry_in or 0, lang, words=True),
        name=err.name,
    )


def bad_pattern_text(exc: BadPattern, lang: str) -> Html:
    """Why a pattern was refused, in the operator's language."""
    reason = t(f"watch_bad_{exc.problem.value}", lang, limit=MAX_PATTERN)
    pos = exc.pos
    where = t("watch_bad_at", lang, pos=pos + 1) if pos is not None else ""
    return t("watch_bad_regex", lang, reason=reason, where=where)


def bad_query_text(err: BadQuery, lang: str) -> Html:
    """Why a search query or a word watch cannot be used, and how to write one."""
    return t(f"search_bad_{err.reason}", lang, limit=MAX_QUERY_TERMS)


def render(err: ProjectError, lang: str) -> Rendered:
    """What the operator reads about `err`, in `lang`."""
    if isinstance(err, LoginFailed):
        expired = err.login_code is LoginCode.CODE_EXPIRED
        return Rendered(login_text(err, lang), resend_button(lang) if expired else None)
    if isinstance(err, BadPattern):
        return Rendered(bad_pattern_text(err, lang))
    if isinstance(err, BadQuery):
        return Rendered(bad_query_text(err, lang))
    if isinstance(err, RateLimited):
        wait = duration(err.seconds, lang, words=True)
        return Rendered(t("login_err_flood_wait", lang, wait=wait))
    return Rendered(t("error_generic", lang))


def unexpected_text(exc: BaseException, lang: str) -> Html:
    """The reply to a handler that failed with `exc`, not a ProjectError: the database
    out of reach is said so (PostgreSQL stopped: every command fails until it is back);
    anything else is the generic "logged, try again"."""
    if database_unreachable(exc):
        return t("error_database", lang, error=error_text(exc, 200))
    return t("error_generic", lang)


def install(dispatcher: Dispatcher, default_lang: str) -> None:
    """Register the ProjectError handler; call it before any catch-all error handler
    (aiogram tries a router's error handlers in the order they were registered)."""

    async def on_project_error(
        event: ErrorEvent, bot: Bot, event_from_user: User | None = None
    ) -> bool:
        err = event.exception
        assert isinstance(err, ProjectError)
        log.info("handler stopped by %s: %s", type(err).__name__, err.detail or err.code)
        update = event.update
        message = update.message or (
            update.callback_query.message if update.callback_query else None
        )
        if message is None:
            return True
        lang = pick_lang(event_from_user.language_code if event_from_user else None, default_lang)
        shown = render(err, lang)
        try:
            await bot.send_message(message.chat.id, shown.text, reply_markup=shown.markup)
        except TelegramAPIError as exc:
            log.info("error reply not sent: %s", exc.message)
        return True

    dispatcher.errors.register(on_project_error, ExceptionTypeFilter(ProjectError))
