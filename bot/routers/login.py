"""/login (phone, code keypad, 2FA, QR) and /logout. Thin: the flow lives in LoginFlow."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import segno
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InputMediaPhoto, Message, User

from bot.keyboards import KEYPAD_PREFIX, code_keypad, logout_confirm, qr_button, resend_button
from bot.services import BotServices
from bot.texts import keys as text_keys
from bot.texts import t

log = logging.getLogger(__name__)

router = Router(name="login")


class LoginStates(StatesGroup):
    phone = State()
    code = State()
    password = State()
    qr = State()


def _flow(services: BotServices) -> Any:
    return services.extras["login"]


def _userbot(services: BotServices) -> Any:
    return services.extras["userbot"]


def _who(user: User | None) -> str:
    if user is None:
        return "?"
    return user.full_name + (f" (@{user.username})" if user.username else "")


def duration(seconds: int, lang: str) -> str:
    if seconds < 60:
        return t("duration_s", lang, n=seconds)
    if seconds < 3600:
        return t("duration_m", lang, m=seconds // 60, s=seconds % 60)
    return t("duration_h", lang, h=seconds // 3600, m=seconds % 3600 // 60)


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
    flow.begin(user.id, _who(user))
    if (command.args or "").strip().lower() == "qr":
        await _start_qr(message.chat.id, state, services, lang, bot)
        return
    await state.set_state(LoginStates.phone)
    await message.answer(t("login_ask_phone", lang), reply_markup=qr_button(lang))


@router.message(Command("cancel"), StateFilter(LoginStates))
async def cmd_cancel_login(
    message: Message, state: FSMContext, services: BotServices, lang: str
) -> None:
    assert message.from_user is not None
    await _flow(services).cancel(message.from_user.id)
    await state.clear()
    await message.answer(t("cancelled", lang))


def _errors(services: BotServices) -> tuple[type[Exception], ...]:
    # LoginError lives in parser/ (which imports Telethon); app/ hands its class over.
    return services.extras["login_errors"]  # type: ignore[no-any-return]


@router.message(LoginStates.phone, F.text)
async def on_phone(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    flow = _flow(services)
    assert message.text is not None
    try:
        phone = await flow.send_code(message.text)
    except _errors(services) as err:
        await message.answer(error_text(err, lang))
        if getattr(err, "code", "") in ("phone_banned", "no_flow"):
            await flow.cancel()
            await state.clear()
        return
    await state.set_state(LoginStates.code)
    await message.answer(t("login_code_sent", lang, phone=phone))
    pad = await message.answer(t("login_keypad", lang, masked="—"), reply_markup=code_keypad(lang))
    await state.update_data(digits="", keypad=pad.message_id)


@router.message(LoginStates.code, F.text)
async def on_code_text(
    message: Message, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    text = message.text or ""
    await _delete(message)  # the code must not stay in the chat
    if text.startswith("/"):
        await message.answer(t("login_err_code_format", lang))
        return
    try:
        code, whole = services.extras["parse_code"](text)
    except _errors(services) as err:
        await message.answer(error_text(err, lang))
        return
    if whole:
        await message.answer(t("login_code_whole_warning", lang))
    await _submit_code(message.chat.id, code, state, services, lang, bot)


@router.callback_query(LoginStates.code, F.data.startswith(KEYPAD_PREFIX))
async def on_code_digit(
    query: CallbackQuery, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    key = (query.data or "")[len(KEYPAD_PREFIX) :]
    data = await state.get_data()
    digits: str = data.get("digits", "")
    await query.answer()
    if key == "resend":
        await _resend(query.from_user.id, state, services, lang, bot)
        return
    if key == "ok":
        if len(digits) < 4:
            await bot.send_message(query.from_user.id, t("login_err_code_format", lang))
            return
        await state.update_data(digits="")
        await _edit_keypad(bot, query.from_user.id, data.get("keypad"), "", lang)
        await _submit_code(query.from_user.id, digits, state, services, lang, bot)
        return
    digits = digits[:-1] if key == "del" else (digits + key)[:8]
    await state.update_data(digits=digits)
    await _edit_keypad(bot, query.from_user.id, data.get("keypad"), digits, lang)


async def _edit_keypad(
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
    chat_id: int, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    try:
        await _flow(services).resend_code()
    except _errors(services) as err:
        await bot.send_message(chat_id, error_text(err, lang))
        return
    await state.set_state(LoginStates.code)
    await state.update_data(digits="")
    await bot.send_message(
        chat_id, t("login_code_sent", lang, phone=_flow(services).phone or "")
    )
    pad = await bot.send_message(
        chat_id, t("login_keypad", lang, masked="—"), reply_markup=code_keypad(lang)
    )
    await state.update_data(keypad=pad.message_id)


@router.callback_query(F.data == KEYPAD_PREFIX + "resend")
async def on_resend_late(
    query: CallbackQuery, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    await query.answer()
    if _flow(services).owner != query.from_user.id:
        await bot.send_message(query.from_user.id, t("login_err_no_flow", lang))
        return
    await _resend(query.from_user.id, state, services, lang, bot)


async def _submit_code(
    chat_id: int, code: str, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    try:
        step = await _flow(services).submit_code(code)
    except _errors(services) as err:
        await _after_error(chat_id, err, state, lang, bot)
        return
    await _after_step(chat_id, step, state, lang, bot)


async def _after_error(chat_id: int, err: Any, state: FSMContext, lang: str, bot: Bot) -> None:
    code = getattr(err, "code", "")
    markup = resend_button(lang) if code == "code_expired" else None
    await bot.send_message(chat_id, error_text(err, lang), reply_markup=markup)
    if code in ("attempts_exhausted", "no_flow", "session_dead", "unknown", "phone_banned"):
        await state.clear()


async def _after_step(chat_id: int, step: Any, state: FSMContext, lang: str, bot: Bot) -> None:
    keypad = (await state.get_data()).get("keypad")
    if keypad is not None:  # the code step is over: the keypad goes away
        await state.update_data(keypad=None)
        with contextlib.suppress(TelegramAPIError):
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=keypad)
    if hasattr(step, "hint"):
        await state.set_state(LoginStates.password)
        hint = t("login_hint", lang, hint=step.hint) if step.hint else ""
        await bot.send_message(chat_id, t("login_ask_password", lang, hint=hint))
        return
    await state.clear()
    await bot.send_message(chat_id, t("login_done", lang, name=step.name))


@router.message(LoginStates.password, F.text)
async def on_password(
    message: Message, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    password = message.text or ""
    await _delete(message)  # the password must not stay in the chat
    try:
        step = await _flow(services).submit_password(password)
    except _errors(services) as err:
        await _after_error(message.chat.id, err, state, lang, bot)
        return
    await _after_step(message.chat.id, step, state, lang, bot)


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
        caption = t("login_qr_caption", lang, ttl=ttl)
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

    async def done(step: Any) -> None:
        if "id" in shown:
            with contextlib.suppress(TelegramAPIError):
                await bot.delete_message(chat_id, shown["id"])
        await _after_step(chat_id, step, state, lang, bot)

    async def failed(err: Any) -> None:
        await state.clear()
        await bot.send_message(chat_id, error_text(err, lang))

    try:
        await flow.start_qr(send, done, failed)
    except _errors(services) as err:
        await failed(err)


# -- /logout -----------------------------------------------------------------------------


@router.message(Command("logout"))
async def cmd_logout(message: Message, services: BotServices, lang: str) -> None:
    userbot = _userbot(services)
    info = await services.extras["accounts"].current()
    if userbot.client is None and (info is None or not info.has_session):
        await message.answer(t("logout_none", lang))
        return
    name = account_name(userbot.me) if userbot.me else info.display_name or "?"
    await message.answer(t("logout_confirm", lang, name=name), reply_markup=logout_confirm(lang))


@router.callback_query(F.data.startswith("logout:"))
async def on_logout_answer(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    yes = query.data == "logout:yes"
    if yes:
        await _userbot(services).logout()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(t("logout_done" if yes else "logout_kept", lang))


# -- /status section ----------------------------------------------------------------------


async def status_section(userbot: Any, flow: Any, lang: str) -> str:
    await userbot.check(timeout=2.0)
    lines = []
    if userbot.me is not None and userbot.state == "ready":
        lines.append(t("status_account", lang, value=account_name(userbot.me)))
    else:
        lines.append(t("status_account_none", lang))
    reason = userbot.reason or ""
    lines.append(
        t("status_session", lang, value=t(f"session_{userbot.state}", lang, reason=reason))
    )
    if flow.owner is not None:
        lines.append(t("session_login_running", lang, name=flow.owner_name))
    return "\n".join(lines)


@router.callback_query(F.data == "login:qr")
async def on_qr_button(
    query: CallbackQuery, state: FSMContext, services: BotServices, lang: str, bot: Bot
) -> None:
    flow = _flow(services)
    await query.answer()
    if flow.busy_for(query.from_user.id):
        await bot.send_message(
            query.from_user.id, t("login_busy", lang, name=flow.owner_name)
        )
        return
    if _userbot(services).state == "ready":
        return
    await flow.cancel(query.from_user.id)
    flow.begin(query.from_user.id, _who(query.from_user))
    await _start_qr(query.from_user.id, state, services, lang, bot)
