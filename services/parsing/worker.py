"""The run queue and its worker: one run at a time per account, the accounts at once.

APScheduler ticks (jobs.py) and /parse requests (service.py) go through the same
queue, so a /parse waits behind a running run instead of racing it. Each request is
handled in its own asyncio task: a run goes in the lane of the account whose client
reads it (one run per lane: a Telegram client reads one channel at a time, to keep
within its account's flood limits), the lanes of this process's accounts in parallel;
a channel is never run twice at once. What a failed run leads to is policy.py's
`decide`; this module carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from core.alerts import AlertText, folded_names
from core.backoff import Backoff
from core.channels import Channel
from core.errors import (
    LocalError,
    ProjectError,
    RateLimited,
    ResolveFlood,
    error_text,
    local_error,
)
from core.parsing import LocalState, RunProgress, RunStatus, Trigger
from core.ports import AlertSink, HealthBeats, LeaseGate, Metrics, NullMetrics
from db.channels import ChannelStateRepository
from db.database import shielded_write
from db.runs import RunRepository
from services.events import EventBus, PostsDeleted, RunCompleted
from services.parsing.breaker import HALF_OPEN, CircuitBreaker
from services.parsing.clock_jumps import WallClockWatch
from services.parsing.ingest import ChannelFetcher, ProgressCallback, RunBook, RunFailed
from services.parsing.jobs import JobTable
from services.parsing.policy import Action, Decision, decide

log = logging.getLogger(__name__)

# How long pausing or removing a channel waits for its running batch to commit.
DROP_WAIT_SECONDS = 30.0
# A full disk counts as cleared once this much is free where the database lives.
MIN_FREE_BYTES = 8 * 1024 * 1024
# Names an alert gives a channel nobody can look up any more (never its row id).
UNKNOWN_CHANNEL = "?"
# The lease (core.ports.LeaseGate) a process holds while it runs a channel (#18).
CHANNEL_LEASE = "channel"
# A scheduled tick finds the channel planned later than this by another process (it ran
# there meanwhile): not run now, its job follows that plan.
PLANNED_ELSEWHERE_SLACK = timedelta(minutes=1)
# Runs refused a row kept to be recorded later, at most (a database refusing writes
# for hours with 1,000 channels: the oldest are kept, the rest only logged).
MAX_UNOPENED = 10_000
# Requests read and matched to their reader at once, at most; a request waiting for its
# account's lane (the one run of that account in progress) no longer counts, so the
# channels of a busy account never hold back another account's.
PREPARING = 8
# Seconds between two looks at who reads a channel while it waits for the lane of an
# account standing in for its own (flood-waited, still connecting, gone): its own may be
# back before that lane is free.
STAND_IN_RECHECK = 1.0


class Session(Protocol):
    """The userbot as the worker sees it (parser/userbot.py Userbot)."""

    @property
    def client(self) -> Any:
        """A connected TelegramClient, or None."""
    @property
    def state(self) -> str:
        """ready | connecting | no_session | invalid | ..."""
    @property
    def reason(self) -> str | None:
        """Why the session is not usable (AuthKeyUnregistered, ...)."""

    async def session_dead(self, reason: str) -> None:
        """Stop using the session for good (state `invalid`, `reason` e.g.
        AUTH_KEY_UNREGISTERED: https://core.telegram.org/api/errors#401-unauthorized) and
        alert once; safe to call any number of times."""


class NotReady(ProjectError):
    """The userbot has no usable session (not logged in, or the session died); the
    detail is its state, or `stopping`."""

    code = "not_ready"


@dataclass
class _Request:
    channel_id: int
    trigger: str  # a Trigger, or "stop" (wakes the worker to end)
    on_progress: ProgressCallback | None = None
    done: asyncio.Future[RunProgress] | None = None
    queued_at: float = field(default_factory=time.monotonic)
    label: str | None = None  # known once the run has read its channel
    client: Any = None  # the client chosen to read it (the last one, after a handover)
    lane: asyncio.Lock | None = None  # its reader's lane, held while it runs
    slot: bool = False  # holds one of the PREPARING slots
    unqueued: bool = False  # a tick may queue its channel again (its run has started)


@dataclass
class _LocalTrouble:
    """This machine's trouble (disk full, database locked) that stopped runs: they wait
    until a probe finds it cleared. `channels`: whose runs failed on it (run again then)."""

    error: LocalError
    since: float = field(default_factory=time.monotonic)
    probed: float = field(default_factory=time.monotonic)
    channels: set[int] = field(default_factory=set)
    told: bool = False  # the admins were alerted
    probing: bool = False  # a probe passed: runs go again until one meets it again


def _many(text_key: str, **fields: Any) -> Callable[[list[str]], AlertText]:
    """The body of a folded alert (core/alerts.py `fold`): `text_key` with the count `n`,
    the first channels' names (`channels`) and `fields`."""
    return lambda names: AlertText(
        text_key, n=len(names), channels=folded_names(names), **fields
    )


class ParseWorker:
    """A supervised component (`name` "scheduler"): plans, queues and runs channel
    fetches. Its hooks (add_channel, remove_channel, drop_channel, reschedule) keep the
    job table in step with /add, /channels and /schedule."""

    name = "scheduler"

    def __init__(
        self,
        channels: ChannelStateRepository,
        runs: RunRepository,
        fetcher: ChannelFetcher,
        userbot: Session,
        breaker: CircuitBreaker,
        alerter: AlertSink,
        health: HealthBeats,
        *,
        metrics: Metrics | None = None,
        default_interval_minutes: int = 60,
        jitter_seconds: int = 30,
        events: EventBus | None = None,
        clock_watch: WallClockWatch | None = None,
        clock_tick: float = 10.0,
        storage_dir: str | None = None,
        retry_seconds: float = 30.0,
        retry_max_seconds: float = 900.0,
        local_probe_seconds: float = 30.0,
        leases: LeaseGate | None = None,
    ) -> None:
        self._channels = channels
        # PostgreSQL with several processes: a channel runs only where its lease is held.
        self._leases = leases
        self._leased: set[int] = set()  # the channels whose run lease is held
        self._runs = runs
        self._book = RunBook(runs, channels, events)
        self._fetcher = fetcher
        self._userbot = userbot
        self._breaker = breaker
        self._alerter = alerter
        self._health = health
        self._metrics: Metrics = metrics or NullMetrics()
        self.jobs = JobTable(
            self._tick, alerter, default_interval_minutes=default_interval_minutes,
            jitter_seconds=jitter_seconds, on_replanned=self._replanned,
            clock_watch=clock_watch, clock_tick=clock_tick,
        )
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._queued: set[int] = set()
        self._stopping = False
        self.started = asyncio.Event()  # jobs rebuilt from the database
        self._tasks: set[asyncio.Task[None]] = set()  # the requests being handled
        self._slots = asyncio.Semaphore(PREPARING)
        # Account row id (None: the one session) -> its lane: one run at a time.
        self._lanes: dict[int | None, asyncio.Lock] = {}
        # Channel -> set once its request is handled: one request of a channel at a time.
        self._claimed: dict[int, asyncio.Event] = {}
        # Channel -> set once its run has ended (drop_channel waits for it): the runs
        # holding their lane, in the order they started.
        self._running: dict[int, asyncio.Event] = {}
        self._progress: dict[int, RunProgress] = {}  # channel -> its run's last progress
        self._dropped: set[int] = set()  # being paused or removed: stop their run
        self._events = events
        # Alerts name channels as the operator knows them (Channel.display_name): the
        # last name seen of every channel, for when its row cannot be read.
        self._names: dict[int, str] = {}
        # Transport failures in a row per channel: its retries back off from
        # `retry_seconds`, doubling up to `retry_max_seconds` (and half its interval).
        self._retry = Backoff(base=retry_seconds, factor=2.0, cap=retry_max_seconds, jitter=0.1)
        self._transport_failures: dict[int, int] = {}
        self._storage_dir = storage_dir
        self._local_probe = local_probe_seconds
        self.local: _LocalTrouble | None = None
        # Runs whose row could not be closed yet (the database refused the write):
        # run id -> (status, fetched, error); written again until it lands.
        self._unclosed: dict[int, tuple[RunStatus, int, str | None]] = {}
        # Runs whose row could not even be opened (the INSERT refused): channel id,
        # trigger, start, error; recorded failed once the database takes writes again.
        self._unopened: list[tuple[int, str, datetime, str]] = []
        self._closing = asyncio.Lock()  # the rows above are written by one run at a time
        # Channels a dead session stopped (or kept from running): run at the next login.
        self._resume: set[int] = set()
        self._told: set[str] = set()  # `Decision.once` keys already alerted
        self._again: set[int] = set()  # handed over after a flood wait: run again now
        breaker.on_change(self._on_breaker)
        health.add_probe("breaker", breaker.probe)

    # -- hooks for /add, removal and /schedule -----------------------------------------

    async def add_channel(self, channel_id: int) -> None:
        """Plan a newly added channel's first run now."""
        ch = await self._channels.channel(channel_id)
        if ch is not None:
            self._names[ch.id] = ch.display_name
        if ch is not None and ch.status == "active":
            self.jobs.add(ch, first=datetime.now(UTC))

    async def remove_channel(self, channel_id: int) -> None:
        """Drop the channel's job (a run in progress goes on: see drop_channel)."""
        self.jobs.remove(channel_id)

    async def drop_channel(self, channel_id: int, wait: float = DROP_WAIT_SECONDS) -> None:
        """Before a channel is paused or removed: unschedule it and, when a run of it is
        in progress, stop that run after its current batch and return once it has ended
        (at most `wait` s), so nothing is written for a channel that is being deleted."""
        await self.remove_channel(channel_id)
        ended = self._running.get(channel_id)
        if ended is None:
            return
        self._dropped.add(channel_id)
        try:
            self._fetcher.request_stop(channel_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), wait)
        finally:
            self._dropped.discard(channel_id)

    async def reschedule(self, channel_id: int) -> None:
        """Plan the channel anew after its interval changed (the next run one interval
        from now), or drop its job when it is no longer active."""
        ch = await self._channels.channel(channel_id)
        if ch is None or ch.status != "active":
            await self.remove_channel(channel_id)
            return
        first = datetime.now(UTC) + timedelta(minutes=self.jobs.interval(ch))
        self.jobs.add(ch, first=first)
        await self._channels.set_next_run(channel_id, first)

    # -- status and /parse ---------------------------------------------------------------

    def next_runs(self) -> list[tuple[int, datetime]]:
        """`(channel_id, when)` of the planned runs, soonest first."""
        return self.jobs.next_runs()

    @property
    def queued(self) -> int:
        """Requests waiting: in the queue, or for their account's lane or a reader."""
        return self._queue.qsize() + max(0, len(self._tasks) - len(self._running))

    @property
    def running(self) -> tuple[RunProgress, ...]:
        """The runs in progress (one per account at most), in the order they started:
        each one's last progress."""
        return tuple(self._progress.values())

    def local_state(self) -> LocalState | None:
        """This machine's trouble that holds runs back (disk full, database locked), for
        /status; None when there is none."""
        trouble = self.local
        if trouble is None:
            return None
        return LocalState(
            trouble.error.cause, trouble.error.where, trouble.error.detail,
            round(time.monotonic() - trouble.since), self._local_probe,
        )

    async def session_state(self, state: str) -> None:
        """The userbot's state listener (parser/userbot.py `on_state`): once a session is
        ready again (a new login), the channels a dead session stopped or kept from
        running go on at once instead of waiting for their next interval."""
        if state != "ready" or not self._resume:
            return
        channels, self._resume = sorted(self._resume), set()
        log.info("session ready: %d interrupted channel(s) go on now", len(channels))
        for channel_id in channels:
            await self._tick(channel_id)

    async def flood_elsewhere(self, account_id: int) -> None:
        """Another process noted a flood wait of account `account_id`, open there
        (parser/pool.py `on_flood_elsewhere`, #18): the channels left to other processes
        are looked at now, so a public one of that account is read here with an account
        of this process at once, not at its next tick."""
        if not self._resume or self._stopping:
            return
        channels, self._resume = sorted(self._resume), set()
        log.info("account %d flood-waited in another process: %d channel(s) left to"
                 " others are looked at now", account_id, len(channels))
        for channel_id in channels:
            await self._tick(channel_id)

    async def parse_now(
        self, channel_id: int, on_progress: ProgressCallback | None = None
    ) -> RunProgress:
        """Run one channel as soon as the worker is free; resolves with the run's outcome.

        Raises NotReady at once without a client, or later when the worker stops first.
        """
        if self._userbot.client is None:
            raise NotReady(self._userbot.state)
        done: asyncio.Future[RunProgress] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(channel_id, Trigger.MANUAL, on_progress, done))
        return await done

    async def _tick(self, channel_id: int) -> None:
        if channel_id in self._queued or self._stopping:
            return
        self._queued.add(channel_id)
        await self._queue.put(_Request(channel_id, Trigger.SCHEDULE))

    async def _replanned(self, channel_id: int, when: datetime) -> None:
        # A stop cancels the clock watch: let the write land.
        await shielded_write(self._channels.set_next_run(channel_id, when))

    async def _on_breaker(self, state: str, error: str | None) -> None:
        self._metrics.breaker_open(state == "open")
        if state == "open":
            self._alerter.alert(
                "breaker",
                AlertText(
                    "alert_breaker_open", error=error or "?",
                    seconds=round(self._breaker.cooldown),
                ),
            )
        elif state == "closed":
            self._alerter.forget("breaker")
            self._alerter.alert("breaker-closed", AlertText("alert_breaker_closed"))

    # -- the component -----------------------------------------------------------------

    async def run(self) -> None:
        """Start the job table, then take requests until stopped, each handled in its
        own task (PREPARING at most matched to a reader at once); once stopped, wait
        for the runs in progress to end (cancelled: they are cancelled, their rows
        closed as interrupted)."""
        self.jobs.start()
        watcher = asyncio.create_task(self.jobs.watch_clock())
        try:
            await self._runs.interrupt_stale()
            active = await self._channels.channels("active")
            self.jobs.rebuild(active, datetime.now(UTC))
            self.started.set()
            self._remember(active)
            while not self._stopping:
                self._health.beat(self.name)
                await self._close_unclosed()
                if self.local is not None and not self._queue.qsize():
                    await self._probe_local()
                if not await self._slot(self._idle_wait()):
                    continue
                try:
                    req = await asyncio.wait_for(self._queue.get(), self._idle_wait())
                except TimeoutError:
                    self._slots.release()
                    continue
                if req.trigger == "stop":
                    self._slots.release()
                    break
                req.slot = True
                task = asyncio.create_task(self._handle(req), name=f"run-{req.channel_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except asyncio.CancelledError:
            for task in self._tasks:
                task.cancel()
            raise
        finally:
            # A cancellation meanwhile cancels them too (gather), and waits for them.
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._close_unclosed()
            watcher.cancel()
            self.jobs.shutdown()
            for req in self._drain_queue():
                if req.done is not None and not req.done.done():
                    req.done.set_exception(NotReady("stopping"))

    async def _slot(self, timeout: float) -> bool:
        """Take one of the PREPARING slots; False after `timeout` s (or when stopping)."""
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except TimeoutError:
            return False
        if self._stopping:
            self._slots.release()
            return False
        return True

    def _free_slot(self, req: _Request) -> None:
        if req.slot:
            req.slot = False
            self._slots.release()

    def _idle_wait(self) -> float:
        """Seconds the idle worker waits for a request: 5, or until the next probe of a
        local trouble."""
        trouble = self.local
        if trouble is None or trouble.probing:
            return 5.0
        due = trouble.probed + self._local_probe - time.monotonic()
        return min(5.0, max(0.05, due))

    def _drain_queue(self) -> list[_Request]:
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        self._queued.clear()
        return items

    async def stop(self) -> None:
        """Pause ticks, let the current batch finish, then return (no cancellation)."""
        self._stopping = True
        self.jobs.pause()
        self._fetcher.request_stop()
        self._queue.put_nowait(_Request(0, "stop"))  # wakes an idle worker at once

    async def _reader(self, ch: Channel | None, manual: bool = False) -> tuple[Any, bool]:
        """The client to read `ch` with now and whether to wait for one: with several
        accounts (parser/pool.py `reader_for`) the channel's own account, or another
        that can read it while its own is flood-waited or gone; else the one session."""
        reader_for = getattr(self._userbot, "reader_for", None)
        if reader_for is not None and ch is not None:
            bot, wait = await reader_for(ch.account_id, bool(ch.username), borrow=manual)
            return (bot.client if bot is not None else None), wait
        client = self._userbot.client
        if client is not None and self._userbot.state == "ready":
            return client, False
        return None, True

    def _held_elsewhere(self, ch: Channel | None) -> str | None:
        """The process holding the client of `ch`'s account when not this one (#18)."""
        held_elsewhere = getattr(self._userbot, "held_elsewhere", None)
        if held_elsewhere is None or ch is None:
            return None
        holder: str | None = held_elsewhere(ch.account_id)
        return holder

    async def _wait_usable(self, manual: bool = False, ch: Channel | None = None) -> Any:
        """The client, once the session is ready and the breaker lets a run through.

        None once the session is dead, or, for a /parse, logged out: an operator's
        request gets an answer now, while scheduled runs wait for the next login. With
        several accounts, None too when no account can read `ch` now (its own is
        flood-waited or gone and it is private).
        """
        given_up = ("invalid", "no_session") if manual else ("invalid",)
        pause = 0.05  # a session about to be ready (the start) is met at once; then 1 s
        while not self._stopping:
            # An operator's /parse is itself the probe of a local trouble.
            if self.local is not None and not manual:
                if not await self._probe_local():
                    await asyncio.sleep(1.0)
                    continue
            if not self._may_start(manual):
                await asyncio.sleep(min(1.0, self._breaker.retry_in() or 1.0))
                continue
            client, wait = await self._reader(ch, manual)
            if client is not None:
                return client
            if self._held_elsewhere(ch) is not None:
                return None
            if self._userbot.state in given_up or (not wait and self._userbot.state == "ready"):
                return None
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)
        return None

    def _may_start(self, manual: bool) -> bool:
        """Whether the breaker and a local trouble let a run start now: the breaker
        closed, or half-open with no run in progress (that one run is its probe); no
        local trouble, or its probe passed (an operator's /parse is itself a probe)."""
        if not self._breaker.allow():
            return False
        if self._breaker.state == HALF_OPEN and self._running:
            return False
        trouble = self.local
        return manual or trouble is None or trouble.probing

    def _lane(self, client: Any) -> asyncio.Lock:
        """The lane of the account whose client `client` is (the one session: one lane)."""
        return self._lanes.setdefault(self._account_of(client), asyncio.Lock())

    async def _handle(self, req: _Request) -> None:
        result = RunProgress(self._known_label(req), status=RunStatus.FAILED)
        handled: asyncio.Event | None = None
        try:
            # One request of a channel at a time: a /parse of a channel that runs now
            # (or waits for its lane) goes once that one has ended.
            while (busy := self._claimed.get(req.channel_id)) is not None:
                self._free_slot(req)  # waits holding nothing: others are prepared
                await busy.wait()
            self._claimed[req.channel_id] = handled = asyncio.Event()
            result = await self._run_one(req)
            if req.channel_id in self._again:
                # Handed over to another account after a flood wait: read by it now (in
                # its lane, after its own run), and the request's outcome is that run's.
                self._again.discard(req.channel_id)
                result = await self._run_one(req)
        except Exception as exc:
            # Before a run row was opened (reading the channel, opening the row): no
            # row to close; the decision is carried out all the same.
            log.exception("run of channel %s failed", self._names.get(req.channel_id, "?"))
            error: Exception = local_error(exc) or exc
            decision = decide(error)
            result.channel = self._known_label(req)
            # As a run's own failure says it (ingest `_fail`): a local trouble by its
            # cause (the summary words it: reason_db_locked), anything else as raised.
            shown = error.cause if isinstance(error, LocalError) else error_text(exc, 200)
            result.status, result.error = decision.status, shown
            name = await self._name(req.channel_id)
            await self._apply(req.channel_id, name, decision, error, req.client)
            self._tell_local(name)
        finally:
            self._free_slot(req)
            self._leave_lane(req)
            self._unqueue(req)
            if handled is not None:
                await self._release_lease(req.channel_id)
                del self._claimed[req.channel_id]
                handled.set()
            if req.done is not None and not req.done.done():
                req.done.set_result(result)

    def _unqueue(self, req: _Request) -> None:
        """A tick may queue the channel again: its run starts (or it ended without one)."""
        if not req.unqueued:
            req.unqueued = True
            if req.trigger == Trigger.SCHEDULE:
                self._queued.discard(req.channel_id)

    def _leave_lane(self, req: _Request) -> None:
        """The run of `req` (or its wait for it) ends: its lane goes to the next run of
        that account, a drop_channel waiting for it returns."""
        lane, req.lane = req.lane, None
        if lane is None:
            return
        self._progress.pop(req.channel_id, None)
        ended = self._running.pop(req.channel_id, None)
        if ended is not None:
            ended.set()
        lane.release()

    def _remember(self, channels: list[Channel]) -> None:
        for ch in channels:
            self._names[ch.id] = ch.display_name

    def _known_label(self, req: _Request) -> str:
        """How a run's result names its channel before its row was read: as the
        operator knows it, never by its row id."""
        return req.label or self._names.get(req.channel_id) or UNKNOWN_CHANNEL

    async def _name(self, channel_id: int) -> str:
        """How an alert names the channel: `Title (@username)` (Channel.display_name),
        from its row, else the last name seen; never the internal row id."""
        try:
            ch = await self._channels.channel(channel_id)
        except Exception:
            ch = None
        if ch is not None:
            self._names[ch.id] = ch.display_name
            return ch.display_name
        return self._names.get(channel_id, UNKNOWN_CHANNEL)

    def _not_runnable(self, ch: Channel | None, channel_id: int) -> RunProgress:
        return RunProgress(
            ch.label if ch else self._names.get(channel_id, UNKNOWN_CHANNEL),
            status=RunStatus.DISABLED,
            error=(ch.disabled_reason or ch.status) if ch else "removed",
        )

    def _waiting(self, ch: Channel | None, req: _Request) -> RunProgress | None:
        """The outcome without a run of a channel that is gone, not active or deferred
        (its row `ch` as read now); None when it may run."""
        if ch is not None:
            self._names[ch.id] = ch.display_name
        if ch is None or ch.status != "active" or ch.id in self._dropped:
            return self._not_runnable(ch, req.channel_id)
        req.label = ch.label
        now = datetime.now(UTC)
        if ch.deferred_until is not None and ch.deferred_until > now:
            left = int((ch.deferred_until - now).total_seconds())
            return RunProgress(ch.label, status=RunStatus.DEFERRED, deferred_seconds=left)
        return None

    async def _runnable(self, req: _Request) -> tuple[Channel, Any] | RunProgress:
        """The channel and the client to run it with, the lane of its account held
        (`req.lane`), or the outcome without a run."""
        ch = await self._channels.channel(req.channel_id)
        if (outcome := self._waiting(ch, req)) is not None:
            return outcome
        assert ch is not None
        manual = req.trigger == Trigger.MANUAL
        while True:
            client = await self._wait_usable(manual=manual, ch=ch)
            if (outcome := self._no_reader(ch, req, client)) is not None:
                return outcome
            # Waits for its reader's lane (that account's run in progress), no longer
            # counted as preparing: the next request may be another account's.
            self._free_slot(req)
            if not await self._enter_lane(req, ch, client, manual):
                continue  # another account reads it now: that one's lane
            if self._stopping or not self._may_start(manual):
                self._leave_lane(req)  # the breaker opened meanwhile: wait again
                continue
            # From here on a removal waits for this run to end (drop_channel); the
            # channel may have been removed, paused, deferred or moved to another
            # account while it waited: look again.
            self._running[req.channel_id] = asyncio.Event()
            self._unqueue(req)
            req.client = client
            ch = await self._channels.channel(req.channel_id)
            if (outcome := self._waiting(ch, req)) is not None:
                return outcome
            assert ch is not None
            reader, _ = await self._reader(ch, manual)
            if reader is client:
                break
            self._leave_lane(req)  # another account reads it now: that one's lane
        elsewhere = await self._take_lease(ch, req)
        if elsewhere is not None:
            return elsewhere
        return ch, client

    async def _enter_lane(self, req: _Request, ch: Channel, client: Any, manual: bool) -> bool:
        """Wait for the lane of `client`'s account and hold it (`req.lane`). A client of
        another account than the channel's own (standing in while its own is flood-waited,
        connecting or gone) is asked again every STAND_IN_RECHECK s meanwhile: False,
        the lane not taken, once another client reads it."""
        lane = self._lane(client)
        reader = self._account_of(client)
        if reader is None or ch.account_id is None or reader == ch.account_id:
            await lane.acquire()
            req.lane = lane
            return True
        while True:
            try:
                await asyncio.wait_for(lane.acquire(), STAND_IN_RECHECK)
            except TimeoutError:
                now, _ = await self._reader(ch, manual)
                if now is not client:
                    return False
                continue
            req.lane = lane
            return True

    def _no_reader(self, ch: Channel, req: _Request, client: Any) -> RunProgress | None:
        """The outcome when no client of this process reads `ch` now (`client` None), or
        its account is held by another process; None when `client` reads it."""
        holder = self._held_elsewhere(ch) if client is None else None
        if holder is not None and req.trigger == Trigger.MANUAL:
            # An operator's /parse reached this process, not the one holding the account
            # ("account:<host/pid>"), or its account is flood-waited here ("flood").
            shown = holder if holder == "flood" else f"account:{holder}"
            return RunProgress(ch.label, status=RunStatus.ELSEWHERE, error=shown)
        if holder is not None:
            # Its account's client is open in another process (#18): read there; here
            # too as soon as this process takes the account (that process died).
            if not self._stopping and req.trigger == Trigger.SCHEDULE:
                self._resume.add(ch.id)
                if holder == "?" and self._leases is not None:
                    # Nobody known holds it (a take racing another process's at the
                    # start): looked at again once a lease could have changed hands.
                    again = timedelta(seconds=max(1.0, 3 * self._leases.retry_seconds))
                    self.jobs.retry(ch.id, datetime.now(UTC) + again)
            return RunProgress(ch.label, status=RunStatus.ELSEWHERE, error=holder)
        if client is None:
            # Not this channel's trouble: the session died (or the app is stopping), or
            # no account that can read it is usable now.
            reason = "stopping" if self._stopping else self._userbot.state
            if reason == "ready":
                reason = "no_reader"
            if not self._stopping and req.trigger == Trigger.SCHEDULE:
                self._resume.add(ch.id)  # runs as soon as a session is ready again
            return RunProgress(ch.label, status=RunStatus.NOT_RUN, error=reason)
        return None

    async def _take_lease(self, ch: Channel, req: _Request) -> RunProgress | None:
        """Take the channel's run lease (with leases: PostgreSQL, several processes);
        None when held, else the outcome: `elsewhere`, naming the process that runs it.
        A scheduled tick of a backfilled channel another process has run and planned
        later since is not run now: its job moves to that plan."""
        if self._leases is None:
            return None
        if req.trigger == Trigger.SCHEDULE and ch.backfill_done and ch.next_run_at is not None:
            planned = ch.next_run_at
            if planned > datetime.now(UTC) + PLANNED_ELSEWHERE_SLACK:
                self.jobs.add(ch, first=planned)
                return RunProgress(ch.label, status=RunStatus.ELSEWHERE, error="planned")
        key = str(ch.id)
        if not await self._leases.take(CHANNEL_LEASE, key, partial(self._lease_lost, ch.id)):
            if req.trigger == Trigger.SCHEDULE:
                # Looked at again once a lease could have expired: when its holder
                # died, this process goes on with the run then (kill -9, power cut).
                again = timedelta(seconds=max(1.0, 3 * self._leases.retry_seconds))
                self.jobs.retry(ch.id, datetime.now(UTC) + again)
            holder = await self._leases.holder(CHANNEL_LEASE, key)
            return RunProgress(ch.label, status=RunStatus.ELSEWHERE, error=holder or "?")
        self._leased.add(ch.id)
        return None

    async def _lease_lost(self, channel_id: int) -> None:
        """The lease of the run of `channel_id` could not be renewed in time
        (core.ports.LeaseLost): that run stops after its current batch (a late batch is
        harmless: rows are upserted by channel and message id, the cursor only grows)."""
        self._leased.discard(channel_id)
        self._fetcher.request_stop(channel_id)

    async def _release_lease(self, channel_id: int) -> None:
        if channel_id in self._leased and self._leases is not None:
            self._leased.discard(channel_id)
            await self._leases.release(CHANNEL_LEASE, str(channel_id))

    def _progress_of(self, ch: Channel, req: _Request) -> ProgressCallback:
        async def progress(p: RunProgress) -> None:
            self._progress[ch.id] = p
            # Removed or paused while this run went on, or the worker stops (a run that
            # started after the stop was asked is stopped here).
            if ch.id in self._dropped or self._stopping:
                self._fetcher.request_stop(ch.id)
            self._health.beat(self.name)
            if req.on_progress is not None:
                try:
                    await req.on_progress(p)
                except Exception:
                    log.warning("progress callback failed", exc_info=True)

        return progress

    async def _run_one(self, req: _Request) -> RunProgress:
        """One run, its row opened and, whatever is raised, closed: ok | deferred |
        failed | interrupted, with the error's name and message and the rows committed.
        It holds its reader's lane throughout."""
        try:
            ready = await self._runnable(req)
            if isinstance(ready, RunProgress):
                return ready
            return await self._read(req, *ready)
        finally:
            self._leave_lane(req)

    async def _read(self, req: _Request, ch: Channel, client: Any) -> RunProgress:
        reader = self._account_of(client)
        if reader is not None and ch.hash_account_id not in (None, reader):
            # Another account's access hash is never sent: resolved again first.
            ch = await self._fetcher.renew_access(client, ch)
        began = datetime.now(UTC)
        try:
            run_id = await self._book.opened(ch, req.trigger)
        except Exception as exc:
            if len(self._unopened) < MAX_UNOPENED:
                self._unopened.append((ch.id, req.trigger, began, error_text(exc)))
            raise
        started = time.monotonic()
        self._progress[ch.id] = RunProgress(ch.label, started=started)
        try:
            result = await self._fetcher.run(client, ch, self._progress_of(ch, req))
        except RunFailed as failed:
            return await self._failed(ch, client, run_id, failed.error, failed.progress,
                                      failed.cause)
        except Exception as exc:  # a fetcher that did not say what it committed
            # Its last progress report says what it had committed (rows, new messages,
            # deletions marked): that much reaches the subscribers too.
            last = self._progress.get(ch.id)
            progress = replace(last, status=RunStatus.FAILED) if (
                last is not None
            ) else RunProgress(ch.label, status=RunStatus.FAILED)
            return await self._failed(ch, client, run_id, local_error(exc) or exc, progress,
                                      exc)
        except asyncio.CancelledError:
            # The worker itself is cancelled (a stop past its deadline): the row is
            # closed as interrupted on the way out (`run`'s finally), not left running.
            last = self._progress.get(ch.id)
            committed = last.fetched if last is not None else 0
            self._unclosed[run_id] = (
                RunStatus.INTERRUPTED, committed, "CancelledError: the app stopped mid-run"
            )
            if last is not None:  # what it committed is told all the same
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._published(ch, last))
            raise
        finally:
            self._metrics.run_seconds(time.monotonic() - started)
        if reader is not None and ch.hash_account_id != reader:
            await self._quietly(self._channels.set_hash_account(ch.id, reader))
        try:
            return await self._succeeded(ch, run_id, result)
        except Exception as exc:
            # The messages are committed, the bookkeeping after them failed (a disk that
            # filled up at the wrong moment): the run ends failed with that error.
            log.exception("closing the run of %s failed", ch.display_name)
            result.status = RunStatus.FAILED
            return await self._failed(ch, client, run_id, local_error(exc) or exc, result, exc)

    async def _succeeded(self, ch: Channel, run_id: int, result: RunProgress) -> RunProgress:
        await self._breaker.success()
        self._transport_failures.pop(ch.id, None)
        await self._local_cleared(ch.id)
        if result.status == RunStatus.INTERRUPTED:
            # Stopped between batches: the cursor is committed; the next start resumes.
            await self._close(run_id, result.status, result.fetched)
            await self._published(ch, result)
            return result
        self._alerter.forget(f"flood:{ch.id}")
        self._alerter.forget(f"run-error:{ch.id}")
        self._alerter.forget(f"server:{ch.id}")
        # Enabled again (/add) and read: disabled once more later, the admins are told.
        self._alerter.forget(f"channel-disabled:{ch.id}")
        await self._book.succeeded(ch, run_id, result, self.jobs.next_run(ch.id))
        return result

    async def _failed(
        self,
        ch: Channel,
        client: Any,
        run_id: int,
        error: Exception,
        progress: RunProgress,
        cause: BaseException,
    ) -> RunProgress:
        """Close run `run_id` that ended with `error` (`cause`: what was raised) after
        committing `progress.fetched` rows, then carry out the policy's decision."""
        decision = decide(error, client_replaced=self._client_replaced(client))
        if decision.action == Action.INTERRUPTED:
            status = RunStatus.INTERRUPTED
        elif decision.action == Action.DEFER:
            status = RunStatus.DEFERRED
        else:
            status = RunStatus.FAILED
        await self._close(run_id, status, progress.fetched, error_text(cause))
        await self._published(ch, progress)
        progress.status = decision.status
        if decision.action == Action.DEFER:
            progress.deferred_seconds = decision.seconds
            if await self._handed_over(ch, client, error, decision.seconds):
                return progress
        await self._apply(ch.id, ch.display_name, decision, error, client)
        self._tell_local(ch.display_name)  # a write after the run met it, if any
        return progress

    def _client_replaced(self, client: Any) -> bool:
        """Whether `client` is no longer its account's (a logout or a new login while a
        run read with it); with one session, whether it is no longer the session's."""
        bot_of = getattr(self._userbot, "bot_of", None)
        if bot_of is not None:
            return bot_of(client) is None
        return self._userbot.client is not client

    def _account_of(self, client: Any) -> int | None:
        """The account row whose client `client` is (several accounts), else None."""
        bot_of = getattr(self._userbot, "bot_of", None)
        bot = bot_of(client) if bot_of is not None else None
        return bot.account_id if bot is not None else None

    async def _handed_over(
        self, ch: Channel, client: Any, error: Exception, seconds: float
    ) -> bool:
        """A flood wait of the account that read `ch`: the account is noted flood-waited
        (its other channels go to other accounts meanwhile, parser/pool.py) and, when
        another account can read `ch` now, it runs again at once instead of waiting."""
        bot_of = getattr(self._userbot, "bot_of", None)
        bot = bot_of(client) if bot_of is not None else None
        if bot is None or not isinstance(error, RateLimited):
            return False
        note = getattr(self._userbot, "note_flood_wait", None)
        if note is not None:
            await note(bot, seconds)  # the other processes see it too (#18)
        else:
            bot.flood_waited(seconds)
        other, _ = await self._reader(ch)
        if other is None and self._held_elsewhere(ch) is not None:
            # An account open in another process reads it at its next tick (#18).
            log.info("channel %s: account %s flood-waited %d s; left to another process",
                     ch.display_name, bot.account_id, seconds)
            self._metrics.flood_wait()
            return True
        if other is None or other is client:
            return False
        log.info("channel %s: account %s flood-waited %d s; another account reads it",
                 ch.display_name, bot.account_id, seconds)
        self._metrics.flood_wait()
        self._again.add(ch.id)  # `_handle` runs it again at once
        return True

    async def _published(self, ch: Channel, progress: RunProgress) -> None:
        """What a run committed before it ended otherwise than ok is told to the
        subscribers too, whatever ended it: the new messages (keyword watches: the next
        run starts above them) and the posts it marked deleted (the deletion alert: the
        next run no longer sees them live, so nothing else would ever tell)."""
        if self._events is None:
            return
        if progress.new and progress.first_new_id:
            last = max(progress.top_id, progress.first_new_id)
            await self._events.publish(
                RunCompleted(ch.id, progress.first_new_id, last, progress.new)
            )
        if progress.deleted:
            await self._events.publish(
                PostsDeleted(ch.id, progress.deleted_ids, progress.deleted)
            )

    async def _close(
        self, run_id: int, status: RunStatus, fetched: int, error: str | None = None
    ) -> None:
        """Close the run's row; when the database refuses (disk full, locked), keep it
        and write it again until it lands (each turn of the worker, at the stop; a
        crash leaves it to the next start's `interrupt_stale`): never left `running`."""
        try:
            await shielded_write(self._book.closed(run_id, status, fetched, error))
        except Exception as exc:
            log.warning("closing run %d failed, will retry: %s", run_id, error_text(exc))
            self._unclosed[run_id] = (status, fetched, error)
            local = local_error(exc, self._storage_dir or "")
            if local is not None:
                self._local_trouble(local, None)

    async def _close_unclosed(self) -> bool:
        """Write the run rows that could not be closed, and record the runs whose row
        could not be opened; True when none is left."""
        async with self._closing:  # several runs end at once: each row written once
            return await self._close_left()

    async def _close_left(self) -> bool:
        for run_id, (status, fetched, error) in list(self._unclosed.items()):
            try:
                await shielded_write(self._book.closed(run_id, status, fetched, error))
            except Exception as exc:
                log.debug("closing run %d failed again: %s", run_id, error_text(exc))
                return False
            del self._unclosed[run_id]
        while self._unopened:
            channel_id, trigger, began, error = self._unopened[0]
            try:
                await shielded_write(self._book.refused(channel_id, trigger, began, error))
            except Exception as exc:
                if local_error(exc) is not None:
                    log.debug("recording a refused run failed again: %s", error_text(exc))
                    return False
                # Not the database's trouble (the channel was removed meanwhile): dropped.
                log.warning("a refused run of channel %d not recorded: %s", channel_id,
                            error_text(exc))
            self._unopened.pop(0)
        return True

    async def _apply(
        self,
        channel_id: int,
        name: str,
        d: Decision,
        error: BaseException | None = None,
        client: Any = None,
    ) -> None:
        """Carry out decision `d` about a failed run of the channel named `name` (its
        display name) that ended with `error`, read with `client` (None: none chosen
        yet). A write here that the database refuses is logged (and, when it is local
        trouble, waited out), never raised."""
        if d.action == Action.INTERRUPTED:
            # The client was taken away (logout, a new login): goes on at the next login.
            self._resume.add(channel_id)
            return
        if d.action == Action.DEFER:
            self._metrics.flood_wait()
            until = datetime.now(UTC) + timedelta(seconds=d.seconds)
            await self._quietly(self._channels.defer(channel_id, until, d.reason))
            self.jobs.defer(channel_id, until)
            if isinstance(error, ResolveFlood):
                # The account's wait on resolving: one alert for all the channels it holds.
                self._alerter.fold(
                    "resolve-flood", name, _many("alert_resolve_flood", seconds=error.wait)
                )
                return
            if d.alert:
                self._fold(
                    "flood", f"flood:{channel_id}", name,
                    AlertText("alert_flood_deferred", channel=name, seconds=d.seconds),
                    _many("alert_flood_deferred_many", seconds=d.seconds),
                )  # fmt: skip
            return
        self._metrics.run_failed(d.metric)
        if d.action == Action.DISABLE:
            await self._quietly(self._channels.disable(channel_id, d.reason))
            await self.remove_channel(channel_id)
            reason = d.reason
            self._fold(
                f"channel-disabled:{reason}", f"channel-disabled:{channel_id}", name,
                AlertText("alert_channel_disabled", channel=name, reason=reason),
                _many("alert_channels_disabled", reason=reason),
            )  # fmt: skip
        elif d.action == Action.SESSION_DEAD:
            self._resume.add(channel_id)  # goes on as soon as a new login is ready
            if getattr(self._userbot, "bot_of", None) is not None:
                # Several accounts: the one whose client the run used died.
                await self._userbot.session_dead(d.reason, client)  # type: ignore[call-arg]
            else:
                await self._userbot.session_dead(d.reason)
        elif d.action == Action.BREAKER:
            # "server: <error>": /status words the code (reason_server), the error after it.
            await self._quietly(self._channels.set_error(channel_id, f"server: {d.reason}"))
            await self._breaker.failure(d.reason)
            seconds = await self._retry_soon(channel_id)
            if d.alert:
                # The breaker open: every run waits for its probe, this retry too; the
                # alert says so instead of promising the channel's own retry time.
                held = self._breaker.retry_in()
                key, seconds = (
                    ("alert_run_server_paused", held) if held > 0
                    else ("alert_run_server", seconds)
                )
                self._alerter.alert(
                    f"server:{channel_id}",
                    AlertText(key, channel=name, error=d.reason,
                              seconds=max(1, round(seconds))),
                )
        elif d.action == Action.LOCAL:
            assert isinstance(error, LocalError)
            self._local_trouble(error, channel_id, name)
        else:
            await self._quietly(self._channels.set_error(channel_id, d.reason))
            if d.alert:
                self._tell_once(d, channel_id, name)

    def _fold(
        self,
        kind: str,
        key: str,
        name: str,
        one: AlertText,
        many: Callable[[list[str]], AlertText],
    ) -> None:
        """A per-channel alert (`key`: its window) folded with the others of `kind` raised
        close together (core/alerts.py `fold`): `one` when it stays alone, else
        `many(names)`, one message naming the count and the first channels."""
        self._alerter.fold(
            kind, name, lambda names: one if len(names) == 1 else many(names), key=key
        )

    def _tell_once(self, d: Decision, channel_id: int, name: str) -> None:
        """An error nobody expected: told with the channel's name and the error, once
        per `d.once` key (an unknown Telegram error's name, a bug's type) while the
        process lives, so a channel failing every interval does not repeat it."""
        if d.once:
            if d.once in self._told:
                return
            self._told.add(d.once)
        key = "alert_run_failed_once" if d.once else "alert_run_failed"
        self._alerter.alert(
            d.once or f"run-error:{channel_id}", AlertText(key, channel=name, error=d.reason)
        )

    async def _quietly(self, write: Awaitable[None]) -> bool:
        """A bookkeeping write after a failed run; False (logged, and local trouble
        noted) when the database refuses it."""
        try:
            await shielded_write(write)
        except Exception as exc:
            log.warning("a bookkeeping write failed: %s", error_text(exc))
            local = local_error(exc, self._storage_dir or "")
            if local is not None:
                self._local_trouble(local, None)
            return False
        return True

    async def _retry_soon(self, channel_id: int) -> float:
        """After a transport failure: the channel runs again after a backoff that grows
        with its failures in a row (`retry_seconds` doubling, capped at
        `retry_max_seconds` and at half its interval), well before its next interval;
        the breaker still holds every run back while it is open. The delay in seconds."""
        failures = self._transport_failures.get(channel_id, 0) + 1
        self._transport_failures[channel_id] = failures
        interval = 60 * self.jobs.interval_of(channel_id)
        delay = min(self._retry.delay(failures), max(1.0, interval / 2))
        self.jobs.retry(channel_id, datetime.now(UTC) + timedelta(seconds=delay))
        return delay

    # -- local trouble: disk full, database locked ---------------------------------------

    def _local_trouble(
        self, error: LocalError, channel_id: int | None, name: str | None = None
    ) -> None:
        """Runs wait until `error` clears (the probe: every `local_probe_seconds`);
        the admins are told once, with the channel `name` whose run it stopped, the
        cause and where to free space (`name` None: noted only, told by `_tell_local`
        once the run's name is known)."""
        if not error.where and self._storage_dir and error.cause == "disk_full":
            error = LocalError(error.cause, error.detail, self._storage_dir)
        trouble = self.local
        if trouble is None:
            trouble = self.local = _LocalTrouble(error)
        if channel_id is not None:
            trouble.channels.add(channel_id)
        trouble.probed, trouble.probing = time.monotonic(), False
        if name is not None:
            self._tell_local(name)

    def _tell_local(self, name: str | None) -> None:
        """Alert the local trouble once (none, or already told: nothing)."""
        trouble = self.local
        if trouble is None or trouble.told:
            return
        trouble.told = True
        error = trouble.error
        cause = AlertText(f"local_cause_{error.cause}", where=error.where or "?")
        seconds = round(self._local_probe)
        text = (
            AlertText("alert_local", channel=name, cause=cause, error=error.detail,
                      seconds=seconds)
            if name else
            AlertText("alert_local_any", cause=cause, error=error.detail, seconds=seconds)
        )
        self._alerter.alert(f"local:{error.cause}", text)

    async def _probe_local(self) -> bool:
        """Whether runs may try again (True when there is no local trouble, or a probe
        passed). At most every `local_probe_seconds`: enough free space where the
        database lives (disk full), the rows left unclosed written, and one real write
        committed (the waiting channel's error). A passed probe runs the waiting
        channels again; the trouble is over once a run gets through (`_local_cleared`),
        while a run that meets it again waits for the next probe, told nothing new."""
        trouble = self.local
        if trouble is None or trouble.probing:
            return True
        if time.monotonic() - trouble.probed < self._local_probe:
            return False
        trouble.probed = time.monotonic()
        where = trouble.error.where
        if trouble.error.cause == "disk_full" and where:
            try:
                if shutil.disk_usage(where).free < MIN_FREE_BYTES:
                    return False
            except OSError:
                pass
        if not await self._close_unclosed():
            return False
        waiting = sorted(trouble.channels)
        if waiting:
            note = f"{trouble.error.cause}: {trouble.error.detail}"
            try:
                await shielded_write(self._channels.set_error(waiting[0], note))
            except Exception as exc:
                log.info("local trouble not cleared yet: %s", error_text(exc))
                return False
        trouble.probing = True
        log.info("local trouble (%s) may have cleared: running %d waiting channel(s)",
                 trouble.error.cause, len(waiting))
        for channel_id in waiting:
            await self._tick(channel_id)
        return True

    async def _local_cleared(self, done: int) -> None:
        """The local trouble is over (a run of channel `done` got through): tell the
        admins (when they were told of it) and run the other channels it held back."""
        trouble, self.local = self.local, None
        if trouble is None:
            return
        self._alerter.forget(f"local:{trouble.error.cause}")
        if trouble.told:
            minutes = max(1, round((time.monotonic() - trouble.since) / 60))
            self._alerter.alert(
                "local-cleared", AlertText("alert_local_cleared", minutes=minutes), force=True
            )
        for channel_id in sorted(trouble.channels - {done}):
            await self._tick(channel_id)
