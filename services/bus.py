"""The bus between the bot process and the worker processes (#18), through PostgreSQL only.

The bot asks (`call`: one worker claims and answers; `broadcast`: every live worker
applies), the workers report progress and answer, and tell the bot (`tell_bot`: alerts).
Rows live in `bus_message` (db/bus.py, migration 0014); a trigger NOTIFYs on every change
and each side LISTENs on a dedicated connection to wake at once. The side also polls
every `poll_seconds`: a notification lost while the LISTEN connection was down (killed,
the server restarted) costs one poll, never a request. The LISTEN connection is opened
again with backoff; while PostgreSQL cannot be reached the bus says so in the log and in
health (`degraded`), callers wait or are told, and nothing crashes.

Exactly once: a request is claimed by one worker (`FOR UPDATE SKIP LOCKED`), which
heartbeats it; a worker that dies loses it after `lease_seconds` to another worker; the
answer is written only by its current holder and only once. A request no live worker
holds for `claim_seconds` is answered by its sender (`NoWorker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from core.backoff import Backoff
from core.errors import ProjectError, error_text
from core.ports import HealthBeats
from db.bus import BOT, WORKER, WORKERS, BusListener, BusStore, Message

log = logging.getLogger(__name__)

# The bus's health state while PostgreSQL cannot be reached.
DEGRADED = "degraded"
# The answer a sender writes for a request no worker took (never a worker's answer).
NO_WORKER = {"bus": "no_worker"}
# How often handlers' progress reaches the database, at most (the live message edits
# every 2 s).
PROGRESS_SECONDS = 1.0


class NoWorker(ProjectError):
    """No worker took the request in time: none is running (start one with `tg-parser
    worker`), or none can run it now (no logged-in account)."""

    code = "no_worker"


class BusUnavailable(ProjectError):
    """PostgreSQL, which carries the bus, cannot be reached; `detail` is the error."""

    code = "bus_unavailable"


class HandlerFailed(ProjectError):
    """The worker's handler raised; `detail` is `<ExceptionName>: <message>`."""

    code = "handler_failed"


Handler = Callable[["Request"], Awaitable[Any]]
Listener = Callable[[Any], Awaitable[None]]
Progress = Callable[[Any], Awaitable[None]]


class Request:
    """A claimed request as a worker's handler sees it: `kind`, `payload` (JSON), and
    `report(progress)`, which stores the newest progress for the sender (at most every
    PROGRESS_SECONDS; one still waiting for its turn when the answer is ready is
    dropped: the answer carries the final state, and never waits for the pace)."""

    def __init__(self, bus: Bus, message: Message) -> None:
        self.id = message.id
        self.kind = message.kind
        self.payload = message.payload
        self._bus = bus
        self._pending: Any = None
        self._has_pending = False
        self._last = -float("inf")
        self._flusher: asyncio.Task[None] | None = None
        self._pacing = False  # the newest progress waits for its turn

    async def report(self, progress: Any) -> None:
        self._pending, self._has_pending = progress, True
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name=f"bus-progress-{self.id}")

    async def _flush(self) -> None:
        try:
            while self._has_pending:
                wait = self._last + self._bus.progress_seconds - time.monotonic()
                if wait > 0:
                    self._pacing = True
                    try:
                        await asyncio.sleep(wait)
                    finally:
                        self._pacing = False
                value, self._has_pending = self._pending, False
                self._last = time.monotonic()
                try:
                    await self._bus.store.report(self._bus.holder, self.id, value)
                except Exception as exc:  # the next report or the answer says more
                    log.info("bus: progress of request %d not stored: %s", self.id,
                             error_text(exc))
        finally:
            self._flusher = None

    async def settle(self) -> None:
        """Before the answer: a progress being written lands first; one waiting for
        its turn is dropped."""
        flusher = self._flusher
        if flusher is None:
            return
        if self._pacing:
            flusher.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await flusher
        self._flusher = None


class Bus:
    """One process's end of the bus: a supervised component (`name` "bus").

    `role` is "bot" (sends requests and broadcasts, receives what workers tell it) or
    "worker" (claims requests, applies broadcasts, tells the bot). Register handlers
    before `run()`: `handle(kind, fn)` (worker: requests, one claimer each; `fn`'s
    return value, JSON, is the answer), `on_broadcast(kind, fn)` (worker: every worker
    applies it, in order), `on_message(kind, fn)` (bot: what workers tell it).

    Times: `poll_seconds` between polls (also the presence heartbeat), `lease_seconds`
    after which a silent holder's claim is taken over (LEASE_SECONDS), `claim_seconds`
    a request may wait for a worker before the sender gives up (`NoWorker`),
    `keep_seconds` answered rows are kept; `max_handling` requests one worker holds at once.
    """

    name = "bus"

    def __init__(
        self,
        database_url: str,
        role: str,
        *,
        store: BusStore | None = None,
        health: HealthBeats | None = None,
        poll_seconds: float = 3.0,
        lease_seconds: float = 30.0,
        claim_seconds: float = 15.0,
        keep_seconds: float = 3600.0,
        max_handling: int = 16,
        progress_seconds: float = PROGRESS_SECONDS,
        reconnect: Backoff | None = None,
    ) -> None:
        if role not in (BOT, WORKER):
            raise ValueError(f"bus role must be {BOT!r} or {WORKER!r}, not {role!r}")
        self.role = role
        # Who holds claims and reads broadcasts: unique per process and start.
        self.holder = f"{role}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.store = store or BusStore()
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.claim_seconds = claim_seconds
        self.progress_seconds = progress_seconds
        self._keep = keep_seconds
        self._max_handling = max_handling
        self._health = health
        self._reconnect = reconnect or Backoff(base=1.0, factor=2.0, cap=30.0, jitter=0.2)
        self.listener = BusListener(database_url, self._notified, self._lost)
        self._handlers: dict[str, Handler] = {}
        self._addresses: Callable[[], Iterable[str]] = tuple
        self._ready: dict[str, Callable[[], bool]] = {}
        self._broadcast_handlers: dict[str, Listener] = {}
        self._message_handlers: dict[str, Listener] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._handling: dict[int, asyncio.Task[None]] = {}
        self._position: int | None = None  # the last broadcast applied (workers)
        self._applying: asyncio.Task[None] | None = None
        self._down_since: float | None = None  # PostgreSQL unreachable since (monotonic)
        self._last_prune = -float("inf")
        self.notifications = 0  # received (tests: the wake-up works without polls)
        self.ready = asyncio.Event()  # registered and listening once

    # -- registration ---------------------------------------------------------------

    def handle(self, kind: str, handler: Handler, *, ready: Callable[[], bool] | None = None
               ) -> None:
        """Claim `kind` requests (only while `ready()`, when given) and answer each with
        what `handler` returns (JSON); an exception is answered as HandlerFailed."""
        self._handlers[kind] = handler
        if ready is not None:
            self._ready[kind] = ready

    def serve_addresses(self, addresses: Callable[[], Iterable[str]]) -> None:
        """Claim the requests sent to any of `addresses()` too (asked at each claim), not
        only those for any worker: a worker's `account:<id>` recipients
        (db/bus.py account_recipient) of the accounts whose client is open here."""
        self._addresses = addresses

    def wake(self) -> None:
        """Look for work now (the addresses served changed: an account opened here)."""
        self._signal()

    def on_broadcast(self, kind: str, handler: Listener) -> None:
        self._broadcast_handlers[kind] = handler

    def on_message(self, kind: str, handler: Listener) -> None:
        self._message_handlers[kind] = handler

    # -- waking ---------------------------------------------------------------------

    def _notified(self, payload: str) -> None:
        self.notifications += 1
        self._signal()

    def _signal(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _lost(self) -> None:
        log.warning("bus: the LISTEN connection to PostgreSQL was lost; polling every %.0f s"
                    " until it is back", self.poll_seconds)
        self._signal()  # the run loop reconnects now

    def mark(self) -> asyncio.Event:
        """Taken BEFORE reading the table: `changed(mark)` then also returns for a
        notification that came during the read (none is missed)."""
        return self._wake

    async def changed(self, mark: asyncio.Event, timeout: float | None = None) -> None:
        """Return at the first notification since `mark` was taken, or after `timeout`
        (poll_seconds) at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(mark.wait(), self.poll_seconds if timeout is None else timeout)

    # -- the bot's side -------------------------------------------------------------

    async def _post(self, recipient: str, kind: str, payload: Any) -> int:
        """Store a message, sent again with backoff for up to `claim_seconds` (under one
        token: stored once however often it is sent); its id. BusUnavailable after."""
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.claim_seconds
        attempt = 0
        while True:
            try:
                return await self.store.post(recipient, kind, payload, token)
            except Exception as exc:
                attempt += 1
                delay = self._reconnect.delay(attempt)
                if time.monotonic() + delay > deadline:
                    raise BusUnavailable(error_text(exc)) from exc
                log.warning("bus: sending %s failed (%s); again in %.1f s", kind, error_text(exc),
                            delay)
                await asyncio.sleep(delay)

    async def call(
        self,
        kind: str,
        payload: Any,
        on_progress: Progress | None = None,
        *,
        to: str = WORKER,
        fallback_seconds: float | None = None,
    ) -> Any:
        """Ask one worker to handle `kind` and wait for its answer.

        `to`: the recipient, any worker by default, or one that serves that address
        (`serve_addresses`: the worker holding an account); with `fallback_seconds`, a
        request nobody took by then goes to any worker. `on_progress(progress)` hears
        each newer progress the worker reports (its errors are logged only). Raises
        NoWorker when no live worker held it for `claim_seconds`, BusUnavailable when the
        request cannot even be stored, HandlerFailed when the worker's handler raised.
        The wait survives the database going away for a while: the request is in the
        table, the answer will be too.
        """
        message_id = await self._post(to, kind, payload)
        posted = time.monotonic()
        readdress = to != WORKER and fallback_seconds is not None
        seen: Any = None
        holder: str | None = None
        quiet_since = time.monotonic()  # no claim or progress change since
        while True:
            mark = self.mark()
            try:
                m = await self.store.get(message_id)
                if m is not None and (m.claimed_by, m.progress) != (holder, seen):
                    quiet_since = time.monotonic()
                quiet = time.monotonic() - quiet_since
                if (
                    readdress and m is not None and m.claimed_by is None and not m.answered
                    and time.monotonic() - posted >= (fallback_seconds or 0.0)
                ):
                    readdress = False  # once: claimed meanwhile, it stays with its taker
                    if await self.store.readdress(message_id, to, WORKER):
                        log.info("bus: request %d (%s): nobody serving %s took it; any"
                                 " worker may now", message_id, kind, to)
                # The database decides (its clock): only asked once it may be due.
                if m is not None and not m.answered and (
                    (m.claimed_by is None and quiet >= self.claim_seconds)
                    or quiet >= self.lease_seconds
                ) and await self.store.give_up(
                    message_id, NO_WORKER, self.claim_seconds, self.lease_seconds
                ):
                    raise NoWorker(kind)
            except ProjectError:
                raise
            except Exception as exc:
                log.info("bus: request %d: cannot read its state (%s)", message_id,
                         error_text(exc))
                await self.changed(mark)
                continue
            if m is None:  # pruned: only after keep_seconds, i.e. never while waited for
                raise NoWorker(kind)
            holder = m.claimed_by
            if m.progress is not None and m.progress != seen:
                seen = m.progress
                if on_progress is not None:
                    try:
                        await on_progress(m.progress)
                    except Exception:
                        log.warning("bus: a progress listener failed", exc_info=True)
            if m.answered:
                if m.answer == NO_WORKER:
                    raise NoWorker(kind)
                if isinstance(m.answer, dict) and "bus_error" in m.answer:
                    raise HandlerFailed(str(m.answer["bus_error"]))
                return m.answer
            timeout = None
            if readdress:
                timeout = max(0.01, min(self.poll_seconds,
                                        posted + (fallback_seconds or 0.0) - time.monotonic()))
            await self.changed(mark, timeout)

    async def broadcast(self, kind: str, payload: Any, *, wait: float = 0.0) -> list[str]:
        """Tell every worker (and every one that starts later and has not read the table
        yet). With `wait` > 0, return once every live worker has applied it (at most
        `wait` s); the workers that had not by then (none: all did). BusUnavailable when
        it cannot be stored."""
        message_id = await self._post(WORKERS, kind, payload)
        deadline = time.monotonic() + wait
        behind: list[str] = []
        while wait > 0:
            mark = self.mark()
            try:
                behind = await self.store.behind(message_id, WORKER, self.lease_seconds)
            except Exception as exc:
                log.info("bus: broadcast %d: cannot read who applied it (%s)", message_id,
                         error_text(exc))
            else:
                if not behind:
                    return []
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await self.changed(mark, min(left, self.poll_seconds))
        return behind

    # -- the workers' side ----------------------------------------------------------

    async def tell_bot(self, kind: str, payload: Any) -> None:
        """Queue `payload` for the bot process (it takes it at its next wake or poll);
        BusUnavailable when it cannot be stored for `claim_seconds`."""
        await self._post(BOT, kind, payload)

    async def _claim(self) -> None:
        kinds = [k for k in self._handlers if k not in self._ready or self._ready[k]()]
        while kinds and len(self._handling) < self._max_handling and not self._stop.is_set():
            recipients = [WORKER, *self._addresses()]
            m = await self.store.claim(self.holder, recipients, kinds, self.lease_seconds)
            if m is None:
                return
            ready = self._ready.get(m.kind)
            if ready is not None and not ready():
                # No longer ready since `kinds` was read (a session died meanwhile):
                # given back, as if never claimed.
                await self.store.unclaim(self.holder, m.id)
                return
            log.info("bus: took request %d (%s)", m.id, m.kind)
            task = asyncio.create_task(self._serve(Request(self, m)), name=f"bus-{m.id}")
            self._handling[m.id] = task

    async def _serve(self, req: Request) -> None:
        try:
            try:
                answer = await self._handlers[req.kind](req)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("bus: request %d (%s) failed", req.id, req.kind)
                answer = {"bus_error": error_text(exc)}
            await req.settle()
            await self._answer(req.id, answer)
        finally:
            self._handling.pop(req.id, None)
            self._signal()  # a free place: claim what waits at once

    async def _answer(self, message_id: int, answer: Any) -> None:
        """Write the answer until it lands (the connection may die under it); once."""
        attempt = 0
        while True:
            try:
                if not await self.store.answer(self.holder, message_id, answer):
                    m = await self.store.get(message_id)
                    if m is not None and m.claimed_by != self.holder:
                        log.warning("bus: request %d was taken over by %s; this answer is"
                                    " dropped", message_id, m.claimed_by)
                return
            except Exception as exc:
                attempt += 1
                delay = self._reconnect.delay(attempt)
                log.warning("bus: the answer to request %d is not stored (%s); again in"
                            " %.1f s", message_id, error_text(exc), delay)
                await asyncio.sleep(delay)

    async def _apply_broadcasts(self) -> None:
        assert self._position is not None
        while not self._stop.is_set():
            batch = await self.store.broadcasts(self._position)
            if not batch:
                return
            for m in batch:
                handler = self._broadcast_handlers.get(m.kind)
                if handler is not None:
                    try:
                        await handler(m.payload)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("bus: broadcast %d (%s) failed", m.id, m.kind)
                self._position = m.id
                await self.store.seen(self.holder, self.role, self._position)

    def _start_applying(self) -> None:
        if self._position is None or (self._applying is not None and not self._applying.done()):
            return
        self._applying = asyncio.create_task(self._applying_quietly(), name="bus-broadcasts")

    async def _applying_quietly(self) -> None:
        try:
            await self._apply_broadcasts()
        except Exception as exc:
            log.info("bus: broadcasts not read now (%s); at the next poll", error_text(exc))

    # -- the bot's inbox ------------------------------------------------------------

    async def _take_messages(self) -> None:
        while not self._stop.is_set():
            batch = await self.store.take(self.holder, BOT)
            for m in batch:
                handler = self._message_handlers.get(m.kind)
                if handler is None:
                    log.warning("bus: no handler for %s messages; dropped", m.kind)
                    continue
                try:
                    await handler(m.payload)
                except Exception:
                    log.exception("bus: message %d (%s) failed", m.id, m.kind)
            if not batch:
                return

    # -- the component --------------------------------------------------------------

    async def _cycle(self) -> None:
        """One poll: presence, held claims' heartbeat, new work, housekeeping."""
        if self.role == WORKER:
            if self._position is None:
                self._position = await self.store.last_id()
            await self.store.seen(self.holder, self.role, self._position)
            held = list(self._handling)
            if held:
                kept = await self.store.heartbeat(self.holder, held)
                for lost in set(held) - kept:
                    log.warning("bus: request %d is no longer ours (our heartbeat came too"
                                " late); its answer will be dropped", lost)
            await self._claim()
            self._start_applying()
        else:
            await self._take_messages()
        if time.monotonic() - self._last_prune > min(600.0, self._keep / 2):
            self._last_prune = time.monotonic()
            await self.store.prune(self._keep)

    async def _listen(self) -> bool:
        """Open the LISTEN connection; whether it is open."""
        try:
            await self.listener.connect()
        except Exception as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("bus: PostgreSQL cannot be reached (%s); trying again with backoff"
                            " up to every %.0f s; requests wait in the table",
                            error_text(exc), self._reconnect.cap)
            if self._health is not None:
                # /status: "no connection to the database" (status_state_degraded).
                self._health.set(self.name, DEGRADED, error_text(exc))
            return False
        if self._down_since is not None:
            log.info("bus: listening again after %.0f s", time.monotonic() - self._down_since)
        self._down_since = None
        if self._health is not None:
            self._health.set(self.name, "running")
        return True

    async def run(self) -> None:
        """Listen, poll and serve until `stop()`; never raises for a database outage."""
        self._stop.clear()
        attempt, next_try = 0, 0.0
        try:
            while not self._stop.is_set():
                wake = self.mark()
                if not self.listener.connected and time.monotonic() >= next_try:
                    attempt += 1
                    if await self._listen():
                        attempt = 0
                    else:
                        next_try = time.monotonic() + self._reconnect.delay(attempt)
                try:
                    await self._cycle()
                except Exception as exc:
                    log.info("bus: poll failed (%s)", error_text(exc))
                else:
                    if self.listener.connected:
                        self.ready.set()
                if self._health is not None:
                    self._health.beat(self.name)
                stop = asyncio.ensure_future(self._stop.wait())
                woken = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait(
                        {stop, woken}, timeout=self.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    stop.cancel()
                    woken.cancel()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        tasks = [*self._handling.values()]
        if self._applying is not None:
            tasks.append(self._applying)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.role == WORKER:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.store.release(self.holder), 2)
        await self.listener.close()

    async def stop(self) -> None:
        self._stop.set()
