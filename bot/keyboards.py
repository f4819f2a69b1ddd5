"""Inline keyboards: the login-code digit keypad and confirmations."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import plain


class KeypadKey(CallbackData, prefix="lk"):
    """A key of the login-code keypad: a digit, `del`, `ok`, or `resend` («New code»)."""

    key: str


class QrLogin(CallbackData, prefix="login"):
    """«Log in with a QR code» on the phone question."""

    how: str = "qr"


class LogoutAnswer(CallbackData, prefix="logout"):
    """The answer to «Log out?»: `yes` or `no`."""

    answer: str


def code_keypad(lang: str) -> InlineKeyboardMarkup:
    """Digits edit one message; the code never appears in a chat message."""

    def key(label: str, data: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=label, callback_data=KeypadKey(key=data).pack())

    rows = [[key(str(d), str(d)) for d in range(r, r + 3)] for r in (1, 4, 7)]
    rows.append([key("⌫", "del"), key("0", "0"), key(plain("login_keypad_ok", lang), "ok")])
    rows.append([key(plain("login_keypad_resend", lang), "resend")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def qr_button(lang: str) -> InlineKeyboardMarkup:
    text = plain("login_qr_button", lang)
    return InlineKeyboardMarkup(inline_keyboard=[[button(text, QrLogin().pack())]])


def resend_button(lang: str) -> InlineKeyboardMarkup:
    text = plain("login_keypad_resend", lang)
    return InlineKeyboardMarkup(inline_keyboard=[[button(text, KeypadKey(key="resend").pack())]])


def logout_confirm(lang: str) -> InlineKeyboardMarkup:
    yes = button(plain("logout_yes", lang), LogoutAnswer(answer="yes").pack())
    no = button(plain("logout_no", lang), LogoutAnswer(answer="no").pack())
    return InlineKeyboardMarkup(inline_keyboard=[[yes, no]])


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def pages_of(total: int, size: int) -> int:
    """How many pages `total` items fill (at least one)."""
    return max(1, -(-total // size))


def pager_row(
    prefix: str | Callable[[int], str], page: int, pages: int, lang: str
) -> list[InlineKeyboardButton]:
    """Buttons to the first, previous, next and last page (0-based `page` of `pages`);
    each button's data is `prefix` + the page it opens, or `prefix(page)` (a packed
    CallbackData). Empty for a single page."""
    data = prefix if callable(prefix) else (lambda n: f"{prefix}{n}")
    row = []
    if page > 1:
        row.append(button("⏮ 1", data(0)))
    if page > 0:
        row.append(button(plain("btn_prev", lang), data(page - 1)))
    if page + 1 < pages:
        row.append(button(plain("btn_next", lang), data(page + 1)))
    if page + 2 < pages:
        row.append(button(f"{pages} ⏭", data(pages - 1)))
    return row


class LogoutPick(CallbackData, prefix="lopick"):
    """The account /logout should end, picked among several."""

    account: int


class LogoutPage(CallbackData, prefix="lopg"):
    """A page of /logout's accounts to pick from (0-based)."""

    page: int


class LogoutAccount(CallbackData, prefix="loacc"):
    """The answer to «Log this account out?» when there are several: `yes` or `no`."""

    answer: str
    account: int


class AccountPage(CallbackData, prefix="accpg"):
    """A page of /accounts (0-based)."""

    page: int


class AccountProxy(CallbackData, prefix="accpx"):
    """«Proxy» of an account in /accounts: the operator sends its proxy next."""

    account: int


def logout_account_confirm(lang: str, account: int) -> InlineKeyboardMarkup:
    yes = button(plain("logout_yes", lang), LogoutAccount(answer="yes", account=account).pack())
    no = button(plain("logout_no", lang), LogoutAccount(answer="no", account=account).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[yes, no]])
