"""Operator gating: one outer middleware for every update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot.texts import pick_lang, t


class OperatorsOnly(BaseMiddleware):
    """Non-operators get one short refusal; no handler runs, no FSM state is created."""

    def __init__(self, admin_ids: set[int], default_lang: str) -> None:
        self._admins = admin_ids
        self._default = default_lang

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        lang = pick_lang(user.language_code if user else None, self._default)
        data["lang"] = lang
        if user is not None and user.id in self._admins:
            return await handler(event, data)
        if isinstance(event, Message) and event.chat.type == "private":
            await event.answer(t("refusal", lang))
        elif isinstance(event, CallbackQuery):
            await event.answer(t("refusal", lang), show_alert=False)
        return None
