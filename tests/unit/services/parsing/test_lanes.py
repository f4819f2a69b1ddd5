"""Several accounts in one worker (#18 P8): one run at a time per account, the accounts'
runs at once. Runs here go on until the test releases them, so what overlaps is shown
by events, never by timing; the fetcher notes any two runs of one client at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.channels import Channel as ChannelSnapshot
from core.errors import RateLimited, SessionDead
from core.parsing import RunProgress, RunStatus
from db.models import Channel, ParseRun
from services.parsing import worker as worker_module
from services.parsing.ingest import RunFailed
from services.parsing.worker import ParseWorker
from tests.unit.services.parsing.fakes import running, worker


class Bot:
    """One account of the pool (parser/userbot.py Userbot as the worker sees it)."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.client = object()
        self.waited = False
        self.dead: str | None = None
        self.ready = True  # False: still connecting

    def flooded(self) -> bool:
        return self.waited

    def flood_waited(self, seconds: float) -> None:
        self.waited = True


class Pool:
    """parser/pool.py AccountPool as the worker sees it: accounts 1..n; a public channel
    of a flood-waited or connecting account is read by another account."""

    def __init__(self, n: int) -> None:
        self.bots = {i: Bot(i) for i in range(1, n + 1)}
        self.state, self.reason = "ready", None

    @property
    def client(self) -> Any:
        return self.bots[1].client

    def bot_of(self, client: Any) -> Bot | None:
        return next((b for b in self.bots.values() if b.client is client), None)

    async def reader_for(
        self, account_id: int | None, public: bool, *, borrow: bool = False
    ) -> tuple[Bot | None, bool]:
        own = self.bots[account_id or 1]
        if (own.flooded() or not own.ready) and public:
            other = next((b for b in self.bots.values() if b.ready and not b.flooded()), None)
            if other is not None:
                return other, False
        return own, False

    def held_elsewhere(self, account_id: int | None) -> str | None:
        return None

    async def note_flood_wait(self, bot: Bot, seconds: float) -> None:
        bot.flood_waited(seconds)

    async def session_dead(self, reason: str, client: Any = None) -> None:
        bot = self.bot_of(client)
        assert bot is not None
        bot.dead = reason


class HeldFetcher:
    """A run reads until the test releases its channel or a stop is asked of it (then
    it ends interrupted, once its batch in hand is let finish when `hold_batch`)."""

    def __init__(self) -> None:
        self.log: list[tuple[int, Any]] = []  # (channel, client) in the order runs began
        self.active: dict[int, Any] = {}  # channel -> client of the runs going on
        self.overlaps: list[tuple[int, int]] = []  # two runs of one client at once
        self.release: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.stop: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.batch_done: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.hold_batch = False
        self.errors: dict[int, Exception] = {}

    def request_stop(self, channel_id: int | None = None) -> None:
        for ch in self.active:
            if channel_id in (None, ch):
                self.stop[ch].set()

    async def renew_access(self, client: Any, ch: ChannelSnapshot) -> ChannelSnapshot:
        return ch

    async def run(self, client: Any, ch: ChannelSnapshot, on_progress: Any = None) -> RunProgress:
        self.overlaps += [(other, ch.id) for other, c in self.active.items() if c is client]
        self.active[ch.id] = client
        self.log.append((ch.id, client))
        try:
            await on_progress(RunProgress(ch.label, fetched=1))
            if ch.id in self.errors:
                error = self.errors.pop(ch.id)
                raise RunFailed(error, RunProgress(ch.label, status=RunStatus.FAILED))  # type: ignore[arg-type]
            stop = asyncio.ensure_future(self.stop[ch.id].wait())
            release = asyncio.ensure_future(self.release[ch.id].wait())
            await asyncio.wait({stop, release}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel(), release.cancel()
            if self.stop[ch.id].is_set():
                if self.hold_batch:
                    await self.batch_done[ch.id].wait()
                return RunProgress(ch.label, fetched=1, status=RunStatus.INTERRUPTED)
            return RunProgress(ch.label, fetched=3, status=RunStatus.OK, top_id=3, new=3,
                               first_new_id=1)
        finally:
            del self.active[ch.id]


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never came")


async def _channel(n: int, account: int) -> int:
    row = await Channel.create(
        tg_id=n, access_hash=1, username=f"c{n}", account_id=account, hash_account_id=account
    )
    return row.id


def _parse(sched: ParseWorker, *channels: int) -> list[asyncio.Task[RunProgress]]:
    return [asyncio.create_task(sched.parse_now(c)) for c in channels]


async def test_accounts_read_at_once_and_each_one_channel_at_a_time(db: Path) -> None:
    pool, fetcher = Pool(2), HeldFetcher()
    async with running(fetcher, pool) as env:  # type: ignore[arg-type]
        sched: ParseWorker = env["sched"]
        a1, a2, b1 = await _channel(1, 1), await _channel(2, 1), await _channel(3, 2)
        runs = _parse(sched, a1, a2, b1)
        # Account 1's first channel and account 2's read at once...
        await until(lambda: len(fetcher.active) == 2)
        first = next(c for c in fetcher.active if c != b1)
        assert set(fetcher.active) == {first, b1}
        assert {p.channel for p in sched.running} == {f"@c{first}", "@c3"}
        assert sched.queued == 1  # ...while account 1's other one waits for its lane
        # A /parse of a running channel waits for that run: never two at once.
        again = _parse(sched, b1)
        fetcher.release[b1].set()
        await until(lambda: fetcher.log.count((b1, pool.bots[2].client)) == 2)
        fetcher.release[first].set()
        second = a2 if first == a1 else a1
        await until(lambda: second in fetcher.active)
        fetcher.release[second].set()
        results = await asyncio.gather(*runs, *again)
    assert [r.status for r in results] == ["ok"] * 4
    assert fetcher.overlaps == []
    assert fetcher.log.index((second, pool.bots[1].client)) > fetcher.log.index(
        (first, pool.bots[1].client)
    )


async def test_a_drop_stops_only_its_channel_and_stop_waits_for_every_run(db: Path) -> None:
    pool, fetcher = Pool(3), HeldFetcher()
    fetcher.hold_batch = True
    sched = worker(fetcher, pool)
    task = asyncio.create_task(sched.run())
    await sched.started.wait()
    a, b, c = await _channel(1, 1), await _channel(2, 2), await _channel(3, 3)
    runs = _parse(sched, a, b, c)
    await until(lambda: len(fetcher.active) == 3)
    # /channels -> pause of one channel while all three read: only its run stops, and
    # the pause returns once that run's batch is in.
    drop = asyncio.create_task(sched.drop_channel(a))
    await until(lambda: fetcher.stop[a].is_set())
    assert not fetcher.stop[b].is_set() and not fetcher.stop[c].is_set()
    fetcher.batch_done[a].set()
    await drop
    assert (await runs[0]).status == "interrupted" and set(fetcher.active) == {b, c}
    # The app stops: both runs are asked to stop and the worker waits for each batch.
    await sched.stop()
    await until(lambda: fetcher.stop[b].is_set() and fetcher.stop[c].is_set())
    fetcher.batch_done[b].set()
    assert (await runs[1]).status == "interrupted"
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done() and c in fetcher.active  # its batch is not in yet
    fetcher.batch_done[c].set()
    await task
    assert (await runs[2]).status == "interrupted"
    assert sorted(await ParseRun.all().values_list("status", flat=True)) == ["interrupted"] * 3


async def test_a_flood_handover_waits_for_the_other_accounts_own_run(db: Path) -> None:
    """Account 2 (not the first one) is flood-waited on a public channel: account 1
    reads it, after its own run, never beside it; account 1's session dying then stops
    only its lane."""
    pool, fetcher = Pool(2), HeldFetcher()
    one, two = pool.bots[1].client, pool.bots[2].client
    async with running(fetcher, pool) as env:  # type: ignore[arg-type]
        sched: ParseWorker = env["sched"]
        own, flooded = await _channel(1, 1), await _channel(2, 2)
        first = _parse(sched, own)
        await until(lambda: own in fetcher.active)
        fetcher.errors[flooded] = RateLimited(300)
        (handed,) = _parse(sched, flooded)
        await until(lambda: (flooded, two) in fetcher.log)
        await until(lambda: sched.queued == 1)  # waits for account 1's lane
        assert flooded not in fetcher.active and pool.bots[2].flooded()
        fetcher.release[own].set()
        await until(lambda: (flooded, one) in fetcher.log)
        fetcher.release[flooded].set()
        assert (await first[0]).status == "ok" and (await handed).status == "ok"
        assert fetcher.log == [(own, one), (flooded, two), (flooded, one)]
        assert fetcher.overlaps == []
        # Account 1's session dies on one run while account 2 reads another.
        pool.bots[2].waited = False
        other = await _channel(3, 2)
        (going,) = _parse(sched, other)
        await until(lambda: other in fetcher.active)
        fetcher.errors[own] = SessionDead("AuthKeyUnregistered")
        assert (await sched.parse_now(own)).status == "failed"
        assert pool.bots[1].dead == "AuthKeyUnregistered" and pool.bots[2].dead is None
        assert other in fetcher.active and not fetcher.stop[other].is_set()
        fetcher.release[other].set()
        assert (await going).status == "ok"


async def test_a_stand_in_gives_way_to_the_channels_own_account_once_it_is_ready(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Account 2 still connecting: its public channel goes to account 1, busy with its
    own; account 2 ready meanwhile reads it at once, not after account 1's run."""
    monkeypatch.setattr(worker_module, "STAND_IN_RECHECK", 0.02)
    pool, fetcher = Pool(2), HeldFetcher()
    pool.bots[2].ready = False
    async with running(fetcher, pool) as env:  # type: ignore[arg-type]
        sched: ParseWorker = env["sched"]
        a, b = await _channel(1, 1), await _channel(2, 2)
        (first,) = _parse(sched, a)
        await until(lambda: a in fetcher.active)
        (second,) = _parse(sched, b)
        await until(lambda: sched.queued == 1)
        pool.bots[2].ready = True
        await until(lambda: b in fetcher.active)
        assert a in fetcher.active and fetcher.log[-1] == (b, pool.bots[2].client)
        fetcher.release[a].set(), fetcher.release[b].set()
        assert (await first).status == "ok" and (await second).status == "ok"
