"""/login (phone, code keypad, 2FA, QR) and /logout. Thin: the flow is services/login.py's.

Each step is a state of the operator's login dialogue. A command typed at any step ends
it (bot/dialogues.py); `_release` then frees the flow, so a later /login starts afresh.
Button presses are answered before the slow work, and every step runs under the
operator's `dialogue_lock` and checks it is still the current step: a double tap on a
key or on OK is applied once. Only messages holding a code or a password are deleted.
A failed step raises `LoginFailed` after moving the dialogue where the flow now is;
bot/errors.py tells the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import segno
from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InputMediaPhoto,
    Message,
)

from bot.errors import render
from bot.keyboards import KeypadKey, QrLogin, code_keypad, qr_button
from bot.login_dialogue import (
    CODE_LIKE,
    Dialogue,
    LoginStates,
    ack,
    after_error,
    after_step,
    delete,
    drop_buttons,
    who,
    with_dialogue,
)
from bot.texts import plain, t, tn
from core.errors import LoginFailed
from core.login import LoginStep, QrToken

log = logging.getLogger(__name__)

# -- /login ------------------------------------------------------------------------------


async def _begin(d: Dialogue) -> bool:
    """Start the operator's login unless another one runs. A login adds an account (or
    refreshes the same Telegram user's): the accounts that work go on."""
    busy = d.login.busy_for(d.user.id)
    if busy is not None:
        await d.say(t("login_busy", d.lang, name=busy))
        return False
    await d.login.cancel(d.user.id)  # a fresh start for the same operator
    await d.forget()
    await d.login.begin(d.user.id, who(d.user))
    return True


async def cmd_login(message: Message, command: CommandObject, dialogue: Dialogue) -> None:
    if not await _begin(dialogue):
        return
    if (command.args or "").strip().lower() == "qr":
        await _start_qr(dialogue)
        return
    await dialogue.state.set_state(LoginStates.phone)
    await message.answer(
        t("login_ask_phone", dialogue.lang), reply_markup=qr_button(dialogue.lang)
    )


async def on_phone(message: Message, dialogue: Dialogue) -> None:
    d = dialogue
    async with d.lock:
        if not await d.at(LoginStates.phone) or not await d.still_mine():
            return
        try:
            sent = await d.login.send_code(message.text or "")
        except LoginFailed as err:
            if err.login_code.ends_flow:
                await d.login.cancel()
                await d.end()
            raise  # otherwise still at the phone step: the next message is a number again
        await d.state.set_state(LoginStates.code)
        await d.say(t("login_code_sent", d.lang, phone=sent.phone))
        await _new_keypad(d)


async def _new_keypad(d: Dialogue) -> None:
    pad = await d.bot.send_message(
        d.chat_id, t("login_keypad", d.lang, masked="—"), reply_markup=code_keypad(d.lang)
    )
    await d.state.update_data(digits="", submitted=False, keypad=pad.message_id)


async def on_code_text(message: Message, dialogue: Dialogue) -> None:
    d, text = dialogue, message.text or ""
    if CODE_LIKE.fullmatch(text):
        await delete(message)  # the code must not stay in the chat
    async with d.lock:
        if not await d.at(LoginStates.code) or not await d.still_mine():
            return
        typed = d.login.parse_code(text)
        if typed.whole:
            await d.say(t("login_code_whole_warning", d.lang))
        await _submit_code(d, typed.digits)


async def on_code_digit(
    query: CallbackQuery, callback_data: KeypadKey, dialogue: Dialogue
) -> None:
    key = callback_data.key
    # Answered at once, yet the taps queue for the lock in the order they came: awaiting
    # the answer first would let a slow answer put a digit after the next one.
    checking = plain("login_checking", dialogue.lang) if key == "ok" else None
    answered = asyncio.create_task(ack(query, checking))
    try:
        async with dialogue.lock:
            await _on_keypad(query, key, dialogue)
    finally:
        await answered


async def _on_keypad(query: CallbackQuery, key: str, d: Dialogue) -> None:
    if not await d.at(LoginStates.code):
        return  # the code step is over: the second tap of a double tap on OK
    if not await d.still_mine():
        return
    if key == "resend":
        await _resend(query, d)
    elif key == "ok":
        await _on_ok(d)
    else:
        await _on_key(d, key)


async def _on_ok(d: Dialogue) -> None:
    data = await d.state.get_data()
    digits: str = data.get("digits", "")
    if not digits and data.get("submitted"):
        return  # a second tap: the code it would send was already checked
    if len(digits) < 4:
        await d.say(t("login_err_code_format", d.lang))
        return
    await d.state.update_data(digits="", submitted=True)
    await _show_digits(d, data.get("keypad"), "")
    await _submit_code(d, digits)


async def _on_key(d: Dialogue, key: str) -> None:
    data = await d.state.get_data()
    old: str = data.get("digits", "")
    if key == "del":
        digits = old[:-1]
    elif len(key) == 1 and key.isdigit():
        digits = (old + key)[:8]
    else:
        return
    if digits != old:
        await d.state.update_data(digits=digits, submitted=False)
        await _show_digits(d, data.get("keypad"), digits)


async def _show_digits(d: Dialogue, message_id: int | None, digits: str) -> None:
    if message_id is None:
        return
    masked = " ".join("•" for _ in digits) or "—"
    with contextlib.suppress(TelegramAPIError):
        await d.bot.edit_message_text(
            t("login_keypad", d.lang, masked=masked),
            chat_id=d.chat_id,
            message_id=message_id,
            reply_markup=code_keypad(d.lang),
        )


async def _resend(query: CallbackQuery, d: Dialogue) -> None:
    source = query.message.message_id if query.message is not None else None
    data = await d.state.get_data()
    if source is not None and data.get("resent_from") == source:
        return  # a second tap on the same button: one new code is enough
    sent = await d.login.resend_code()
    await drop_buttons(d.bot, d.chat_id, data.get("keypad"))
    if source != data.get("keypad"):
        await drop_buttons(d.bot, d.chat_id, source)
    await d.state.update_data(resent_from=source)
    await d.say(t("login_code_sent", d.lang, phone=sent.phone))
    await _new_keypad(d)


async def on_keypad_late(query: CallbackQuery, dialogue: Dialogue) -> None:
    """A keypad or «New code» button pressed outside the code step."""
    if dialogue.login.owns(query.from_user.id):
        await ack(query)  # the operator's own login moved on (a double tap)
    else:
        await ack(query, plain("login_err_no_flow", dialogue.lang))


async def _submit_code(d: Dialogue, code: str) -> None:
    try:
        step = await d.login.submit_code(code)
    except LoginFailed as err:
        await after_error(d, err)
        raise
    await after_step(d, step)


async def on_password(message: Message, dialogue: Dialogue) -> None:
    d, password = dialogue, message.text or ""
    await delete(message)  # the password must not stay in the chat
    async with d.lock:
        if not await d.at(LoginStates.password) or not await d.still_mine():
            return
        try:
            step = await d.login.submit_password(password)
        except LoginFailed as err:
            await after_error(d, err)
            raise
        await after_step(d, step)


# -- QR ---------------------------------------------------------------------------------


async def _start_qr(d: Dialogue) -> None:
    await d.state.set_state(LoginStates.qr)
    shown: dict[str, int] = {}

    async def show(token: QrToken) -> None:
        buf = io.BytesIO()
        segno.make(token.url, error="m").save(buf, kind="png", scale=6, border=2)
        photo = BufferedInputFile(buf.getvalue(), filename="login-qr.png")
        caption = tn("login_qr_caption", token.seconds, d.lang)
        if "id" in shown:
            try:
                await d.bot.edit_message_media(
                    InputMediaPhoto(media=photo, caption=caption),
                    chat_id=d.chat_id,
                    message_id=shown["id"],
                )
                return
            except TelegramAPIError:
                log.info("QR picture could not be replaced; sending a new one")
        sent = await d.bot.send_photo(d.chat_id, photo, caption=caption)
        shown["id"] = sent.message_id
        await d.state.update_data(qr=sent.message_id)  # removed when the dialogue ends

    async def done(step: LoginStep) -> None:
        await after_step(d, step)

    async def failed(err: LoginFailed) -> None:  # in the flow's task: no handler to raise to
        await d.end()
        shown_err = render(err, d.lang)
        await d.say(shown_err.text, reply_markup=shown_err.markup)

    try:
        await d.login.start_qr(show, done, failed)
    except LoginFailed:
        await d.end()
        raise


async def on_qr_button(query: CallbackQuery, dialogue: Dialogue) -> None:
    await ack(query)
    async with dialogue.lock:
        if await dialogue.at(LoginStates.qr):
            return  # a double tap: the QR code is already on its way
        if await _begin(dialogue):
            await _start_qr(dialogue)


def build_router() -> Router:
    """The login feature's router (a new one per call: one per Dispatcher)."""
    router = Router(name="login")
    router.message.middleware(with_dialogue)
    router.callback_query.middleware(with_dialogue)
    router.message.register(cmd_login, Command("login"))
    router.message.register(on_phone, StateFilter(LoginStates.phone), F.text)
    router.message.register(on_code_text, StateFilter(LoginStates.code), F.text)
    router.callback_query.register(
        on_code_digit, StateFilter(LoginStates.code), KeypadKey.filter()
    )
    router.callback_query.register(on_keypad_late, KeypadKey.filter())
    router.message.register(on_password, StateFilter(LoginStates.password), F.text)
    router.callback_query.register(on_qr_button, QrLogin.filter())
    return router

