"""A command typed during a dialogue ends it and runs once: real aiogram, Bot API double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from app.health import HealthRegistry
from bot import dialogues
from bot.component import ControlBot
from tests.doubles.botapi import BotAPIDouble
from tests.unit.bot.fakes import make_deps

ADMIN = 1001


class Quiz(StatesGroup):
    answer = State()


ended: list[str] = []


@dialogues.on_end(Quiz)
async def _quiz_ended(state: FSMContext, data: dict[str, Any]) -> None:
    ended.append((await state.get_data()).get("question", "?"))
    raise RuntimeError("a cleanup that fails must not keep the command from running")


def _quiz_router() -> Router:
    router = Router(name="quiz")

    @router.message(Command("quiz"))
    async def cmd_quiz(message: Message, state: FSMContext) -> None:
        await state.set_state(Quiz.answer)
        await state.update_data(question="2+2", kept="yes")
        await message.answer("2+2?")

    @router.message(Quiz.answer, F.text)
    async def on_answer(message: Message, state: FSMContext) -> None:
        await state.set_state(None)
        await message.answer(f"answer taken: {message.text}")

    @router.message(Command("ping"))
    async def cmd_ping(
        message: Message, state: FSMContext, ended_dialogue: str | None = None
    ) -> None:
        kept = (await state.get_data()).get("kept")
        await message.answer(f"pong after {ended_dialogue}, kept={kept}")

    return router


@dataclass
class Chat:
    api: BotAPIDouble
    user: Any

    async def says(self, text: str, **kwargs: Any) -> list[str]:
        """Send `text`; every bot reply to it. Updates are handled one after the other
        here, so the next getUpdates past this update means its handling is over."""
        start = len(self.api.requests)
        incoming = await self.api.send_text(self.user, text, **kwargs)
        await self.api.wait_for_request(
            "getUpdates", lambda p: int(p.get("offset") or 0) > incoming.update_id, since=start
        )
        sent = [r for r in self.api.requests[start:] if r.method == "sendMessage"]
        return [str(r.params["text"]) for r in sent]


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    async with BotAPIDouble() as api:
        user = api.add_user(ADMIN, "Adam", language_code="en")
        session = AiohttpSession(api=api.api_server())
        bot = Bot(api.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        health = HealthRegistry()
        control = ControlBot(bot, make_deps({ADMIN}, health=health), health=health)
        (root,) = control.dp.sub_routers
        # A dialogue router goes first (like login), before the features' catch-alls.
        root.include_router(_quiz_router())
        root.sub_routers.insert(0, root.sub_routers.pop())
        try:
            async with api.polling(control.dp, bot, handle_as_tasks=False):
                yield Chat(api, user)
        finally:
            await bot.session.close()


async def test_a_command_ends_the_dialogue_runs_once_and_keeps_other_data(chat: Chat) -> None:
    ended.clear()
    assert await chat.says("/quiz") == ["2+2?"]
    # The dialogue's own filter (Quiz.answer, any text) no longer catches the command.
    assert await chat.says("/ping") == ["pong after Quiz:answer, kept=yes"]
    assert ended == ["2+2"]
    # Over: the next text is not taken as an answer.
    assert await chat.says("4") == ["I only take commands here: /help lists them."]
    assert await chat.says("/ping") == ["pong after None, kept=yes"]
    assert ended == ["2+2"]


async def test_text_that_only_starts_with_a_slash_stays_in_the_dialogue(chat: Chat) -> None:
    assert await chat.says("/quiz") == ["2+2?"]
    # No bot_command entity at offset 0: an answer that happens to begin with "/".
    assert await chat.says("/4", entities=[]) == ["answer taken: /4"]


async def test_cancel_and_unknown_commands_end_the_add_prompt(chat: Chat) -> None:
    prompt = await chat.says("/add")
    assert len(prompt) == 1 and prompt[0].startswith("Send channels, one per line")
    assert await chat.says("/cancel") == ["Cancelled."]
    assert await chat.says("/cancel") == ["Nothing to cancel."]
    await chat.says("/add")
    assert await chat.says("/foo bar") == ["There is no command /foo. /help lists them all."]
    # The prompt is over: a line is not taken for channels.
    assert await chat.says("@durov") == ["I only take commands here: /help lists them."]
    status = await chat.says("/status")
    assert len(status) == 1 and "Components:" in status[0]
