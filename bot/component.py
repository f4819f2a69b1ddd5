"""The control bot as a supervised component."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, BotCommandScopeDefault, ErrorEvent

from bot.aiogram_lazy import warm_models
from bot.filters import OperatorsOnly
from bot.routers import build_root_router
from bot.services import BotServices
from bot.texts import LANGS, Html, plain, t

log = logging.getLogger(__name__)

COMMANDS = (
    "start",
    "help",
    "status",
    "cancel",
    "login",
    "logout",
    "parse",
    "add",
    "channels",
    "schedule",
    "export",
    "search",
    "stats",
    "watch",
    "watches",
    "unwatch",
)


def build_bot(token: str, api_url: str, proxy: str | None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), proxy=proxy)
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


async def call_with_retry(fn: Any, *args: Any, attempts: int = 3, **kwargs: Any) -> Any:
    """aiogram does not retry outgoing calls on 429: honour retry_after ourselves."""
    for attempt in range(attempts):
        try:
            return await fn(*args, **kwargs)
        except TelegramRetryAfter as exc:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(min(exc.retry_after, 60))
    return None


class ControlBot:
    name = "bot"

    def __init__(self, bot: Bot, services: BotServices, commands: list[str] | None = None) -> None:
        self.bot = bot
        self.services = services
        self.commands = commands or list(COMMANDS)
        self.dp = Dispatcher(storage=MemoryStorage(), services=services)
        gate = OperatorsOnly(services.admin_ids, services.default_lang)
        self.dp.message.outer_middleware(gate)
        self.dp.callback_query.outer_middleware(gate)
        self.dp.include_router(build_root_router())
        self.dp.errors.register(self._on_error)
        self._polling = False

    async def _on_error(self, event: ErrorEvent) -> bool:
        log.error(
            "handler failed: %s",
            type(event.exception).__name__,
            exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
        )
        update = event.update
        msg = update.message or (update.callback_query.message if update.callback_query else None)
        user = update.message.from_user if update.message else (
            update.callback_query.from_user if update.callback_query else None
        )
        from bot.texts import pick_lang

        lang = pick_lang(user.language_code if user else None, self.services.default_lang)
        if msg is not None:
            try:
                await self.bot.send_message(msg.chat.id, t("error_generic", lang))
            except TelegramAPIError:
                pass
        return True

    async def set_commands(self) -> None:
        for lang in LANGS:
            cmds = [
                BotCommand(command=c, description=plain(f"cmd_{c}", lang)) for c in self.commands
            ]
            await call_with_retry(
                self.bot.set_my_commands,
                cmds,
                scope=BotCommandScopeDefault(),
                language_code=None if lang == "en" else lang,
            )

    async def notify_admins(self, text: str) -> None:
        for admin in self.services.admin_ids:
            try:
                # Catalogue texts are HTML; free-form alert strings go out as plain text.
                mode = "HTML" if isinstance(text, Html) else None
                await call_with_retry(self.bot.send_message, admin, text, parse_mode=mode)
            except TelegramAPIError as exc:
                log.warning("alert to %s not delivered: %s", admin, type(exc).__name__)

    async def run(self) -> None:
        warm_models()
        # start_polling calls getMe before its own retry loop: a bad token or no network
        # raises here, and the supervisor restarts us with backoff.
        try:
            await self.set_commands()
        except TelegramAPIError as exc:
            log.warning("setMyCommands failed: %s", type(exc).__name__)
        self._polling = True
        try:
            await self.dp.start_polling(
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10
            )
        finally:
            self._polling = False

    async def stop(self) -> None:
        if self._polling:
            try:
                await self.dp.stop_polling()
            except RuntimeError:
                pass

    async def close(self) -> None:
        await self.bot.session.close()
