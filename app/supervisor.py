"""Runs components side by side; a failing one is restarted, the others never notice.

`asyncio.TaskGroup` cancels siblings on failure, so it is not an error boundary:
each component gets its own task and its own restart loop instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.health import FAILED, RESTARTING, RUNNING, STARTING, STOPPED, HealthRegistry
from core.alerts import Alerter, AlertText
from core.backoff import Backoff
from core.database_failure import database_unreachable
from core.errors import PermanentFailure
from core.ports import Component

log = logging.getLogger(__name__)


class FunctionComponent:
    def __init__(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._fn = fn

    async def run(self) -> None:
        await self._fn()

    async def stop(self) -> None:
        return None


class Supervisor:
    # How long cancelled components get to unwind (a shielded write may be finishing).
    CANCEL_GRACE = 1.0

    def __init__(
        self,
        health: HealthRegistry,
        alerter: Alerter,
        backoff: Backoff | None = None,
        max_restarts: int | None = None,
        *,
        database: str = "",
        db_probe: Callable[[], Awaitable[object]] | None = None,
        probe_every: float = 10.0,
        secret: str = "",
    ) -> None:
        """`database`: where the database is as it may be shown (`host:port/db`, never
        the password); `db_probe`: a cheap query that raises while it is out of reach,
        tried every `probe_every` s after a component failed for that reason, until the
        "back" alert; `secret` (the database password) is cut out of any error shown."""
        self._health = health
        self._alerter = alerter
        self._backoff = backoff or Backoff()
        self._max_restarts = max_restarts
        self._components: list[Component] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        # Set on stop(): a component waiting out its restart backoff wakes at once.
        self._stop_event = asyncio.Event()
        self.delays: dict[str, list[float]] = {}
        self._database = database
        self._db_probe = db_probe
        self._probe_every = probe_every
        self._secret = secret
        self._db_down_at: float | None = None  # loop time of the "unreachable" alert
        self._probe_task: asyncio.Task[None] | None = None

    def add(self, component: Component) -> None:
        self._components.append(component)
        self._health.component(component.name)
        if self._tasks or self._stopping:
            raise RuntimeError("add components before start()")

    def start(self) -> None:
        for comp in self._components:
            self._tasks[comp.name] = asyncio.create_task(self._keep(comp), name=comp.name)

    async def _keep(self, comp: Component) -> None:
        """Run `comp` until it returns, fails for good or the supervisor stops."""
        attempt = 0
        last_error: type[BaseException] | None = None
        while not self._stopping:
            self._health.set(comp.name, STARTING if attempt == 0 else RESTARTING)
            self._health.set(comp.name, RUNNING)
            try:
                await self._run_once(comp)
            except asyncio.CancelledError:
                self._health.set(comp.name, STOPPED)
                raise
            except PermanentFailure as exc:
                self._stopped_for_good(comp, exc)
                return
            except Exception as exc:
                attempt += 1
                self._health.component(comp.name).restarts = attempt
                if self._stopping:
                    break
                self._log_failure(comp, exc, attempt, again=type(exc) is last_error)
                last_error = type(exc)
                db_down = database_unreachable(exc)
                if db_down:
                    self._database_down(exc)
                if not await self._wait_to_restart(comp, exc, attempt, alert=not db_down):
                    return
                continue
            # A normal return: the component finished on purpose.
            break
        self._health.set(comp.name, STOPPED)

    @staticmethod
    async def _run_once(comp: Component) -> None:
        try:
            await comp.run()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            # Not a cancellation of this task: something it awaited was cancelled
            # under it (Telethon cancels pending requests when a client disconnects).
            # A failure like any other: restart.
            raise RuntimeError("an awaited operation was cancelled") from None

    def _stopped_for_good(self, comp: Component, exc: PermanentFailure) -> None:
        self._health.set(comp.name, FAILED, exc.reason[:500])
        log.error("component %s stopped for good: %s", comp.name, exc.reason)
        if exc.alert:
            self._alerter.alert(
                f"component-failed:{comp.name}",
                AlertText("alert_component_stopped", name=comp.name, reason=exc.reason),
            )

    @staticmethod
    def _log_failure(comp: Component, exc: Exception, attempt: int, *, again: bool) -> None:
        if again:
            # The same failure again (a dead network, say): its traceback is already
            # in the log once.
            log.error(
                "component %s failed again (attempt %d): %s", comp.name, attempt, _error(exc)
            )
        else:
            log.exception("component %s failed (attempt %d)", comp.name, attempt)

    def _database_down(self, exc: Exception) -> None:
        """A component failed because the database is out of reach: one alert naming it
        and the fix, however many components fail for it (they restart silently), then
        the probe until it answers again."""
        if self._db_down_at is not None:
            return
        error = self._shown(exc)[:200]
        log.error("database %s out of reach: %s", self._database or "?", error)
        text = AlertText("alert_database_down", where=self._database or "?", error=error)
        if self._db_probe is None:  # no "back" to wait for: once per alert window
            self._alerter.alert("database-down", text)
            return
        self._db_down_at = asyncio.get_running_loop().time()
        self._alerter.alert("database-down", text, force=True)
        self._probe_task = asyncio.create_task(self._probe(), name="database-probe")

    async def _probe(self) -> None:
        """Try the database every `probe_every` s; once it answers, say it is back."""
        assert self._db_probe is not None
        while not self._stopping:
            try:
                await asyncio.wait_for(self._stop_event.wait(), self._probe_every)
                return  # stopping
            except TimeoutError:
                pass
            try:
                await asyncio.wait_for(self._db_probe(), max(self._probe_every, 5.0))
            except Exception as exc:
                log.debug("database still out of reach: %s", self._shown(exc))
                continue
            down_at = self._db_down_at or asyncio.get_running_loop().time()
            self._db_down_at = None
            minutes = max(1, round((asyncio.get_running_loop().time() - down_at) / 60))
            log.warning("database %s is back", self._database or "?")
            self._alerter.alert(
                "database-back",
                AlertText("alert_database_back", where=self._database or "?", minutes=minutes),
                force=True,
            )
            return

    def _shown(self, exc: BaseException) -> str:
        error = _error(exc)
        return error.replace(self._secret, "***") if self._secret else error

    async def _wait_to_restart(
        self, comp: Component, exc: Exception, attempt: int, *, alert: bool = True
    ) -> bool:
        """Alert (unless `alert` is False: said otherwise) and wait out the backoff;
        False when the restarts are used up."""
        error = self._shown(exc)
        if self._max_restarts is not None and attempt > self._max_restarts:
            self._health.set(comp.name, FAILED, error)
            self._alerter.alert(
                f"component-failed:{comp.name}",
                AlertText(
                    "alert_component_given_up", name=comp.name, attempts=attempt, error=error
                ),
            )
            return False
        delay = self._backoff.delay(attempt)
        self.delays.setdefault(comp.name, []).append(delay)
        self._health.set(comp.name, RESTARTING, error)
        if alert:
            self._alerter.alert(
                f"component-restart:{comp.name}",
                AlertText(
                    "alert_component_restart", name=comp.name, error=error, seconds=round(delay)
                ),
            )
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
        except TimeoutError:
            pass
        return True

    async def stop(self, timeout: float) -> None:
        """Ask every component to finish (reverse order), wait up to `timeout`, cancel the rest.

        One deadline covers the stop() calls and the wait: a hanging stop() must not
        push the exit past the grace period (SIGTERM has to end within seconds).
        """
        self._stopping = True
        self._stop_event.set()
        if self._probe_task is not None:
            await asyncio.wait([self._probe_task], timeout=self.CANCEL_GRACE)
            self._probe_task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for comp in reversed(self._components):
            try:
                await asyncio.wait_for(comp.stop(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("stopping %s timed out", comp.name)
            except Exception:
                log.exception("error while stopping %s", comp.name)
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            remaining = max(0.0, deadline - loop.time())
            pending: set[asyncio.Task[None]] = set(tasks)
            if remaining > 0:
                _, pending = await asyncio.wait(tasks, timeout=remaining)
            for task in pending:
                log.warning("component %s did not stop in time; cancelling", task.get_name())
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=self.CANCEL_GRACE)
        for comp in self._components:
            self._health.set(comp.name, STOPPED)


def _error(exc: BaseException) -> str:
    """A failure as /status and /healthz show it (500 characters at most)."""
    return f"{type(exc).__name__}: {exc}"[:500]
