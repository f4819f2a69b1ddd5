"""The counters job's subscriber reads are paced (services/counters/service.py): 1,000
channels are read over the interval, never all at once, at a first start and at a
restart after a long stop alike; in steady state each channel once an interval. The
repository and the reads are fakes (the MTProto side: tests/integration/test_counters.py)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from core.errors import ChannelUnavailable, RateLimited
from core.parsing import CountersState
from db.counters import Followed
from services.counters import service as counters_service
from services.counters.service import CountersService
from tests.doubles.sessions import FakeSession

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=60)
POLL = 300.0
CHANNELS = 1000
CAP = math.ceil(CHANNELS * POLL / INTERVAL.total_seconds())  # 84 a round


class Repo:
    """CounterRepository's job side over a dict of subscriber reads."""

    def __init__(self, n: int) -> None:
        self.channels = [Followed(i, 1000 + i, 1, f"@c{i}") for i in range(1, n + 1)]
        self.reads: dict[int, list[datetime]] = {c.id: [] for c in self.channels}
        self.resume: datetime | None = None

    async def followed_channels(self) -> list[Followed]:
        return self.channels

    async def subscribers_due(
        self, ids: Sequence[int], interval: timedelta, now: datetime
    ) -> tuple[list[int], datetime | None]:
        never = [c for c in ids if not self.reads[c]]
        old = sorted((self.reads[c][-1], c) for c in ids if self.reads[c])
        due = [c for when, c in old if now - when >= interval]
        later = [when + interval for when, _ in old if now - when < interval]
        return never + due, min(later, default=None)

    async def record_subscribers(self, channel_id: int, count: int, taken_at: datetime) -> bool:
        self.reads[channel_id].append(taken_at)
        return True

    async def resume_at(self) -> datetime | None:
        return self.resume

    async def set_resume_at(self, when: datetime) -> None:
        self.resume = when


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The channels.getFullChannel reads, as (tg_id, access_hash); a tg_id in `flood`
    answers a flood wait."""
    calls: list[Any] = []

    async def read_subscribers(client: Any, peer: tuple[int, int | None]) -> int | None:
        calls.append(peer)
        if peer[0] in flood:
            flood.discard(peer[0])
            raise RateLimited(120)
        if peer[0] in refused:
            raise ChannelUnavailable("CHANNEL_PRIVATE")
        if peer[0] in unanswered:
            return None
        return 10

    flood: set[int] = set()
    refused: set[int] = set()
    unanswered: set[int] = set()
    calls.extend([flood, refused, unanswered])
    monkeypatch.setattr(counters_service, "read_subscribers", read_subscribers)
    return calls


def job(repo: Repo, clock: list[datetime]) -> CountersService:
    return CountersService(
        repo,  # type: ignore[arg-type]
        FakeSession(object()),
        ages=(),
        subscribers_interval=INTERVAL,
        poll_seconds=POLL,
        clock=lambda: clock[0],
    )


async def rounds(
    service: CountersService, clock: list[datetime], n: int, every: float = POLL
) -> list[int]:
    """`n` rounds `every` seconds apart from the clock's time; the reads of each."""
    repo = service._repo
    assert isinstance(repo, Repo)
    counts = []
    for _ in range(n):
        before = sum(len(r) for r in repo.reads.values())
        await service.tick()
        counts.append(sum(len(r) for r in repo.reads.values()) - before)
        clock[0] += timedelta(seconds=every)
    return counts


async def test_a_first_start_spreads_the_reads_over_the_interval(asked: list[Any]) -> None:
    repo, clock = Repo(CHANNELS), [T0]
    service = job(repo, clock)
    assert service.state() == CountersState()  # no round yet
    await rounds(service, clock, 1)
    # /status: the round, what the job read since it started, the last count, how many
    # wait for the pace and the next round.
    assert service.state() == CountersState(
        T0, posts=0, subscribers=CAP, waiting=CHANNELS - CAP,
        next_subscribers=T0 + timedelta(seconds=POLL), since=T0, last_count=T0,
    )
    first = [CAP, *await rounds(service, clock, 11)]
    # 84 a round at most (83.3 accrue a round), never 1,000 at once: all read within
    # the interval (12 rounds: 55 min), each once.
    assert first[0] == CAP and max(first) == CAP and min(first) >= CAP - 1
    assert sum(first) == CHANNELS
    assert all(len(r) == 1 for r in repo.reads.values())
    state = service.state()
    assert state is not None and state.waiting == 0
    assert state.next_subscribers == T0 + INTERVAL  # the first one read
    # What the job read since its first round (not the last round's only).
    assert (state.since, state.subscribers) == (T0, CHANNELS)
    assert state.last_count == T0 + timedelta(seconds=11 * POLL)
    # Rounds woken in between (a run completed) read no faster: 60 rounds 5 s apart
    # (5 min) read what 5 min allow.
    more = await rounds(service, clock, 60, every=5)
    assert sum(more) <= CAP
    # Steady state, three more hours: every channel once an interval (a read never
    # younger than the interval before it, never more than two polls later).
    await rounds(service, clock, 36)
    for reads in repo.reads.values():
        gaps = [b - a for a, b in pairwise(reads)]
        assert len(reads) >= 4
        assert all(INTERVAL <= g <= INTERVAL + timedelta(seconds=2 * POLL) for g in gaps)


async def test_a_restart_after_a_long_stop_does_not_burst(asked: list[Any]) -> None:
    repo, clock = Repo(CHANNELS), [T0]
    await rounds(job(repo, clock), clock, 12)
    # Stopped three hours: every count is stale. The new process reads 84 a round at
    # most, oldest first, all within the interval again.
    clock[0] += timedelta(hours=3)
    again = await rounds(job(repo, clock), clock, 12)
    assert max(again) == CAP and sum(again) == CHANNELS
    assert all(len(r) == 2 for r in repo.reads.values())


async def test_a_few_channels_are_read_at_once_and_a_flood_wait_holds(
    asked: list[Any],
) -> None:
    flood = asked.pop(0)
    del asked[:2]
    repo, clock = Repo(3), [T0]
    service = job(repo, clock)
    # A few channels are no burst: all three at once.
    assert await rounds(service, clock, 1, every=INTERVAL.total_seconds()) == [3]
    # An interval on, the second answers a flood wait: the job holds 120 s (stored),
    # a restarted one too; the first one's read is kept.
    flood.add(1002)
    assert await rounds(service, clock, 1, every=60) == [1]
    assert repo.resume == T0 + INTERVAL + timedelta(seconds=120)
    state = service.state()
    assert state is not None and state.held_until == repo.resume
    assert await rounds(service, clock, 1) == [0]
    assert await rounds(job(repo, [T0 + INTERVAL + timedelta(seconds=90)]), clock, 1) == [0]
    clock[0] = repo.resume
    assert await rounds(service, clock, 1) == [2]
    assert [len(r) for r in repo.reads.values()] == [2, 2, 2]


@pytest.mark.parametrize("kind", ["refused", "no count"])
async def test_channels_without_a_count_do_not_starve_the_others(
    asked: list[Any], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """100 of 1,000 channels refused (never read, so at the head of the queue every
    round), or one answering no participants_count: each is asked once an interval, as
    if read, and every other channel is still read once an interval."""
    _, refused, unanswered = asked[:3]
    bad = set(range(1001, 1101)) if kind == "refused" else {1001}
    (refused if kind == "refused" else unanswered).update(bad)
    repo, clock = Repo(CHANNELS), [T0]
    service = job(repo, clock)
    caplog.set_level("INFO", logger=counters_service.__name__)
    await rounds(service, clock, 12 * 4)  # four hours
    tries = [p[0] for p in asked[3:]]
    for c in repo.channels:
        if c.tg_id in bad:
            assert not repo.reads[c.id]
            assert 4 <= tries.count(c.tg_id) <= 5  # once an interval
            continue
        reads = repo.reads[c.id]
        assert len(reads) >= 4
        gaps = [b - a for a, b in pairwise(reads)]
        assert all(INTERVAL <= g <= INTERVAL + timedelta(seconds=2 * POLL) for g in gaps)
    state = service.state()
    assert state is not None and state.waiting <= CAP
    # A refused channel is logged once an interval, not every round.
    if kind == "refused":
        logged = [r for r in caplog.records if "@c1 " in r.getMessage()]
        assert 4 <= len(logged) <= 5


async def test_a_round_ended_by_a_flood_wait_shows_no_stale_waiting(
    asked: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ages round answered a flood wait, so the subscriber round did not run: /status
    shows no "waiting" left from the round before."""
    repo, clock = Repo(CHANNELS), [T0]
    service = job(repo, clock)
    await rounds(service, clock, 1)
    state = service.state()
    assert state is not None and state.waiting == CHANNELS - CAP

    async def due_posts(ids: Sequence[int], age: timedelta, now: datetime) -> Any:
        return {1: {5: now - timedelta(days=1)}}

    async def read_views(*args: Any) -> None:
        raise RateLimited(120)

    monkeypatch.setattr(repo, "due_posts", due_posts, raising=False)
    monkeypatch.setattr(counters_service, "read_views", read_views)
    service._ages = (timedelta(hours=1),)
    await service.tick()
    state = service.state()
    assert state is not None and state.held_until is not None
    assert state.waiting == 0


async def test_status_during_the_ages_round_shows_the_last_rounds_waiting(
    asked: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """/status asked while a round reads its age snapshots (long at 1,000 channels)
    still shows how many channels wait for their subscriber count, not none."""
    repo, clock = Repo(CHANNELS), [T0]
    service = job(repo, clock)
    await rounds(service, clock, 1)
    reading, release = asyncio.Event(), asyncio.Event()

    async def due_posts(ids: Sequence[int], age: timedelta, now: datetime) -> Any:
        reading.set()
        await release.wait()
        return {}

    monkeypatch.setattr(repo, "due_posts", due_posts, raising=False)
    service._ages = (timedelta(hours=1),)
    tick = asyncio.create_task(service.tick())
    await asyncio.wait_for(reading.wait(), 5)
    state = service.state()
    assert state is not None and state.waiting == CHANNELS - CAP
    release.set()
    await tick
    state = service.state()
    assert state is not None and state.waiting == CHANNELS - 2 * CAP + 1  # 83 more read


async def test_completed_runs_wake_a_round_no_sooner_than_ten_times_the_last_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rounds take 1 s (a fake monotonic clock): runs completing right after one do not
    wake another for 10 s; a session becoming ready wakes it at once; past the pause a
    run wakes it again."""
    import asyncio

    now = [0.0]
    service = CountersService(
        Repo(1),  # type: ignore[arg-type]
        FakeSession(object()), ages=(), subscribers_interval=INTERVAL,
        poll_seconds=3600, monotonic=lambda: now[0],
    )
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)
        now[0] += 1.0

    async def settle() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    monkeypatch.setattr(service, "tick", tick)
    task = asyncio.create_task(service.run())
    await settle()
    assert len(ticks) == 1
    for _ in range(10):
        await service.on_run_completed(None)  # type: ignore[arg-type]
        await settle()
    assert len(ticks) == 1
    await service.session_state("ready")
    await settle()
    assert len(ticks) == 2
    now[0] += 11.0
    await service.on_run_completed(None)  # type: ignore[arg-type]
    await settle()
    assert len(ticks) == 3
    await service.stop()
    await asyncio.wait_for(task, 5)


async def test_each_channel_is_read_with_the_account_its_hash_belongs_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several accounts (#18): an access hash is the account's own, so a channel's
    subscribers are asked with that account's client; one whose account is not ready
    (or not known) with the primary one."""
    primary, bob = object(), object()
    clients: list[tuple[int, Any]] = []

    async def read_subscribers(client: Any, peer: tuple[int, int | None]) -> int | None:
        clients.append((peer[0], client))
        return 10

    monkeypatch.setattr(counters_service, "read_subscribers", read_subscribers)

    class Pool(FakeSession):
        def client_of(self, account_id: int | None) -> Any:
            return {2: bob}.get(account_id or 0)

    repo = Repo(0)
    repo.channels = [
        Followed(1, 1001, 1, "@a", account_id=1),  # account 1 not ready: the primary
        Followed(2, 1002, 1, "@b", account_id=2),
        Followed(3, 1003, 1, "@c"),
    ]
    repo.reads = {c.id: [] for c in repo.channels}
    service = CountersService(
        repo,  # type: ignore[arg-type]
        Pool(primary), ages=(), subscribers_interval=INTERVAL, poll_seconds=POLL,
        clock=lambda: T0,
    )
    await service.tick()
    assert sorted(clients, key=lambda c: c[0]) == [(1001, primary), (1002, bob), (1003, primary)]
