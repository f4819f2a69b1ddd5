"""Wall-clock jumps (suspend and resume, an NTP step) and APScheduler 3.

AsyncIOScheduler plans jobs by wall-clock datetimes but sleeps until the next one with
the event loop's `call_later`, which counts monotonic time. After a jump forward a
channel due in 30 minutes still waits out the old 30-minute timer although its time has
come; after a jump back every planned time lies further away by the size of the jump.
(Linux's monotonic clock also stands still during suspend, so a resume looks like a
jump forward.)

`WallClockWatch` compares how far both clocks moved between two ticks; when they
disagree by more than a few seconds the scheduler is woken (`wakeup()` runs what is due
by the wall clock and re-arms its timer) and, after a jump back, the interval jobs whose
next run now lies beyond their interval are brought back by the jump.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


class WallClockWatch:
    """Measures jumps of the wall clock against the monotonic one, tick to tick."""

    def __init__(
        self,
        *,
        threshold: float = 5.0,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self._wall = wall
        self._mono = mono
        self._last = (wall(), mono())

    def now(self) -> datetime:
        """The wall clock's time now, as an aware UTC datetime."""
        return datetime.fromtimestamp(self._wall(), UTC)

    def jump(self) -> float:
        """Seconds the wall clock moved beyond the monotonic one since the last call
        (negative: back); 0 when they agree within `threshold`."""
        wall, mono = self._wall(), self._mono()
        drift = (wall - self._last[0]) - (mono - self._last[1])
        self._last = (wall, mono)
        return drift if abs(drift) >= self.threshold else 0.0


def replan_after_jump(sched: Any, jump: float, now: datetime) -> dict[str, datetime]:
    """Wake an APScheduler 3 scheduler after a wall-clock jump of `jump` seconds.

    After a jump back, an interval job planned beyond `now` + its interval (+ jitter)
    was planned on the old clock: its next run moves back by the jump, never before
    `now`. Returns the moved jobs' new times by job id.
    """
    moved: dict[str, datetime] = {}
    if jump < 0:
        for job in sched.get_jobs():
            trigger = job.trigger
            planned = job.next_run_time
            if planned is None or not isinstance(trigger, IntervalTrigger):
                continue
            slack = timedelta(seconds=trigger.jitter or 0)
            if planned <= now + trigger.interval + slack:
                continue
            when = max(now, planned + timedelta(seconds=jump))
            job.modify(next_run_time=when)
            moved[job.id] = when
    sched.wakeup()  # runs what is due by the wall clock, re-arms the timer
    return moved
