"""The bus between the bot process and the workers (#18 item 4) on PostgreSQL: requests
answered exactly once, progress and alerts flowing back, LISTEN/NOTIFY waking the other
side at once, the poll covering what a killed connection loses.

In-process: each `Bus` is one process's end (its own LISTEN connection, its own holder
name); they share the module's throwaway cluster (tests/integration/conftest.py).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise import connections

from app.bus_roles import BusTimes, bot_side, worker_side
from bot.delivery import render_alert
from bot.routers.parse import render_live, render_summary
from core.alerts import Alerter, AlertLines, AlertText
from core.health import HealthRegistry
from core.parsing import BatchProgress, RunProgress, RunStatus
from db.bus import BusStore
from db.channels import ChannelStateRepository
from db.models import Channel
from services.bus import Bus, BusUnavailable, HandlerFailed, NoWorker, Request
from services.bus_alerts import AlertForwarder, decode_alert, encode_alert, receive_alerts
from services.parsing.breaker import CircuitBreaker
from services.parsing.remote import RemoteParseService, progress_json, progress_of
from services.parsing.service import ParseService
from tests.doubles.botapi.formatting import parse_text
from tests.integration.pg import truncate
from tests.unit.services.parsing.fakes import FakeUserbot, worker

FAST = {"poll_seconds": 0.3, "lease_seconds": 1.0, "claim_seconds": 1.0}


@pytest.fixture
async def pg(pg_repo: object, postgres_url: str) -> str:
    await truncate("bus_message", "bus_consumer", "channel")
    return postgres_url


@asynccontextmanager
async def running(url: str, role: str, **kw: Any) -> AsyncIterator[Bus]:
    """A started bus end; `setup(bus)` registers handlers before it runs."""
    setup = kw.pop("setup", None)
    bus = Bus(url, role, **{**FAST, **kw})
    if setup is not None:
        setup(bus)
    task = asyncio.create_task(bus.run())
    await asyncio.wait_for(bus.ready.wait(), 10)
    try:
        yield bus
    finally:
        await bus.stop()
        await asyncio.wait_for(task, 10)


async def kill(*pids: int) -> None:
    for pid in pids:
        await connections.get("default").execute_query(
            "SELECT pg_terminate_backend($1)", [pid]
        )


def counting(log: list[tuple[int, str]], steps: int = 3, pause: float = 0.0) -> Any:
    """A handler that reports `steps` progress values, then answers its payload doubled."""

    async def handler(req: Request) -> Any:
        log.append((req.id, req._bus.holder))
        for i in range(1, steps + 1):
            await req.report({"step": i})
            await asyncio.sleep(pause)
        return {"double": req.payload["n"] * 2}

    return handler


async def test_each_request_is_answered_once_by_one_worker_woken_by_notify(pg: str) -> None:
    handled: list[tuple[int, str]] = []
    # Polls every 30 s: an answer within a second is NOTIFY's doing.
    slow = {"poll_seconds": 30.0, "claim_seconds": 30.0, "progress_seconds": 0.0}

    def setup(bus: Bus) -> None:
        bus.handle("double", counting(handled))
        bus.handle("boom", boom)

    async def boom(req: Request) -> Any:
        raise ValueError("bad <input>")

    async with (
        running(pg, "worker", setup=setup, **slow) as w1,
        running(pg, "worker", setup=setup, **slow) as w2,
        running(pg, "bot", **slow) as bot,
    ):
        seen: dict[int, list[Any]] = {i: [] for i in range(12)}

        async def ask(i: int) -> Any:
            async def on_progress(p: Any) -> None:
                seen[i].append(p["step"])

            return await bot.call("double", {"n": i}, on_progress)

        started = time.monotonic()
        answers = await asyncio.gather(*(ask(i) for i in range(12)))
        assert time.monotonic() - started < 5
        assert answers == [{"double": i * 2} for i in range(12)]
        ids = [request_id for request_id, _ in handled]
        assert len(ids) == 12 and len(set(ids)) == 12  # each handled exactly once
        assert {holder for _, holder in handled} <= {w1.holder, w2.holder}
        assert w1.notifications and w2.notifications and bot.notifications
        # Progress reached the sender in order; the last one always lands.
        assert all(s == sorted(s) and s and s[-1] == 3 for s in seen.values()), seen
        # A handler that raises is answered so, once, with its error.
        with pytest.raises(HandlerFailed, match="ValueError: bad <input>"):
            await bot.call("boom", {})


async def test_a_request_no_worker_takes_is_answered_no_worker(pg: str) -> None:
    async with running(pg, "bot") as bot:
        started = time.monotonic()
        with pytest.raises(NoWorker):
            await bot.call("double", {"n": 1})
        assert 1.0 <= time.monotonic() - started < 4
        # /parse from the bot process says so, in both languages, as valid HTML.
        await Channel.create(tg_id=1, access_hash=1, title="<b>News</b> & more")
        api = RemoteParseService(bot, ChannelStateRepository())
        batch = await api.run_batch(await api.targets("all"), exclusive=True)
        assert batch is not None and batch.stopped == "no_worker"
        assert batch.outcomes[RunStatus.NOT_RUN] == 1 and batch.done == 0
        en, _ = parse_text(render_summary(batch, "en"), "HTML")
        ru, _ = parse_text(render_summary(batch, "ru"), "HTML")
        assert "No worker took the run: 1 channel was not run. Start one with" in en
        assert "tg-parser worker (it needs PostgreSQL and a logged-in account)" in en
        assert "Сбор не взял ни один обработчик: 1 канал не собран." in ru
        assert "tg-parser worker" in ru
        # Answered once, by the sender: a worker coming later does not run it.
        rows = await BusStore().claim("late-worker", ["worker"], ["double", "parse"], 30)
        assert rows is None


async def test_a_dead_workers_claim_is_taken_over_and_answered_once(pg: str) -> None:
    store = BusStore()
    handled: list[tuple[int, str]] = []
    async with running(pg, "bot", claim_seconds=5.0) as bot:
        call = asyncio.create_task(bot.call("double", {"n": 4}))
        # A worker claims it and dies (kill -9: no release, no heartbeat).
        for _ in range(50):
            dead = await store.claim("dead-worker", ["worker"], ["double"], 30)
            if dead is not None:
                break
            await asyncio.sleep(0.02)
        assert dead is not None
        await asyncio.sleep(0.5)
        assert not call.done()

        def setup(bus: Bus) -> None:
            bus.handle("double", counting(handled, steps=1))

        async with running(pg, "worker", setup=setup):
            assert await asyncio.wait_for(call, 10) == {"double": 8}
        assert [request_id for request_id, _ in handled] == [dead.id]
        # The dead holder, were it to come back, answers nothing.
        assert not await store.answer("dead-worker", dead.id, {"double": -1})
        again = await store.get(dead.id)
        assert again is not None and again.answer == {"double": 8}
    # A post sent again (its connection died before the reply) is stored once.
    first = await store.post("bot", "alert", {"n": 1}, "token-1")
    assert await store.post("bot", "alert", {"n": 1}, "token-1") == first
    assert [m.id for m in await store.take("bot-x", "bot")] == [first]


async def test_killed_connections_lose_nothing_and_progress_resumes(pg: str) -> None:
    handled: list[tuple[int, str]] = []

    def setup(bus: Bus) -> None:
        bus.handle("double", counting(handled, steps=12, pause=0.15))

    async with (
        running(pg, "worker", setup=setup, progress_seconds=0.0) as w,
        running(pg, "bot", claim_seconds=5.0) as bot,
    ):
        steps: list[int] = []
        first = asyncio.Event()

        async def on_progress(p: Any) -> None:
            steps.append(p["step"])
            first.set()

        call = asyncio.create_task(bot.call("double", {"n": 21}, on_progress))
        await asyncio.wait_for(first.wait(), 10)
        # Both LISTEN connections and every pooled connection, the request in flight's too.
        listeners = [await w.listener.backend_pid(), await bot.listener.backend_pid()]
        await kill(*[p for p in listeners if p is not None])
        await connections.get("default").execute_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <>"
            " pg_backend_pid() AND backend_type = 'client backend'"
        )
        killed_at = len(steps)
        assert await asyncio.wait_for(call, 15) == {"double": 42}
        assert len(handled) == 1  # run once, answered once
        assert steps[-1] == 12 and len(steps) > killed_at  # progress went on after the kill
        # The LISTEN connections came back, new pids.
        for _ in range(100):
            if w.listener.connected and bot.listener.connected:
                break
            await asyncio.sleep(0.1)
        assert w.listener.connected and bot.listener.connected
        assert await w.listener.backend_pid() not in listeners
        before = w.notifications
        assert await bot.call("double", {"n": 1}) == {"double": 2}
        assert w.notifications > before  # woken by NOTIFY again


async def test_broadcasts_reach_every_live_worker_in_order(pg: str) -> None:
    applied: dict[str, list[int]] = {}
    release = asyncio.Event()

    def setup(slow: bool) -> Any:
        def register(bus: Bus) -> None:
            async def on_change(payload: Any) -> None:
                if slow and payload["n"] == 3:
                    await release.wait()
                applied.setdefault(bus.holder, []).append(payload["n"])

            bus.on_broadcast("change", on_change)

        return register

    async with (
        running(pg, "worker", setup=setup(False)) as fast,
        running(pg, "worker", setup=setup(True)) as slow,
        running(pg, "bot") as bot,
    ):
        assert await bot.broadcast("change", {"n": 1}, wait=5) == []
        assert await bot.broadcast("change", {"n": 2}, wait=5) == []
        assert applied == {fast.holder: [1, 2], slow.holder: [1, 2]}
        # One worker still stopping its run: the sender is told which, after `wait`.
        assert await bot.broadcast("change", {"n": 3}, wait=0.8) == [slow.holder]
        release.set()
        assert await bot.broadcast("change", {"n": 4}, wait=5) == []
        assert applied == {fast.holder: [1, 2, 3, 4], slow.holder: [1, 2, 3, 4]}


async def test_parse_and_schedule_from_the_bot_run_on_a_worker(pg: str) -> None:
    """Both roles wired as app/bus_roles.py does: the bot process's /parse reaches the
    worker's ParseWorker, the live progress and the summary read as in one process,
    pause and interval changes reach its jobs, and its alerts reach the bot's queue."""
    userbot, worker_alerter, bot_alerter = FakeUserbot(), Alerter(600), Alerter(600)
    sched = worker(_Fetcher(), userbot, alerter=worker_alerter)
    local = ParseService(sched, ChannelStateRepository(), CircuitBreaker(), userbot)
    times = BusTimes(**FAST)
    side = bot_side(pg, bot_alerter, HealthRegistry(), times)
    parts = [sched, *worker_side(pg, local, worker_alerter, HealthRegistry(), times), side.bus]
    tasks = [asyncio.create_task(c.run()) for c in parts]
    await sched.started.wait()
    for part in (parts[1], side.bus):
        assert isinstance(part, Bus)
        await asyncio.wait_for(part.ready.wait(), 10)
    try:
        channels = [
            await Channel.create(tg_id=100 + i, access_hash=1, title=f"Ch {i} <&>")
            for i in range(3)
        ]
        api = side.parsing
        lives: list[str] = []

        async def on_progress(batch: BatchProgress) -> None:
            lives.append(parse_text(render_live(batch, "en"), "HTML")[0])

        batch = await api.run_batch(await api.targets("all"), on_progress, exclusive=True)
        assert batch is not None and batch.outcomes == {RunStatus.OK: 3}
        assert batch.new == 30 and batch.reread == 120
        assert any("Ch 1 <&>: messages 25 / ~50 (10 new)" in s for s in lives), lives
        summary = parse_text(render_summary(batch, "en"), "HTML")[0]
        assert summary.startswith("Done: 3 channels in ")

        await side.hooks.add_channel(channels[0].id)
        await side.hooks.drop_channel(channels[1].id)  # returns once the worker applied it
        planned = {c for c, _ in sched.next_runs()}
        assert channels[0].id in planned and channels[1].id not in planned

        worker_alerter.alert("breaker", AlertText("alert_breaker_open", error="x", seconds=5))
        got = await asyncio.wait_for(bot_alerter.next(), 10)
        assert got.body == AlertText("alert_breaker_open", error="x", seconds=5)

        # A worker without a usable session takes no /parse: no worker can run it.
        userbot.client, userbot.state, userbot.reason = None, "invalid", "AuthKeyUnregistered"
        got_batch = await api.run_batch([await _snapshot(channels[2].id)])
        assert got_batch is not None and got_batch.stopped == "no_worker"
    finally:
        for part in reversed(parts):
            await part.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def _snapshot(channel_id: int) -> Any:
    ch = await ChannelStateRepository().channel(channel_id)
    assert ch is not None
    return ch


class _Fetcher:
    """Each channel: two batches of 25 rows (10 new), reported as they commit."""

    def request_stop(self, channel_id: int | None = None) -> None:
        pass

    async def run(self, client: Any, ch: Any, on_progress: Any = None) -> RunProgress:
        p = RunProgress(ch.label, total=50, started=time.monotonic())
        for _ in range(2):
            p.fetched += 25
            p.new = 10
            if on_progress is not None:
                await on_progress(p)
            await asyncio.sleep(0.3)
        p.status = RunStatus.OK
        return p


async def test_worker_alerts_reach_the_admins_through_the_bot(pg: str) -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    bodies = [
        AlertText("alert_breaker_open", error="<NetworkError>", seconds=60),
        AlertText("alert_fold_more", n=3, names="A, B"),
        AlertLines((AlertText("alert_breaker_closed"),), posts=((1, 2, 3),)),
        "plain <text> & more",
        lambda lang: f"<b>{lang}</b>",
    ]
    worker_alerter, bot_alerter = Alerter(600), Alerter(600)
    async with running(pg, "worker") as w, running(pg, "bot", setup=lambda b: receive_alerts(
        b, bot_alerter
    )):
        forwarder = AlertForwarder(w, worker_alerter)
        task = asyncio.create_task(forwarder.run())
        for i, body in enumerate(bodies):
            worker_alerter.alert(f"k{i}", body)
        got = [await asyncio.wait_for(bot_alerter.next(), 10) for _ in bodies]
        await forwarder.stop()
        await asyncio.wait_for(task, 5)
    for lang in ("en", "ru"):
        assert [render_alert(a.body, lang) for a in got] == [
            render_alert(b, lang) for b in bodies
        ]
    assert got[2].body == bodies[2]
    # A datetime and a nested text keep their type across the bus.
    nested = AlertText("alert_x", at=when, cause=AlertText("alert_breaker_closed"), n=[1, 2])
    assert decode_alert(encode_alert(nested)) == nested


def test_progress_crosses_processes_with_its_rate() -> None:
    p = RunProgress("Ch", fetched=500, total=1000, new=400, started=time.monotonic() - 10,
                    deleted_ids=(3, 5), status=RunStatus.OK)
    back = progress_of(progress_json(p))
    assert back.deleted_ids == (3, 5) and back.status is RunStatus.OK
    assert 45 < back.rate < 55 and back.eta is not None and 9 < back.eta < 11
    assert progress_of({**progress_json(p), "future_field": 1}).fetched == 500


async def test_a_dead_database_is_reported_not_a_crash(pg: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    health = HealthRegistry()
    bus = Bus(f"postgres://postgres@127.0.0.1:{port}/postgres", "bot", health=health, **FAST)
    task = asyncio.create_task(bus.run())
    for _ in range(50):
        if health.component("bus").state == "degraded":
            break
        await asyncio.sleep(0.1)
    state = health.component("bus")
    assert state.state == "degraded" and state.last_error, state
    assert "refused" in state.last_error.lower() or "connect" in state.last_error.lower()
    assert not task.done()
    await bus.stop()
    await asyncio.wait_for(task, 5)

    class Down(BusStore):
        async def post(self, recipient: str, kind: str, payload: Any, token: str) -> int:
            raise OSError("connection refused")

    down = Bus(pg, "bot", store=Down(), **FAST)
    with pytest.raises(BusUnavailable, match="connection refused"):
        await down.call("double", {"n": 1})


# -- routed requests: /add and /parse from a bot-only process (#18) ---------------------


class _Account:
    """An account as the bot-only process's pool lists it."""

    def __init__(self, account_id: int, flood: bool = False) -> None:
        self.account_id, self.flood = account_id, flood

    def flooded(self) -> bool:
        return self.flood


class _Accounts:
    def __init__(self, *accounts: _Account) -> None:
        self.by_id = {a.account_id: a for a in accounts}

    def bots(self) -> list[_Account]:
        return list(self.by_id.values())

    def bot(self, account_id: int) -> _Account | None:
        return self.by_id.get(account_id)


def _routes(accounts: _Accounts, held: set[int], counts: dict[int, int] | None = None) -> Any:
    from services.remote_channels import AccountRoutes

    async def held_now() -> set[int]:
        return held

    async def counts_now() -> dict[int, int]:
        return counts or {}

    return AccountRoutes(accounts, held_now, counts_now)


class _WorkerResolver:
    """parser/resolver.py ChannelResolver as the worker of account `client` has it."""

    def __init__(self, client: str) -> None:
        self.client = client

    async def resolve(self, ref: Any) -> Any:
        from parser.errors import ChannelUnavailable, RateLimited
        from parser.resolver import Resolved

        if ref.value == "secret":
            raise ChannelUnavailable("private")
        if ref.value == "slow":
            raise RateLimited(120)
        return Resolved(tg_id=len(ref.value), access_hash=hash(self.client) % 1000,
                        title=f"<{ref.value}> & {self.client}", username=ref.value,
                        kind="channel")

    async def check_invite(self, invite_hash: str) -> Any:
        from parser.resolver import InvitePreview

        return InvitePreview(f"Invite <{invite_hash}>", False, None)

    async def join_invite(self, invite_hash: str) -> Any:
        from parser.resolver import Resolved

        return Resolved(tg_id=777, access_hash=7, title="Joined", username=None,
                        kind="megagroup")


class _Pool:
    """A worker's accounts: `own` is open here (its client is its name)."""

    def __init__(self, own: int, name: str) -> None:
        self.own, self.name = own, name

    def client_of(self, account_id: int | None) -> Any:
        return self.name if account_id == self.own else None


def _serving(own: int, name: str) -> Any:
    from db.bus import account_recipient
    from services.remote_channels import register_resolve_handler

    def setup(bus: Bus) -> None:
        register_resolve_handler(bus, _Pool(own, name), _WorkerResolver)
        bus.serve_addresses(lambda: [account_recipient(own)])

    return setup


class _Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def add_channel(self, channel_id: int) -> None:
        self.calls.append(("add_channel", channel_id))

    async def reschedule(self, channel_id: int) -> None:
        self.calls.append(("reschedule", channel_id))

    async def drop_channel(self, channel_id: int) -> None:
        self.calls.append(("drop_channel", channel_id))

    def next_runs(self) -> Any:
        return ()


async def test_add_in_a_bot_only_process_is_resolved_by_a_worker_holding_an_account(
    pg: str,
) -> None:
    """/add's lookups go to the worker holding the least loaded account; the outcome
    and its texts are one process's; the channel is that account's (its access hash)."""
    from bot.add_report import render_add_report
    from bot.texts import t
    from core.channels import AddCode
    from db.channels import ChannelRepository
    from services.channels import ChannelService
    from services.remote_channels import RemoteResolvers

    accounts = _Accounts(_Account(1), _Account(2))
    async with (
        running(pg, "worker", setup=_serving(1, "ann")),
        running(pg, "worker", setup=_serving(2, "bob")),
        running(pg, "bot") as bot,
    ):
        resolvers = RemoteResolvers(bot, _routes(accounts, {1, 2}, {1: 5}))
        hooks = _Hooks()
        service = ChannelService(None, ChannelRepository(), hooks,  # type: ignore[arg-type]
                                 resolvers=resolvers)
        results = await service.add_lines("@news all\n@secret\n@slow\nt.me/+AbCdEf123")
        assert [r.code for r in results] == [
            AddCode.ADDED, AddCode.PRIVATE, AddCode.FLOOD, AddCode.INVITE
        ]
        assert results[2].seconds == 120
        row = await Channel.get(id=results[0].channel_id)
        # Bob's account has fewer channels: his worker resolved it, it is his.
        assert row.account_id == 2 and row.title == "<news> & bob"
        assert row.access_hash == hash("bob") % 1000
        assert hooks.calls == [("add_channel", row.id)]
        for lang in ("en", "ru"):
            parse_text(render_add_report(results, lang), "HTML")  # valid Telegram HTML
        assert results[3].label == "Invite <AbCdEf123>"
        joined = await service.join(results[3].token or "")
        assert joined.code is AddCode.ADDED
        assert (await Channel.get(id=joined.channel_id)).account_id == 2

        # Nobody holds an account: said at once, with the fix, in both languages.
        nobody = RemoteResolvers(bot, _routes(accounts, set()))
        service = ChannelService(None, ChannelRepository(), hooks,  # type: ignore[arg-type]
                                 resolvers=nobody)
        assert [r.code for r in await service.add_lines("@alpha\n@bravo")] == [
            AddCode.NO_WORKER
        ] * 2
        # No account stored at all: /login first, as in one process.
        service = ChannelService(None, ChannelRepository(), hooks,  # type: ignore[arg-type]
                                 resolvers=RemoteResolvers(bot, _routes(_Accounts(), set())))
        assert [r.code for r in await service.add_lines("@alpha")] == [AddCode.NOT_READY]
        en = parse_text(t("add_no_worker", "en"), "HTML")[0]
        ru = parse_text(t("add_no_worker", "ru"), "HTML")[0]
        assert "No worker is running" in en and "tg-parser worker" in en
        assert "Не запущен ни один обработчик" in ru and "tg-parser worker" in ru

    # An account a dead worker held: nobody answers within claim_seconds.
    async with running(pg, "bot") as bot:
        resolvers = RemoteResolvers(bot, _routes(accounts, {1}))
        service = ChannelService(None, ChannelRepository(), hooks,  # type: ignore[arg-type]
                                 resolvers=resolvers)
        assert [r.code for r in await service.add_lines("@latecomer")] == [AddCode.NO_WORKER]


class _OneAccount(FakeUserbot):
    """A worker's pool with one account open (`own`); another account's channel is read
    here only when public and asked by an operator (parser/pool.py reader_for)."""

    def __init__(self, own: int) -> None:
        super().__init__()
        self.own = own
        self.bot_own = _Account(own)

    async def reader_for(self, account_id: int | None, public: bool, *, borrow: bool = False
                         ) -> tuple[Any, bool]:
        if account_id == self.own or (public and borrow):
            return self, False
        return None, False

    def held_elsewhere(self, account_id: int | None) -> str | None:
        return None if account_id == self.own else "box-other/9"

    def ready(self) -> list[_Account]:
        return [self.bot_own]

    def on_state(self, listener: Any) -> None:
        pass


async def test_parse_goes_to_the_worker_holding_the_channels_account(pg: str) -> None:
    """Two workers, two accounts: a /parse of a channel of each account runs at once on
    its account's worker (none is refused 'open elsewhere'); a public channel of a
    flood-waited account goes to the other account's worker; one of an account whose
    worker is gone goes to any worker after the fallback."""
    from services.parsing.remote import RemoteParseService
    from tests.unit.services.parsing.fakes import FakeFetcher

    times = BusTimes(**FAST)
    fetchers, parts = {}, []
    for own in (1, 2):
        fetchers[own] = FakeFetcher()
        pool = _OneAccount(own)
        sched = worker(fetchers[own], pool)
        local = ParseService(sched, ChannelStateRepository(), CircuitBreaker(), pool)
        parts += [sched, *worker_side(pg, local, Alerter(600), HealthRegistry(), times, pool)]
    tasks = [asyncio.create_task(c.run()) for c in parts]
    for part in parts:  # the job tables built before the channels are made: no ticks
        if isinstance(part, Bus):
            await asyncio.wait_for(part.ready.wait(), 10)
        elif hasattr(part, "started"):
            await asyncio.wait_for(part.started.wait(), 10)
    try:
        accounts = _Accounts(_Account(1), _Account(2), _Account(3))
        async with running(pg, "bot") as bot:
            api = RemoteParseService(bot, ChannelStateRepository(),
                                     _routes(accounts, {1, 2, 3}), fallback_seconds=0.3)
            made = {
                name: await Channel.create(tg_id=200 + i, access_hash=1, title=name,
                                           account_id=acct, username=user)
                for i, (name, acct, user) in enumerate([
                    ("Ann 1", 1, None), ("Ann 2", 1, None), ("Bob 1", 2, None),
                    ("Bob 2", 2, None), ("Gone", 3, "gone"),
                ])
            }  # fmt: skip
            batch = await api.run_batch(await api.targets("all"), exclusive=True)
            assert batch is not None and batch.outcomes == {RunStatus.OK: 5}, batch.outcomes
            ids = {name: ch.id for name, ch in made.items()}
            assert {ids["Ann 1"], ids["Ann 2"]} <= set(fetchers[1].runs)
            assert {ids["Bob 1"], ids["Bob 2"]} <= set(fetchers[2].runs)
            assert not {ids["Bob 1"], ids["Bob 2"]} & set(fetchers[1].runs)
            assert not {ids["Ann 1"], ids["Ann 2"]} & set(fetchers[2].runs)
            assert len(fetchers[1].runs) + len(fetchers[2].runs) == 5

            # Ann flood-waited: her public channel is read by Bob's worker.
            pub = await Channel.create(tg_id=300, access_hash=1, title="Pub", account_id=1,
                                       username="pub")
            accounts.by_id[1].flood = True
            batch = await api.run_batch([await _snapshot(pub.id)], exclusive=True)
            assert batch is not None and batch.outcomes == {RunStatus.OK: 1}
            assert fetchers[2].runs[-1] == pub.id and pub.id not in fetchers[1].runs
    finally:
        for part in reversed(parts):
            await part.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


class _Book:
    """The `account` rows two processes share (db/accounts.py AccountRepository)."""

    def __init__(self, *ids: int) -> None:
        from core.login import AccountInfo

        self.rows = {
            i: AccountInfo(i, None, i, f"acct {i}", None, "active", None, True) for i in ids
        }

    async def accounts(self) -> list[Any]:
        return list(self.rows.values())

    def bound(self, account_id: int) -> Any:
        return None

    async def proxy(self, account_id: int) -> str | None:
        return None

    async def held_counts(self) -> dict[int, int]:
        return {}

    async def set_flood_until(self, account_id: int, until: datetime) -> None:
        import dataclasses

        self.rows[account_id] = dataclasses.replace(self.rows[account_id], flood_until=until)


class _Gate:
    retry_seconds = 0.05


class _FloodingFetcher:
    """Reads with whichever client it is given; account 1's client meets FLOOD_WAIT."""

    def __init__(self, flooding: Any) -> None:
        self.flooding, self.runs = flooding, []

    def request_stop(self) -> None:
        pass

    async def run(self, client: Any, ch: Any, on_progress: Any = None) -> RunProgress:
        from parser.errors import RateLimited
        from services.parsing.ingest import RunFailed

        self.runs.append((ch.id, client))
        if client is self.flooding:
            raise RunFailed(RateLimited(600), RunProgress(ch.label, status=RunStatus.FAILED))
        return RunProgress(ch.label, fetched=3, status=RunStatus.OK, top_id=3, new=3,
                           first_new_id=1)


async def test_a_flood_wait_hands_public_channels_to_another_workers_account_at_once(
    pg: str,
) -> None:
    """Account 1 (worker 1) is flood-waited on a public channel: worker 2 reads it with
    account 2 now (told over the bus, not at its next look at the rows, nor at the
    channel's next tick an interval later)."""
    from pydantic import SecretStr

    from parser.client import UserbotConfig
    from parser.pool import AccountPool
    from parser.userbot import READY, STANDBY

    book, config = _Book(1, 2), UserbotConfig(1, SecretStr("x" * 32))
    clients = {1: object(), 2: object()}
    pools, scheds, fetchers, parts = [], [], [], []
    times = BusTimes(**FAST)
    for own in (1, 2):
        pool = AccountPool(config, book, HealthRegistry(), Alerter(600),
                           leases=_Gate())  # type: ignore[arg-type]
        for account_id in (1, 2):
            bot = await pool._new_bot(account_id)
            if account_id == own:
                bot.state, bot.client = READY, clients[own]
            else:
                bot.state, bot.reason = STANDBY, f"box/{account_id}"
        fetcher = _FloodingFetcher(clients[1])
        sched = worker(fetcher, pool)
        pool.on_flood_elsewhere(sched.flood_elsewhere)
        local = ParseService(sched, ChannelStateRepository(), CircuitBreaker(), pool)
        pools.append(pool)
        scheds.append(sched)
        fetchers.append(fetcher)
        parts += [sched, *worker_side(pg, local, Alerter(600), HealthRegistry(), times, pool),
                  pool]
    tasks = [asyncio.create_task(c.run()) for c in parts]
    try:
        for sched in scheds:
            await asyncio.wait_for(sched.started.wait(), 10)
        for part in parts:
            if isinstance(part, Bus):
                await asyncio.wait_for(part.ready.wait(), 10)
        # Made once the job tables are built: it runs only when the test ticks it.
        ch = await Channel.create(tg_id=400, access_hash=1, title="Pub", username="pub",
                                  account_id=1)
        # Worker 2's tick: account 1 is open in worker 1, which reads it.
        await scheds[1]._tick(ch.id)
        for _ in range(250):
            if ch.id in scheds[1]._resume:
                break
            await asyncio.sleep(0.02)
        assert ch.id in scheds[1]._resume and fetchers[1].runs == []
        # Worker 1's tick meets the flood wait: left to worker 2, which reads it now.
        await scheds[0]._tick(ch.id)
        for _ in range(500):
            if fetchers[1].runs:
                break
            await asyncio.sleep(0.02)
        assert fetchers[0].runs == [(ch.id, clients[1])]
        assert fetchers[1].runs == [(ch.id, clients[2])]
        assert pools[1].bot(1).flooded()  # noted from the row
        # Told over the bus (the others read the rows at once, not at their 5 s look).
        told = [m.payload for m in await BusStore().broadcasts(0) if m.kind == "flood"]
        assert told == [{"account_id": 1}]
    finally:
        for part in reversed(parts):
            await part.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
