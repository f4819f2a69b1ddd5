"""/accounts, /logout and the account part of /status (the login service says what
there is). /accounts lists the accounts 10 a page with a «Proxy» button each: the
operator then sends the account's proxy (or "none") as the next message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.api.login import LoginAPI
from bot.delivery import render_alert
from bot.keyboards import (
    AccountPage,
    AccountProxy,
    LogoutAccount,
    LogoutAnswer,
    LogoutPage,
    LogoutPick,
    button,
    logout_account_confirm,
    logout_confirm,
    pager_row,
    pages_of,
)
from bot.texts import Html, html_join, plain, reason_text, t, tn
from bot.times import UTC_ZONE, in_zone, show
from core.login import AccountState, AccountStatus, AccountView, SessionState
from core.proxy import BadProxy

log = logging.getLogger(__name__)

# Telegram drops messages more than 30 s off; a clock this far off is worth a word.
CLOCK_WARN_SECONDS = 10


# -- /logout -----------------------------------------------------------------------------


# Accounts per /accounts page and per /logout question; names and proxies are cut
# to this many characters, so a page stays far below Telegram's 4,096.
PAGE_SIZE = 10
NAME_CHARS = 64
# /status names this many accounts, then points to /accounts.
STATUS_ACCOUNTS = 10


def _short(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def cmd_logout(message: Message, login: LoginAPI, lang: str) -> None:
    views = [v for v in await login.accounts() if v.has_session]
    if not views:
        await message.answer(t("logout_none", lang))
        return
    if len(views) == 1:  # nothing to choose: asked as with one account
        await message.answer(
            t("logout_confirm", lang, name=views[0].name), reply_markup=logout_confirm(lang)
        )
        return
    text, markup = logout_page(views, 0, lang)
    await message.answer(text, reply_markup=markup)


def logout_page(
    views: list[AccountView], page: int, lang: str
) -> tuple[Html, InlineKeyboardMarkup]:
    """Page `page` (0-based, clamped) of /logout's question among several logged-in
    accounts `views`: PAGE_SIZE buttons naming an account, then ◀ ▶ to the other pages
    (at most 15 buttons and far below 4,096 characters, whatever the number of accounts)."""
    pages = pages_of(len(views), PAGE_SIZE)
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    rows = [
        [button(_short(f"{i}. {v.name}", 40), LogoutPick(account=v.id).pack())]
        for i, v in enumerate(views[first:first + PAGE_SIZE], first + 1)
    ]
    text = t("logout_pick", lang, n=len(views))
    if pages > 1:
        text = html_join("\n", [text, t("logout_pick_page", lang, page=page + 1, pages=pages)])
    nav = pager_row(lambda n: LogoutPage(page=n).pack(), page, pages, lang)
    if nav:
        rows.append(nav)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def on_logout_page(
    query: CallbackQuery, callback_data: LogoutPage, login: LoginAPI, lang: str
) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    if not isinstance(query.message, Message):
        return
    views = [v for v in await login.accounts() if v.has_session]
    with contextlib.suppress(TelegramAPIError):
        if not views:
            await query.message.edit_text(t("logout_none", lang))
            return
        text, markup = logout_page(views, callback_data.page, lang)
        await query.message.edit_text(text, reply_markup=markup)


async def _picked(
    query: CallbackQuery, login: LoginAPI, account_id: int
) -> tuple[Message | None, AccountView | None]:
    """A button naming an account pressed: answered at once; the message it is on and
    the account (None when gone)."""
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    view = await login.account(account_id)
    return (query.message if isinstance(query.message, Message) else None), view


async def on_logout_pick(
    query: CallbackQuery, callback_data: LogoutPick, login: LoginAPI, lang: str
) -> None:
    message, view = await _picked(query, login, callback_data.account)
    if message is None:
        return
    with contextlib.suppress(TelegramAPIError):
        if view is None or not view.has_session:
            await message.edit_text(t("logout_none", lang))
            return
        await message.edit_text(
            t("logout_confirm_one", lang, name=view.name),
            reply_markup=logout_account_confirm(lang, view.id),
        )


async def on_logout_account(
    query: CallbackQuery,
    callback_data: LogoutAccount,
    login: LoginAPI,
    lang: str,
    dialogue_lock: asyncio.Lock,
) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    yes = callback_data.answer == "yes"
    async with dialogue_lock:  # a double tap on «Yes» logs out once
        if yes:
            await login.logout(callback_data.account)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(t("logout_done_one" if yes else "logout_kept", lang))


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


# -- /accounts ----------------------------------------------------------------------------


class ProxyStates(StatesGroup):
    link = State()  # waiting for the proxy of the account in the FSM data


def _state_text(view: AccountView, lang: str, tz: ZoneInfo) -> Html:
    if view.state is AccountState.FLOOD and view.flood_until is not None:
        # Today's end as `14:05 MSK`; a wait into another day (FLOOD_WAIT can be hours)
        # with its date, so the time is never read as today's.
        local = in_zone(view.flood_until, tz)
        same_day = local.date() == in_zone(datetime.now(UTC), tz).date()
        until = local.strftime("%H:%M %Z") if same_day else show(view.flood_until, tz)
        return t("account_state_flood", lang, time=until)
    if view.state is AccountState.ELSEWHERE and view.reason:
        return t("account_state_elsewhere_why", lang, holder=_short(view.reason))
    if view.state in (AccountState.REVOKED, AccountState.PAUSED) and view.reason:
        return t(f"account_state_{view.state.value}_why", lang,
                 reason=reason_text(_short(view.reason), lang))
    return t(f"account_state_{view.state.value}", lang)


def _proxy_text(view: AccountView, lang: str) -> Html:
    if view.proxy is None:
        return t("accounts_proxy_default", lang)
    host, _, port = view.proxy.rpartition(":")
    address = view.proxy if not host else f"{_short(host, NAME_CHARS - 8)}:{port}"
    return t("accounts_proxy_own", lang, address=address)


def accounts_page(
    views: list[AccountView], page: int, lang: str, tz: ZoneInfo = UTC_ZONE
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """Page `page` (0-based, clamped) of /accounts: its text and buttons."""
    if not views:
        return t("accounts_none", lang), None
    pages = pages_of(len(views), PAGE_SIZE)
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    lines = [tn("accounts_title", len(views), lang, page=page + 1, pages=pages)]
    rows = []
    for i, view in enumerate(views[first:first + PAGE_SIZE], first + 1):
        lines.append(
            t("accounts_line", lang, i=i, name=_short(view.name),
              state=_state_text(view, lang, tz), proxy=_proxy_text(view, lang),
              channels=tn("accounts_channels", view.channels, lang))
        )  # fmt: skip
        rows.append([button(
            plain("accounts_btn_proxy", lang, i=i, name=_short(view.name, 32)),
            AccountProxy(account=view.id).pack(),
        )])  # fmt: skip
    lines.append(t("accounts_footer", lang))
    nav = pager_row(lambda n: AccountPage(page=n).pack(), page, pages, lang)
    if nav:
        rows.append(nav)
    return html_join("\n\n", lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def cmd_accounts(message: Message, login: LoginAPI, lang: str, tz: ZoneInfo) -> None:
    text, markup = accounts_page(await login.accounts(), 0, lang, tz)
    await message.answer(text, reply_markup=markup)


async def on_accounts_page(
    query: CallbackQuery, callback_data: AccountPage, login: LoginAPI, lang: str, tz: ZoneInfo
) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    text, markup = accounts_page(await login.accounts(), callback_data.page, lang, tz)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(text, reply_markup=markup)


async def on_proxy_button(
    query: CallbackQuery,
    callback_data: AccountProxy,
    login: LoginAPI,
    lang: str,
    state: FSMContext,
) -> None:
    message, view = await _picked(query, login, callback_data.account)
    if message is None:
        return
    if view is None:
        await message.answer(t("proxy_err_gone", lang))
        return
    await state.set_state(ProxyStates.link)
    await state.update_data(proxy_account=view.id)
    await message.answer(
        t("proxy_ask", lang, name=view.name, current=_proxy_text(view, lang))
    )


async def on_proxy_link(
    message: Message, login: LoginAPI, lang: str, state: FSMContext
) -> None:
    data = await state.get_data()
    account_id = int(data.get("proxy_account", 0))
    text = message.text or ""
    if "@" in text or "secret=" in text.lower():
        # It may hold a password or a secret: not left in the chat.
        with contextlib.suppress(TelegramAPIError):
            await message.delete()
    try:
        spec = await login.set_proxy(account_id, text)
    except BadProxy as exc:
        await message.answer(t(f"proxy_err_{exc.reason}", lang))
        return  # still waiting for a proxy: the next message is tried again
    except LookupError:
        await state.clear()
        await message.answer(t("proxy_err_gone", lang))
        return
    await state.clear()
    view = await login.account(account_id)
    name = view.name if view is not None else f"#{account_id}"
    if spec is None:
        await message.answer(t("proxy_cleared", lang, name=name))
    else:
        kind = "MTProxy" if spec.kind == "mtproxy" else spec.kind.upper()
        await message.answer(t("proxy_set", lang, name=name, address=spec.address, kind=kind))


def build_router() -> Router:
    """/accounts' and /logout's router (a new one per call: one per Dispatcher)."""
    router = Router(name="account")
    router.message.register(cmd_logout, Command("logout"))
    router.callback_query.register(on_logout_answer, LogoutAnswer.filter())
    router.callback_query.register(on_logout_pick, LogoutPick.filter())
    router.callback_query.register(on_logout_page, LogoutPage.filter())
    router.callback_query.register(on_logout_account, LogoutAccount.filter())
    router.message.register(cmd_accounts, Command("accounts"))
    router.callback_query.register(on_accounts_page, AccountPage.filter())
    router.callback_query.register(on_proxy_button, AccountProxy.filter())
    router.message.register(
        on_proxy_link, StateFilter(ProxyStates.link), F.text, ~F.text.startswith("/")
    )
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
    elif state in (SessionState.STANDBY, SessionState.ELSEWHERE):
        # Open in another process: "not connected" would read as trouble; the session
        # line says where it is open.
        if status.name:
            lines.append(t("status_account", lang, value=status.name))
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


def accounts_section(views: list[AccountView], lang: str, tz: ZoneInfo = UTC_ZONE) -> str:
    """/status's list of accounts, when there are several: each with its state (a flood
    wait's end in `tz`) and channels held; the first STATUS_ACCOUNTS, then how many
    more /accounts shows."""
    lines = [tn("status_accounts", len(views), lang)]
    for view in views[:STATUS_ACCOUNTS]:
        lines.append(
            t("status_account_item", lang, name=_short(view.name),
              state=_state_text(view, lang, tz),
              channels=tn("accounts_channels", view.channels, lang))
        )  # fmt: skip
    if len(views) > STATUS_ACCOUNTS:
        lines.append(tn("status_accounts_more", len(views) - STATUS_ACCOUNTS, lang))
    return "\n".join(lines)


async def status_section(login: LoginAPI, lang: str, tz: ZoneInfo = UTC_ZONE) -> str:
    """The account part of /status, asked of the login service; every account listed
    when there are several (times in the operators' zone `tz`)."""
    section = account_section(await login.status(), lang)
    views = [v for v in await login.accounts() if v.has_session]
    if len(views) > 1:
        section += "\n" + accounts_section(views, lang, tz)
    return section
