"""Wiring the bus (#18) into the two roles of a PostgreSQL deployment.

`tg-parser run --no-parser` (the bot only) gives its routers `bot_side(...)`'s parsing
API and schedule hooks in place of the local worker's, and runs its bus; `tg-parser
worker` (the parser only) runs `worker_side(...)`'s components next to its ParseWorker,
in place of the bot's alert delivery. `tg-parser run` (one process) needs neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from core.alerts import Alerter
from core.ports import Component, HealthBeats
from db.bus import account_recipient
from db.channels import ChannelStateRepository
from parser.pool import AccountPool
from services.bus import Bus
from services.bus_alerts import AlertForwarder, receive_alerts
from services.parsing.remote import (
    RemoteParseService,
    RemoteScheduleHooks,
    register_worker_handlers,
)
from services.parsing.service import ParseService
from services.remote_channels import (
    ROUTE_FALLBACK_SECONDS,
    AccountRoutes,
    RemoteResolvers,
    register_resolve_handler,
)

log = logging.getLogger(__name__)


@dataclass
class BotSide:
    """What a bot-only process uses: `parsing` for BotDeps.parsing, `hooks` for
    ChannelService's scheduler hooks, `resolvers` for its /add (None without routes),
    `bus` to run under the supervisor."""

    bus: Bus
    parsing: RemoteParseService
    hooks: RemoteScheduleHooks
    resolvers: RemoteResolvers | None = None


@dataclass(frozen=True)
class BusTimes:
    """The Bus's times: `lease_seconds` is LEASE_SECONDS; the others' defaults suit
    production (a poll every 3 s, a request waits 15 s for a worker)."""

    lease_seconds: float = 30.0
    poll_seconds: float = 3.0
    claim_seconds: float = 15.0


def bot_side(
    database_url: str,
    alerter: Alerter,
    health: HealthBeats,
    times: BusTimes = BusTimes(),
    routes: AccountRoutes | None = None,
) -> BotSide:
    """The bot process's end: /parse and schedule changes go to the workers, their alerts
    come into `alerter` (delivered by the bot's AlertDelivery as any other). With
    `routes` (which worker holds which account) a /parse goes to the worker holding the
    channel's account and /add's lookups to a worker holding an account."""
    bus = Bus(database_url, "bot", health=health, **asdict(times))
    receive_alerts(bus, alerter)
    fallback = min(ROUTE_FALLBACK_SECONDS, times.claim_seconds / 3)
    parsing = RemoteParseService(
        bus, ChannelStateRepository(), routes, fallback_seconds=fallback
    )
    resolvers = RemoteResolvers(bus, routes) if routes is not None else None
    return BotSide(bus, parsing, RemoteScheduleHooks(bus), resolvers)


FLOOD = "flood"  # a broadcast: an account's flood wait was noted in its row


def watch_floods(bus: Bus, pool: AccountPool) -> None:
    """A flood wait noted by one worker reaches the others at once (they read the
    account rows now, not at their next 5 s look): their accounts take over its public
    channels promptly (parser/pool.py `on_flood_elsewhere`)."""

    sending: set[asyncio.Task[object]] = set()

    async def noted(account_id: int) -> None:
        # In the background: a database slow to take it must not hold the run back.
        task = asyncio.create_task(bus.broadcast(FLOOD, {"account_id": account_id}))
        sending.add(task)
        task.add_done_callback(_sent(sending))

    async def heard(_payload: object) -> None:
        pool.refresh()

    pool.on_flood_noted = noted
    bus.on_broadcast(FLOOD, heard)


def _sent(sending: set[asyncio.Task[object]]) -> Callable[[asyncio.Task[object]], None]:
    def done(task: asyncio.Task[object]) -> None:
        sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("the other workers were not told of a flood wait (they read the"
                        " accounts within 5 s anyway): %s", task.exception())

    return done


def worker_side(
    database_url: str,
    parse: ParseService,
    alerter: Alerter,
    health: HealthBeats,
    times: BusTimes = BusTimes(),
    pool: AccountPool | None = None,
) -> list[Component]:
    """A worker's end: serves the bot's requests on `parse` (its ParseService over its
    ParseWorker) and forwards `alerter`'s alerts to the bot. With `pool` (its accounts)
    it also takes the requests for the accounts whose client is open here (a routed
    /parse, /add's lookups). Components to supervise (the Bus first)."""
    bus = Bus(database_url, "worker", health=health, **asdict(times))
    register_worker_handlers(bus, parse)
    if pool is not None:
        register_resolve_handler(bus, pool)
        bus.serve_addresses(
            lambda: [account_recipient(b.account_id) for b in pool.ready()
                     if b.account_id is not None]
        )

        async def opened(_state: str) -> None:
            bus.wake()  # an account opened here: its requests are taken now

        pool.on_state(opened)
        watch_floods(bus, pool)
    return [bus, AlertForwarder(bus, alerter)]
