"""The login dialogue's shared parts: its states, what each step handler is given
(`Dialogue`, built by the login router's middleware), and moving the dialogue after a
step (bot/routers/login.py has the handlers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot import dialogues
from bot.api.login import LoginAPI
from bot.texts import t
from core.errors import LoginFailed
from core.login import LoginStep, NeedPassword

log = logging.getLogger(__name__)

# What the login dialogue keeps in the operator's FSM data (other features keep theirs).
_DATA_KEYS = ("digits", "keypad", "submitted", "qr", "resent_from")
# Digits and separators only: a code, or a piece of one, that must not stay in the chat.
CODE_LIKE = re.compile(r"[0-9\s\-_.,/·•*]*[0-9][0-9\s\-_.,/·•*]*")


class LoginStates(StatesGroup):
    phone = State()
    code = State()
    password = State()
    qr = State()


@dataclass
class Dialogue:
    """One operator's login dialogue: their chat, FSM state and language, the bot, the
    login service and the operator's dialogue lock. Given to every handler below."""

    chat_id: int
    user: User
    state: FSMContext
    lang: str
    bot: Bot
    login: LoginAPI
    lock: asyncio.Lock

    async def say(self, text: str, **kwargs: Any) -> None:
        await self.bot.send_message(self.chat_id, text, **kwargs)

    async def at(self, step: State) -> bool:
        """Still at `step`? A late update (the second tap of a double tap) finds it moved on."""
        return await self.state.get_state() == step.state

    async def forget(self) -> None:
        """Drop the dialogue's data: its keypad loses its keys, its QR picture goes."""
        data = await self.state.get_data()
        await drop_buttons(self.bot, self.chat_id, data.get("keypad"))
        if data.get("qr") is not None:
            with contextlib.suppress(TelegramAPIError):
                await self.bot.delete_message(self.chat_id, data["qr"])
        await self.state.set_data({k: v for k, v in data.items() if k not in _DATA_KEYS})

    async def end(self) -> None:
        await self.forget()
        await self.state.set_state(None)

    async def still_mine(self) -> bool:
        """An abandoned flow may have been taken over by another operator since."""
        if self.login.owns(self.user.id):
            return True
        await self.end()
        await self.say(t("login_err_no_flow", self.lang))
        return False


async def with_dialogue(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    """Gives the login handlers `dialogue`, built from their workflow data (`login` is
    BotDeps.login)."""
    user: User = data["event_from_user"]
    chat = data.get("event_chat")
    login: LoginAPI = data["login"]
    data["dialogue"] = Dialogue(
        chat.id if chat is not None else user.id,
        user,
        data["state"],
        data["lang"],
        data["bot"],
        login,
        data["dialogue_lock"],
    )
    return await handler(event, data)


def who(user: User) -> str:
    return user.full_name + (f" (@{user.username})" if user.username else "")


async def delete(message: Message) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.delete()


async def ack(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a press before the slow work; an answer Telegram refuses never stops it."""
    try:
        await query.answer(text)
    except TelegramAPIError as exc:
        log.info("callback answer refused: %s", exc.message)


async def drop_buttons(bot: Bot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    with contextlib.suppress(TelegramAPIError):
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)


@dialogues.on_end(LoginStates)
async def _release(state: FSMContext, data: dict[str, Any]) -> None:
    """A command ended the login dialogue: the flow lets go of its owner and client."""
    user, chat = data.get("event_from_user"), data.get("event_chat")
    if user is None:
        return
    login: LoginAPI = data["login"]
    await login.cancel(user.id)
    if chat is not None:
        await Dialogue(chat.id, user, state, "", data["bot"], login, asyncio.Lock()).forget()


async def after_error(d: Dialogue, err: LoginFailed) -> None:
    """Move the dialogue where the flow now is (bot/errors.py shows the error)."""
    if err.login_code.wrong_number:  # the flow is back at the phone step: so is the dialogue
        await d.forget()
        await d.state.set_state(LoginStates.phone)
    elif err.login_code.ends_flow:
        await d.login.cancel(d.user.id)
        await d.end()


async def after_step(d: Dialogue, step: LoginStep) -> None:
    if isinstance(step, NeedPassword):
        await d.forget()  # the code step is over: the keypad goes away
        await d.state.set_state(LoginStates.password)
        hint = t("login_hint", d.lang, hint=step.hint) if step.hint else ""
        await d.say(t("login_ask_password", d.lang, hint=hint))
        return
    await d.end()
    logged_in = sum(1 for v in await d.login.accounts() if v.has_session)
    if logged_in > 1:  # one of several: "parsing uses this account now" would be untrue
        await d.say(t("login_done_more", d.lang, name=step.name, n=logged_in))
        return
    await d.say(t("login_done", d.lang, name=step.name))
