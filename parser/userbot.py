"""The one Telethon client of this process and its lifecycle (built by parser/client.py).

One process, one event loop, one client per session. The login flow builds the
client with `new_client()` and hands it over with `adopt()` once signed in, so the
connection that logged in is the one that parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telethon import TelegramClient, functions, types
from telethon.sessions import StringSession

from core.alerts import AlertText
from core.errors import VaultError
from core.ports import AlertSink, HealthBeats, LeaseGate, SessionStore
from core.redaction import add_secret
from parser import clock_skew
from parser.client import UserbotConfig, account_name, new_client
from parser.clock_skew import SkewWatch, get_time_offset, set_time_offset
from parser.connection import ConnectionTracker, classify
from parser.errors import ClockSkew, NoAnswer, RateLimited, SessionDead, translate

log = logging.getLogger(__name__)

# The values of `Userbot.state` (core.login.SessionState).
NO_SESSION, CONNECTING, READY = "no_session", "connecting", "ready"
PAUSED, INVALID = "paused", "invalid"
STANDBY, ELSEWHERE = "standby", "elsewhere"
# The lease (core.ports.LeaseGate) that lets this process open an account's client.
ACCOUNT_LEASE = "account"


class Userbot:
    """Owns the client: connect from the stored session, adopt a fresh login, pause on death.

    `state` is connecting (also before the stored session is read) | no_session | ready |
    paused (the vault cannot open the session) | invalid (Telegram revoked it: 401
    AUTH_KEY_UNREGISTERED, SESSION_REVOKED, ...,
    https://core.telegram.org/api/errors#401-unauthorized) | standby (another process
    holds the account's lease; `reason` names it) | elsewhere (`elsewhere=True`: this
    process runs only the bot, workers open the session); `reason` says why.
    The session string comes from and goes to `accounts` (core.ports.SessionStore).

    With `leases` (PostgreSQL, several processes) the client is open only while this
    process holds the account's lease: without it the userbot waits as standby and
    asks again every `leases.retry_seconds`; a lease lost (not renewed in time) closes
    the client at once, so one session is never open in two processes
    (AUTH_KEY_DUPLICATED, https://core.telegram.org/api/errors#406-not-acceptable).
    """

    name = "userbot"

    def __init__(
        self,
        config: UserbotConfig,
        accounts: SessionStore,
        health: HealthBeats,
        alerter: AlertSink,
        *,
        tracker: ConnectionTracker | None = None,
        skew_watch: SkewWatch | None = None,
        correct_clock: bool = True,
        open_timeout: float = 60.0,
        account_id: int | None = None,
        probe: bool = True,
        leases: LeaseGate | None = None,
        elsewhere: bool = False,
    ) -> None:
        self._config = config
        # The account row it runs (AccountPool's bots); None: whichever is stored.
        self.account_id = account_id
        # Wall-clock time (time.time()) until which Telegram flood-waits this account
        # beyond the sleep threshold (FLOOD_WAIT_X); 0: none known.
        self.flood_until = 0.0
        self._leases = leases
        self._elsewhere = elsewhere
        self._account_key: str | None = None  # the account whose lease is held
        self._opening: TelegramClient | None = None  # a client being connected
        # Alerted that it could not connect, then given another proxy: the next success
        # is told too (reconfigure starts a new ConnectionTracker).
        self._recovery_owed = False
        self._accounts = accounts
        self._health = health
        self._alerter = alerter
        self.client: TelegramClient | None = None
        # Until run() has looked at the stored session we do not know there is none:
        # a command that arrives meanwhile waits for the client instead of being told
        # to /login (the bot polls before this component's first step).
        self.state = ELSEWHERE if elsewhere else CONNECTING
        self.reason: str | None = None
        self.me: Any = None
        self.stored_name: str | None = None  # the stored account's name, while connecting
        # Connection attempts since the last success (the userbot's side of /status).
        self.connection = tracker or ConnectionTracker(config.connection_alert_seconds)
        self._skew = skew_watch or SkewWatch()
        self._skew_seen = 0  # sightings already acted on
        self._correct_clock = correct_clock
        # Telegram's clock minus ours, once measured: given to every client built after.
        self.time_offset: int | None = None
        self._open_timeout = open_timeout
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._listeners: list[Callable[[str], Awaitable[None]]] = []
        self._dead_seen = False  # set synchronously: concurrent callers alert once
        # Told of a death instead of the alert (AccountPool: one alert with the channels
        # that moved).
        self.on_dead: Callable[[Userbot, str], Awaitable[None]] | None = None
        self._skew.on_sighting = self._wake.set
        if probe:
            health.add_probe("session", self._probe)

    @property
    def config(self) -> UserbotConfig:
        """The settings it was built with (credentials, proxy, test DC, flood threshold)."""
        return self._config

    @property
    def clock_offset(self) -> int | None:
        """Telegram's clock minus this machine's, in seconds, as the client goes by it
        (Telethon also learns it in a new key's handshake and from bad_msg_notification);
        the last measured one when there is no client."""
        live = get_time_offset(self.client) if self.client is not None else None
        return live if live is not None else self.time_offset

    def _key(self, key: str) -> str:
        """An alert key of this account's (the pool's bots alert apart)."""
        return key if self.account_id is None else f"{key}:{self.account_id}"

    def flood_waited(self, seconds: float) -> None:
        """Telegram answered this account FLOOD_WAIT_`seconds`: noted until then."""
        self.flood_until = max(self.flood_until, time.time() + seconds)

    def flooded(self) -> bool:
        """Whether a flood wait of this account is still running."""
        return self.flood_until > time.time()

    async def reconfigure(self, config: UserbotConfig) -> None:
        """Use `config` (another proxy) from now on: the client is dropped and the
        stored session connects again through it."""
        self._config = config
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        # An account open in another process stays as it is: that one reconnects.
        if self.state not in (INVALID, STANDBY, ELSEWHERE):
            # The operators told it cannot connect still hear when it can (the fix for
            # a dead proxy is usually this very change).
            self._recovery_owed = self._recovery_owed or self.connection.alerted
            self.connection = ConnectionTracker(config.connection_alert_seconds)
            await self._set_state(CONNECTING)
        self._wake.set()

    async def hold(self, reason: str) -> None:
        """Keep this account paused (its stored secrets cannot be opened): `reason`."""
        await self._set_state(PAUSED, reason)

    def probe(self) -> dict[str, Any]:
        """The health probe of this account's session (the `session` probe's fields)."""
        return self._probe()

    def _probe(self) -> dict[str, Any]:
        conn = self.connection
        failing = self.state == CONNECTING and conn.attempts > 0
        probe: dict[str, Any] = {
            "state": self.state,
            "reason": self.reason,
            **conn.snapshot(),
            "clock_offset": self.clock_offset,
            # Unhealthy once the trouble lasts as long as it takes to alert.
            "healthy": not (failing and conn.lasting() >= conn.alert_after),
        }
        if failing:
            probe["problem"] = (
                f"connecting: {conn.attempts} failed attempt(s), last error: "
                + (conn.trouble.english() if conn.trouble else "?")
            )
        return probe

    def on_state(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener(state)` on every state change (its errors are logged)."""
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
        """A client for this config (see `new_client`) that goes by Telegram's clock
        when an offset was measured."""
        client = new_client(self._config, session)
        offset = self.clock_offset
        if offset:
            # A new auth key learns the offset in its handshake; a saved one needs ours.
            set_time_offset(client, offset)
        return client

    @staticmethod
    def session_string(client: TelegramClient) -> str:
        """The client's StringSession string, registered as a secret for the logs."""
        value = str(StringSession.save(client.session))
        add_secret(value)
        return value

    # -- lifecycle --------------------------------------------------------------------

    async def wait_ready(self, timeout: float | None = None) -> TelegramClient:
        """The working client once ready; TimeoutError after `timeout` seconds."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        assert self.client is not None
        return self.client

    async def adopt(self, client: TelegramClient, me: Any, phone: str | None) -> None:
        """Take over a freshly signed-in client and store its session at once.

        With leases (or `elsewhere`) the login's client is closed BEFORE the session is
        stored (another process may open it as soon as it is): the session is then
        opened like a stored one, where the account's lease is held."""
        session = self.session_string(client)
        name = " ".join(p for p in (me.first_name, me.last_name) if p) or None
        if self._leases is not None or self._elsewhere:
            await client.disconnect()
        await self._accounts.save_session(
            session, phone=phone, user_id=me.id, display_name=name, username=me.username
        )
        if self._leases is not None or self._elsewhere:
            await self._adopted_elsewhere(me)
            return
        old = self.client
        self.client, self.me = client, me
        if old is not None and old is not client:
            await old.disconnect()
        self._alerter.forget(self._key("session-dead"))
        self._dead_seen = False
        await self._set_state(READY)
        self._wake.set()

    async def _adopted_elsewhere(self, me: Any) -> None:
        """After a login stored with leases: the run loop opens it once the lease is
        held; in a bot-only process the workers do."""
        old, self.client = self.client, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.disconnect()
        await self._release_account()
        self.me = me
        self._alerter.forget("session-dead")
        self._dead_seen = False
        await self._set_state(ELSEWHERE if self._elsewhere else CONNECTING)
        self._wake.set()

    async def _release_account(self) -> None:
        key, self._account_key = self._account_key, None
        if key is not None and self._leases is not None:
            await self._leases.release(ACCOUNT_LEASE, key)

    async def _account_lost(self) -> None:
        """The account's lease could not be renewed in time (core.ports.LeaseLost):
        close the client now, before another process may take the lease."""
        self._account_key = None
        clients = {c for c in (self.client, self._opening) if c is not None}
        self.client = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        await self._set_state(STANDBY, "lease lost")
        self._wake.set()

    async def _take_account(self, account_id: int | None) -> bool:
        """Whether this process may open the account's client (always, without
        leases); standby, naming the holder, when another process holds it."""
        if self._leases is None:
            return True
        key = str(account_id or 0)
        if self._account_key is not None and self._account_key != key:
            await self._release_account()  # another account row now
        if not await self._leases.take(ACCOUNT_LEASE, key, self._account_lost):
            holder = await self._leases.holder(ACCOUNT_LEASE, key) or "?"
            if (self.state, self.reason) != (STANDBY, holder):
                await self._set_state(STANDBY, holder)
            return False
        self._account_key = key
        return True

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
        await self._release_account()
        if self.on_dead is not None:
            await self.on_dead(self, reason)
        else:
            self._alerter.alert(
                self._key("session-dead"), AlertText("alert_session_dead", reason=reason)
            )

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
        """auth.logOut on Telegram's side (disconnect if that fails) and wipe the
        stored session; the state becomes no_session."""
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.log_out()
            except Exception as exc:
                log.warning("log_out on Telegram's side failed: %s", type(exc).__name__)
                await client.disconnect()
        await self._release_account()
        await self._accounts.wipe_session()
        self._dead_seen = False
        await self._set_state(NO_SESSION)

    async def run(self) -> None:
        """Connect, reconnect (backing off, alerting after `connection_alert_seconds`),
        check the session about once a minute; until `stop()`."""
        self._skew.install()
        checks = 0
        try:
            while not self._stopping:
                self._wake.clear()
                wait = 5.0
                client = self.client
                if self.state != INVALID and (client is None or not client.is_connected()):
                    wait = await self._connect()
                elif self.state == READY:
                    if self._skew.sightings != self._skew_seen:
                        await self._resync_clock()
                    checks += 1
                    if checks % 12 == 0:  # about once a minute
                        await self.check()
                self._health.beat(self.name)
                if wait > 0 and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            self._skew.uninstall()

    async def _connect(self) -> float:
        """One connection attempt (the stored session, or the client that lost its
        connection); the seconds to wait before looking again."""
        client = self.client
        if client is None:
            client = await self._stored_client()
            if client is None:
                return min(5.0, self._leases.retry_seconds) if self._leases else 5.0
        await self._set_state(CONNECTING, self.reason if self.state == CONNECTING else None)
        self.connection.begin()
        self._opening = client
        config = self._config
        try:
            me = await self._open(client, lambda: self._config is not config)
        except Exception as exc:
            if self._config is not config:
                return await self._drop_opened(client)
            return await self._open_failed(client, exc)
        finally:
            self._opening = None
        if self._config is not config:
            return await self._drop_opened(client)
        if self._leases is not None and self._account_key is None:
            with contextlib.suppress(Exception):
                await client.disconnect()  # the lease was lost while connecting
            return 0.0
        if client is not self.client and self.client is not None:
            await client.disconnect()  # a login adopted another client meanwhile
            return 5.0
        if me is None and not await self._authorized(client):
            return 0.0
        self.client = client
        if me is not None:
            self.me = me
        owed, self._recovery_owed = self._recovery_owed, False
        if self.connection.succeeded() or owed:
            self._alerter.forget(self._key("userbot-connecting"))
            self._alerter.alert(self._key("userbot-connected"), self._named("connected"))
        await self._set_state(READY)
        return 5.0

    async def _stored_client(self) -> TelegramClient | None:
        try:
            session = await self._accounts.load_session()
        except VaultError as exc:
            await self._set_state(PAUSED, str(exc))
            self._alerter.alert(self._key("vault"), AlertText("alert_vault", error=str(exc)))
            return None
        if session is None:
            if self.state != NO_SESSION:
                await self._set_state(NO_SESSION)
            return None
        add_secret(session)
        info = await self._accounts.current()
        self.stored_name = (info.display_name or info.username) if info is not None else None
        if self._leases is not None and not await self._take_account(
            info.id if info is not None else None
        ):
            return None
        return self.new_client(session)

    async def _authorized(self, client: TelegramClient) -> bool:
        """get_me() returns None on *any* RPC error: verify before declaring death."""
        try:
            authorized = bool(await client.is_user_authorized())
        except Exception:
            authorized = True
        if not authorized:
            await client.disconnect()
            self.client = None
            await self.session_dead("not authorized")
        return authorized

    async def _drop_opened(self, client: TelegramClient) -> float:
        """Another proxy was set (reconfigure) while `client` was connecting through the
        old one (a dead proxy can hold an attempt for `open_timeout`): dropped, and the
        next attempt goes through the new one at once, not counted as a failure."""
        with contextlib.suppress(Exception):
            await client.disconnect()
        return 0.0

    async def _open_failed(self, client: TelegramClient, exc: Exception) -> float:
        adopted = self.client is not None and self.client is not client
        if self._stopping or adopted:  # stopping, or a login took over meanwhile
            with contextlib.suppress(Exception):
                await client.disconnect()
            return 0.0
        err = translate(exc)
        if isinstance(err, SessionDead):
            with contextlib.suppress(Exception):
                await client.disconnect()
            if self.client is client:
                self.client = None
            await self.session_dead(err.detail)
            return 0.0
        # Network, proxy, clock or flood: keep the session, try again later.
        with contextlib.suppress(Exception):
            await client.disconnect()
        trouble = classify(exc, proxy=bool(self._config.telegram_proxy))
        flood = err.seconds if isinstance(err, RateLimited) else 0.0
        wait = self.connection.failed(trouble, wait_at_least=flood)
        log.warning(
            "userbot could not connect (attempt %d, next in %.0f s): %s",
            self.connection.attempts, wait, trouble.english(),
        )
        await self._set_state(CONNECTING, trouble.english())
        if self.connection.should_alert():
            self._alerter.alert(
                self._key("userbot-connecting"),
                self._named(
                    "connecting",
                    minutes=max(1, round(self.connection.lasting() / 60)),
                    attempts=self.connection.attempts,
                    error=trouble.text(),
                ),
            )
        return wait

    def _named(self, what: str, **fields: object) -> AlertText:
        """The connection alert `what` (connecting | connected), naming the account when
        its name is known (with several accounts the operators must know which one)."""
        name = account_name(self.me) if self.me is not None else self.stored_name
        if name:
            return AlertText(f"alert_account_{what}", name=name, **fields)
        return AlertText(f"alert_userbot_{what}", **fields)

    async def _open(
        self, client: TelegramClient, abandoned: Callable[[], bool] = lambda: False
    ) -> Any:
        """Connect and ask who we are, within `open_timeout` s (cut short, NoAnswer, once
        `abandoned()`). If Telethon starts dropping Telegram's answers as 'very new'
        (clock skew), correct the client's time offset and try once more at once; raise
        ClockSkew if that is not allowed or does not help, NoAnswer when Telegram stays
        silent."""
        corrected = False
        while True:
            seen = self._skew.sightings
            done, me = await clock_skew.attempt_watching_skew(
                lambda: self._connect_and_ask(client),
                self._skew,
                seen,
                self._open_timeout,
                lambda: self._stopping or abandoned(),
            )
            if done:
                return me
            skew = self._skew.skew
            if skew is None or self._skew.sightings == seen:
                raise NoAnswer(self._open_timeout)
            if corrected or not self._correct_clock:
                raise ClockSkew(skew)
            corrected = True
            self._skew_seen = self._skew.sightings
            await client.disconnect()
            if not set_time_offset(client, skew):
                raise ClockSkew(skew)
            self.time_offset = round(skew)
            log.warning(
                "Telegram's clock is %+d s off this machine's: Telethon dropped its answers "
                "as 'very new'; using Telegram's time from now on. Sync the system clock "
                "(timedatectl set-ntp true)", self.time_offset,
            )

    async def _resync_clock(self) -> None:
        """Telegram's answers started to look 'very new' on the working client (this
        machine's clock was stepped back, say): go by Telegram's time and have Telethon
        send again what it is still waiting for, or the run waiting on it waits forever."""
        self._skew_seen = self._skew.sightings
        client, skew = self.client, self._skew.skew
        if not self._correct_clock or client is None or skew is None:
            return
        offset = clock_skew.resync(client, skew)
        if offset is not None:
            self.time_offset = offset
            log.warning(
                "Telegram's answers are now %+d s off this machine's clock (was the clock "
                "stepped?): going by Telegram's time and sending the waiting requests again",
                offset,
            )

    async def _connect_and_ask(self, client: TelegramClient) -> Any:
        await client.connect()  # waits for Telegram's answer to help.getConfig
        return await client.get_me()

    async def stop(self) -> None:
        """Make `run()` return after its current step; the client stays (see `close()`)."""
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        """Disconnect the client, if any, then give the account's lease back (once the
        client is closed); Telethon's errors propagate."""
        if self.client is not None:
            await self.client.disconnect()
        # Not reached when the disconnect failed or was cut short: the lease keeper
        # then closes it (LeaseLost) before giving the lease back.
        await self._release_account()
