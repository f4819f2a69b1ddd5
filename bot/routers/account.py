"""/logout and the account part of /status (the login service says what there is)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.api.login import LoginAPI
from bot.delivery import render_alert
from bot.keyboards import LogoutAnswer, logout_confirm
from bot.texts import reason_text, t, tn
from core.login import AccountStatus, SessionState

log = logging.getLogger(__name__)

# Telegram drops messages more than 30 s off; a clock this far off is worth a word.
CLOCK_WARN_SECONDS = 10


# -- /logout -----------------------------------------------------------------------------


async def cmd_logout(message: Message, login: LoginAPI, lang: str) -> None:
    target = await login.logout_target()
    if not target.has_session:
        await message.answer(t("logout_none", lang))
        return
    await message.answer(
        t("logout_confirm", lang, name=target.name), reply_markup=logout_confirm(lang)
    )


async def on_logout_answer(
    query: CallbackQuery,
    callback_data: LogoutAnswer,
    login: LoginAPI,
    lang: str,
    dialogue_lock: asyncio.Lock,
) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer()  # before the slow work
    yes = callback_data.answer == "yes"
    async with dialogue_lock:  # a double tap on «Yes» logs out once
        if yes:
            await login.logout()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(t("logout_done" if yes else "logout_kept", lang))


def build_router() -> Router:
    """/logout's router (a new one per call: one per Dispatcher)."""
    router = Router(name="account")
    router.message.register(cmd_logout, Command("logout"))
    router.callback_query.register(on_logout_answer, LogoutAnswer.filter())
    return router


# -- /status section ----------------------------------------------------------------------


def account_section(status: AccountStatus, lang: str) -> str:
    """The account part of /status: the account only while its session works."""
    lines = []
    state = status.state
    connecting = state is SessionState.CONNECTING
    if state is SessionState.READY and status.name is not None:
        lines.append(t("status_account", lang, value=status.name))
    elif connecting and status.name:
        lines.append(t("status_account_connecting", lang, name=status.name))
    elif state in (SessionState.NO_SESSION, SessionState.INVALID):
        lines.append(t("status_account_none", lang))
    else:
        lines.append(t("status_account_offline", lang))
    if connecting and status.connecting_attempts and status.trouble is not None:
        error = render_alert(status.trouble, lang)
        value = tn("status_connecting", status.connecting_attempts, lang, error=error)
        lines.append(t("status_session", lang, value=value))
    elif state is not SessionState.NO_SESSION:  # "not logged in" says it all
        reason = reason_text(status.reason, lang)
        value = t(f"session_{state.value}", lang, reason=reason)
        lines.append(t("status_session", lang, value=value))
    offset = status.clock_offset
    if offset is not None and abs(offset) >= CLOCK_WARN_SECONDS:
        key = "status_clock_behind" if offset > 0 else "status_clock_ahead"
        lines.append(t(key, lang, seconds=abs(offset)))
    if status.login_by is not None:
        lines.append(t("session_login_running", lang, name=status.login_by))
    return "\n".join(lines)


async def status_section(login: LoginAPI, lang: str) -> str:
    """The account part of /status, asked of the login service."""
    return account_section(await login.status(), lang)
