"""Wall-clock jumps against APScheduler 3, with injected wall clocks.

APScheduler reads the wall clock through `datetime.now` in its base module and sleeps
with the loop's monotonic timer; the tests move the first and leave the second alone,
which is what suspend/resume or an NTP step does to a running process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers import base as aps_base

from db.models import Channel
from services.parsing.clock_jumps import WallClockWatch
from services.parsing.worker import ParseWorker
from tests.unit.services.parsing.fakes import FakeFetcher, FakeUserbot, worker

HOURS_3 = 3 * 3600.0


def test_the_watch_sees_jumps_both_ways_and_ignores_small_drift() -> None:
    wall, mono = [1_000_000.0], [50.0]
    watch = WallClockWatch(threshold=5, wall=lambda: wall[0], mono=lambda: mono[0])
    wall[0] += 10
    mono[0] += 10
    assert watch.jump() == 0  # both moved alike
    wall[0] += 10 + HOURS_3
    mono[0] += 10
    assert watch.jump() == HOURS_3  # forward (or a resume: monotonic stood still)
    wall[0] += 10 - HOURS_3
    mono[0] += 10
    assert watch.jump() == -HOURS_3  # back
    wall[0] += 12
    mono[0] += 10
    assert watch.jump() == 0  # 2 s of NTP slewing is no jump
    assert watch.now() == datetime.fromtimestamp(wall[0], UTC)


class _Wall:
    """The wall clock, `shift` seconds off the real one."""

    def __init__(self) -> None:
        self.shift = 0.0

    def time(self) -> float:
        return time.time() + self.shift

    def now(self, tz: Any = None) -> datetime:
        return datetime.now(tz) + timedelta(seconds=self.shift)


@pytest.fixture
def wall(db: Path, monkeypatch: pytest.MonkeyPatch) -> _Wall:
    shifted = _Wall()
    monkeypatch.setattr(aps_base, "datetime", shifted)  # APScheduler's wall clock
    return shifted


async def _started(wall: _Wall, fetcher: FakeFetcher) -> tuple[ParseWorker, asyncio.Task[None]]:
    sched = worker(
        fetcher,
        FakeUserbot(),
        default_interval_minutes=60,
        clock_watch=WallClockWatch(wall=wall.time),
        clock_tick=0.02,
    )
    task = asyncio.create_task(sched.run())
    await sched.started.wait()
    return sched, task


async def _due_in(minutes: int, name: str) -> Channel:
    return await Channel.create(
        tg_id=hash(name) % 10_000,
        access_hash=1,
        username=name,
        backfill_done=True,
        next_run_at=datetime.now(UTC) + timedelta(minutes=minutes),
    )


async def _until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _next_run(sched: ParseWorker, ch: Channel) -> datetime:
    when = sched.jobs.next_run(ch.id)
    assert when is not None
    return when


async def test_a_jump_forward_of_3_h_runs_a_channel_due_in_30_minutes_within_seconds(
    wall: _Wall,
) -> None:
    ch = await _due_in(30, "due")
    fetcher = FakeFetcher()
    sched, task = await _started(wall, fetcher)
    try:
        planned = _next_run(sched, ch)
        assert timedelta(minutes=29) < planned - datetime.now(UTC) <= timedelta(minutes=30)
        assert fetcher.runs == []
        wall.shift = HOURS_3  # the loop's timer still waits 30 minutes (monotonic)
        await _until(lambda: fetcher.runs == [ch.id])
        # Planned again on the new clock: one interval after the last missed run (at
        # T+150 min), give or take the trigger's 30 s jitter at each of its steps.
        after = _next_run(sched, ch) - wall.now(UTC)
        assert timedelta(minutes=27) < after <= timedelta(minutes=33), after
    finally:
        await sched.stop()
        await task


async def test_after_a_jump_back_of_3_h_no_channel_waits_beyond_its_interval(
    wall: _Wall,
) -> None:
    soon, later = await _due_in(30, "soon"), await _due_in(50, "later")
    fetcher = FakeFetcher()
    sched, task = await _started(wall, fetcher)
    try:
        before = {c.id: _next_run(sched, c) for c in (soon, later)}
        wall.shift = -HOURS_3  # now 3 h 30 min away by the wall clock
        await _until(lambda: _next_run(sched, soon) != before[soon.id])
        for ch, minutes in ((soon, 30), (later, 50)):
            left = _next_run(sched, ch) - wall.now(UTC)
            assert timedelta(minutes=minutes - 1) < left <= timedelta(minutes=minutes), left
            # Stored too, so a restart plans the same time.
            for _ in range(500):
                row = await Channel.get(id=ch.id)
                if row.next_run_at == _next_run(sched, ch):
                    break
                await asyncio.sleep(0.01)
            assert row.next_run_at == _next_run(sched, ch)
        assert fetcher.runs == []  # brought back, not run early
    finally:
        await sched.stop()
        await task
