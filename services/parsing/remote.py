"""/parse, pause, resume, remove and schedule changes from a bot-only process, run by
the worker processes (#18), over the bus (services/bus.py).

The bot's side: `RemoteParseService` (bot/api/parsing.py ParsingAPI) sends one `parse`
request per channel and feeds the live message from the progress the worker reports, so
it reads as in one process; `RemoteScheduleHooks` (services/channels.py
ChannelScheduleHooks) broadcasts schedule changes to every worker, and a pause or a
removal waits until the worker running that channel has stopped the run.
The workers' side: `register_worker_handlers` serves both on a worker's ParseService.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from core.channels import Channel
from core.parsing import BreakerState, ParseStatus, RunProgress, RunStatus
from db.bus import WORKER
from db.channels import ChannelStateRepository
from services.bus import Bus, BusUnavailable, HandlerFailed, NoWorker, Request
from services.parsing.service import BatchRuns, NotRun, ParseService, Progress, channel_counts
from services.parsing.worker import DROP_WAIT_SECONDS

log = logging.getLogger(__name__)

PARSE, SCHEDULE = "parse", "schedule"
# What a schedule broadcast asks each worker (ParseWorker's hooks of the same names).
SCHEDULE_OPS = ("add_channel", "reschedule", "drop_channel")
# A pause or removal waits this long for the worker running the channel to stop it.
DROP_BROADCAST_WAIT = DROP_WAIT_SECONDS + 5.0
_FIELDS = {f.name for f in dataclasses.fields(RunProgress)}


def progress_json(p: RunProgress) -> dict[str, Any]:
    """A run's progress as JSON: `started` (a monotonic stamp, this process's own) goes
    as `elapsed` seconds."""
    d = dataclasses.asdict(p)
    d.pop("started")
    d["elapsed"] = time.monotonic() - p.started if p.started else 0.0
    d["deleted_ids"] = list(p.deleted_ids)
    return d


def progress_of(d: dict[str, Any]) -> RunProgress:
    """The RunProgress `progress_json` wrote, its rate and ETA right in this process;
    fields this version does not know are left out."""
    known = {k: v for k, v in d.items() if k in _FIELDS}
    known["status"] = RunStatus(known.get("status", RunStatus.RUNNING))
    known["deleted_ids"] = tuple(known.get("deleted_ids") or ())
    known["started"] = time.monotonic() - float(d.get("elapsed") or 0.0)
    return RunProgress(**known)


class Router(Protocol):
    """services/remote_channels.py AccountRoutes, as /parse uses it."""

    async def for_parse(self, ch: Channel) -> str:
        """The bus recipient of a /parse of `ch`."""


class RemoteParseService(BatchRuns):
    """ParsingAPI of a bot-only process: each channel of a /parse is one `parse` request
    that one worker claims and runs; its progress feeds the live message.

    With `routes` (services/remote_channels.py AccountRoutes) each request goes to the
    worker holding the channel's account (or, for a public channel while that account
    is flood-waited, another account's), so it runs there at once; to any worker when
    nobody holds it or its worker does not take it within `fallback_seconds`.
    A request no worker takes within the bus's `claim_seconds` stops the batch with the
    reason `no_worker` (the text says to start `tg-parser worker`); a database that
    cannot be reached, `bus_unavailable`.
    """

    def __init__(
        self,
        bus: Bus,
        channels: ChannelStateRepository,
        routes: Router | None = None,
        *,
        fallback_seconds: float = 5.0,
    ) -> None:
        super().__init__(channels)
        self._bus = bus
        self._routes = routes
        self._fallback = fallback_seconds

    def ready(self) -> bool:
        """Always True here: whether a worker can run it is the workers' to say (a
        request none takes is answered `no_worker`)."""
        return True

    async def _parse(self, ch: Channel, progress: Progress) -> RunProgress | NotRun:
        async def reported(value: Any) -> None:
            await progress(progress_of(value))

        to = await self._routes.for_parse(ch) if self._routes is not None else WORKER
        try:
            answer = await self._bus.call(
                PARSE, {"channel_id": ch.id}, reported, to=to, fallback_seconds=self._fallback
            )
        except NoWorker:
            return NotRun("no_worker")
        except BusUnavailable as exc:
            return NotRun("bus_unavailable", exc.detail)
        except HandlerFailed as exc:  # the worker's bug: this channel failed, others go on
            return RunProgress(ch.label, status=RunStatus.FAILED, error=exc.detail)
        if "not_run" in answer:
            return NotRun(answer["not_run"], answer.get("detail"))
        return progress_of(answer["run"])

    async def status(self) -> ParseStatus:
        """The archive's counts; the connection, the queues and the next runs are the
        workers' (their own /status section), so `ready` is False and nothing of them is
        claimed here. The batch under way is this process's."""
        found = await channel_counts(self._channels)
        return ParseStatus(
            ready=False,
            session="workers",
            breaker=BreakerState("closed"),
            counts=dict(found.counts),
            named=found.named,
            messages=found.messages,
            db_size=None,
            current=self.batch.current if self.batch is not None else None,
            batch=self.batch,
        )


class RemoteScheduleHooks:
    """services/channels.py ChannelScheduleHooks of a bot-only process: every change is
    broadcast to the workers (each plans every channel); a worker started later reads
    the channel table anyway. Failures are raised (ChannelService logs them: the
    change itself is stored)."""

    def __init__(self, bus: Bus, *, drop_wait: float = DROP_BROADCAST_WAIT) -> None:
        self._bus = bus
        self._drop_wait = drop_wait

    async def add_channel(self, channel_id: int) -> None:
        await self._bus.broadcast(SCHEDULE, {"op": "add_channel", "channel_id": channel_id})

    async def reschedule(self, channel_id: int) -> None:
        await self._bus.broadcast(SCHEDULE, {"op": "reschedule", "channel_id": channel_id})

    async def drop_channel(self, channel_id: int) -> None:
        """Return once every live worker has unscheduled it, and the one running it has
        stopped the run after its batch (at most `drop_wait` s)."""
        behind = await self._bus.broadcast(
            SCHEDULE, {"op": "drop_channel", "channel_id": channel_id}, wait=self._drop_wait
        )
        if behind:
            log.warning("channel %d: %d worker(s) did not confirm they stopped it within"
                        " %.0f s: %s", channel_id, len(behind), self._drop_wait,
                        ", ".join(behind))

    def next_runs(self) -> Iterable[tuple[int, datetime]]:
        """None known here: the channel list shows each channel's stored next run."""
        return ()


def register_worker_handlers(bus: Bus, parse: ParseService) -> None:
    """Serve the bot's requests on this worker's ParseService: `parse` (claimed only
    while this worker's session is ready) and the `schedule` broadcasts."""

    async def on_parse(req: Request) -> dict[str, Any]:
        channel_id = int(req.payload["channel_id"])

        async def progress(p: RunProgress) -> None:
            await req.report(progress_json(p))

        # Shielded: the bus stopping must not cancel the run's future in the queue.
        outcome = await asyncio.shield(parse.run_one(channel_id, progress))
        if isinstance(outcome, NotRun):
            return {"not_run": outcome.reason, "detail": outcome.detail}
        return {"run": progress_json(outcome)}

    async def on_schedule(payload: dict[str, Any]) -> None:
        op, channel_id = payload.get("op"), int(payload["channel_id"])
        if op not in SCHEDULE_OPS:
            log.warning("bus: unknown schedule change %r; ignored", op)
            return
        await getattr(parse.worker, str(op))(channel_id)

    bus.handle(PARSE, on_parse, ready=parse.ready)
    bus.on_broadcast(SCHEDULE, on_schedule)
