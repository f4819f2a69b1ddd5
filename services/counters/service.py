"""Component "counters": posts' counters at fixed ages and channels' subscriber counts
(#17), read with the userbot's one client.

Every `poll_seconds` (and when woken), with a ready session:
1. the posts of the active broadcast channels that reached one of its `ages` less than
   `due_window(age)` ago (db/counters.py: max(age / 4, 15 min)) and have no snapshot
   for it yet are read with messages.getMessagesViews and messages.getMessagesReactions,
   all ages of a channel together, 100 ids a request each (parser/counters.py), and
   recorded with age_mark = the age each is
   due for (the message rows keep the latest values). A channel waits until one of its
   due posts is past its hold (min(window / 2, 1 h): 1 h for 24 h) or 100 are due, so
   posts due close together share a request. A post missed beyond its window is
   skipped. `ages` are the SNAPSHOT_AGES of at least the refresh window (all of them
   when the window is 0; app/service.py): the shorter ones are marked on the runs'
   reads of the window at no request (db/counters.py snapshot hooks);
2. each active broadcast channel whose latest subscriber count is older than
   `subscribers_interval` (or that has none) gets one channels.getFullChannel, those
   never read first, then the oldest count first. The reads are paced at N (the
   channels followed) per interval: a round may read what accrued since the last one
   (N x elapsed / interval), at most ceil(N x poll / interval) at once (at least
   `_FEW`: so few are no burst), that many at start. So a first start or a restart
   after a long stop spreads the N reads over the interval (1,000 channels, 60 min,
   5 min polls: 84 a round) instead of sending N at once, and in steady state each
   channel is read once an interval (a count younger than the interval is never read
   again). A channel asked that gave no count (refused, or no participants_count) is
   not asked again before the interval passes either (kept in memory), so it cannot
   stay at the head of the queue and take the budget every round.

Woken by a completed run, the job runs an extra round no sooner than 10 times the last
round's duration after it ended (at most 30 s, `run_debounce`), so run-woken rounds
take at most about a tenth of the time however often runs complete; a session
becoming ready wakes it at once. The pacing budget lives in memory: a new process
starts with a full one (84 reads at 1,000 channels), which the supervisor's restart
backoff bounds.

What Telegram says: a flood wait defers the whole job by its seconds (the chunks read
before it are recorded; the end of the wait is stored in job_mark, so a restart keeps
it); a channel removed by the operator during a round is left out (nothing recorded,
logged); a channel it refuses (private, banned, another error of its own) is skipped
this round, logged at INFO once an interval; a dead session is reported to the
userbot (which alerts); network trouble: the next poll tries again. The snapshots of
the history reads (the refresh window) are written with the posts (db/counters.py
snapshot hooks), not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from core.analytics import age_label
from core.errors import (
    ChannelUnavailable,
    RateLimited,
    SessionDead,
    TransportError,
    UnknownTelegramError,
    local_error,
)
from core.parsing import CountersState
from db.counters import CounterRepository, Followed, hold
from parser.counters import VIEWS_PER_REQUEST, Counts, read_subscribers, read_views
from services.events import RunCompleted

log = logging.getLogger(__name__)

# Posts Telegram answered without counters (deleted meanwhile) are not asked again for
# the same age by this process; the set is emptied past this size.
_MISSING_CAP = 100_000
# Subscriber reads a round may always make at once (more are paced: tick()).
_FEW = 10
# A completed run wakes the job for an extra round no sooner than _RUN_SHARE times the
# last round's duration after it ended (so rounds woken by runs take at most about a
# tenth of the time: a run completes every few seconds at 1,000 channels), and never
# later than this many seconds.
_RUN_DEBOUNCE = 30.0
_RUN_SHARE = 10.0
# How often a channel Telegram keeps refusing is logged at INFO without a subscriber
# interval (with one: once an interval).
_REFUSED_LOG = timedelta(hours=1)


class Session(Protocol):
    """The userbot as this service sees it (parser/userbot.py Userbot)."""

    @property
    def client(self) -> Any:
        """A connected TelegramClient, or None."""
    @property
    def state(self) -> str:
        """ready | connecting | no_session | invalid | ..."""

    async def session_dead(self, reason: str) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CountersService:
    """The supervised counters job; `tick()` is one round (tests call it directly)."""

    name = "counters"

    def __init__(
        self,
        repo: CounterRepository,
        session: Session,
        *,
        ages: Sequence[timedelta],
        subscribers_interval: timedelta | None,
        poll_seconds: float = 300.0,
        clock: Callable[[], datetime] = _utcnow,
        run_debounce: float = _RUN_DEBOUNCE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repo
        self._session = session
        self._ages = tuple(sorted(ages))
        self._interval = subscribers_interval
        self._poll = poll_seconds
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        # Woken by a completed run only (debounced: run()); when the last round ended and
        # how long it took (`monotonic` seconds).
        self._run_debounce = run_debounce
        self._monotonic = monotonic
        self._urgent = False
        self._round_end: float | None = None
        self._round_took = 0.0
        # Subscriber reads that got no count (refused, or no participants_count): the
        # channel is not asked again before the interval passes, as if it had been read,
        # so it cannot stay at the head of the queue and starve the others (row id ->
        # when asked).
        self._tried: dict[int, datetime] = {}
        # When a refused channel was last logged at INFO (once an interval; row id).
        self._refused_logged: dict[int, datetime] = {}
        # The clock's time before which a flood wait holds us (stored in job_mark so a
        # restart keeps it; loaded at the first round).
        self._resume_at: datetime | None = None
        self._resume_loaded = False
        self._missing: set[tuple[int, int, int]] = set()
        # The subscriber reads this process may make now, and when that was counted.
        self._budget: float | None = None
        self._budget_at: datetime | None = None
        # What /status shows (`state`): the last round, what the job read since its
        # first round, the last subscriber count taken.
        self._round_at: datetime | None = None
        self._since: datetime | None = None
        self._posts = self._subscribers = self._waiting = 0
        self._last_count: datetime | None = None
        self._next_subscribers: datetime | None = None

    def wake(self) -> None:
        self._urgent = True
        self._wake.set()

    async def on_run_completed(self, event: RunCompleted) -> None:
        """EventBus subscriber: a committed run may have stored posts now due (one extra
        round per `run_debounce` seconds at most: run())."""
        self._wake.set()

    async def session_state(self, state: str) -> None:
        """The userbot's state listener: a session ready is used at once."""
        self.wake()

    async def _debounce(self) -> None:
        """Woken by completed runs only: wait until _RUN_SHARE times the last round's
        duration (at most `run_debounce` seconds) has passed since it ended (a session
        ready or stop() ends the wait)."""
        while not self._urgent and not self._stopping and self._round_end is not None:
            pause = min(self._run_debounce, _RUN_SHARE * self._round_took)
            left = self._round_end + pause - self._monotonic()
            if left <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)

    async def run(self) -> None:
        self._stopping = False
        while not self._stopping:
            self._wake.clear()
            self._urgent = False
            began = self._monotonic()
            try:
                await self.tick()
            except Exception as exc:
                # The database locked or its disk full: tried again next poll (anything
                # else is a bug: the supervisor restarts the component).
                if local_error(exc) is None:
                    raise
                log.warning("counters: %s; trying again in %.0f s", exc, self._poll)
            self._round_end = self._monotonic()
            self._round_took = self._round_end - began
            wait = self._poll
            if self._resume_at is not None:
                held = (self._resume_at - self._clock()).total_seconds()
                if held > 0:
                    wait = max(wait, held)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
                await self._debounce()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def state(self) -> CountersState | None:
        """The job for /status; None when it reads nothing (no ages, no interval)."""
        if not self._ages and self._interval is None:
            return None
        held = self._resume_at
        return CountersState(
            last_round=self._round_at, posts=self._posts, subscribers=self._subscribers,
            waiting=self._waiting, next_subscribers=self._next_subscribers,
            held_until=held if held is not None and held > self._clock() else None,
            since=self._since,
            last_count=self._last_count,
        )

    def _client_for(self, ch: Followed, default: Any) -> Any:
        """The client of the account whose access hash `ch` holds, while it is ready
        (several accounts, parser/pool.py); else `default`, the one session's."""
        client_of = getattr(self._session, "client_of", None)
        own = client_of(ch.account_id) if client_of is not None else None
        return own if own is not None else default

    def _elsewhere(self, ch: Followed) -> bool:
        """Whether `ch`'s account is open in another process (PostgreSQL, several
        processes, #18): that process reads its counters, with its access hash."""
        open_elsewhere = getattr(self._session, "open_elsewhere", None)
        return open_elsewhere is not None and bool(open_elsewhere(ch.account_id))

    async def tick(self) -> None:
        """One round: the due age snapshots, then the due subscriber counts."""
        if not self._resume_loaded:
            self._resume_at = await self._repo.resume_at()
            self._resume_loaded = True
        if self._resume_at is not None and self._clock() < self._resume_at:
            return
        client = self._session.client
        if client is None or self._session.state != "ready":
            return
        if not self._ages and self._interval is None:
            return
        channels = {c.id: c for c in await self._repo.followed_channels()}
        if not channels:
            return
        skipped: set[int] = set()
        counted = False
        if self._since is None:
            self._since = self._clock()
        # /status reads `_waiting` while a round runs: the last round's figure stands
        # until the subscriber round sets its own, and is cleared only when no
        # subscriber round ran (an ages round ended by a flood wait).
        try:
            if self._ages:
                await self._ages_round(client, channels, skipped)
            if self._interval is not None:
                counted = True
                await self._subscribers_round(client, channels, skipped)
        except RateLimited as exc:
            self._resume_at = self._clock() + timedelta(seconds=max(1, exc.seconds))
            await self._repo.set_resume_at(self._resume_at)
            log.info("counters: Telegram asks to wait %d s; the job waits", exc.seconds)
        except SessionDead as exc:
            await self._session.session_dead(exc.reason)
        except TransportError as exc:
            log.warning("counters: %s; trying again next round", exc)
        finally:
            if not counted:
                self._waiting = 0
            self._round_at = self._clock()

    async def _ages_round(
        self, client: Any, channels: dict[int, Followed], skipped: set[int]
    ) -> None:
        """Every channel's posts due at any age, read together: one getMessagesViews per
        100 ids per channel, each post recorded under the age it is due for. A channel
        is read once one of its due posts is past its hold (db/counters.py `hold`) or
        100 are due; then all its due posts go."""
        now = self._clock()
        due: dict[int, dict[int, timedelta]] = {}
        ripe: set[int] = set()
        for age in self._ages:
            mark = int(age.total_seconds())
            found = await self._repo.due_posts(list(channels), age, now)
            for channel_id, posts in found.items():
                for i, date in posts.items():
                    if (channel_id, i, mark) in self._missing:
                        continue
                    due.setdefault(channel_id, {})[i] = age
                    if now - date >= age + hold(age):
                        ripe.add(channel_id)
        for channel_id, ages in due.items():
            if channel_id in skipped:
                continue
            if channel_id not in ripe and len(ages) < VIEWS_PER_REQUEST:
                continue
            ch = channels[channel_id]
            if self._elsewhere(ch):
                continue
            counters: dict[int, Counts] = {}
            try:
                await read_views(
                    self._client_for(ch, client), (ch.tg_id, ch.access_hash), list(ages),
                    counters,
                )
            except (ChannelUnavailable, UnknownTelegramError) as exc:
                self._skip(ch, exc, skipped)
                continue
            except RateLimited:
                # The chunks read before the flood wait are kept (not asked again).
                await self._record(ch, ages, counters, complete=False)
                raise
            await self._record(ch, ages, counters, complete=True)

    async def _record(
        self, ch: Followed, ages: dict[int, timedelta], counters: dict[int, Counts],
        *, complete: bool,
    ) -> None:
        """Record what was read of `ch`'s due posts (`ages`: msg_id -> the age each is
        due for); when the read was `complete`, the posts Telegram answered nothing for
        are not asked again for that age by this process."""
        if complete:
            missing = set(ages) - set(counters)
            if missing:
                if len(self._missing) > _MISSING_CAP:
                    self._missing.clear()
                self._missing.update((ch.id, i, int(ages[i].total_seconds())) for i in missing)
        taken = self._clock()
        for age in sorted(set(ages.values())):
            part = {i: c for i, c in counters.items() if ages[i] == age}
            if not part:
                continue
            if not await self._repo.record_age(ch.id, age, taken, part):
                log.info("counters: %s was removed meanwhile; nothing recorded", ch.label)
                return
            self._posts += len(part)
            log.debug("counters: %s: %d post(s) at %s", ch.label, len(part), age_label(age))

    async def _subscribers_round(
        self, client: Any, channels: dict[int, Followed], skipped: set[int]
    ) -> None:
        assert self._interval is not None
        now = self._clock()
        budget = self._refill(len(channels), now)
        due, soonest = await self._repo.subscribers_due(list(channels), self._interval, now)
        # Asked within the interval and got no count: treated as read until it passes.
        for cid, when in list(self._tried.items()):
            if cid not in channels or now - when >= self._interval:
                del self._tried[cid]
            elif soonest is None or when + self._interval < soonest:
                soonest = when + self._interval
        due = [cid for cid in due if cid not in self._tried]
        self._waiting = len(due)
        # When the next count is read (/status): the first one to come due; with some
        # left waiting for the pace, the next round that may read one.
        self._next_subscribers = soonest
        per_second = len(channels) / self._interval.total_seconds()
        first: datetime | None = None
        for channel_id in due:
            if channel_id in skipped:
                self._waiting -= 1
                continue
            if budget < 1:
                wait = max(self._poll, (1 - budget) / per_second)
                self._next_subscribers = now + timedelta(seconds=wait)
                break
            budget -= 1
            self._budget = budget
            self._waiting -= 1
            ch = channels[channel_id]
            if self._elsewhere(ch):
                continue
            try:
                count = await read_subscribers(
                    self._client_for(ch, client), (ch.tg_id, ch.access_hash)
                )
            except (ChannelUnavailable, UnknownTelegramError) as exc:
                self._tried[channel_id] = self._clock()
                self._skip(ch, exc, skipped)
                continue
            if count is None:
                self._tried[channel_id] = self._clock()
                continue
            taken = self._clock()
            if await self._repo.record_subscribers(channel_id, count, taken):
                self._subscribers += 1
                self._last_count = taken
                first = first or taken
            else:
                log.info("counters: %s was removed meanwhile; nothing recorded", ch.label)
        if not self._waiting and first is not None:
            again = first + self._interval
            self._next_subscribers = min(soonest, again) if soonest else again

    def _refill(self, channels: int, now: datetime) -> float:
        """The subscriber reads allowed now: `channels` per interval accrued since the
        last count, at most ceil(channels x poll / interval) (at least `_FEW`); that
        many the first time."""
        assert self._interval is not None
        per_second = channels / self._interval.total_seconds()
        cap = max(_FEW, math.ceil(per_second * self._poll))
        if self._budget is None or self._budget_at is None:
            budget = float(cap)
        else:
            elapsed = max(0.0, (now - self._budget_at).total_seconds())
            budget = min(float(cap), self._budget + per_second * elapsed)
        self._budget, self._budget_at = budget, now
        return budget

    def _skip(self, ch: Followed, exc: Exception, skipped: set[int]) -> None:
        """Leave `ch` out of this round; logged at INFO once an interval (a channel
        Telegram keeps refusing would log every round), DEBUG otherwise."""
        skipped.add(ch.id)
        now = self._clock()
        every = self._interval or _REFUSED_LOG
        last = self._refused_logged.get(ch.id)
        if last is not None and now - last < every:
            log.debug("counters: %s skipped this round: %s", ch.label, exc)
            return
        if len(self._refused_logged) > _MISSING_CAP:
            self._refused_logged.clear()
        self._refused_logged[ch.id] = now
        log.info("counters: %s skipped this round (logged once per %s): %s",
                 ch.label, age_label(every), exc)
