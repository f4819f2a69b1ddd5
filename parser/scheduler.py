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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app import metrics
from app.alerts import Alerter, AlertText
from app.health import HealthRegistry
from db.database import shielded_write
from db.messages import ChannelRow, IngestRepository
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
        alerter: Alerter,
        health: HealthRegistry,
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

    def _interval(self, ch: ChannelRow) -> int:
        return ch.interval_minutes or self._default_interval

    def _add_job(self, ch: ChannelRow, first: datetime) -> None:
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

    async def _wait_usable(self) -> Any:
        """The client, once the session is ready and the breaker lets a run through."""
        while not self._stopping:
            if not self._breaker.allow():
                await asyncio.sleep(min(1.0, self._breaker.retry_in() or 1.0))
                continue
            client = self._userbot.client
            if client is not None and self._userbot.state == "ready":
                return client
            if self._userbot.state == "invalid":
                return None
            await asyncio.sleep(1.0)
        return None

    async def _handle(self, req: _Request) -> None:
        self._queued.discard(req.channel_id)
        result = RunProgress(str(req.channel_id), status="failed")
        try:
            result = await self._run_one(req)
        except Exception as exc:
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
    def _not_runnable(ch: ChannelRow | None, channel_id: int) -> RunProgress:
        return RunProgress(
            ch.label if ch else str(channel_id), status="disabled",
            error=(ch.disabled_reason or ch.status) if ch else "removed",
        )

    async def _run_one(self, req: _Request) -> RunProgress:
        ch = await self._repo.channel(req.channel_id)
        if ch is None or ch.status != "active":
            return self._not_runnable(ch, req.channel_id)
        now = datetime.now(UTC)
        if ch.deferred_until is not None and ch.deferred_until > now:
            left = int((ch.deferred_until - now).total_seconds())
            return RunProgress(ch.label, status="deferred", deferred_seconds=left)
        client = await self._wait_usable()
        if client is None:
            return RunProgress(ch.label, status="failed", error="session")
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

    async def _on_failure(self, ch: ChannelRow, failed: RunFailed) -> RunProgress:
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

    async def targets(self, target: str) -> list[ChannelRow]:
        """Active channels for `all`, else the one channel named (any status)."""
        if target.strip().lower() in ("all", "*", "все"):
            return await self._repo.channels("active")
        ch = await self._repo.find(target)
        return [ch] if ch is not None else []

    def ready(self) -> bool:
        return self._userbot.client is not None and self._userbot.state == "ready"

    async def run(self, channel_id: int, on_progress: ProgressCallback | None) -> RunProgress:
        return await self.scheduler.parse_now(channel_id, on_progress)

    async def status(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        channels = await self._repo.channels()
        ok = [c for c in channels if c.status == "active" and not _deferred(c, now)]
        deferred = [
            (c.label, int((c.deferred_until - now).total_seconds()))
            for c in channels
            if c.status == "active" and c.deferred_until is not None and _deferred(c, now)
        ]
        disabled = [(c.label, c.disabled_reason or "") for c in channels if c.status == "disabled"]
        paused = [c for c in channels if c.status == "paused"]
        labels = {c.id: c.label for c in channels}
        me = self._userbot.me
        account = None
        if me is not None:
            account = getattr(me, "username", None) or getattr(me, "first_name", None)
        return {
            "account": account,
            "session": self._userbot.state,
            "breaker": self._breaker.probe(),
            "ok": len(ok),
            "paused": len(paused),
            "deferred": deferred,
            "disabled": disabled,
            "messages": sum(c.messages_count for c in channels),
            "db_size": self._repo.database_size(),
            "next_runs": [
                (labels.get(cid, str(cid)), when) for cid, when in self.scheduler.next_runs()[:5]
            ],
            "current": self.scheduler.current,
            "queued": self.scheduler.queued,
        }


def _deferred(ch: ChannelRow, now: datetime) -> bool:
    return ch.deferred_until is not None and ch.deferred_until > now
