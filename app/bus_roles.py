"""Wiring the bus (#18) into the two roles of a PostgreSQL deployment.

`tg-parser run --no-parser` (the bot only) gives its routers `bot_side(...)`'s parsing
API and schedule hooks in place of the local worker's, and runs its bus; `tg-parser
worker` (the parser only) runs `worker_side(...)`'s components next to its ParseWorker,
in place of the bot's alert delivery. `tg-parser run` (one process) needs neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.alerts import Alerter
from core.ports import Component, HealthBeats
from db.channels import ChannelStateRepository
from services.bus import Bus
from services.bus_alerts import AlertForwarder, receive_alerts
from services.parsing.remote import (
    RemoteParseService,
    RemoteScheduleHooks,
    register_worker_handlers,
)
from services.parsing.service import ParseService


@dataclass
class BotSide:
    """What a bot-only process uses: `parsing` for BotDeps.parsing, `hooks` for
    ChannelService's scheduler hooks, `bus` to run under the supervisor."""

    bus: Bus
    parsing: RemoteParseService
    hooks: RemoteScheduleHooks


@dataclass(frozen=True)
class BusTimes:
    """The Bus's times: `lease_seconds` is LEASE_SECONDS; the others' defaults suit
    production (a poll every 3 s, a request waits 15 s for a worker)."""

    lease_seconds: float = 30.0
    poll_seconds: float = 3.0
    claim_seconds: float = 15.0


def bot_side(
    database_url: str, alerter: Alerter, health: HealthBeats, times: BusTimes = BusTimes()
) -> BotSide:
    """The bot process's end: /parse and schedule changes go to the workers, their alerts
    come into `alerter` (delivered by the bot's AlertDelivery as any other)."""
    bus = Bus(database_url, "bot", health=health, **asdict(times))
    receive_alerts(bus, alerter)
    parsing = RemoteParseService(bus, ChannelStateRepository())
    return BotSide(bus, parsing, RemoteScheduleHooks(bus))


def worker_side(
    database_url: str,
    parse: ParseService,
    alerter: Alerter,
    health: HealthBeats,
    times: BusTimes = BusTimes(),
) -> list[Component]:
    """A worker's end: serves the bot's requests on `parse` (its ParseService over its
    ParseWorker) and forwards `alerter`'s alerts to the bot. Components to supervise
    (the Bus first)."""
    bus = Bus(database_url, "worker", health=health, **asdict(times))
    register_worker_handlers(bus, parse)
    return [bus, AlertForwarder(bus, alerter)]
