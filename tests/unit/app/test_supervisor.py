"""The supervisor restarts a crashing component with growing delays; others keep going."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from app.health import FAILED, RESTARTING, RUNNING, STOPPED, HealthRegistry
from app.supervisor import FunctionComponent, Supervisor
from bot.delivery import render_alert
from core.alerts import Alerter, AlertText
from core.backoff import Backoff
from core.errors import PermanentFailure


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


class Heart:
    name = "heart"

    def __init__(self, health: HealthRegistry) -> None:
        self.health = health
        self.beats = 0

    async def run(self) -> None:
        while True:
            self.beats += 1
            self.health.beat(self.name)
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        return None


class Crasher:
    """Fails `crashes` times, then runs until stopped; records the heart's beats per start."""

    name = "crasher"

    def __init__(self, heart: Heart, health: HealthRegistry, crashes: int) -> None:
        self.heart = heart
        self.health = health
        self.crashes = crashes
        self.beats_at_start: list[int] = []
        self.states_at_start: list[str] = []
        self.settled = asyncio.Event()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.beats_at_start.append(self.heart.beats)
        self.states_at_start.append(self.health.component(self.name).state)
        if len(self.beats_at_start) <= self.crashes:
            # Let the heart beat at least once before crashing so the first start counts.
            await asyncio.sleep(0.01)
            raise RuntimeError(f"boom {len(self.beats_at_start)}")
        self.settled.set()
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()


async def test_three_crashes_three_restarts_with_growing_delays_heart_keeps_beating(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = HealthRegistry()
    alerter = Alerter(window_seconds=0)
    sup = Supervisor(health, alerter, backoff=Backoff(base=0.05, factor=2.0, cap=5.0))
    heart = Heart(health)
    crasher = Crasher(heart, health, crashes=3)
    sup.add(heart)
    sup.add(crasher)
    sup.start()
    await asyncio.wait_for(crasher.settled.wait(), 30)

    assert len(crasher.beats_at_start) == 4  # the first start and three restarts
    delays = sup.delays["crasher"]
    assert len(delays) == 3
    assert delays[0] < delays[1] < delays[2]
    assert 0.04 <= delays[0] <= 0.06
    assert "heart" not in sup.delays
    # The heart beat during every backoff: its count grew between consecutive starts.
    beats = crasher.beats_at_start
    assert all(b > a for a, b in itertools.pairwise(beats)), beats
    assert health.component("crasher").restarts == 3
    assert health.component("crasher").last_error == "RuntimeError: boom 3"
    assert health.component("heart").restarts == 0
    alerts = [render_alert(a.body, "en") for a in alerter.pending()]
    assert len([a for a in alerts if "crasher crashed" in a]) == 3
    # The same failure three times: one traceback in the log, then one line each.
    failures = [r for r in caplog.records if "component crasher failed" in r.getMessage()]
    assert [r.exc_info is not None for r in failures] == [True, False, False]
    assert "failed again (attempt 3): RuntimeError: boom 3" in failures[-1].getMessage()
    assert health.component("crasher").state == RUNNING
    assert health.component("heart").state == RUNNING
    assert health.healthy()

    before = heart.beats
    await asyncio.sleep(0.05)
    assert heart.beats > before  # still beating after the restarts

    await sup.stop(timeout=1.0)
    assert health.component("crasher").state == STOPPED
    assert health.component("heart").state == STOPPED


async def test_health_says_restarting_while_waiting_to_restart() -> None:
    health = HealthRegistry()
    sup = Supervisor(health, Alerter(), backoff=Backoff(base=30.0, jitter=0))
    heart = Heart(health)
    crasher = Crasher(heart, health, crashes=1)
    sup.add(heart)
    sup.add(crasher)
    sup.start()
    await until(lambda: health.component("crasher").restarts > 0)
    assert health.component("crasher").state == RESTARTING
    assert not health.healthy()
    await sup.stop(timeout=1.0)


async def test_stop_cancels_a_component_that_ignores_stop() -> None:
    health = HealthRegistry()
    sup = Supervisor(health, Alerter())
    heart = Heart(health)  # its stop() does nothing
    sup.add(heart)
    sup.start()
    await until(lambda: heart.beats > 0)
    await sup.stop(timeout=0.05)
    assert health.component("heart").state == STOPPED
    before = heart.beats
    await asyncio.sleep(0.03)
    assert heart.beats == before


async def test_max_restarts_gives_up_and_reports_failed() -> None:
    health = HealthRegistry()
    sup = Supervisor(health, Alerter(), backoff=Backoff(base=0.001), max_restarts=2)
    heart = Heart(health)
    crasher = Crasher(heart, health, crashes=100)
    sup.add(heart)
    sup.add(crasher)
    sup.start()
    await until(lambda: health.component("crasher").state == "failed")
    assert len(crasher.beats_at_start) == 3
    assert health.component("heart").state == RUNNING
    assert not health.healthy()
    await sup.stop(timeout=0.5)


class Stubborn:
    """stop() hangs and run() ignores it: only cancellation ends it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancelled = False

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_one_deadline_covers_every_stop_call() -> None:
    health = HealthRegistry()
    sup = Supervisor(health, Alerter())
    comps = [Stubborn(f"stubborn{i}") for i in range(4)]
    for comp in comps:
        sup.add(comp)
    sup.start()
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # With a timeout per stop() call this took 4 x 0.5 s + 0.5 s + the cancel grace.
    await sup.stop(timeout=0.5)
    assert loop.time() - started < 0.5 + sup.CANCEL_GRACE
    assert all(c.cancelled for c in comps)
    assert all(health.component(c.name).state == STOPPED for c in comps)


async def test_network_closes_at_exit_are_bounded_and_never_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from app.service import _bounded_close

    async def hangs() -> None:
        await asyncio.Event().wait()

    async def fails() -> None:
        raise ConnectionError("peer gone")

    loop = asyncio.get_running_loop()
    started = loop.time()
    await _bounded_close("userbot", hangs, seconds=0.1)
    assert loop.time() - started < 1.0
    await _bounded_close("bot", fails)
    assert "closing userbot took longer" in caplog.text
    assert "error while closing bot" in caplog.text


async def test_stop_does_not_wait_out_a_restart_backoff() -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    sup = Supervisor(HealthRegistry(), Alerter(), Backoff(base=30.0, cap=30.0, jitter=0.0))
    sup.add(FunctionComponent("crasher", crash))
    sup.start()
    await asyncio.sleep(0.1)  # crashed once, now in a 30 s backoff
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sup.stop(5.0)
    assert loop.time() - started < 1.0


async def test_a_future_cancelled_under_a_component_is_a_failure_not_a_stop() -> None:
    """Telethon's disconnect() cancels the futures of pending requests: the component
    that awaited one sees CancelledError without being cancelled. It must restart."""
    health = HealthRegistry()
    sup = Supervisor(health, Alerter(window_seconds=0), backoff=Backoff(base=0.01, cap=0.01))
    starts: list[int] = []
    steady = asyncio.Event()

    async def run() -> None:
        starts.append(len(starts))
        if len(starts) == 1:
            request = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(request.cancel)  # the client disconnects
            await request
        steady.set()
        await asyncio.Event().wait()

    sup.add(FunctionComponent("userbot", run))
    sup.start()
    await asyncio.wait_for(steady.wait(), 5)
    assert starts == [0, 1]
    assert health.component("userbot").restarts == 1
    assert health.component("userbot").state == RUNNING
    await sup.stop(timeout=1.0)
    assert health.component("userbot").state == STOPPED


@pytest.mark.parametrize("alert", [True, False])
async def test_a_permanent_failure_is_never_restarted(
    alert: bool, caplog: pytest.LogCaptureFixture
) -> None:
    health = HealthRegistry()
    alerter = Alerter(window_seconds=0)
    sup = Supervisor(health, alerter, backoff=Backoff(base=0.001, cap=0.001))
    starts: list[int] = []

    async def refused() -> None:
        starts.append(1)
        raise PermanentFailure("the token was refused", alert=alert)

    heart = Heart(health)
    sup.add(heart)
    sup.add(FunctionComponent("bot", refused))
    sup.start()
    await until(lambda: health.component("bot").state == FAILED)
    beats = heart.beats
    await until(lambda: heart.beats > beats + 5)  # time enough for many 1 ms backoffs
    assert starts == [1] and health.component("bot").restarts == 0
    assert health.component("bot").last_error == "the token was refused"
    assert health.component("heart").state == RUNNING and not health.healthy()
    lines = [r for r in caplog.records if r.name == "app.supervisor"]
    assert [r.getMessage() for r in lines] == [
        "component bot stopped for good: the token was refused"
    ]
    assert lines[0].exc_info is None
    keys = [a.body.key for a in alerter.pending() if isinstance(a.body, AlertText)]
    assert keys == (["alert_component_stopped"] if alert else [])
    await sup.stop(timeout=0.5)


def _raised_in(filename: str, exc: BaseException) -> BaseException:
    """`exc` with a traceback through a frame of `filename` (a library's module)."""
    code = compile("raise exc", filename, "exec")
    try:
        exec(code, {"exc": exc})
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


class FakeDatabase:
    """PostgreSQL that is stopped (`up` False: every use refused, as asyncpg raises it)."""

    def __init__(self) -> None:
        self.up = False
        self.probes = 0

    def use(self) -> None:
        if not self.up:
            refused = ConnectionRefusedError(111, "Connect call failed ('db.lan', 5433) pw=s3cret")
            raise _raised_in("/venv/site-packages/asyncpg/connect_utils.py", refused)

    async def probe(self) -> None:
        self.probes += 1
        self.use()


class DbUser:
    """A component that uses the database: fails while it is down, then runs."""

    def __init__(self, name: str, db: FakeDatabase) -> None:
        self.name = name
        self.db = db
        self.running = asyncio.Event()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await asyncio.sleep(0)
        self.db.use()
        self.running.set()
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()


async def test_the_database_down_is_one_alert_naming_it_and_its_return_another() -> None:
    """Issue #18: PostgreSQL stopped under two components - one alert with the server and
    the fix (no "crashed" per component and restart, no password), one when it is back."""
    health = HealthRegistry()
    alerter = Alerter(window_seconds=0)
    db = FakeDatabase()
    sup = Supervisor(
        health, alerter, backoff=Backoff(base=0.01, factor=1.0, jitter=0),
        database="db.lan:5433/archive", db_probe=db.probe, probe_every=0.01, secret="s3cret",
    )  # fmt: skip
    media, scheduler = DbUser("media", db), DbUser("scheduler", db)
    sup.add(media)
    sup.add(scheduler)
    sup.start()
    await until(lambda: health.component("media").restarts >= 3 and db.probes >= 3)
    assert health.component("scheduler").restarts >= 3
    bodies = [a.body for a in alerter.pending()]
    assert [b.key for b in bodies if isinstance(b, AlertText)] == ["alert_database_down"]
    en, ru = render_alert(bodies[0], "en"), render_alert(bodies[0], "ru")
    assert "<code>db.lan:5433/archive</code> cannot be reached" in en
    assert "ConnectionRefusedError" in en and "start PostgreSQL" in en
    assert "База данных <code>db.lan:5433/archive</code> недоступна" in ru
    assert "s3cret" not in en + ru and "***" in en

    db.up = True
    await asyncio.wait_for(media.running.wait(), 5)
    await asyncio.wait_for(scheduler.running.wait(), 5)
    await until(lambda: len(alerter.pending()) == 2)
    back = alerter.pending()[1].body
    assert render_alert(back, "en").startswith("✅ The database <code>db.lan:5433/archive</code>")
    assert "снова доступна" in render_alert(back, "ru")
    await sup.stop(timeout=1.0)
    assert len(alerter.pending()) == 2
