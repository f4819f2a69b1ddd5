"""The LeaseKeeper: this process's leases on accounts and channel runs, kept alive (#18).

With PostgreSQL several processes share the work (`tg-parser run`, `tg-parser worker`
on other machines). A Telegram session open in two processes at once gets its key
killed (AUTH_KEY_DUPLICATED, https://core.telegram.org/api/errors#406-not-acceptable),
so an account's client is open only where its lease is held, and a channel is run only
where its run's lease is held (db/leases.py: rows taken with FOR UPDATE SKIP LOCKED,
times from the database's clock).

The keeper renews every lease each LEASE_SECONDS/3 seconds. A lease it could not renew
is given up HERE first: its `on_lost` (disconnect the client, stop the run) is awaited
at LEASE_SECONDS - LEASE_SECONDS/6 after the start of the last renewal that succeeded,
measured on this machine's monotonic clock. The row in the database expires
LEASE_SECONDS after that renewal reached the database, so by then this process has let
go, whatever the machines' clocks say. Another process takes it after the expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from core.ports import HealthBeats, LeaseLost
from core.status import WorkerStatus
from db.leases import ACCOUNT, HeldLease, LeaseStore

log = logging.getLogger(__name__)


def worker_id(host: str | None = None, pid: int | None = None) -> str:
    """A new process's holder id: `host/pid/random` (the random part tells apart two
    processes that got the same pid on one host, e.g. after a restart)."""
    return f"{host or socket.gethostname()}/{pid or os.getpid()}/{uuid.uuid4().hex[:8]}"


def shown_holder(holder: str) -> str:
    """A holder id as operators see it: `host/pid`."""
    return holder.rsplit("/", 1)[0]


@dataclass
class _Held:
    deadline: float  # monotonic: give it up locally at this time unless renewed
    on_lost: LeaseLost


class LeaseKeeper:
    """core.ports.LeaseGate over a LeaseStore (PostgreSQL): `start()` it before the
    components that take leases, `close()` it after they stopped and the userbot's
    client is closed. `role`: all | worker | bot, shown in /status; its state is the
    health component `leases`."""

    name = "leases"

    def __init__(
        self,
        store: LeaseStore,
        role: str,
        health: HealthBeats | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.role = role
        self._health = health
        self._clock = clock
        self.seconds = float(store.seconds)
        self.period = self.seconds / 3  # heartbeat
        self.margin = self.seconds / 6  # given up this long before the row expires
        self.retry_seconds = self.period
        self._held: dict[HeldLease, _Held] = {}
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.registered = asyncio.Event()
        self.lost: list[HeldLease] = []  # leases given up for want of a renewal
        if health is not None:
            health.set(self.name, "starting")

    @property
    def holder_id(self) -> str:
        return self._store.holder

    def holds(self, kind: str, key: str) -> bool:
        return HeldLease(kind, key) in self._held

    # -- core.ports.LeaseGate --------------------------------------------------------

    async def take(self, kind: str, key: str, on_lost: LeaseLost) -> bool:
        if self._stopping:
            return False
        start = self._clock()
        try:
            taken = await asyncio.wait_for(self._store.take(kind, key), self.period)
        except Exception as exc:
            log.warning("could not ask for the %s %s lease: %s", kind, key, _error(exc))
            await self._store.close()
            return False
        if taken:
            self._held[HeldLease(kind, key)] = _Held(self._valid_until(start), on_lost)
            self._wake.set()
        return taken

    async def release(self, kind: str, key: str) -> None:
        if self._held.pop(HeldLease(kind, key), None) is None:
            return
        self._wake.set()  # a stopping keeper waits for the last one
        try:
            await asyncio.wait_for(self._store.release(kind, key), self.period)
        except Exception as exc:  # it expires by itself
            log.warning("could not give back the %s %s lease: %s", kind, key, _error(exc))
            await self._store.close()

    async def holder(self, kind: str, key: str) -> str | None:
        try:
            found = await asyncio.wait_for(self._store.holder_of(kind, key), self.period)
        except Exception as exc:
            log.warning("could not look up the %s %s lease: %s", kind, key, _error(exc))
            await self._store.close()
            return None
        return shown_holder(found) if found is not None else None

    async def live(self, kind: str) -> set[str]:
        """The keys of every live lease of `kind`, whoever holds it; raises what the
        database raised."""
        try:
            rows = await asyncio.wait_for(self._store.holders(kind), self.period)
        except BaseException:
            await self._store.close()  # a statement cut short leaves it unusable
            raise
        return set(rows)

    async def held_accounts(self) -> set[int]:
        """The accounts whose client a live process has open (a live account lease),
        by row id; raises what the database raised."""
        return {int(key) for key in await self.live(ACCOUNT)}

    async def workers(self) -> tuple[WorkerStatus, ...]:
        """The processes sharing the database with the leases each holds, for /status
        (the live ones first); raises what the database raised."""
        rows = await asyncio.wait_for(self._store.workers(), self.seconds)
        return tuple(
            WorkerStatus(
                where=shown_holder(r.id), role=r.role, accounts=r.accounts,
                channels=r.channels, heartbeat_age=r.heartbeat_age, alive=r.alive,
                this=r.id == self.holder_id,
            )
            for r in rows
        )

    # -- the component ---------------------------------------------------------------

    def _valid_until(self, start: float) -> float:
        return start + self.seconds - self.margin

    def start(self) -> None:
        """Run the keeper in its own task, restarted after a failure, until `close()`.

        It lives outside the supervisor on purpose: it must outlast every component
        whose work its leases cover (the supervisor cancels what is left at its
        deadline) and stop only once the userbot's client is closed."""
        self._task = asyncio.create_task(self._keep(), name=self.name)

    async def _keep(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self.run()
            except Exception:
                attempt += 1
                log.exception("the lease keeper failed (attempt %d): restarting", attempt)
                if self._health is not None:
                    self._health.set(self.name, "restarting", "see the log")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), min(self.period * attempt, 30))

    async def close(self) -> None:
        """Stop renewing and give every lease back (what is still held is stopped
        first: its `on_lost`); wait for the task, at most LEASE_SECONDS."""
        self._stopping = True
        self._closing.set()
        self._wake.set()
        task = self._task
        if task is None:
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), self.seconds)
        if not task.done():
            task.cancel()

    async def run(self) -> None:
        """Register this process, then renew its leases every LEASE_SECONDS/3 until
        closed; leases it could not renew in time are given up (`on_lost`). However it
        ends (closed, failed, cancelled), what is still held is stopped first
        (`on_lost`), then given back: nothing stays open here unrenewed."""
        try:
            await self._register()
            if self._health is not None:
                self._health.set(self.name, "running")
            next_beat = self._clock()
            while not self._stopping:
                if self._clock() >= next_beat:
                    start = self._clock()
                    next_beat = start + self.period
                    await self._renew(start)
                await self._give_up_expired()
                if self._health is not None:
                    self._health.beat(self.name)
                wait = next_beat - self._clock()
                if self._held:
                    earliest = min(h.deadline for h in self._held.values())
                    wait = min(wait, earliest - self._clock())
                self._wake.clear()
                if wait > 0 and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            await self._end()

    async def _end(self) -> None:
        held, self._held = list(self._held.items()), {}
        for lease, entry in held:
            await self._stop_work(lease, entry, "is still held at the end")
        await self._release_all()
        await self._store.close()
        if self._health is not None and self._stopping:
            self._health.set(self.name, "stopped")

    async def _register(self) -> None:
        pause = 0.5
        while not self._stopping:
            try:
                host, pid, _ = self._store.holder.split("/")
                await asyncio.wait_for(
                    self._store.register(host, int(pid), self.role), self.seconds
                )
            except Exception as exc:
                log.warning("could not register this process's worker row: %s", _error(exc))
                await self._store.close()
                await asyncio.sleep(pause)
                pause = min(self.period, pause * 2)
                continue
            self.registered.set()
            log.info("lease keeper: this process is %s (%s)", self.holder_id, self.role)
            return

    async def _renew(self, start: float) -> None:
        held = set(self._held)
        # Never wait past the earliest local deadline: a hanging renewal must not keep
        # a lease from being given up in time.
        timeout = self.period
        if self._held:
            earliest = min(h.deadline for h in self._held.values())
            timeout = max(0.01, min(timeout, earliest - self._clock()))
        try:
            renewed = await asyncio.wait_for(self._store.renew(held), timeout)
        except Exception as exc:
            log.warning("lease heartbeat failed (%d held): %s", len(held), _error(exc))
            await self._store.close()
            return
        for lease in held:
            entry = self._held.get(lease)
            if entry is None:
                continue  # released meanwhile
            if lease in renewed:
                entry.deadline = self._valid_until(start)
            else:
                entry.deadline = self._clock()  # expired in the database: gone now
        await self._share_accounts()

    async def _share_accounts(self) -> None:
        """Give back the accounts held beyond this process's fair share (db/leases.py
        `_excess`: another worker started, or came back), the last taken first: the
        client is closed here first (`on_lost`), then the lease goes."""
        accounts = [lease for lease in self._held if lease.kind == ACCOUNT]
        if len(accounts) < 2:
            return
        try:
            excess = await asyncio.wait_for(self._store.excess_accounts(), self.period)
        except Exception as exc:
            log.warning("could not count the accounts' fair share: %s", _error(exc))
            await self._store.close()
            return
        for lease in sorted(accounts, key=lambda x: int(x.key), reverse=True)[:excess]:
            entry = self._held.pop(lease, None)
            if entry is None:
                continue
            await self._stop_work(lease, entry, "is beyond this process's share")
            try:
                await asyncio.wait_for(self._store.release(lease.kind, lease.key), self.period)
            except Exception as exc:  # it expires by itself
                log.warning("could not give back the account %s lease: %s", lease.key, _error(exc))
                await self._store.close()

    async def _give_up_expired(self) -> None:
        now = self._clock()
        for lease, entry in list(self._held.items()):
            if entry.deadline > now or self._held.get(lease) is not entry:
                continue
            del self._held[lease]
            self.lost.append(lease)
            await self._stop_work(lease, entry, "could not be renewed in time: given up here")

    async def _stop_work(self, lease: HeldLease, entry: _Held, why: str) -> None:
        """Stop what `lease` covers (its on_lost, within LEASE_SECONDS/6)."""
        log.warning("the %s %s lease %s: stopping its work", lease.kind, lease.key, why)
        try:
            await asyncio.wait_for(entry.on_lost(), self.margin)
        except Exception:
            log.exception("stopping the work of the %s %s lease failed", lease.kind, lease.key)

    async def _release_all(self) -> None:
        try:
            await asyncio.wait_for(self._store.release_all(), self.period)
        except Exception as exc:
            log.warning("could not give back this process's leases: %s", _error(exc))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
