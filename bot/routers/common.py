"""/start, /help, /cancel, /status."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.dialogues import is_command
from bot.services import BotServices
from bot.texts import html_join, t

router = Router(name="common")


@router.message(CommandStart())
async def cmd_start(message: Message, lang: str) -> None:
    await message.answer(t("start", lang))


@router.message(Command("help"))
async def cmd_help(message: Message, lang: str) -> None:
    await message.answer(t("help", lang))


@router.message(Command("cancel"))
async def cmd_cancel(message: Message, lang: str, ended_dialogue: str | None = None) -> None:
    """The dialogue middleware has already ended the dialogue (bot/dialogues.py)."""
    await message.answer(t("cancelled" if ended_dialogue else "nothing_to_cancel", lang))


@router.message(Command("status"))
async def cmd_status(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(await services.status_text(lang))


@router.message(F.func(is_command))
async def unknown_command(message: Message, lang: str) -> None:
    command = (message.text or "").split(maxsplit=1)[0]
    await message.answer(t("unknown_command", lang, command=command[:64]))


@router.message(F.text)
async def stray_text(message: Message, lang: str) -> None:
    """Text outside any dialogue (the dialogues' routers come first)."""
    await message.answer(t("not_understood", lang))


async def backup_status_section(state: Any, lang: str) -> str:
    """The backup line of /status (state: app.maintenance.MaintenanceState)."""
    lines = []
    if state.last_backup_at is not None:
        lines.append(
            t(
                "status_backup",
                lang,
                when=state.last_backup_at.strftime("%Y-%m-%d %H:%M UTC"),
                size=round(state.last_backup_size / 1e6, 1),
            )
        )
    else:
        lines.append(t("status_backup_none", lang))
    if state.backup_error:
        lines.append(t("status_backup_failed", lang, error=state.backup_error))
    if state.check_result not in (None, "ok"):
        lines.append(t("status_database_damaged", lang, error=state.check_result[:200]))
    return html_join("\n", lines)
