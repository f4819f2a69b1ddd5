"""The accounts of this process: one Userbot (one Telethon client) per stored account.

`AccountPool` is the supervised component "userbot". It starts a Userbot for every
account with a session, adds one when a login brings a new Telegram user (a login of
a user already stored refreshes that account's row and client), logs one out, and
gives each its own proxy (core/proxy.py; the default is TELEGRAM_PROXY).

To the services that know one session (the parse worker, /add, media, counters) it
looks like a Userbot: `state`, `client`, `me`, `wait_ready()` are the primary
account's, the first ready one (lowest row id), so with one account everything is as
before. `bots()`, `bot(id)` and `ready()` give the accounts one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from telethon import TelegramClient

from core.alerts import AlertText
from core.errors import VaultError
from core.ports import AccountBook, AlertSink, HealthBeats, LeaseGate
from core.proxy import parse_proxy
from core.redaction import add_secret
from parser.client import UserbotConfig, new_client
from parser.clock_skew import set_time_offset
from parser.connection import ConnectionTracker
from parser.userbot import (
    CONNECTING,
    ELSEWHERE,
    INVALID,
    NO_SESSION,
    PAUSED,
    READY,
    STANDBY,
    Userbot,
)

log = logging.getLogger(__name__)

DeathListener = Callable[[Userbot, str | None], Awaitable[None]]

# Channels and supergroups one (non-Premium) account may be in: Telegram answers
# CHANNELS_TOO_MUCH past it (https://core.telegram.org/api/errors; 1000 with Premium).
CHANNEL_LIMIT = 500


def least_loaded(
    accounts: Iterable[int], counts: Mapping[int, int], flooded: Callable[[int], bool]
) -> int | None:
    """The account (id) of `accounts` that should take a channel: one holding fewer
    than CHANNEL_LIMIT channels (`counts`: channels held by account id), flood-waited
    ones (`flooded`) after every other, then the fewest channels, then the lowest id;
    None when every one is full or there is none. The one rule for an account of this
    process (AccountPool) and for one a worker holds (services/remote_channels.py)."""
    room = [a for a in accounts if counts.get(a, 0) < CHANNEL_LIMIT]
    return min(room, key=lambda a: (flooded(a), counts.get(a, 0), a), default=None)


class AccountPool:
    """Every account's Userbot, run side by side in this process (one event loop).

    `state` is connecting until the stored accounts were read, then the primary
    account's (no_session without any). `on_account_dead(bot, reason)`, when set, is
    told of an account Telegram revoked instead of the per-account alert, and of one
    logged out (reason None): services/accounts.py moves its channels (and alerts once).
    """

    name = "userbot"

    def __init__(
        self,
        config: UserbotConfig,
        book: AccountBook,
        health: HealthBeats,
        alerter: AlertSink,
        *,
        open_timeout: float = 60.0,
        leases: LeaseGate | None = None,
        elsewhere: bool = False,
    ) -> None:
        self._config = config
        # PostgreSQL, several processes (#18): each account's client is open only where
        # its lease is held (parser/userbot.py); `elsewhere`: a bot-only process.
        self._leases = leases
        self._elsewhere = elsewhere
        self._book = book
        self._health = health
        self._alerter = alerter
        self._open_timeout = open_timeout
        self._bots: dict[int, Userbot] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[str], Awaitable[None]]] = []
        self._loaded = False
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        # Account -> the proxy stamp its row had when last followed (`_sync`).
        self._proxy_seen: dict[int, str | None] = {}
        self._stopping = False
        self._idle = ConnectionTracker(config.connection_alert_seconds)
        self.on_account_dead: DeathListener | None = None
        # Told of an account a login brought (services/accounts.py: channels of gone
        # accounts go to it).
        self.on_account_added: Callable[[Userbot], Awaitable[None]] | None = None
        # Several processes (#18): told of a flood wait noted here (`on_flood_noted`:
        # app/bus_roles.py tells the other workers to read the rows now) and of one
        # another process noted on an account open there (`on_flood_elsewhere`).
        self.on_flood_noted: Callable[[int], Awaitable[None]] | None = None
        self._flood_listeners: list[Callable[[int], Awaitable[None]]] = []
        health.add_probe("session", self._probe)

    # -- the accounts ------------------------------------------------------------------

    def bots(self) -> list[Userbot]:
        """Every account's Userbot, by account row id."""
        return [self._bots[k] for k in sorted(self._bots)]

    def bot(self, account_id: int) -> Userbot | None:
        return self._bots.get(account_id)

    def ready(self) -> list[Userbot]:
        """The accounts whose client works now, by account row id."""
        return [b for b in self.bots() if b.state == READY and b.client is not None]

    @property
    def primary(self) -> Userbot | None:
        """The first ready account; else the first one still trying; else the first."""
        bots = self.bots()
        for wanted in ((READY,), (CONNECTING, PAUSED), (INVALID,)):
            for bot in bots:
                if bot.state in wanted:
                    return bot
        return bots[0] if bots else None

    def client_of(self, account_id: int | None) -> TelegramClient | None:
        """The client of account `account_id` while it is ready, else None."""
        bot = self._bots.get(account_id) if account_id is not None else None
        if bot is None or bot.state != READY:
            return None
        return bot.client

    def bot_of(self, client: Any) -> Userbot | None:
        """The account whose client `client` is."""
        for bot in self._bots.values():
            if bot.client is client and client is not None:
                return bot
        return None

    def usable(self) -> list[Userbot]:
        """The ready accounts that no flood wait holds back."""
        return [b for b in self.ready() if not b.flooded()]

    async def least_loaded(
        self,
        exclude: int | None = None,
        *,
        skip: frozenset[int] = frozenset(),
        flooded_too: bool = False,
    ) -> Userbot | None:
        """The usable account holding the fewest channels, below CHANNEL_LIMIT, neither
        `exclude` nor in `skip`; None when every usable one is full (or there is none).
        `flooded_too`: a flood-waited account counts too, after every other (a flood
        wait is per method: /add resolves with another method than history reads)."""
        held = await self._book.held_counts()
        bots = {
            b.account_id or 0: b
            for b in (self.ready() if flooded_too else self.usable())
            if b.account_id != exclude and b.account_id not in skip
        }
        best = least_loaded(bots, held, lambda a: bots[a].flooded())
        return None if best is None else bots[best]

    async def reader_for(
        self, account_id: int | None, public: bool, *, borrow: bool = False
    ) -> tuple[Userbot | None, bool]:
        """Who reads a channel held by `account_id` now, and whether to wait for it.

        Its own account while usable. While it is flood-waited or gone: for a public
        channel (one with a username: any account can resolve it) the least loaded
        usable account; a private one only its own account (Telegram answers
        CHANNEL_PRIVATE to a non-member; a dead account's members are found when its
        channels move, services/accounts.py). A flood-waited account nobody can stand
        in for still reads (as one account does: the flood wait defers that channel).
        Its account open in another process (#18): that one reads it, except a public
        one while that account is flood-waited or when `borrow` (an operator's /parse
        that reached this process) and an account here is usable.
        `(None, True)`: its account is making its first attempt to connect, wait;
        `(None, False)`: nobody can, its own account's connection failing included (a dead
        proxy, no route): a run waiting on it would hold up every other account's.
        """
        own = self._bots.get(account_id) if account_id is not None else self.primary
        if own is not None and own.state in (STANDBY, ELSEWHERE):
            # Its account's client is open in another process (#18), which reads it;
            # here only a public one while that account is flood-waited, or an
            # operator's /parse that reached this process (`borrow`).
            if public and (own.flooded() or borrow):
                return await self.least_loaded(exclude=own.account_id), False
            return None, False
        own_ready = own is not None and own.state == READY and own.client is not None
        if own_ready and own is not None and not own.flooded():
            return own, False
        if public or account_id is None:
            other = await self.least_loaded(exclude=own.account_id if own else None)
            if other is not None:
                return other, False
            # Its own account may have become ready while the database was asked (the
            # start): read by it, not left for a "ready" that has already been told.
            own_ready = own is not None and own.state == READY and own.client is not None
            if own_ready and own is not None and not own.flooded():
                return own, False
            if public and own_ready and self._usable_elsewhere(own):
                return None, False  # an account in another process reads it (#18)
        if own_ready:
            return own, False
        connecting = own is not None and own.state == CONNECTING
        return None, connecting and own is not None and own.connection.attempts == 0

    def _usable_elsewhere(self, own: Userbot | None) -> bool:
        """Whether another account, open in another process, is not flood-waited."""
        return any(
            b is not own and b.state == STANDBY and not b.flooded() for b in self.bots()
        )

    async def note_flood_wait(self, bot: Userbot, seconds: float) -> None:
        """Telegram answered `bot`'s account FLOOD_WAIT_`seconds`: noted here, and in its
        row for the other processes on the database (#18)."""
        bot.flood_waited(seconds)
        if self._leases is not None and bot.account_id is not None:
            until = datetime.fromtimestamp(bot.flood_until, UTC)
            try:
                await self._book.set_flood_until(bot.account_id, until)
            except Exception:
                log.exception("noting account %d's flood wait failed", bot.account_id)
                return
            if self.on_flood_noted is not None:
                try:
                    await self.on_flood_noted(bot.account_id)
                except Exception as exc:  # the others read the rows within 5 s anyway
                    log.warning("telling the other processes of account %d's flood wait"
                                " failed: %s", bot.account_id, exc)

    def on_flood_elsewhere(self, listener: Callable[[int], Awaitable[None]]) -> None:
        """Call `listener(account_id)` when an account open in another process is found
        flood-waited there (read from its row: every 5 s, at once after `refresh()`):
        its public channels are read with an account of this process meanwhile."""
        self._flood_listeners.append(listener)

    def refresh(self) -> None:
        """Read the accounts' rows now (another process changed them: a flood wait)."""
        self._wake.set()

    def open_elsewhere(self, account_id: int | None) -> bool:
        """Whether account `account_id`'s client is open in another process (#18): what
        needs that account (counters, media) is done there, with its access hash."""
        return self.held_elsewhere(account_id) not in (None, "flood")

    def held_elsewhere(self, account_id: int | None) -> str | None:
        """The process (host/pid; "?" when not known) whose lease holds the client of
        account `account_id` (default: the primary) when it is not this one (#18);
        "flood" while it is flood-waited here and an account of another process is not."""
        bot = self._bots.get(account_id) if account_id is not None else self.primary
        if bot is not None and bot.state in (STANDBY, ELSEWHERE):
            return bot.reason or "?"
        if bot is not None and bot.flooded() and self._usable_elsewhere(bot):
            return "flood"  # flood-waited here: an account of another process reads it
        return None

    # -- a Userbot to the services -------------------------------------------------------

    @property
    def config(self) -> UserbotConfig:
        """The default settings (TELEGRAM_PROXY); a login connects with these."""
        return self._config

    @property
    def state(self) -> str:
        if not self._loaded:
            return CONNECTING
        bot = self.primary
        return bot.state if bot is not None else NO_SESSION

    @property
    def reason(self) -> str | None:
        bot = self.primary
        return bot.reason if bot is not None else None

    @property
    def client(self) -> TelegramClient | None:
        bot = self.primary
        return bot.client if bot is not None else None

    @property
    def me(self) -> Any:
        bot = self.primary
        return bot.me if bot is not None else None

    @property
    def stored_name(self) -> str | None:
        bot = self.primary
        return bot.stored_name if bot is not None else None

    @property
    def connection(self) -> ConnectionTracker:
        bot = self.primary
        return bot.connection if bot is not None else self._idle

    @property
    def clock_offset(self) -> int | None:
        for bot in self.bots():
            if bot.clock_offset is not None:
                return bot.clock_offset
        return None

    def new_client(self, session: str | None = None) -> TelegramClient:
        """A client with the default settings (a login's), on Telegram's clock when an
        offset was measured."""
        client = new_client(self._config, session)
        offset = self.clock_offset
        if offset:
            set_time_offset(client, offset)
        return client

    def on_state(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener(state)` (the pool's `state`) whenever an account's changes."""
        self._listeners.append(listener)

    async def wait_ready(self, timeout: float | None = None) -> TelegramClient:
        """The primary account's client once one is ready; TimeoutError after `timeout`."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        client = self.client
        assert client is not None
        return client

    async def adopt(self, client: TelegramClient, me: Any, phone: str | None) -> int:
        """Take over a freshly signed-in client: the account of Telegram user `me.id`
        (a new row for a new user, the same row for a user already stored); its row id."""
        account_id = await self._book.claim(me.id)
        bot = self._bots.get(account_id)
        if bot is None:
            bot = await self._new_bot(account_id)
        await bot.adopt(client, me, phone)
        self._start(bot)
        if self.on_account_added is not None:
            try:
                await self.on_account_added(bot)
            except Exception:
                log.exception("giving channels to a new account failed")
        return account_id

    async def session_dead(self, reason: str, client: Any = None) -> None:
        """The account of `client` (default: the primary) is dead for good."""
        bot = self.bot_of(client) if client is not None else self.primary
        if bot is not None:
            await bot.session_dead(reason)

    async def check(self, timeout: float = 5.0) -> None:
        """Ask Telegram who every ready account is (at once); dead ones are noticed."""
        await asyncio.gather(*(b.check(timeout) for b in self.ready()))

    async def logout(self, account_id: int | None = None) -> None:
        """Log account `account_id` (default: the primary) out on Telegram's side and
        wipe its stored session; the others go on."""
        bot = self._bots.get(account_id) if account_id is not None else self.primary
        if bot is None:
            if account_id is not None:
                await self._book.bound(account_id).wipe_session()
            return
        assert bot.account_id is not None
        self._bots.pop(bot.account_id, None)
        task = self._tasks.pop(bot.account_id, None)
        await bot.stop()
        await bot.logout()
        if task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5.0)
        if self.on_account_dead is not None:
            try:
                await self.on_account_dead(bot, None)
            except Exception:
                log.exception("moving a logged-out account's channels failed")
        await self._on_bot_state(NO_SESSION)

    async def set_proxy(self, account_id: int, url: str | None) -> None:
        """Store account `account_id`'s own proxy (None: back to the default) and
        connect through it from now on."""
        _hide(url)
        await self._book.set_proxy(account_id, url)
        bot = self._bots.get(account_id)
        if bot is not None:
            await bot.reconfigure(self._config_with(url))

    async def _follow_proxy(self, bot: Userbot) -> None:
        """A proxy another process set for `bot`'s account (/accounts in the bot process
        while this worker holds the session): connect through it from now on."""
        assert bot.account_id is not None
        try:
            url = await self._book.proxy(bot.account_id)
        except VaultError:
            return  # kept as it is; the bot process told the operators
        wanted = self._config_with(url)
        if wanted.telegram_proxy != bot.config.telegram_proxy:
            _hide(url)
            log.info("account %d: its proxy was changed elsewhere; reconnecting through it",
                     bot.account_id)
            await bot.reconfigure(wanted)

    def _config_with(self, proxy: str | None) -> UserbotConfig:
        return replace(self._config, telegram_proxy=proxy or self._config.telegram_proxy)

    # -- lifecycle -----------------------------------------------------------------------

    async def _new_bot(self, account_id: int) -> Userbot:
        """A Userbot for account `account_id`, through its own proxy; held paused when
        that proxy cannot be decrypted (fail closed: it may be there to hide the host)."""
        proxy, held = None, None
        try:
            proxy = await self._book.proxy(account_id)
        except VaultError as exc:
            held = str(exc)
        _hide(proxy)
        bot = Userbot(
            self._config_with(proxy),
            self._book.bound(account_id),
            self._health,
            self._alerter,
            open_timeout=self._open_timeout,
            account_id=account_id,
            probe=False,
            leases=self._leases,
            elsewhere=self._elsewhere,
        )
        bot.on_dead = self._bot_died
        bot.on_state(lambda state: self._on_bot_state(state))
        self._bots[account_id] = bot
        if held is not None:
            await bot.hold(held)
            self._alerter.alert(f"vault:{account_id}", AlertText("alert_vault", error=held))
        return bot

    async def _bot_died(self, bot: Userbot, reason: str) -> None:
        if self.on_account_dead is not None:
            await self.on_account_dead(bot, reason)
            return
        self._alerter.alert(
            f"session-dead:{bot.account_id}", AlertText("alert_session_dead", reason=reason)
        )

    async def _on_bot_state(self, _state: str) -> None:
        if any(b.state == READY for b in self._bots.values()):
            self._ready.set()
        else:
            self._ready.clear()
        self._changed.set()
        state = self.state
        for listener in self._listeners:
            try:
                await listener(state)
            except Exception:
                log.exception("userbot state listener failed")

    def _start(self, bot: Userbot) -> None:
        assert bot.account_id is not None
        if self._elsewhere:
            return  # a bot-only process: the workers open the clients
        task = self._tasks.get(bot.account_id)
        if (task is None or task.done()) and bot.state != PAUSED and not self._stopping:
            self._tasks[bot.account_id] = asyncio.create_task(
                bot.run(), name=f"userbot-{bot.account_id}"
            )

    async def _load(self) -> None:
        for info in await self._book.accounts():
            if info.has_session and info.status == "active" and info.id not in self._bots:
                bot = await self._new_bot(info.id)
                self._start(bot)
        self._loaded = True
        await self._on_bot_state(self.state)

    async def _sync(self) -> None:
        """Several processes on one database (#18): an account a login in another
        process added is started here; one logged out or revoked there is closed here
        (a logout's auth.logOut is sent from here when this process has its client)."""
        infos = {info.id: info for info in await self._book.accounts()}
        flooded: list[int] = []  # open in another process, flood-waited there just now
        for info in infos.values():
            bot = self._bots.get(info.id)
            if bot is not None and info.flood_until is not None:
                until = info.flood_until.timestamp()
                if until > bot.flood_until and not bot.flooded() and bot.state == STANDBY:
                    flooded.append(info.id)
                bot.flood_until = max(bot.flood_until, until)
            if bot is not None and (
                info.id not in self._proxy_seen or self._proxy_seen[info.id] != info.proxy_stamp
            ):
                # Opened (a database read and a decryption) only when the row's changed.
                self._proxy_seen[info.id] = info.proxy_stamp
                await self._follow_proxy(bot)
            if info.has_session and info.status == "active" and info.id not in self._bots:
                self._start(await self._new_bot(info.id))
        changed = False
        for account_id, bot in list(self._bots.items()):
            row = infos.get(account_id)
            if row is not None and row.has_session and row.status == "active":
                continue
            changed = True
            self._bots.pop(account_id, None)
            task = self._tasks.pop(account_id, None)
            if row is not None and row.status == "logged_out" and bot.client is not None:
                await bot.logout()
            await bot.stop()
            if task is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 5.0)
            await bot.close()
        if changed:
            await self._on_bot_state(self.state)
        for account_id in flooded:
            bot = self._bots.get(account_id)
            if bot is None or not bot.flooded():
                continue
            for listener in self._flood_listeners:
                try:
                    await listener(account_id)
                except Exception:
                    log.exception("a flood-wait listener failed")

    async def run(self) -> None:
        """Start every stored account's Userbot and keep them running until `stop()`;
        one that fails is started again (logged), the others go on."""
        try:
            await self._load()
            while not self._stopping:
                self._health.beat(self.name)
                for account_id, task in list(self._tasks.items()):
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        log.error(
                            "account %d's userbot failed: %r; starting it again",
                            account_id, task.exception(),
                        )
                        bot = self._bots.get(account_id)
                        if bot is not None:
                            self._start(bot)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                self._wake.clear()
                if (self._leases is not None or self._elsewhere) and not self._stopping:
                    try:
                        await self._sync()
                    except Exception:
                        log.exception("reading the accounts other processes changed failed")
        finally:
            for bot in self._bots.values():
                await bot.stop()
            tasks = list(self._tasks.values())
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for bot in self._bots.values():
            await bot.stop()

    async def close(self) -> None:
        """Disconnect every client."""
        for bot in self._bots.values():
            with contextlib.suppress(Exception):
                await bot.close()

    def _probe(self) -> dict[str, Any]:
        bot = self.primary
        probe: dict[str, Any] = (
            bot.probe() if bot is not None
            else {"state": self.state, "reason": None, "healthy": True, "clock_offset": None}
        )  # fmt: skip
        probe["accounts"] = {str(b.account_id): b.state for b in self.bots()}
        return probe


def _hide(url: str | None) -> None:
    """Keep a proxy URL, its password and its MTProxy secret out of the logs."""
    if not url:
        return
    add_secret(url)
    with contextlib.suppress(ValueError):
        for secret in parse_proxy(url).secrets:
            add_secret(secret)
