"""Operator gating: one outer middleware for every update."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot.texts import pick_lang, t

log = logging.getLogger(__name__)

REFUSAL_EVERY = 600.0  # a stranger hears "this bot is private" at most once per 10 min
_MAX_STRANGERS = 10_000  # refusal times kept in memory, oldest dropped first


class OperatorsOnly(BaseMiddleware):
    """Operators pass; everyone else gets one short refusal per 10 minutes, then silence.

    No handler runs for a stranger and nothing about them is stored but the time of
    their last refusal, in memory. Each operator's language (from their last update)
    is written to `languages`, so alerts reach them in it.
    """

    def __init__(
        self,
        admin_ids: set[int],
        default_lang: str,
        languages: MutableMapping[int, str] | None = None,
        *,
        refusal_every: float = REFUSAL_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admins = admin_ids
        self._default = default_lang
        self.languages: MutableMapping[int, str] = languages if languages is not None else {}
        self._refusal_every = refusal_every
        self._clock = clock
        self._refused: OrderedDict[int, float] = OrderedDict()

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
            if user.language_code:
                self.languages[user.id] = lang
            return await handler(event, data)
        if user is None or not self._may_refuse(user):
            return None
        if isinstance(event, Message) and event.chat.type == "private":
            await event.answer(t("refusal", lang))
        elif isinstance(event, CallbackQuery):
            await event.answer(t("refusal", lang), show_alert=False)
        return None

    def _may_refuse(self, user: User) -> bool:
        """True at most once per `refusal_every` per user (decided before any await, so
        a burst of concurrent updates from one stranger gets one answer)."""
        now = self._clock()
        last = self._refused.get(user.id)
        if last is not None and now - last < self._refusal_every:
            return False
        self._refused[user.id] = now
        self._refused.move_to_end(user.id)
        while len(self._refused) > _MAX_STRANGERS:
            self._refused.popitem(last=False)
        # INFO on purpose: an owner who mistyped ADMIN_IDS finds their own id here.
        log.info(
            "refused user id=%d username=%s (not in ADMIN_IDS)",
            user.id,
            f"@{user.username}" if user.username else "-",
        )
        return True
