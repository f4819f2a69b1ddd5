"""What parsing reports: run and batch progress, /status's parsing part, the row contract.

services/parsing/ fills these; bot/ renders them (bot/api/parsing.py). A run's
`RunProgress` and a batch's `BatchProgress` are updated while they go on (the live
message shows them); everything else is a frozen snapshot.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# The columns of one stored message row, in order: parser/history.py `message_row`
# builds them, db/messages.py writes them.
COLUMNS = (
    "channel_id",
    "msg_id",
    "date",
    "text",
    "entities",
    "sender_id",
    "post_author",
    "views",
    "forwards",
    "replies",
    "reactions",
    "edit_date",
    "media_kind",
    "media",
    "grouped_id",
    "reply_to_id",
    "fwd_from",
    "comment_of",
    "content_text",
    "action",
    "fetched_at",
)
# A message as a plain tuple in COLUMNS order (no ORM object on the hot path).
Row = tuple[Any, ...]
MSG_ID, REPLIES = COLUMNS.index("msg_id"), COLUMNS.index("replies")


class RunStatus(StrEnum):
    """How a run of one channel ended (`running` while it goes on)."""

    RUNNING = "running"
    OK = "ok"
    DEFERRED = "deferred"  # Telegram asked to wait (a flood wait): run again later
    DISABLED = "disabled"  # the channel cannot be read (private, banned, ...)
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped between batches (stop, pause, logout)
    NOT_RUN = "not_run"  # no usable session (or the app is stopping)
    ELSEWHERE = "elsewhere"  # another process runs this channel now (its lease, #18)


class Trigger(StrEnum):
    """Why a run started (stored in parse_run.trigger)."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


@dataclass
class RunProgress:
    """One run of one channel, updated after each committed batch (live messages).

    `fetched` counts rows written (new and re-read), `total` the rows the run expects
    (None until Telegram said how many the channel has), `started` is a
    `time.monotonic()` stamp. `error` is a reason code or Telegram error name.
    """

    channel: str  # the channel's label
    fetched: int = 0
    total: int | None = None
    started: float = 0.0
    status: RunStatus = RunStatus.RUNNING
    error: str | None = None
    deferred_seconds: int | None = None
    top_id: int = 0  # the newest message id written
    comments: int = 0  # comment rows written
    first_new_id: int = 0  # the first message id above the cursor the run started from
    new: int = 0  # rows above that cursor
    # A supergroup upgraded from a basic group: rows written from the old group (also
    # in `fetched`), and how many of its earlier messages the account cannot read and
    # Telegram's reason (None: nothing missing).
    migrated: int = 0
    migrated_missing: int | None = None
    migrated_error: str | None = None
    deleted: int = 0  # posts of the refresh window found deleted by this run
    deleted_ids: tuple[int, ...] = ()  # the first few of them, ascending

    @property
    def reread(self) -> int:
        """Rows stored before this run and read again (the refresh window)."""
        return max(0, self.fetched - self.new - self.migrated)

    @property
    def rate(self) -> float:
        """Rows written per second since `started`."""
        elapsed = time.monotonic() - self.started
        return self.fetched / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; None when unknown."""
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.fetched) / self.rate)


# How many results and problems a batch keeps to name (its counters cover the rest),
# and how many channels of each kind /status gets to name.
KEPT = 10


@dataclass
class BatchProgress:
    """One /parse over one or more channels, for a live message and a summary.

    Bounded whatever the number of channels: outcomes are counted, and only the first
    KEPT results and problems are kept (with the run's seconds) to be named.
    """

    total: int
    started: float = field(default_factory=time.monotonic)
    outcomes: Counter[RunStatus] = field(default_factory=Counter)
    new: int = 0
    reread: int = 0
    results: list[tuple[RunProgress, float]] = field(default_factory=list)
    problems: list[tuple[RunProgress, float]] = field(default_factory=list)
    current: RunProgress | None = None
    # Why the channels left were not run: a userbot state (invalid, no_session, ...) or
    # "stopping"; `stopped_detail` is the session's reason (AuthKeyUnregistered, ...).
    stopped: str | None = None
    stopped_detail: str | None = None

    @property
    def done(self) -> int:
        """Channels that were run (whatever came of it)."""
        return sum(self.outcomes.values()) - self.outcomes[RunStatus.NOT_RUN]

    def add(self, result: RunProgress, seconds: float) -> None:
        self.current = None
        self.outcomes[result.status] += 1
        self.new += result.new
        self.reread += result.reread
        if len(self.results) < KEPT:
            self.results.append((result, seconds))
        if result.status != RunStatus.OK and len(self.problems) < KEPT:
            self.problems.append((result, seconds))

    def stop(self, reason: str, detail: str | None, left: int) -> None:
        self.current = None
        self.stopped, self.stopped_detail = reason, detail
        self.outcomes[RunStatus.NOT_RUN] += left


class ChannelKind(StrEnum):
    """How /status counts a channel."""

    OK = "ok"
    FAILING = "failing"  # its last run failed
    DEFERRED = "deferred"  # waiting out a flood wait
    DISABLED = "disabled"
    PAUSED = "paused"


@dataclass(frozen=True)
class ChannelState:
    """What /status needs to know about one stored channel (light: thousands are read)."""

    id: int
    label: str
    status: str  # active | paused | disabled | linked
    deferred_until: datetime | None
    last_error: str | None
    disabled_reason: str | None
    messages_count: int


@dataclass(frozen=True)
class NamedChannel:
    """A channel /status names: a reason for failing/disabled/paused, or the seconds a
    deferred one still waits."""

    label: str
    reason: str = ""
    seconds: int | None = None


@dataclass(frozen=True)
class BreakerState:
    """The transport circuit breaker: closed | open | half_open; `retry_in` seconds."""

    state: str
    failures: int = 0
    retry_in: float = 0.0
    last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state != "open"


@dataclass(frozen=True)
class LocalState:
    """This machine's trouble holding runs back (services/parsing/worker.py): `cause`
    disk_full | db_locked | io, `where` the directory to free space in ("" unknown),
    `detail` "<ExceptionName>: <message>", for `seconds` so far, probed every
    `probe_seconds`."""

    cause: str
    where: str
    detail: str
    seconds: int
    probe_seconds: float


@dataclass(frozen=True)
class NextRun:
    label: str
    when: datetime  # UTC


@dataclass(frozen=True)
class CountersState:
    """The counters job (#17, services/counters) for /status: its last round (None: none
    yet), what it read since it started (`since`: its first round; `posts`: age
    snapshots; `subscribers`: counts), when the last subscriber count was taken (None:
    none since start), the subscriber counts due but not read yet (paced over the
    interval), when the next count is read (None: no channel; the next round when some
    are waiting), and the end of a flood wait that holds the job (None: none)."""

    last_round: datetime | None = None
    posts: int = 0
    subscribers: int = 0
    waiting: int = 0
    next_subscribers: datetime | None = None
    held_until: datetime | None = None
    since: datetime | None = None
    last_count: datetime | None = None


@dataclass(frozen=True)
class ParseStatus:
    """The parsing part of /status. Without a usable session (`ready` False) there is no
    connection to report: `next_runs` is empty and `queued` 0."""

    ready: bool
    session: str  # the userbot's state (ready, connecting, no_session, invalid, ...)
    breaker: BreakerState
    counts: Mapping[ChannelKind, int]
    named: Mapping[ChannelKind, tuple[NamedChannel, ...]]  # not OK; the first few
    messages: int
    db_size: int | None  # bytes of the SQLite file and its WAL; None on PostgreSQL
    next_runs: tuple[NextRun, ...] = ()
    # A run that this process waits for elsewhere (a /parse all through the workers).
    current: RunProgress | None = None
    # This process's runs in progress, one per account at most, the oldest first.
    running: tuple[RunProgress, ...] = ()
    queued: int = 0
    batch: BatchProgress | None = None
    local: LocalState | None = None  # disk full, database locked: runs wait
    counters: CountersState | None = None  # None: the counters job is off
