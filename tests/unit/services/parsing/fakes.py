"""Stand-ins for the userbot and the fetcher, and a started ParseWorker over them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.delivery import render_alert
from core.alerts import Alerter
from core.channels import Channel
from core.health import HealthRegistry
from core.parsing import RunProgress, RunStatus
from db.channels import ChannelStateRepository
from db.messages import MessageRepository
from db.runs import RunRepository
from services.events import EventBus, RunCompleted
from services.parsing.breaker import CircuitBreaker
from services.parsing.ingest import ChannelFetcher, RunFailed
from services.parsing.worker import ParseWorker


class FakeUserbot:
    def __init__(self) -> None:
        self.client: Any = object()
        self.state = "ready"
        self.reason: str | None = None
        self.me = None
        self.dead: list[str] = []

    async def session_dead(self, reason: str) -> None:
        self.dead.append(reason)
        self.state, self.reason, self.client = "invalid", reason, None


class FakeFetcher:
    def __init__(self) -> None:
        self.errors: dict[int, Exception] = {}
        self.runs: list[int] = []

    def request_stop(self, channel_id: int | None = None) -> None:
        pass

    async def run(self, client: Any, ch: Channel, on_progress: Any = None) -> RunProgress:
        self.runs.append(ch.id)
        if ch.id in self.errors:
            raise RunFailed(
                self.errors[ch.id],  # type: ignore[arg-type]
                RunProgress(ch.label, status=RunStatus.FAILED),
            )
        return RunProgress(ch.label, fetched=3, status=RunStatus.OK, top_id=3, new=3,
                           first_new_id=1)


def real_fetcher(**kw: Any) -> ChannelFetcher:
    """The real fetcher over the migrated database."""
    return ChannelFetcher(MessageRepository(), ChannelStateRepository(), **kw)


def worker(fetcher: Any, userbot: Any, **kw: Any) -> ParseWorker:
    """A ParseWorker over the migrated database (not started)."""
    kw.setdefault("breaker", CircuitBreaker())
    kw.setdefault("alerter", Alerter(600))
    kw.setdefault("health", HealthRegistry())
    return ParseWorker(ChannelStateRepository(), RunRepository(), fetcher, userbot, **kw)


def sent(env: dict[str, Any]) -> list[str]:
    """The alerts queued so far (folded ones at once), in English."""
    env["alerter"].flush()
    return [render_alert(a.body, "en") for a in env["alerter"].pending()]


@asynccontextmanager
async def running(
    fetcher: Any, userbot: FakeUserbot, *, breaker: CircuitBreaker | None = None, **kw: Any
) -> AsyncIterator[dict[str, Any]]:
    """A started ParseWorker over the migrated DB (`kw`: more ParseWorker options); what
    the tests look at."""
    alerter = Alerter(600)
    breaker = breaker or CircuitBreaker(threshold=1)
    committed: list[tuple[int, int, int, int]] = []
    events = EventBus()

    async def on_committed(e: RunCompleted) -> None:
        committed.append((e.channel_id, e.first_id, e.last_id, e.count))

    events.subscribe(on_committed)
    sched = worker(fetcher, userbot, breaker=breaker, alerter=alerter, events=events, **kw)
    task = asyncio.create_task(sched.run())
    await sched.started.wait()
    try:
        yield {"sched": sched, "fetcher": fetcher, "userbot": userbot, "breaker": breaker,
               "alerter": alerter, "committed": committed, "events": events}
    finally:
        await sched.stop()
        await task
