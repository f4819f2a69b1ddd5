"""/login (phone, code keypad, 2FA, QR) and /logout. Thin: the flow lives in LoginFlow.

Each step is a state of the operator's login dialogue. A command typed at any step ends
it (bot/dialogues.py); `_release` then frees the flow, so a later /login starts afresh.
Button presses are answered before the slow work, and every step runs under the
operator's `dialogue_lock` and checks it is still the current step: a double tap on a
key or on OK is applied once. Only messages holding a code or a password are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from typing import Any

import segno
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InputMediaPhoto, Message, User

from bot import dialogues
from bot.delivery import render_alert
from bot.keyboards import KEYPAD_PREFIX, code_keypad, logout_confirm, qr_button, resend_button
from bot.services import BotServices
from bot.texts import Html, html_join, plain, reason_text, t, tn
from bot.texts import keys as text_keys

log = logging.getLogger(__name__)

router = Router(name="login")

# What the login dialogue keeps in the operator's FSM data (other features keep theirs).
_DATA_KEYS = ("digits", "keypad", "submitted", "qr", "resent_from")
# Digits and separators only: a code, or a piece of one, that must not stay in the chat.
_CODE_LIKE = re.compile(r"[0-9\s\-_.,/·•*]*[0-9][0-9\s\-_.,/·•*]*")
# Errors about the number (parser.login.PHONE_ERRORS): the flow asks for another one.
_PHONE_ERRORS = ("phone_unoccupied", "phone_invalid")
# Errors after which the flow cannot go on: the dialogue ends, the flow is freed.
_FATAL_ERRORS = ("attempts_exhausted", "no_flow", "session_dead", "unknown", "phone_banned")
_UNITS = ("login_dur_hours", "login_dur_minutes", "login_dur_seconds")


class LoginStates(StatesGroup):
    phone = State()
    code = State()
    password = State()
    qr = State()


def _flow(services: BotServices) -> Any:
    return services.extras["login"]


def _userbot(services: BotServices) -> Any:
    return services.extras["userbot"]


def _errors(services: BotServices) -> tuple[type[Exception], ...]:
    # LoginError lives in parser/ (which imports Telethon); app/ hands its class over.
    return services.extras["login_errors"]  # type: ignore[no-any-return]


def _who(user: User | None) -> str:
    if user is None:
        return "?"
    return user.full_name + (f" (@{user.username})" if user.username else "")


def duration(seconds: int, lang: str) -> Html:
    """`1 минута 5 секунд`, `5 минут`, `2 hours 3 minutes`: the two largest units, zeros
    left out (`0 seconds` only for nothing at all)."""
    left = max(0, int(seconds))
    amounts = (left // 3600, left % 3600 // 60, left % 60)
    first = next((i for i, n in enumerate(amounts) if n), len(amounts) - 1)
    shown = [i for i in (first, first + 1) if i < len(amounts) and (amounts[i] or i == first)]
    return html_join(" ", (tn(_UNITS[i], amounts[i], lang) for i in shown))


def error_text(err: Any, lang: str) -> str:
    code = getattr(err, "code", "unknown")
    key = f"login_err_{code}"
    if key not in text_keys():
        key = "login_err_unknown"
    return t(
        key,
        lang,
        left=getattr(err, "attempts_left", 0),
        wait=duration(int(getattr(err, "seconds", 0)), lang),
        name=str(getattr(err, "detail", "")),
    )


def account_name(me: Any) -> str:
    if me is None:
        return "?"
    name = " ".join(
        p for p in (getattr(me, "first_name", None), getattr(me, "last_name", None)) if p
    )
    username = getattr(me, "username", None)
    return name + (f" (@{username})" if username else "")


async def _delete(message: Message) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.delete()


async def _ack(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a press before the slow work; an answer Telegram refuses never stops it."""
    try:
        await query.answer(text)
    except TelegramAPIError as exc:
        log.info("callback answer refused: %s", exc.message)


async def _drop_buttons(bot: Bot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    with contextlib.suppress(TelegramAPIError):
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)


# -- the dialogue ------------------------------------------------------------------------


async def _forget(state: FSMContext, bot: Bot, chat_id: int) -> None:
    """Drop the dialogue's data: its keypad loses its keys, its QR picture goes."""
    data = await state.get_data()
    await _drop_buttons(bot, chat_id, data.get("keypad"))
    if data.get("qr") is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_message(chat_id, data["qr"])
    await state.set_data({k: v for k, v in data.items() if k not in _DATA_KEYS})


async def _end(state: FSMContext, bot: Bot, chat_id: int) -> None:
    await _forget(state, bot, chat_id)
    await state.set_state(None)


@dialogues.on_end(LoginStates)
async def _release(state: FSMContext, data: dict[str, Any]) -> None:
    """A command ended the login dialogue: the flow lets go of its owner and client."""
    user, chat = data.get("event_from_user"), data.get("event_chat")
    if user is not None:
        await _flow(data["services"]).cancel(user.id)
    if chat is not None:
        await _forget(state, data["bot"], chat.id)


async def _at_step(state: FSMContext, step: State) -> bool:
    """Still at `step`? A late update (the second tap of a double tap) finds it moved on."""
    return await state.get_state() == step.state


async def _still_mine(
    user_id: int, chat_id: int, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> bool:
    """An abandoned flow may have been taken over by another operator since."""
    if _flow(services).owner == user_id:
        return True
    await _end(state, bot, chat_id)
    await bot.send_message(chat_id, t("login_err_no_flow", lang))
    return False


# -- /login ---------------------------------------------------------------------------


@router.message(Command("login"))
async def cmd_login(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
) -> None:
    flow, userbot = _flow(services), _userbot(services)
    user = message.from_user
    assert user is not None
    if flow.busy_for(user.id):
        await message.answer(t("login_busy", lang, name=flow.owner_name))
        return
    if userbot.state == "ready":
        await message.answer(t("login_already", lang, name=account_name(userbot.me)))
        return
    await flow.cancel(user.id)  # a fresh start for the same operator
    await _forget(state, bot, message.chat.id)
    flow.begin(user.id, _who(user))
    if (command.args or "").strip().lower() == "qr":
        await _start_qr(message.chat.id, state, services, lang, bot)
        return
    await state.set_state(LoginStates.phone)
    await message.answer(t("login_ask_phone", lang), reply_markup=qr_button(lang))


@router.message(LoginStates.phone, F.text)
async def on_phone(
    message: Message,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
    dialogue_lock: Any,
) -> None:
    assert message.from_user is not None
    async with dialogue_lock:
        if not await _at_step(state, LoginStates.phone):
            return
        if await _still_mine(message.from_user.id, message.chat.id, state, services, lang, bot):
            await _send_code(message, state, services, lang, bot)


async def _send_code(
    message: Message, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    flow = _flow(services)
    try:
        phone = await flow.send_code(message.text or "")
    except _errors(services) as err:
        await message.answer(error_text(err, lang))
        if getattr(err, "code", "") in _FATAL_ERRORS:
            await flow.cancel()
            await _end(state, bot, message.chat.id)
        return  # otherwise still at the phone step: the next message is a number again
    await state.set_state(LoginStates.code)
    await message.answer(t("login_code_sent", lang, phone=phone))
    await _new_keypad(message.chat.id, state, lang, bot)


async def _new_keypad(chat_id: int, state: FSMContext, lang: str, bot: Bot) -> None:
    pad = await bot.send_message(
        chat_id, t("login_keypad", lang, masked="—"), reply_markup=code_keypad(lang)
    )
    await state.update_data(digits="", submitted=False, keypad=pad.message_id)


@router.message(LoginStates.code, F.text)
async def on_code_text(
    message: Message,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
    dialogue_lock: Any,
) -> None:
    text = message.text or ""
    if _CODE_LIKE.fullmatch(text):
        await _delete(message)  # the code must not stay in the chat
    assert message.from_user is not None
    user_id, chat_id = message.from_user.id, message.chat.id
    async with dialogue_lock:
        if not await _at_step(state, LoginStates.code):
            return
        if not await _still_mine(user_id, chat_id, state, services, lang, bot):
            return
        try:
            code, whole = services.extras["parse_code"](text)
        except _errors(services) as err:
            await message.answer(error_text(err, lang))
            return
        if whole:
            await message.answer(t("login_code_whole_warning", lang))
        await _submit_code(chat_id, code, state, services, lang, bot)


@router.callback_query(LoginStates.code, F.data.startswith(KEYPAD_PREFIX))
async def on_code_digit(
    query: CallbackQuery,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
    dialogue_lock: Any,
) -> None:
    key = (query.data or "")[len(KEYPAD_PREFIX) :]
    # Answered at once, yet the taps queue for the lock in the order they came: awaiting
    # the answer first would let a slow answer put a digit after the next one.
    answered = asyncio.create_task(
        _ack(query, plain("login_checking", lang) if key == "ok" else None)
    )
    try:
        async with dialogue_lock:
            await _on_keypad(query, key, state, services, lang, bot)
    finally:
        await answered


async def _on_keypad(
    query: CallbackQuery, key: str, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    chat_id = query.from_user.id
    if not await _at_step(state, LoginStates.code):
        return  # the code step is over: the second tap of a double tap on OK
    if not await _still_mine(query.from_user.id, chat_id, state, services, lang, bot):
        return
    if key == "resend":
        await _resend(query, state, services, lang, bot)
    elif key == "ok":
        await _on_ok(chat_id, state, services, lang, bot)
    else:
        await _on_key(chat_id, key, state, lang, bot)


async def _on_ok(
    chat_id: int, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    data = await state.get_data()
    digits: str = data.get("digits", "")
    if not digits and data.get("submitted"):
        return  # a second tap: the code it would send was already checked
    if len(digits) < 4:
        await bot.send_message(chat_id, t("login_err_code_format", lang))
        return
    await state.update_data(digits="", submitted=True)
    await _show_digits(bot, chat_id, data.get("keypad"), "", lang)
    await _submit_code(chat_id, digits, state, services, lang, bot)


async def _on_key(chat_id: int, key: str, state: FSMContext, lang: str, bot: Bot) -> None:
    data = await state.get_data()
    old: str = data.get("digits", "")
    if key == "del":
        digits = old[:-1]
    elif len(key) == 1 and key.isdigit():
        digits = (old + key)[:8]
    else:
        return
    if digits != old:
        await state.update_data(digits=digits, submitted=False)
        await _show_digits(bot, chat_id, data.get("keypad"), digits, lang)


async def _show_digits(
    bot: Bot, chat_id: int, message_id: int | None, digits: str, lang: str
) -> None:
    if message_id is None:
        return
    masked = " ".join("•" for _ in digits) or "—"
    with contextlib.suppress(TelegramAPIError):
        await bot.edit_message_text(
            t("login_keypad", lang, masked=masked),
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=code_keypad(lang),
        )


async def _resend(
    query: CallbackQuery, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    chat_id = query.from_user.id
    source = query.message.message_id if query.message is not None else None
    data = await state.get_data()
    if source is not None and data.get("resent_from") == source:
        return  # a second tap on the same button: one new code is enough
    try:
        await _flow(services).resend_code()
    except _errors(services) as err:
        await bot.send_message(chat_id, error_text(err, lang))
        return
    await _drop_buttons(bot, chat_id, data.get("keypad"))
    if source != data.get("keypad"):
        await _drop_buttons(bot, chat_id, source)
    await state.update_data(resent_from=source)
    phone = _flow(services).phone or ""
    await bot.send_message(chat_id, t("login_code_sent", lang, phone=phone))
    await _new_keypad(chat_id, state, lang, bot)


@router.callback_query(F.data.startswith(KEYPAD_PREFIX))
async def on_keypad_late(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """A keypad or «New code» button pressed outside the code step."""
    if _flow(services).owner == query.from_user.id:
        await _ack(query)  # the operator's own login moved on (a double tap)
    else:
        await _ack(query, plain("login_err_no_flow", lang))


async def _submit_code(
    chat_id: int, code: str, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    try:
        step = await _flow(services).submit_code(code)
    except _errors(services) as err:
        await _after_error(chat_id, err, state, services, lang, bot)
        return
    await _after_step(chat_id, step, state, lang, bot)


async def _after_error(
    chat_id: int, err: Any, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    code = getattr(err, "code", "")
    if code in _PHONE_ERRORS:  # the flow is back at the phone step: so is the dialogue
        await _forget(state, bot, chat_id)
        await state.set_state(LoginStates.phone)
    elif code in _FATAL_ERRORS:
        await _flow(services).cancel(chat_id)
        await _end(state, bot, chat_id)
    markup = resend_button(lang) if code == "code_expired" else None
    await bot.send_message(chat_id, error_text(err, lang), reply_markup=markup)


async def _after_step(chat_id: int, step: Any, state: FSMContext, lang: str, bot: Bot) -> None:
    if hasattr(step, "hint"):
        await _forget(state, bot, chat_id)  # the code step is over: the keypad goes away
        await state.set_state(LoginStates.password)
        hint = t("login_hint", lang, hint=step.hint) if step.hint else ""
        await bot.send_message(chat_id, t("login_ask_password", lang, hint=hint))
        return
    await _end(state, bot, chat_id)
    await bot.send_message(chat_id, t("login_done", lang, name=step.name))


@router.message(LoginStates.password, F.text)
async def on_password(
    message: Message,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
    dialogue_lock: Any,
) -> None:
    password = message.text or ""
    await _delete(message)  # the password must not stay in the chat
    assert message.from_user is not None
    chat_id = message.chat.id
    async with dialogue_lock:
        if not await _at_step(state, LoginStates.password):
            return
        if not await _still_mine(message.from_user.id, chat_id, state, services, lang, bot):
            return
        try:
            step = await _flow(services).submit_password(password)
        except _errors(services) as err:
            await _after_error(chat_id, err, state, services, lang, bot)
            return
        await _after_step(chat_id, step, state, lang, bot)


# -- QR ---------------------------------------------------------------------------------


async def _start_qr(
    chat_id: int, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    flow = _flow(services)
    await state.set_state(LoginStates.qr)
    shown: dict[str, int] = {}

    async def send(url: str, ttl: int) -> None:
        buf = io.BytesIO()
        segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
        photo = BufferedInputFile(buf.getvalue(), filename="login-qr.png")
        caption = tn("login_qr_caption", ttl, lang)
        if "id" in shown:
            try:
                await bot.edit_message_media(
                    InputMediaPhoto(media=photo, caption=caption),
                    chat_id=chat_id,
                    message_id=shown["id"],
                )
                return
            except TelegramAPIError:
                log.info("QR picture could not be replaced; sending a new one")
        sent = await bot.send_photo(chat_id, photo, caption=caption)
        shown["id"] = sent.message_id
        await state.update_data(qr=sent.message_id)  # removed when the dialogue ends

    async def done(step: Any) -> None:
        await _after_step(chat_id, step, state, lang, bot)

    async def failed(err: Any) -> None:
        await _end(state, bot, chat_id)
        await bot.send_message(chat_id, error_text(err, lang))

    try:
        await flow.start_qr(send, done, failed)
    except _errors(services) as err:
        await flow.cancel()
        await failed(err)


# -- /logout -----------------------------------------------------------------------------


async def _account(services: BotServices) -> tuple[bool, Any]:
    """Whether there is anything to log out, and the stored account's row."""
    info = await services.extras["accounts"].current()
    has = _userbot(services).client is not None or (info is not None and info.has_session)
    return has, info


@router.message(Command("logout"))
async def cmd_logout(message: Message, services: BotServices, lang: str) -> None:
    userbot = _userbot(services)
    has, info = await _account(services)
    if not has:
        await message.answer(t("logout_none", lang))
        return
    name = account_name(userbot.me) if userbot.me else (info and info.display_name) or "?"
    await message.answer(t("logout_confirm", lang, name=name), reply_markup=logout_confirm(lang))


@router.callback_query(F.data.startswith("logout:"))
async def on_logout_answer(
    query: CallbackQuery, services: BotServices, lang: str, dialogue_lock: Any
) -> None:
    await _ack(query)
    yes = query.data == "logout:yes"
    async with dialogue_lock:  # a double tap on «Yes» logs out once
        if yes and (await _account(services))[0]:
            await _userbot(services).logout()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(t("logout_done" if yes else "logout_kept", lang))


# -- /status section ----------------------------------------------------------------------


# Telegram drops messages more than 30 s off; a clock this far off is worth a word.
CLOCK_WARN_SECONDS = 10


async def status_section(userbot: Any, flow: Any, lang: str) -> str:
    """The account part of /status: the account only while its session works."""
    await userbot.check(timeout=2.0)
    lines = []
    state = userbot.state
    connecting = state == "connecting"
    if state == "ready" and userbot.me is not None:
        lines.append(t("status_account", lang, value=account_name(userbot.me)))
    elif connecting and userbot.stored_name:
        lines.append(t("status_account_connecting", lang, name=userbot.stored_name))
    elif state in ("no_session", "invalid"):
        lines.append(t("status_account_none", lang))
    else:
        lines.append(t("status_account_offline", lang))
    conn = userbot.connection
    if connecting and conn.attempts and conn.trouble is not None:
        error = render_alert(conn.trouble.text(), lang)
        value = tn("status_connecting", conn.attempts, lang, error=error)
        lines.append(t("status_session", lang, value=value))
    elif state != "no_session":  # "not logged in" says it all
        reason = reason_text(userbot.reason, lang)
        lines.append(t("status_session", lang, value=t(f"session_{state}", lang, reason=reason)))
    offset = userbot.clock_offset if state == "ready" else None
    if offset is not None and abs(offset) >= CLOCK_WARN_SECONDS:
        key = "status_clock_behind" if offset > 0 else "status_clock_ahead"
        lines.append(t(key, lang, seconds=abs(offset)))
    if flow.owner is not None:
        lines.append(t("session_login_running", lang, name=flow.owner_name))
    return "\n".join(lines)


@router.callback_query(F.data == "login:qr")
async def on_qr_button(
    query: CallbackQuery,
    state: FSMContext,
    services: BotServices,
    lang: str,
    bot: Bot,
    dialogue_lock: Any,
) -> None:
    await _ack(query)
    flow, user = _flow(services), query.from_user
    async with dialogue_lock:
        if await _at_step(state, LoginStates.qr):
            return  # a double tap: the QR code is already on its way
        if flow.busy_for(user.id):
            await bot.send_message(user.id, t("login_busy", lang, name=flow.owner_name))
            return
        if _userbot(services).state == "ready":
            name = account_name(_userbot(services).me)
            await bot.send_message(user.id, t("login_already", lang, name=name))
            return
        await flow.cancel(user.id)
        await _forget(state, bot, user.id)
        flow.begin(user.id, _who(user))
        await _start_qr(user.id, state, services, lang, bot)
