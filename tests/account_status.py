"""The account part of /status as the bot renders it, for tests that drive a Userbot
without a bot (integration: clock skew; unit: connection states)."""

from __future__ import annotations

from typing import Any

from bot.routers.account import account_section
from parser.userbot import Userbot
from services.login import account_status


async def login_status_section(userbot: Userbot, flow: Any, lang: str) -> str:
    """The account section for `userbot`; `flow.owner_name` is logging in when
    `flow.owner` is set."""
    await userbot.check(timeout=2.0)
    login_by = flow.owner_name if flow.owner is not None else None
    return account_section(account_status(userbot, login_by), lang)
