"""/start, /help, /cancel, /status."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.services import BotServices
from bot.texts import t

router = Router(name="common")


@router.message(CommandStart())
async def cmd_start(message: Message, lang: str) -> None:
    await message.answer(t("start", lang))


@router.message(Command("help"))
async def cmd_help(message: Message, lang: str) -> None:
    await message.answer(t("help", lang))


@router.message(Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext, lang: str) -> None:
    if await state.get_state() is None:
        await message.answer(t("nothing_to_cancel", lang))
        return
    await state.clear()
    await message.answer(t("cancelled", lang))


@router.message(Command("status"))
async def cmd_status(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(await services.status_text(lang))


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, lang: str) -> None:
    await message.answer(t("help", lang))


@router.message(F.text)
async def stray_text(message: Message, lang: str) -> None:
    """Text outside any dialogue (the dialogues' routers come first)."""
    await message.answer(t("not_understood", lang))
