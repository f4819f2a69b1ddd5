"""The control bot as a supervised component."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, BotCommandScopeDefault, ErrorEvent

from bot.aiogram_lazy import warm_models
from bot.api import BotDeps
from bot.delivery import AlertDelivery
from bot.errors import install as install_error_handler
from bot.errors import unexpected_text
from bot.filters import OperatorsOnly
from bot.routers import build_root_router, build_status_page
from bot.session import (
    CONFLICT,
    CONFLICT_OVER,
    UNAUTHORIZED,
    TransportPolicy,
    install_rules,
)
from bot.texts import LANGS, pick_lang, plain, t
from core.alerts import AlertBody, Alerter, AlertText
from core.errors import PermanentFailure
from core.health import RUNNING, HealthRegistry

log = logging.getLogger(__name__)

TOKEN_REFUSED = (
    "Telegram refused the bot token (401 Unauthorized): it was revoked or mistyped. "
    "Get a new token from @BotFather and put it in BOT_TOKEN"
)
CONFLICT_REASON = "another process polls this token (409 Conflict); stop the other instance"

COMMANDS = (
    "start",
    "help",
    "status",
    "cancel",
    "login",
    "logout",
    "accounts",
    "parse",
    "add",
    "channels",
    "schedule",
    "export",
    "search",
    "stats",
    "graph",
    "watch",
    "watches",
    "unwatch",
)


def build_bot(
    token: str, api_url: str, proxy: str | None, policy: TransportPolicy | None = None
) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), proxy=proxy)
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    install_rules(bot, policy)  # 429, outages, "not modified", callback answers: one place
    return bot


class LeanMemoryStorage(MemoryStorage):
    """MemoryStorage that creates a record only when something is written.

    aiogram's FSM middleware reads the state of every update's sender before any
    filter runs; MemoryStorage's defaultdict would keep a record for every stranger.
    """

    async def get_state(self, key: StorageKey) -> str | None:
        record = self.storage.get(key)
        return record.state if record is not None else None

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = self.storage.get(key)
        return record.data.copy() if record is not None else {}


class ControlBot:
    """The control bot as a supervised component: polling, the operator gate, commands.

    Its transport trouble shows in health: a 409 Conflict on getUpdates (another
    process polls this token) turns the component's state to "conflict" and alerts
    once; a refused token (401) stops it for good with one log line.
    """

    name = "bot"

    def __init__(
        self,
        bot: Bot,
        deps: BotDeps,
        *,
        health: HealthRegistry,
        commands: list[str] | None = None,
        alerter: Alerter | None = None,
        policy: TransportPolicy | None = None,
        router: Router | None = None,
    ) -> None:
        """`deps`: one typed API per feature, each its own workflow-data key."""
        self.bot = bot
        self.deps = deps
        self.health = health
        self.commands = commands or list(COMMANDS)
        self.rules = install_rules(bot, policy)
        self.admin_langs: dict[int, str] = {}
        self.status_page = build_status_page(deps, self._status_section)
        self.dp = Dispatcher(storage=LeanMemoryStorage())
        # One workflow-data key per API: handlers name the one they call.
        self.dp.workflow_data.update(deps.workflow_data(), status_page=self.status_page)
        self.gate = OperatorsOnly(set(deps.admin_ids), deps.default_lang, self.admin_langs)
        self.dp.message.outer_middleware(self.gate)
        self.dp.callback_query.outer_middleware(self.gate)
        # Routers are built per Dispatcher; tests may pass their own.
        self.dp.include_router(router or build_root_router())
        install_error_handler(self.dp, deps.default_lang)  # ProjectErrors: bot/errors.py
        self.dp.errors.register(self._on_error)
        self.alerter = alerter or Alerter()
        self.delivery = AlertDelivery(
            bot, self.alerter, set(deps.admin_ids), self.admin_langs, deps.default_lang,
            tz=deps.tz,
        )
        self.rules.state.on_change(self._on_transport)
        self.dp.startup.register(self._announce)
        self._announced = False
        self._polling = False
        self._tasks: set[asyncio.Task[None]] = set()

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
        lang = pick_lang(user.language_code if user else None, self.deps.default_lang)
        if msg is not None:
            try:
                await self.bot.send_message(msg.chat.id, unexpected_text(event.exception, lang))
            except TelegramAPIError:
                pass
        return True

    # -- transport state -----------------------------------------------------------------

    def _on_transport(self, change: str) -> None:
        health = self.health
        if change == CONFLICT:
            log.warning("getUpdates: 409 Conflict, %s", CONFLICT_REASON)
            health.set(self.name, CONFLICT, CONFLICT_REASON)
            self.alerter.alert("bot-conflict", AlertText("alert_bot_conflict"))
        elif change == CONFLICT_OVER:
            log.info("getUpdates works again: the other process stopped polling")
            if health.component(self.name).state == CONFLICT:
                health.set(self.name, RUNNING)
        elif change == UNAUTHORIZED:
            self._spawn(self.stop())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status_section(self, lang: str) -> str:
        return t("status_bot_conflict", lang) if self.rules.state.conflict else ""

    # -- running -------------------------------------------------------------------------

    async def _announce(self, bot: Bot) -> None:
        """Once per process, say which bot to open: the operator may not know its name.

        getMe is cached on the Bot, so polling does not ask Telegram again.
        """
        me = await bot.me()
        if self._announced:
            return
        self._announced = True
        if me.username:
            log.info(
                "bot @%s is up: open https://t.me/%s and send /start", me.username, me.username
            )
        else:
            log.info("bot %r (id %d) is up: send it /start", me.full_name, me.id)

    async def set_commands(self) -> None:
        for lang in LANGS:
            cmds = [
                BotCommand(command=c, description=plain(f"cmd_{c}", lang)) for c in self.commands
            ]
            await self.bot.set_my_commands(
                cmds,
                scope=BotCommandScopeDefault(),
                language_code=None if lang == "en" else lang,
            )

    async def _set_commands_quietly(self) -> None:
        try:
            await self.set_commands()
        except TelegramUnauthorizedError:
            pass  # said once, by run()
        except (TelegramAPIError, ClientDecodeError) as exc:
            log.warning("setMyCommands failed: %s", type(exc).__name__)

    async def notify_admins(self, body: AlertBody) -> None:
        """Queue a message for every admin (sent by the alert delivery task): plain text,
        a catalogue text, or a function of the admin's language returning HTML."""
        self.alerter.notify(body)

    async def run(self) -> None:
        if self.rules.state.unauthorized:
            raise PermanentFailure(TOKEN_REFUSED, alert=False)
        # A restart set our health back to running: a conflict still going on shows
        # again at the next 409 (its alert stays within the Alerter's window).
        self.rules.state.conflict = False
        warm_models()
        # In the background: during an outage the session retries it for minutes, and
        # polling must not wait for the command menu.
        commands = asyncio.create_task(self._set_commands_quietly())
        self._polling = True
        try:
            # start_polling calls getMe before its own retry loop: no network raises here
            # and the supervisor restarts us with backoff; a refused token stops us.
            await self.dp.start_polling(
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10
            )
        except TelegramUnauthorizedError:
            raise PermanentFailure(TOKEN_REFUSED, alert=False) from None
        finally:
            self._polling = False
            commands.cancel()
        if self.rules.state.unauthorized:
            raise PermanentFailure(TOKEN_REFUSED, alert=False)

    async def stop(self) -> None:
        if self._polling:
            try:
                await self.dp.stop_polling()
            except RuntimeError:
                pass

    async def close(self) -> None:
        await self.bot.session.close()
