"""/start, /help, /cancel, /status and what no other router took."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.dialogues import is_command
from bot.status import StatusPage
from bot.texts import t


def build_router() -> Router:
    """The catch-all router: include it last."""
    router = Router(name="common")
    router.message.register(cmd_start, CommandStart())
    router.message.register(cmd_help, Command("help"))
    router.message.register(cmd_cancel, Command("cancel"))
    router.message.register(cmd_status, Command("status"))
    router.message.register(unknown_command, F.func(is_command))
    router.message.register(stray_text, F.text)
    return router


async def cmd_start(message: Message, lang: str) -> None:
    await message.answer(t("start", lang))


async def cmd_help(message: Message, lang: str) -> None:
    await message.answer(t("help", lang))


async def cmd_cancel(message: Message, lang: str, ended_dialogue: str | None = None) -> None:
    """The dialogue middleware has already ended the dialogue (bot/dialogues.py)."""
    await message.answer(t("cancelled" if ended_dialogue else "nothing_to_cancel", lang))


async def cmd_status(message: Message, status_page: StatusPage, lang: str) -> None:
    await message.answer(await status_page.render(lang))


async def unknown_command(message: Message, lang: str) -> None:
    command = (message.text or "").split(maxsplit=1)[0]
    await message.answer(t("unknown_command", lang, command=command[:64]))


async def stray_text(message: Message, lang: str) -> None:
    """Text outside any dialogue (the dialogues' routers come first)."""
    await message.answer(t("not_understood", lang))
