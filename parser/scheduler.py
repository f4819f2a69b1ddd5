"""When channels are parsed: APScheduler ticks feed one run queue, drained by one worker.

Jobs live in APScheduler's in-memory store and are rebuilt from the channel table at
start. A job only enqueues its channel, so it never overlaps a run; the worker runs
channels one at a time on the one Telethon client. `/parse` requests go through the
same queue, so they wait behind a running run instead of racing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app import metrics
from core.alerts import AlertText
from core.channels import Channel
from core.ports import AlertSink, HealthBeats
from db.channels import find_channel
from db.database import shielded_write
from db.messages import ChannelState, IngestRepository
from parser.breaker import CircuitBreaker
from parser.clock_jumps import WallClockWatch, replan_after_jump
from parser.errors import ChannelUnavailable, RateLimited, SessionDead, TransportError
from parser.fetcher import ChannelFetcher, ProgressCallback, RunFailed, RunProgress

log = logging.getLogger(__name__)

LONG_FLOOD_SECONDS = 60
# How long pausing or removing a channel waits for its running batch to commit.
DROP_WAIT_SECONDS = 30.0


@dataclass
class _Request:
    channel_id: int
    trigger: str
    on_progress: ProgressCallback | None = None
    done: asyncio.Future[RunProgress] | None = None
    queued_at: float = field(default_factory=time.monotonic)
    label: str | None = None  # known once the run has read its channel


class NotReady(Exception):
    """The userbot has no usable session (not logged in, or the session died)."""


class ParseScheduler:
    """A supervised component: schedules, queues and runs channel fetches."""

    name = "scheduler"

    def __init__(
        self,
        repo: IngestRepository,
        fetcher: ChannelFetcher,
        userbot: Any,  # parser.userbot.Userbot
        breaker: CircuitBreaker,
        alerter: AlertSink,
        health: HealthBeats,
        *,
        default_interval_minutes: int = 60,
        jitter_seconds: int = 30,
        on_committed: Callable[[int, int, int, int], Awaitable[None]] | None = None,
        clock_watch: WallClockWatch | None = None,
        clock_tick: float = 10.0,
    ) -> None:
        self._repo = repo
        self._fetcher = fetcher
        self._userbot = userbot
        self._breaker = breaker
        self._alerter = alerter
        self._health = health
        self._default_interval = default_interval_minutes
        self._jitter = jitter_seconds
        # (channel_id, first_id, last_id, count) of the new messages of a finished run.
        self._on_committed = on_committed
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._queued: set[int] = set()
        self._sched: AsyncIOScheduler | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self.started = asyncio.Event()  # jobs rebuilt from the database
        self.current: RunProgress | None = None
        self._running: int | None = None  # the channel of the run in progress
        self._run_ended = asyncio.Event()
        self._run_ended.set()
        self._dropped: set[int] = set()  # being paused or removed: stop their run
        # Wall-clock jumps (suspend/resume, NTP steps): looked for every `clock_tick` s.
        self._clock_watch = clock_watch
        self._clock_tick = clock_tick
        breaker.on_change(self._on_breaker)
        health.add_probe("breaker", breaker.probe)

    # -- hooks for /add, removal and /schedule -----------------------------------------

    async def add_channel(self, channel_id: int) -> None:
        ch = await self._repo.channel(channel_id)
        if ch is not None and ch.status == "active":
            self._add_job(ch, first=datetime.now(UTC))

    async def remove_channel(self, channel_id: int) -> None:
        if self._sched is not None and self._sched.get_job(str(channel_id)):
            self._sched.remove_job(str(channel_id))

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
        ch = await self._repo.channel(channel_id)
        if ch is None or ch.status != "active":
            await self.remove_channel(channel_id)
            return
        first = datetime.now(UTC) + timedelta(minutes=self._interval(ch))
        self._add_job(ch, first=first)
        await self._repo.set_next_run(channel_id, first)

    # -- status ------------------------------------------------------------------------

    def next_runs(self) -> list[tuple[int, datetime]]:
        if self._sched is None:
            return []
        out = []
        for job in self._sched.get_jobs():
            if job.next_run_time is not None and job.id.isdigit():
                out.append((int(job.id), job.next_run_time))
        return sorted(out, key=lambda p: p[1])

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # -- /parse ------------------------------------------------------------------------

    async def parse_now(
        self, channel_id: int, on_progress: ProgressCallback | None = None
    ) -> RunProgress:
        """Run one channel as soon as the worker is free; resolves with the run's outcome."""
        if self._userbot.client is None:
            raise NotReady(self._userbot.state)
        done: asyncio.Future[RunProgress] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(channel_id, "manual", on_progress, done))
        return await done

    # -- jobs --------------------------------------------------------------------------

    def _interval(self, ch: Channel) -> int:
        return ch.interval_minutes or self._default_interval

    def _add_job(self, ch: Channel, first: datetime) -> None:
        if self._sched is None:
            return
        self._sched.add_job(
            self._tick,
            IntervalTrigger(minutes=self._interval(ch), jitter=self._jitter, timezone=UTC),
            args=[ch.id],
            id=str(ch.id),
            name=ch.label,
            next_run_time=first,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    async def _tick(self, channel_id: int) -> None:
        if channel_id in self._queued or self._stopping:
            return
        self._queued.add(channel_id)
        await self._queue.put(_Request(channel_id, "schedule"))

    def _defer_job(self, channel_id: int, until: datetime) -> None:
        if self._sched is None:
            return
        self._sched.add_job(
            self._tick,
            DateTrigger(until + timedelta(seconds=1), timezone=UTC),
            args=[channel_id],
            id=f"deferred-{channel_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _rebuild(self) -> None:
        await self._repo.interrupt_stale_runs()
        now = datetime.now(UTC)
        channels = await self._repo.channels("active")
        for i, ch in enumerate(channels):
            first = ch.next_run_at
            if not ch.backfill_done or first is None or first <= now:
                # Stagger the catch-up so 1,000 channels do not all fire in one second.
                first = now + timedelta(seconds=min(i * 0.05, 60))
            self._add_job(ch, first)
            if ch.deferred_until is not None and ch.deferred_until > now:
                self._defer_job(ch.id, ch.deferred_until)
        log.info("scheduler: %d channel jobs", len(channels))

    async def _on_job_error(self, event: JobExecutionEvent) -> None:
        self._alerter.alert(
            f"job-error:{event.job_id}",
            AlertText(
                "alert_job_failed", job=event.job_id, error=type(event.exception).__name__
            ),
        )

    def _job_error_listener(self, event: JobExecutionEvent) -> None:
        asyncio.get_running_loop().create_task(self._on_job_error(event))

    async def _on_breaker(self, state: str, error: str | None) -> None:
        metrics.BREAKER_OPEN.set(1 if state == "open" else 0)
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

    async def _watch_clock(self) -> None:
        """Every `clock_tick` s (monotonic): after a wall-clock jump, due channels run
        now and, after a jump back, none waits longer than its interval."""
        watch = self._clock_watch or WallClockWatch()
        while True:
            await asyncio.sleep(self._clock_tick)
            jump = watch.jump()
            if not jump or self._sched is None:
                continue
            try:
                moved = replan_after_jump(self._sched, jump, watch.now())
                log.warning(
                    "the wall clock jumped %+.0f s (suspend and resume, or a clock step): "
                    "due channels run now; %d planned run(s) brought back", jump, len(moved),
                )
                for job_id, when in moved.items():
                    if job_id.isdigit():  # a stop cancels this task: let the write land
                        await shielded_write(self._repo.set_next_run(int(job_id), when))
            except Exception:
                log.exception("re-planning after a wall-clock jump failed")

    # -- the component -----------------------------------------------------------------

    async def run(self) -> None:
        self._stopped.clear()
        sched = AsyncIOScheduler(timezone=UTC)
        sched.add_listener(self._job_error_listener, EVENT_JOB_ERROR)
        self._sched = sched
        sched.start()
        watcher = asyncio.create_task(self._watch_clock())
        try:
            await self._rebuild()
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
            sched.pause()
            sched.shutdown(wait=False)
            self._sched = None
            for req in self._drain_queue():
                if req.done is not None and not req.done.done():
                    req.done.set_exception(NotReady("stopping"))
            self._stopped.set()

    def _drain_queue(self) -> list[_Request]:
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        self._queued.clear()
        return items

    async def stop(self) -> None:
        """Pause ticks, let the current batch finish, then return (no cancellation)."""
        self._stopping = True
        if self._sched is not None:
            self._sched.pause()
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
        result = RunProgress(str(req.channel_id), status="failed")
        try:
            result = await self._run_one(req)
        except Exception as exc:
            result.channel = req.label or result.channel
            log.exception("run of channel %s failed", req.channel_id)
            metrics.ERRORS.labels("unexpected").inc()
            result.error = type(exc).__name__
            await self._repo.set_error(req.channel_id, result.error)
            self._alerter.alert(
                f"run-error:{req.channel_id}",
                AlertText(
                    "alert_run_failed",
                    channel=await self._label(req.channel_id),
                    error=type(exc).__name__,
                ),
            )
        finally:
            self.current = None
            self._running = None
            self._run_ended.set()
            if req.done is not None and not req.done.done():
                req.done.set_result(result)

    async def _label(self, channel_id: int) -> str:
        """The channel's @username or title for an alert (its row id if unreadable)."""
        try:
            ch = await self._repo.channel(channel_id)
        except Exception:
            ch = None
        return ch.label if ch is not None else f"#{channel_id}"

    @staticmethod
    def _not_runnable(ch: Channel | None, channel_id: int) -> RunProgress:
        return RunProgress(
            ch.label if ch else str(channel_id), status="disabled",
            error=(ch.disabled_reason or ch.status) if ch else "removed",
        )

    async def _run_one(self, req: _Request) -> RunProgress:
        ch = await self._repo.channel(req.channel_id)
        if ch is None or ch.status != "active":
            return self._not_runnable(ch, req.channel_id)
        req.label = ch.label
        now = datetime.now(UTC)
        if ch.deferred_until is not None and ch.deferred_until > now:
            left = int((ch.deferred_until - now).total_seconds())
            return RunProgress(ch.label, status="deferred", deferred_seconds=left)
        client = await self._wait_usable(manual=req.trigger == "manual")
        if client is None:
            # Not this channel's trouble: the session died (or the app is stopping).
            reason = "stopping" if self._stopping else self._userbot.state
            return RunProgress(ch.label, status="not_run", error=reason)
        # From here on a removal waits for this run to end (drop_channel); the channel
        # may have been removed or paused while the client was not ready: look again.
        self._running = req.channel_id
        self._run_ended.clear()
        ch = await self._repo.channel(req.channel_id)
        if ch is None or ch.status != "active" or ch.id in self._dropped:
            return self._not_runnable(ch, req.channel_id)
        run_id = await self._repo.start_run(ch.id, req.trigger)
        started = time.monotonic()
        self.current = RunProgress(ch.label, started=started)

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

        try:
            result = await self._fetcher.run(client, ch, progress)
        except RunFailed as failed:
            if self._userbot.client is not client:
                # Logged out (or in again) while this run went on: its requests failed
                # because the client was taken away, not because of Telegram.
                failed.progress.status = "interrupted"
                await self._repo.end_run(run_id, "interrupted", failed.progress.fetched, None)
                return failed.progress
            await self._repo.end_run(run_id, "failed", failed.progress.fetched, str(failed.error))
            return await self._on_failure(ch, failed)
        finally:
            metrics.RUN_SECONDS.observe(time.monotonic() - started)
        await self._breaker.success()
        if result.status == "interrupted":
            # Stopped between batches: the cursor is committed; the next start resumes.
            await self._repo.end_run(run_id, "interrupted", result.fetched, None)
            return result
        next_at = None
        job = self._sched.get_job(str(ch.id)) if self._sched is not None else None
        if job is not None:
            next_at = job.next_run_time
        await self._repo.finish_run(ch.id, top_id=result.top_id or None, next_run_at=next_at)
        self._alerter.forget(f"flood:{ch.id}")
        await self._repo.end_run(run_id, result.status, result.fetched, None)
        if self._on_committed is not None and result.new:
            try:
                await self._on_committed(ch.id, result.first_new_id, result.top_id, result.new)
            except Exception:
                log.exception("run-completed subscriber failed")
        return result

    async def _on_failure(self, ch: Channel, failed: RunFailed) -> RunProgress:
        err, result = failed.error, failed.progress
        if isinstance(err, RateLimited):
            metrics.FLOOD_WAITS.inc()
            until = datetime.now(UTC) + timedelta(seconds=err.seconds)
            await self._repo.defer(ch.id, until, f"flood wait {err.seconds}s")
            self._defer_job(ch.id, until)
            result.status, result.deferred_seconds = "deferred", err.seconds
            if err.seconds >= LONG_FLOOD_SECONDS:
                self._alerter.alert(
                    f"flood:{ch.id}",
                    AlertText("alert_flood_deferred", channel=ch.label, seconds=err.seconds),
                )
        elif isinstance(err, ChannelUnavailable):
            metrics.ERRORS.labels("channel").inc()
            await self._repo.disable(ch.id, err.reason)
            await self.remove_channel(ch.id)
            result.status = "disabled"
            self._alerter.alert(
                f"channel-disabled:{ch.id}",
                AlertText("alert_channel_disabled", channel=ch.label, reason=err.reason),
            )
        elif isinstance(err, SessionDead):
            metrics.ERRORS.labels("session").inc()
            await self._userbot.session_dead(err.detail or err.code)
        elif isinstance(err, TransportError):
            metrics.ERRORS.labels("transport").inc()
            await self._repo.set_error(ch.id, f"transport: {err.detail}")
            await self._breaker.failure(err.detail or err.code)
            # Retry this channel once the breaker lets a probe through.
            await self._tick(ch.id)
        else:
            metrics.ERRORS.labels(err.code).inc()
            await self._repo.set_error(ch.id, err.detail or err.code)
        return result


# How many results and problems a batch keeps to name (its counters cover the rest),
# and how many channels of each kind /status gets to name.
KEPT = 10
BatchCallback = Callable[["BatchProgress"], Awaitable[None]]


@dataclass
class BatchProgress:
    """One /parse over one or more channels, for a live message and a summary.

    Bounded whatever the number of channels: outcomes are counted, and only the first
    few results and problems are kept to be named.
    """

    total: int
    started: float = field(default_factory=time.monotonic)
    # By RunProgress.status: ok, failed, deferred, disabled, interrupted, not_run.
    outcomes: Counter[str] = field(default_factory=Counter)
    new: int = 0
    reread: int = 0
    results: list[tuple[RunProgress, float]] = field(default_factory=list)  # with seconds
    problems: list[tuple[RunProgress, float]] = field(default_factory=list)
    current: RunProgress | None = None
    # Why the channels left were not run: a userbot state (invalid, no_session, ...) or
    # "stopping"; `stopped_detail` is the session's reason (AuthKeyUnregistered, ...).
    stopped: str | None = None
    stopped_detail: str | None = None

    @property
    def done(self) -> int:
        """Channels that were run (whatever came of it)."""
        return sum(self.outcomes.values()) - self.outcomes["not_run"]

    def add(self, result: RunProgress, seconds: float) -> None:
        self.current = None
        self.outcomes[result.status] += 1
        self.new += result.new
        self.reread += result.reread
        if len(self.results) < KEPT:
            self.results.append((result, seconds))
        if result.status != "ok" and len(self.problems) < KEPT:
            self.problems.append((result, seconds))

    def stop(self, reason: str, detail: str | None, left: int) -> None:
        self.current = None
        self.stopped, self.stopped_detail = reason, detail
        self.outcomes["not_run"] += left


async def _notify(callback: BatchCallback | None, batch: BatchProgress) -> None:
    if callback is None:
        return
    try:
        await callback(batch)
    except Exception:
        log.warning("batch progress callback failed", exc_info=True)


def _kind(ch: ChannelState, now: datetime) -> str | None:
    """ok / failing / deferred / disabled / paused, or None (a linked discussion group)."""
    if ch.status in ("paused", "disabled"):
        return ch.status
    if ch.status != "active":
        return None
    if ch.deferred_until is not None and ch.deferred_until > now:
        return "deferred"
    if ch.last_error and ch.deferred_until is None:  # its last run failed
        return "failing"
    return "ok"


def _detail(ch: ChannelState, kind: str, now: datetime) -> tuple[str, Any]:
    if kind == "deferred":
        assert ch.deferred_until is not None
        return ch.label, int((ch.deferred_until - now).total_seconds())
    if kind == "failing":
        return ch.label, ch.last_error or ""
    return ch.label, ch.disabled_reason or ""


class ParseService:
    """What the bot's /parse and /status call (no Telethon or ORM types leak out)."""

    def __init__(
        self,
        scheduler: ParseScheduler,
        repo: IngestRepository,
        breaker: CircuitBreaker,
        userbot: Any,
    ) -> None:
        self.scheduler = scheduler
        self._repo = repo
        self._breaker = breaker
        self._userbot = userbot
        self.batch: BatchProgress | None = None  # the /parse all under way

    async def targets(self, target: str) -> list[Channel]:
        """Active channels for `all`, else the one channel named (any status)."""
        if target.strip().lower() in ("all", "*", "все"):
            return await self._repo.channels("active")
        ch = await find_channel(target, include_linked=True)
        return [ch] if ch is not None else []

    def ready(self) -> bool:
        return self._userbot.client is not None and self._userbot.state == "ready"

    async def run_batch(
        self,
        targets: list[Channel],
        on_progress: BatchCallback | None = None,
        *,
        exclusive: bool = False,
    ) -> BatchProgress | None:
        """Run `targets` one after another through the scheduler's queue.

        Once the session is gone (revoked, logged out) the channels left are not run and
        the batch says why. `exclusive`: this is the one `/parse all` (`self.batch`);
        None, and nothing run, when another one is under way.
        """
        batch = BatchProgress(len(targets))
        if exclusive:
            if self.batch is not None:
                return None
            self.batch = batch
        try:
            for i, ch in enumerate(targets):
                result, seconds = await self._run_in(batch, ch, on_progress)
                if result.status == "not_run":
                    reason = result.error or self._userbot.state
                    detail = None if reason == "stopping" else self._userbot.reason
                    batch.stop(reason, detail, len(targets) - i)
                    break
                batch.add(result, seconds)
                await _notify(on_progress, batch)
        finally:
            if self.batch is batch:
                self.batch = None
        return batch

    async def _run_in(
        self, batch: BatchProgress, ch: Channel, on_progress: BatchCallback | None
    ) -> tuple[RunProgress, float]:
        started = time.monotonic()

        async def progress(p: RunProgress) -> None:
            batch.current = p
            await _notify(on_progress, batch)

        try:
            result = await self.scheduler.parse_now(ch.id, progress)
        except NotReady as exc:
            result = RunProgress(ch.label, status="not_run", error=str(exc))
        return result, time.monotonic() - started

    async def status(self, sample: int = KEPT) -> dict[str, Any]:
        """Counts by kind, the first `sample` channels of each kind but ok, and what runs.

        Without a usable session there is no connection to report and no run to come.
        """
        now = datetime.now(UTC)
        counts: Counter[str] = Counter()
        named: dict[str, list[tuple[str, Any]]] = {
            k: [] for k in ("failing", "deferred", "disabled", "paused")
        }
        labels: dict[int, str] = {}
        messages = 0
        for ch in await self._repo.channel_states():
            labels[ch.id] = ch.label
            messages += ch.messages_count
            kind = _kind(ch, now)
            if kind is None:
                continue
            counts[kind] += 1
            if kind != "ok" and len(named[kind]) < sample:
                named[kind].append(_detail(ch, kind, now))
        ready = self.ready()
        next_runs = self.scheduler.next_runs()[:5] if ready else []
        return {
            "ready": ready,
            "session": self._userbot.state,
            "breaker": self._breaker.probe(),
            "counts": counts,
            "named": named,
            "messages": messages,
            "db_size": self._repo.database_size(),
            "next_runs": [(labels.get(cid, str(cid)), when) for cid, when in next_runs],
            "current": self.scheduler.current,
            "queued": self.scheduler.queued if ready else 0,
            "batch": self.batch,
        }
