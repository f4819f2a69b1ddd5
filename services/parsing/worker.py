"""The run queue and its one worker: channels are run one at a time on the one client.

APScheduler ticks (jobs.py) and /parse requests (service.py) go through the same
queue, so a /parse waits behind a running run instead of racing it. What a failed run
leads to is policy.py's `decide`; this module carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from core.alerts import AlertText
from core.channels import Channel
from core.errors import ProjectError
from core.parsing import RunProgress, RunStatus, Trigger
from core.ports import AlertSink, HealthBeats, Metrics, NullMetrics
from db.channels import ChannelStateRepository
from db.database import shielded_write
from db.runs import RunRepository
from services.events import EventBus
from services.parsing.breaker import CircuitBreaker
from services.parsing.clock_jumps import WallClockWatch
from services.parsing.ingest import ChannelFetcher, ProgressCallback, RunBook, RunFailed
from services.parsing.jobs import JobTable
from services.parsing.policy import Action, Decision, decide

log = logging.getLogger(__name__)

# How long pausing or removing a channel waits for its running batch to commit.
DROP_WAIT_SECONDS = 30.0


class Session(Protocol):
    """The userbot as the worker sees it (parser/userbot.py Userbot)."""

    client: Any  # a connected TelegramClient, or None
    state: str  # ready | connecting | no_session | invalid | ...
    reason: str | None  # why the session is not usable (AuthKeyUnregistered, ...)

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
    ) -> None:
        self._channels = channels
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
        self.current: RunProgress | None = None
        self._running: int | None = None  # the channel of the run in progress
        self._run_ended = asyncio.Event()
        self._run_ended.set()
        self._dropped: set[int] = set()  # being paused or removed: stop their run
        breaker.on_change(self._on_breaker)
        health.add_probe("breaker", breaker.probe)

    # -- hooks for /add, removal and /schedule -----------------------------------------

    async def add_channel(self, channel_id: int) -> None:
        """Plan a newly added channel's first run now."""
        ch = await self._channels.channel(channel_id)
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
        if self._running != channel_id:
            return
        self._dropped.add(channel_id)
        try:
            self._fetcher.request_stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._run_ended.wait(), wait)
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
        """Requests waiting in the queue."""
        return self._queue.qsize()

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
        """Start the job table, then take requests one at a time until stopped."""
        self.jobs.start()
        watcher = asyncio.create_task(self.jobs.watch_clock())
        try:
            await self._runs.interrupt_stale()
            self.jobs.rebuild(await self._channels.channels("active"), datetime.now(UTC))
            self.started.set()
            while not self._stopping:
                self._health.beat(self.name)
                try:
                    req = await asyncio.wait_for(self._queue.get(), 5.0)
                except TimeoutError:
                    continue
                if req.trigger == "stop":
                    break
                await self._handle(req)
        finally:
            watcher.cancel()
            self.jobs.shutdown()
            for req in self._drain_queue():
                if req.done is not None and not req.done.done():
                    req.done.set_exception(NotReady("stopping"))

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

    async def _wait_usable(self, manual: bool = False) -> Any:
        """The client, once the session is ready and the breaker lets a run through.

        None once the session is dead, or, for a /parse, logged out: an operator's
        request gets an answer now, while scheduled runs wait for the next login.
        """
        given_up = ("invalid", "no_session") if manual else ("invalid",)
        while not self._stopping:
            if not self._breaker.allow():
                await asyncio.sleep(min(1.0, self._breaker.retry_in() or 1.0))
                continue
            client = self._userbot.client
            if client is not None and self._userbot.state == "ready":
                return client
            if self._userbot.state in given_up:
                return None
            await asyncio.sleep(1.0)
        return None

    async def _handle(self, req: _Request) -> None:
        self._queued.discard(req.channel_id)
        result = RunProgress(str(req.channel_id), status=RunStatus.FAILED)
        try:
            result = await self._run_one(req)
        except Exception as exc:
            log.exception("run of channel %s failed", req.channel_id)
            result.channel = req.label or result.channel
            result.error = type(exc).__name__
            await self._apply(req.channel_id, await self._label(req.channel_id), decide(exc))
        finally:
            self.current = None
            self._running = None
            self._run_ended.set()
            if req.done is not None and not req.done.done():
                req.done.set_result(result)

    async def _label(self, channel_id: int) -> str:
        """The channel's @username or title for an alert (its row id if unreadable)."""
        try:
            ch = await self._channels.channel(channel_id)
        except Exception:
            ch = None
        return ch.label if ch is not None else f"#{channel_id}"

    @staticmethod
    def _not_runnable(ch: Channel | None, channel_id: int) -> RunProgress:
        return RunProgress(
            ch.label if ch else str(channel_id), status=RunStatus.DISABLED,
            error=(ch.disabled_reason or ch.status) if ch else "removed",
        )

    async def _runnable(self, req: _Request) -> tuple[Channel, Any] | RunProgress:
        """The channel and the client to run it with, or the outcome without a run."""
        ch = await self._channels.channel(req.channel_id)
        if ch is None or ch.status != "active":
            return self._not_runnable(ch, req.channel_id)
        req.label = ch.label
        now = datetime.now(UTC)
        if ch.deferred_until is not None and ch.deferred_until > now:
            left = int((ch.deferred_until - now).total_seconds())
            return RunProgress(ch.label, status=RunStatus.DEFERRED, deferred_seconds=left)
        client = await self._wait_usable(manual=req.trigger == Trigger.MANUAL)
        if client is None:
            # Not this channel's trouble: the session died (or the app is stopping).
            reason = "stopping" if self._stopping else self._userbot.state
            return RunProgress(ch.label, status=RunStatus.NOT_RUN, error=reason)
        # From here on a removal waits for this run to end (drop_channel); the channel
        # may have been removed or paused while the client was not ready: look again.
        self._running = req.channel_id
        self._run_ended.clear()
        ch = await self._channels.channel(req.channel_id)
        if ch is None or ch.status != "active" or ch.id in self._dropped:
            return self._not_runnable(ch, req.channel_id)
        return ch, client

    def _progress_of(self, ch: Channel, req: _Request) -> ProgressCallback:
        async def progress(p: RunProgress) -> None:
            self.current = p
            if ch.id in self._dropped:  # removed or paused while this run went on
                self._fetcher.request_stop()
            self._health.beat(self.name)
            if req.on_progress is not None:
                try:
                    await req.on_progress(p)
                except Exception:
                    log.warning("progress callback failed", exc_info=True)

        return progress

    async def _run_one(self, req: _Request) -> RunProgress:
        ready = await self._runnable(req)
        if isinstance(ready, RunProgress):
            return ready
        ch, client = ready
        run_id = await self._book.opened(ch, req.trigger)
        started = time.monotonic()
        self.current = RunProgress(ch.label, started=started)
        try:
            result = await self._fetcher.run(client, ch, self._progress_of(ch, req))
        except RunFailed as failed:
            decision = decide(failed.error, client_replaced=self._userbot.client is not client)
            if decision.action == Action.INTERRUPTED:
                await self._book.closed(run_id, RunStatus.INTERRUPTED, failed.progress.fetched)
            else:
                await self._book.closed(
                    run_id, RunStatus.FAILED, failed.progress.fetched, str(failed.error)
                )
            failed.progress.status = decision.status
            if decision.action == Action.DEFER:
                failed.progress.deferred_seconds = decision.seconds
            await self._apply(ch.id, ch.label, decision)
            return failed.progress
        finally:
            self._metrics.run_seconds(time.monotonic() - started)
        await self._breaker.success()
        if result.status == RunStatus.INTERRUPTED:
            # Stopped between batches: the cursor is committed; the next start resumes.
            await self._book.closed(run_id, result.status, result.fetched)
            return result
        self._alerter.forget(f"flood:{ch.id}")
        await self._book.succeeded(ch, run_id, result, self.jobs.next_run(ch.id))
        return result

    async def _apply(self, channel_id: int, label: str, d: Decision) -> None:
        """Carry out decision `d` about a failed run of the channel named `label`."""
        if d.action == Action.INTERRUPTED:
            return
        if d.action == Action.DEFER:
            self._metrics.flood_wait()
            until = datetime.now(UTC) + timedelta(seconds=d.seconds)
            await self._channels.defer(channel_id, until, d.reason)
            self.jobs.defer(channel_id, until)
            if d.alert:
                self._alerter.alert(
                    f"flood:{channel_id}",
                    AlertText("alert_flood_deferred", channel=label, seconds=d.seconds),
                )
            return
        self._metrics.run_failed(d.metric)
        if d.action == Action.DISABLE:
            await self._channels.disable(channel_id, d.reason)
            await self.remove_channel(channel_id)
            self._alerter.alert(
                f"channel-disabled:{channel_id}",
                AlertText("alert_channel_disabled", channel=label, reason=d.reason),
            )
        elif d.action == Action.SESSION_DEAD:
            await self._userbot.session_dead(d.reason)
        elif d.action == Action.BREAKER:
            await self._channels.set_error(channel_id, f"transport: {d.reason}")
            await self._breaker.failure(d.reason)
            await self._tick(channel_id)  # again once the breaker lets a probe through
        else:
            await self._channels.set_error(channel_id, d.reason)
            if d.alert:  # an unexpected error: a bug
                self._alerter.alert(
                    f"run-error:{channel_id}",
                    AlertText("alert_run_failed", channel=label, error=d.reason),
                )
