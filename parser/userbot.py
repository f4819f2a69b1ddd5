"""The one Telethon client of this process and its lifecycle.

One process, one event loop, one client per session. The login flow builds the
client with `new_client()` and hands it over with `adopt()` once signed in, so the
connection that logged in is the one that parses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from telethon import TelegramClient, functions, types
from telethon.crypto import rsa
from telethon.sessions import StringSession

from app.alerts import Alerter, AlertText
from app.health import HealthRegistry
from app.logging_setup import REDACTOR
from app.settings import Settings
from db.accounts import AccountRepository
from db.vault import VaultError
from parser.errors import SessionDead, translate

log = logging.getLogger(__name__)

NO_SESSION, CONNECTING, READY, PAUSED, INVALID = (
    "no_session",
    "connecting",
    "ready",
    "paused",
    "invalid",
)

_keys_loaded: set[Path] = set()


def new_client(s: Any, session: str | None = None) -> TelegramClient:
    """A Telethon client for the app's settings (DC, server key, proxy, flood threshold).

    `s` is app.settings.Settings; `session` a StringSession string, or None for a new one.
    """
    if s.telegram_server_key and s.telegram_server_key not in _keys_loaded:
        rsa.add_key(s.telegram_server_key.read_text(), old=False)
        _keys_loaded.add(s.telegram_server_key)
    string_session = StringSession(session or None)
    if s.dc and not session:
        dc_id, host, port = s.dc
        string_session.set_dc(dc_id, host, port)
    client = TelegramClient(
        string_session,
        s.telegram_api_id,
        s.telegram_api_hash.get_secret_value(),
        proxy=_proxy(s.telegram_proxy),
        flood_sleep_threshold=s.flood_sleep_threshold,
        receive_updates=False,
        request_retries=3,
        connection_retries=3,
        retry_delay=1,
        auto_reconnect=True,
        device_model="tg-parser",
        app_version="0.1",
    )
    return client


def _proxy(url: str | None) -> dict[str, Any] | None:
    """Telethon's proxy dict (python-socks keywords) for a `TELEGRAM_PROXY` URL.

    Reserved characters in the user name or password can only be written
    percent-encoded in a URL (`p%40ss` for `p@ss`); they are decoded here, as the bot's
    aiohttp-socks session decodes them (python_socks.parse_proxy_url).
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError("a proxy URL needs a host and a port")
    proxy: dict[str, Any] = {
        "proxy_type": parts.scheme,
        "addr": parts.hostname,
        "port": parts.port,
        "rdns": True,
    }
    if parts.username is not None:
        proxy.update(username=unquote(parts.username), password=unquote(parts.password or ""))
    return proxy


class Userbot:
    """Owns the client: connect from the stored session, adopt a fresh login, pause on death."""

    name = "userbot"

    def __init__(
        self,
        settings: Settings,
        accounts: AccountRepository,
        health: HealthRegistry,
        alerter: Alerter,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._health = health
        self._alerter = alerter
        self.client: TelegramClient | None = None
        self.state = NO_SESSION
        self.reason: str | None = None
        self.me: Any = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._listeners: list[Callable[[str], Awaitable[None]]] = []
        self._dead_seen = False  # set synchronously: concurrent callers alert once
        health.add_probe("session", self._probe)

    @property
    def settings(self) -> Settings:
        return self._settings

    def _probe(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "healthy": True}

    def on_state(self, listener: Callable[[str], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    async def _set_state(self, state: str, reason: str | None = None) -> None:
        self.state, self.reason = state, reason
        if state == READY:
            self._ready.set()
        else:
            self._ready.clear()
        for listener in self._listeners:
            try:
                await listener(state)
            except Exception:
                log.exception("userbot state listener failed")

    # -- building clients -------------------------------------------------------------

    def new_client(self, session: str | None = None) -> TelegramClient:
        return new_client(self._settings, session)

    @staticmethod
    def session_string(client: TelegramClient) -> str:
        value = StringSession.save(client.session)
        REDACTOR.add(value)
        return value

    # -- lifecycle --------------------------------------------------------------------

    async def wait_ready(self, timeout: float | None = None) -> TelegramClient:
        await asyncio.wait_for(self._ready.wait(), timeout)
        assert self.client is not None
        return self.client

    async def adopt(self, client: TelegramClient, me: Any, phone: str | None) -> None:
        """Take over a freshly signed-in client and store its session at once."""
        session = self.session_string(client)
        name = " ".join(p for p in (me.first_name, me.last_name) if p) or None
        await self._accounts.save_session(
            session, phone=phone, user_id=me.id, display_name=name, username=me.username
        )
        old = self.client
        self.client, self.me = client, me
        if old is not None and old is not client:
            await old.disconnect()
        self._alerter.forget("session-dead")
        self._dead_seen = False
        await self._set_state(READY)
        self._wake.set()

    async def session_dead(self, reason: str) -> None:
        """A permanent 401/406: stop using the session, keep its ciphertext, alert once.

        Safe to call from anywhere, any number of times, concurrently.
        """
        if self._dead_seen or self.state == INVALID:
            return
        self._dead_seen = True
        await self._accounts.mark("revoked", reason)
        client, self.client = self.client, None
        await self._set_state(INVALID, reason)
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                log.debug("disconnect after session loss failed", exc_info=True)
        self._alerter.alert("session-dead", AlertText("alert_session_dead", reason=reason))

    async def check(self, timeout: float = 5.0) -> None:
        """Ask Telegram who we are; a dead session is noticed here too.

        Only permanent errors count: a flood wait or a network error keeps the session.
        """
        client = self.client
        if client is None or self.state != READY:
            return
        try:
            users = await asyncio.wait_for(
                client(functions.users.GetUsersRequest([types.InputUserSelf()])), timeout
            )
        except Exception as exc:
            err = translate(exc)
            if isinstance(err, SessionDead):
                await self.session_dead(err.detail)
            else:
                log.info("session check inconclusive: %s", type(exc).__name__)
            return
        if users:
            self.me = users[0]

    async def logout(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.log_out()
            except Exception as exc:
                log.warning("log_out on Telegram's side failed: %s", type(exc).__name__)
                await client.disconnect()
        await self._accounts.wipe_session()
        self._dead_seen = False
        await self._set_state(NO_SESSION)

    async def run(self) -> None:
        checks = 0
        while not self._stopping:
            if self.client is None and self.state not in (INVALID,):
                await self._connect_stored()
            self._wake.clear()
            if self.client is not None and self.state == READY:
                self._health.beat(self.name)
                checks += 1
                if checks % 12 == 0:  # about once a minute
                    await self.check()
                try:
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                except TimeoutError:
                    pass
                if self.client is not None and not self.client.is_connected():
                    await self._reconnect()
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                except TimeoutError:
                    pass
                self._health.beat(self.name)

    async def _connect_stored(self) -> None:
        try:
            session = await self._accounts.load_session()
        except VaultError as exc:
            await self._set_state(PAUSED, str(exc))
            self._alerter.alert("vault", AlertText("alert_vault", error=str(exc)))
            return
        if session is None:
            if self.state != NO_SESSION:
                await self._set_state(NO_SESSION)
            return
        REDACTOR.add(session)
        client = self.new_client(session)
        await self._set_state(CONNECTING)
        try:
            await client.connect()
            me = await client.get_me()
        except Exception as exc:
            err = translate(exc)
            if isinstance(err, SessionDead):
                await self.session_dead(err.detail)
                return
            # Network or flood: keep the session, try again later.
            log.warning("userbot could not connect: %s", type(exc).__name__)
            await client.disconnect()
            await self._set_state(CONNECTING, type(exc).__name__)
            await asyncio.sleep(5)
            return
        if me is None:
            # get_me() returns None on *any* RPC error: verify before declaring death.
            try:
                authorized = await client.is_user_authorized()
            except Exception:
                authorized = True
            if not authorized:
                await client.disconnect()
                await self.session_dead("not authorized")
                return
        self.client, self.me = client, me
        await self._set_state(READY)

    async def _reconnect(self) -> None:
        assert self.client is not None
        try:
            await self.client.connect()
        except Exception as exc:
            log.warning("userbot reconnect failed: %s", type(exc).__name__)
            await asyncio.sleep(5)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.disconnect()
