"""What the bot's /parse and /status call (bot/api/parsing.py ParsingAPI): parse now,
batches over many channels, and the parsing part of /status. No Telethon or ORM type
leaves here: results are core.parsing types."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.channels import Channel
from core.parsing import (
    KEPT,
    BatchProgress,
    ChannelKind,
    ChannelState,
    CountersState,
    NamedChannel,
    NextRun,
    ParseStatus,
    RunProgress,
    RunStatus,
)
from db.channels import ChannelStateRepository, find_channel
from db.messages import database_size
from services.parsing.breaker import CircuitBreaker
from services.parsing.worker import NotReady, ParseWorker, Session

log = logging.getLogger(__name__)

BatchCallback = Callable[[BatchProgress], Awaitable[None]]
# The counters job's state for /status (services/counters CountersService.state).
CountersView = Callable[[], CountersState | None]
# What `/parse` takes for every active channel.
ALL = ("all", "*", "все")


async def _notify(callback: BatchCallback | None, batch: BatchProgress) -> None:
    if callback is None:
        return
    try:
        await callback(batch)
    except Exception:
        log.warning("batch progress callback failed", exc_info=True)


def channel_kind(ch: ChannelState, now: datetime) -> ChannelKind | None:
    """How /status counts a channel; None for a discussion group (status `linked`)."""
    if ch.status == "paused":
        return ChannelKind.PAUSED
    if ch.status == "disabled":
        return ChannelKind.DISABLED
    if ch.status != "active":
        return None
    if ch.deferred_until is not None and ch.deferred_until > now:
        return ChannelKind.DEFERRED
    if ch.last_error and ch.deferred_until is None:  # its last run failed
        return ChannelKind.FAILING
    return ChannelKind.OK


def _named(ch: ChannelState, kind: ChannelKind, now: datetime) -> NamedChannel:
    if kind == ChannelKind.DEFERRED:
        assert ch.deferred_until is not None
        return NamedChannel(ch.label, seconds=int((ch.deferred_until - now).total_seconds()))
    if kind == ChannelKind.FAILING:
        return NamedChannel(ch.label, ch.last_error or "")
    return NamedChannel(ch.label, ch.disabled_reason or "")


@dataclass
class ChannelCounts:
    """The archive's part of /status: channels by kind, the first few of each kind but ok
    by name, every channel's label by row id, and the messages stored."""

    counts: Counter[ChannelKind]
    named: dict[ChannelKind, tuple[NamedChannel, ...]]
    labels: dict[int, str]
    messages: int


async def channel_counts(channels: ChannelStateRepository, sample: int = KEPT) -> ChannelCounts:
    """Count the stored channels by kind (`channel_kind`), naming the first `sample` of
    each kind but ok."""
    now = datetime.now(UTC)
    counts: Counter[ChannelKind] = Counter()
    named: dict[ChannelKind, list[NamedChannel]] = {
        k: [] for k in ChannelKind if k != ChannelKind.OK
    }
    labels: dict[int, str] = {}
    messages = 0
    for ch in await channels.channel_states():
        labels[ch.id] = ch.label
        messages += ch.messages_count
        kind = channel_kind(ch, now)
        if kind is None:
            continue
        counts[kind] += 1
        if kind != ChannelKind.OK and len(named[kind]) < sample:
            named[kind].append(_named(ch, kind, now))
    return ChannelCounts(counts, {k: tuple(v) for k, v in named.items()}, labels, messages)


Progress = Callable[[RunProgress], Awaitable[None]]


# A run's NOT_RUN error when no account that can read the channel is usable now
# (services/parsing/worker.py, parser/pool.py `reader_for`).
NO_READER = "no_reader"


@dataclass(frozen=True)
class NotRun:
    """A channel of a batch not run, nor the ones after it: `reason` a userbot state
    (invalid, no_session, ...), `stopping`, `no_worker`, `bus_unavailable` (a
    `parse_stopped_*` text), `detail` its cause (AuthKeyUnregistered, ...)."""

    reason: str
    detail: str | None = None


class BatchRuns:
    """/parse over one or more channels, one run after another: what the bot's
    ParsingAPI offers whoever runs the channels (this process's worker: ParseService;
    the worker processes through the bus: services/parsing/remote.py).

    `batch` is the `/parse all` under way (one at a time). A subclass runs one channel
    (`_parse`): its outcome, or `NotRun` (why it and the channels left are not run).
    """

    def __init__(self, channels: ChannelStateRepository) -> None:
        self._channels = channels
        self.batch: BatchProgress | None = None

    async def targets(self, target: str) -> list[Channel]:
        """Active channels for `all` (`*`, `все`), else the one channel `target` names
        (any status, discussion groups included; the references db/channels.py
        `find_channel` accepts)."""
        if target.strip().lower() in ALL:
            return await self._channels.channels("active")
        ch = await find_channel(target, include_linked=True)
        return [ch] if ch is not None else []

    async def _parse(self, ch: Channel, progress: Progress) -> RunProgress | NotRun:
        raise NotImplementedError

    async def run_batch(
        self,
        targets: Sequence[Channel],
        on_progress: BatchCallback | None = None,
        *,
        exclusive: bool = False,
    ) -> BatchProgress | None:
        """Run `targets` one after another.

        Once a run is NOT_RUN (no session, no worker) the channels left are not run and
        the batch says why. `exclusive`: this is the one `/parse all` (`self.batch`);
        None, and nothing run, when another one is under way. `on_progress` hears the
        batch after each run and each batch of each run (its errors are logged only).
        """
        batch = BatchProgress(len(targets))
        if exclusive:
            if self.batch is not None:
                return None
            self.batch = batch
        try:
            for i, ch in enumerate(targets):
                result, seconds = await self._run_in(batch, ch, on_progress)
                if isinstance(result, NotRun):
                    batch.stop(result.reason, result.detail, len(targets) - i)
                    break
                batch.add(result, seconds)
                await _notify(on_progress, batch)
        finally:
            if self.batch is batch:
                self.batch = None
        return batch

    async def _run_in(
        self, batch: BatchProgress, ch: Channel, on_progress: BatchCallback | None
    ) -> tuple[RunProgress | NotRun, float]:
        started = time.monotonic()

        async def progress(p: RunProgress) -> None:
            batch.current = p
            await _notify(on_progress, batch)

        result = await self._parse(ch, progress)
        return result, time.monotonic() - started


class ParseService(BatchRuns):
    """/parse and the parsing part of /status over this process's worker queue.

    `db_path` is the SQLite file whose size /status shows (None on PostgreSQL).
    """

    def __init__(
        self,
        worker: ParseWorker,
        channels: ChannelStateRepository,
        breaker: CircuitBreaker,
        userbot: Session,
        *,
        db_path: str | None = None,
    ) -> None:
        super().__init__(channels)
        self.worker = worker
        self._breaker = breaker
        self._userbot = userbot
        self._db_path = db_path
        self._counters: CountersView | None = None

    def watch_counters(self, view: CountersView) -> None:
        """Show the counters job's state in /status (app/service.py wires it)."""
        self._counters = view

    def ready(self) -> bool:
        """Whether the userbot has a usable session now."""
        return self._userbot.client is not None and self._userbot.state == "ready"

    async def _parse(self, ch: Channel, progress: Progress) -> RunProgress | NotRun:
        return await self.run_one(ch.id, progress)

    async def run_one(self, channel_id: int, progress: Progress | None = None
                      ) -> RunProgress | NotRun:
        """Run one channel (row id) through the worker's queue: its outcome, or NotRun
        without a usable session."""
        try:
            result = await self.worker.parse_now(channel_id, progress)
        except NotReady as exc:
            return self._not_run(str(exc))
        if result.status == RunStatus.NOT_RUN and result.error == NO_READER:
            # This channel's trouble, not the session's: no account that can read it
            # is usable now (its own one connecting, flood-waited or gone, and it is
            # private). The channels after it in a /parse all go on.
            return result
        if result.status == RunStatus.NOT_RUN:  # the session went while it waited
            return self._not_run(result.error or self._userbot.state)
        return result

    def _not_run(self, state: str) -> NotRun:
        # The session is gone (revoked, logged out): its state and reason.
        return NotRun(state, None if state == "stopping" else self._userbot.reason)

    async def status(self, sample: int = KEPT) -> ParseStatus:
        """Counts by kind, the first `sample` channels of each kind but ok, and what runs.

        Without a usable session there is no connection to report and no run to come.
        """
        found = await channel_counts(self._channels, sample)
        labels = found.labels
        ready = self.ready()
        next_runs = self.worker.next_runs()[:5] if ready else []
        return ParseStatus(
            ready=ready,
            session=self._userbot.state,
            breaker=self._breaker.snapshot(),
            counts=dict(found.counts),
            named=found.named,
            messages=found.messages,
            db_size=database_size(self._db_path),
            next_runs=tuple(NextRun(labels[c], when) for c, when in next_runs if c in labels),
            running=self.worker.running,
            queued=self.worker.queued if ready else 0,
            batch=self.batch,
            local=self.worker.local_state(),
            counters=self._counters() if self._counters is not None else None,
        )
