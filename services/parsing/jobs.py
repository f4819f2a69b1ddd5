"""The job table: one APScheduler interval job per active channel, in memory.

Jobs are rebuilt from the channel table at start. A job only hands its channel to
`tick` (the worker's queue), so it never overlaps a run. A flood wait adds a one-off
job for the moment the wait ends. Wall-clock jumps (suspend and resume, NTP steps)
are looked for every `clock_tick` s: see clock_jumps.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.alerts import AlertText
from core.channels import Channel
from core.ports import AlertSink
from services.parsing.clock_jumps import WallClockWatch, replan_after_jump

log = logging.getLogger(__name__)

Tick = Callable[[int], Awaitable[None]]
Replanned = Callable[[int, datetime], Awaitable[None]]


class JobTable:
    """When each channel runs next. Every method is a no-op while not started.

    `tick(channel_id)` is what a job calls; `default_interval_minutes` applies to
    channels without their own; `jitter_seconds` spreads runs of the same interval;
    `on_replanned(channel_id, when)` stores a run time moved after a clock jump. A job
    that raises is told to the admins through `alerter`.
    """

    def __init__(
        self,
        tick: Tick,
        alerter: AlertSink,
        *,
        default_interval_minutes: int = 60,
        jitter_seconds: int = 30,
        on_replanned: Replanned | None = None,
        clock_watch: WallClockWatch | None = None,
        clock_tick: float = 10.0,
    ) -> None:
        self._tick = tick
        self._alerter = alerter
        self._default_interval = default_interval_minutes
        self._jitter = jitter_seconds
        self._on_replanned = on_replanned
        self._clock_watch = clock_watch
        self._clock_tick = clock_tick
        self._sched: AsyncIOScheduler | None = None
        # Each planned channel's interval (minutes) and name (Channel.display_name).
        self._intervals: dict[int, int] = {}
        self._names: dict[int, str] = {}

    @property
    def scheduler(self) -> AsyncIOScheduler | None:
        """The APScheduler instance while started (tests add jobs to it)."""
        return self._sched

    def start(self) -> None:
        """Start APScheduler (in this event loop) with no jobs yet."""
        sched = AsyncIOScheduler(timezone=UTC)
        sched.add_listener(self._job_error_listener, EVENT_JOB_ERROR)
        self._sched = sched
        sched.start()

    def pause(self) -> None:
        """No more ticks (a stop is under way)."""
        if self._sched is not None:
            self._sched.pause()

    def shutdown(self) -> None:
        """Stop APScheduler without waiting for running jobs; every job is dropped."""
        if self._sched is not None:
            self._sched.pause()
            self._sched.shutdown(wait=False)
            self._sched = None

    def interval(self, ch: Channel) -> int:
        """The channel's interval in minutes."""
        return ch.interval_minutes or self._default_interval

    def interval_of(self, channel_id: int) -> int:
        """The interval in minutes of a planned channel (the default when unknown)."""
        return self._intervals.get(channel_id, self._default_interval)

    def add(self, ch: Channel, first: datetime) -> None:
        """(Re)plan the channel's job: first at `first`, then every interval."""
        self._intervals[ch.id] = self.interval(ch)
        self._names[ch.id] = ch.display_name
        if self._sched is None:
            return
        self._sched.add_job(
            self._tick,
            IntervalTrigger(minutes=self.interval(ch), jitter=self._jitter, timezone=UTC),
            args=[ch.id],
            id=str(ch.id),
            name=ch.display_name,
            next_run_time=first,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    def remove(self, channel_id: int) -> None:
        """Drop the channel's interval job (a deferred run stays and finds it gone)."""
        if self._sched is not None and self._sched.get_job(str(channel_id)):
            self._sched.remove_job(str(channel_id))

    def defer(self, channel_id: int, until: datetime) -> None:
        """One extra run one second after `until` (the end of a flood wait)."""
        if self._sched is None:
            return
        self._sched.add_job(
            self._tick,
            DateTrigger(until + timedelta(seconds=1), timezone=UTC),
            args=[channel_id],
            id=f"deferred-{channel_id}",
            name=self._names.get(channel_id) or f"channel-{channel_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def retry(self, channel_id: int, when: datetime) -> None:
        """One extra run at `when` (a retry after a transport failure); replaces an
        earlier retry of the channel that has not run yet."""
        if self._sched is None:
            return
        self._sched.add_job(
            self._tick,
            DateTrigger(when, timezone=UTC),
            args=[channel_id],
            id=f"retry-{channel_id}",
            name=self._names.get(channel_id) or f"channel-{channel_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def retry_at(self, channel_id: int) -> datetime | None:
        """When the channel's pending retry runs (None: none is pending)."""
        job = self._sched.get_job(f"retry-{channel_id}") if self._sched is not None else None
        return job.next_run_time if job is not None else None

    def describe(self, job_id: str) -> str:
        """How an alert names a job: its channel's name for a channel's job (its
        interval, deferred or retry run), else the job's id."""
        channel_id = job_id.rsplit("-", 1)[-1]
        if channel_id.isdigit() and int(channel_id) in self._names:
            return self._names[int(channel_id)]
        return job_id

    def next_run(self, channel_id: int) -> datetime | None:
        """When the channel's interval job runs next (None: no job)."""
        job = self._sched.get_job(str(channel_id)) if self._sched is not None else None
        return job.next_run_time if job is not None else None

    def next_runs(self) -> list[tuple[int, datetime]]:
        """`(channel_id, when)` of every planned channel, soonest first: its interval
        job's next run, or its retry or deferred run when that comes sooner."""
        if self._sched is None:
            return []
        soonest: dict[int, datetime] = {}
        for job in self._sched.get_jobs():
            channel_id = job.id.removeprefix("retry-").removeprefix("deferred-")
            when = job.next_run_time
            if when is None or not channel_id.isdigit():
                continue
            key = int(channel_id)
            if key not in soonest or when < soonest[key]:
                soonest[key] = when
        return sorted(soonest.items(), key=lambda p: p[1])

    def rebuild(self, channels: list[Channel], now: datetime) -> None:
        """Jobs of the active `channels` as stored: a run that is due, or a channel never
        backfilled, starts now (staggered by 50 ms, at most 60 s, so 1,000 channels do
        not all fire in one second); a deferral still running gets its extra run."""
        for i, ch in enumerate(channels):
            first = ch.next_run_at
            if not ch.backfill_done or first is None or first <= now:
                first = now + timedelta(seconds=min(i * 0.05, 60))
            self.add(ch, first)
            if ch.deferred_until is not None and ch.deferred_until > now:
                self.defer(ch.id, ch.deferred_until)
        log.info("scheduler: %d channel jobs", len(channels))

    async def watch_clock(self) -> None:
        """Every `clock_tick` s (monotonic), until cancelled: after a wall-clock jump, due
        channels run now and, after a jump back, none waits longer than its interval."""
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
                    if job_id.isdigit() and self._on_replanned is not None:
                        await self._on_replanned(int(job_id), when)
            except Exception:
                log.exception("re-planning after a wall-clock jump failed")

    async def _on_job_error(self, event: JobExecutionEvent) -> None:
        self._alerter.alert(
            f"job-error:{event.job_id}",
            AlertText(
                "alert_job_failed", job=self.describe(event.job_id),
                error=type(event.exception).__name__,
            ),
        )

    def _job_error_listener(self, event: JobExecutionEvent) -> None:
        asyncio.get_running_loop().create_task(self._on_job_error(event))
