"""Adding and managing channels: the use cases behind /add, /channels and /schedule.

`ChannelService` implements the bot's `ChannelsAPI` (bot/api/channels.py). Results are
the frozen types of core/channels.py (`AddResult` with an `AddCode`, `HistoryChoice`,
`Channel`) that the bot renders in the operator's language; no Telethon or ORM type
leaves this module. The scheduler is reached through `ChannelScheduleHooks`, passed in
by app/service.py (None: parsing is not wired, managing channels still works).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from core.channels import (
    AddCode,
    AddResult,
    Channel,
    HistoryChoice,
    HistoryDepth,
    PendingInvite,
    default_media_policy,
)
from core.media import MediaMode, MediaPolicy
from db.channels import OWN_STATUSES, ChannelRepository, find_channel
from parser.errors import ChannelUnavailable, RateLimited, SessionDead, TelegramError
from parser.resolver import (
    AddLine,
    BadLine,
    ChannelRef,
    ChannelResolver,
    InvitePreview,
    NotAChannel,
    Resolved,
    parse_line,
    split_lines,
)
from parser.resolver import HistoryDepth as ParsedDepth
from services.bus import BusUnavailable, NoWorker

log = logging.getLogger(__name__)

INVITE_TTL = 15 * 60.0
# Pending batches (history questions, invite groups) kept for their buttons; an older
# question's buttons then answer that it expired (the default depth applies).
MAX_BATCHES = 200


class ChannelScheduleHooks(Protocol):
    """What the scheduler's job table offers the channel use cases."""

    async def add_channel(self, channel_id: int) -> None:
        """Schedule an active channel with a first run now."""

    async def drop_channel(self, channel_id: int) -> None:
        """Unschedule it; a run of it in progress ends after its batch first."""

    async def reschedule(self, channel_id: int) -> None:
        """Re-plan its job after its interval or status changed."""

    def next_runs(self) -> Iterable[tuple[int, datetime]]:
        """(channel row id, next run time in UTC) of every scheduled channel."""


class UserbotPort(Protocol):
    """The part of parser/userbot.py's Userbot adding channels needs."""

    @property
    def state(self) -> str:
        """no_session | invalid | paused | connecting | ready | ..."""

    async def wait_ready(self, timeout: float | None = None) -> Any:
        """The connected Telethon client; TimeoutError after `timeout` s."""


class Resolver(Protocol):
    """What /add asks Telegram through (parser/resolver.py ChannelResolver; in a bot-only
    process services/remote_channels.py RemoteResolver, the same asked of a worker)."""

    async def resolve(self, ref: ChannelRef) -> Resolved: ...

    async def check_invite(self, invite_hash: str) -> InvitePreview: ...

    async def join_invite(self, invite_hash: str) -> Resolved: ...


@dataclass(frozen=True)
class Pick:
    """The resolver of the account a line adds with: `account` its row id (None: the
    one session), `full` when every account is in CHANNEL_LIMIT channels."""

    resolver: Resolver
    account: int | None = None
    full: bool = False


class Resolvers(Protocol):
    """Where /add's resolvers come from: this process's clients (`LocalResolvers`) or
    the workers' (#18, services/remote_channels.py)."""

    async def open(self) -> Resolver | None:
        """A resolver to start a batch with; None when nothing can be resolved now."""

    def why_not(self) -> AddCode:
        """Why `open()` gave None: NOT_READY, ELSEWHERE or NO_WORKER."""

    async def pick(self, resolver: Resolver, skip: frozenset[int]) -> Pick:
        """The least loaded account's resolver with room (not one of `skip`)."""


class LocalResolvers:
    """Resolvers of this process's clients: the least loaded account's with several
    (parser/pool.py), else the one session's. `ready_timeout`: seconds a connecting
    client is waited for."""

    def __init__(self, userbot: UserbotPort, ready_timeout: float = 5.0) -> None:
        self._userbot = userbot
        self._ready_timeout = ready_timeout

    async def open(self) -> Resolver | None:
        # Only a connecting client is worth waiting for; no session means /login first.
        if self._userbot.state in ("no_session", "invalid", "paused", "standby", "elsewhere"):
            return None
        try:
            client = await self._userbot.wait_ready(timeout=self._ready_timeout)
        except TimeoutError:
            return None
        return ChannelResolver(client)

    def why_not(self) -> AddCode:
        """No usable session, or (#18) the session is open in another process (a
        worker) while this one runs the bot."""
        if self._userbot.state in ("standby", "elsewhere"):
            return AddCode.ELSEWHERE
        return AddCode.NOT_READY

    async def pick(self, resolver: Resolver, skip: frozenset[int]) -> Pick:
        """With several accounts (parser/pool.py), a resolver of the least loaded one
        with room among its 500 channels (not one of `skip`): it resolves or joins what
        a line adds, then reads it; `full` when every one is full. Else `resolver`."""
        least_loaded = getattr(self._userbot, "least_loaded", None)
        if least_loaded is None:
            return Pick(resolver)
        bot = await least_loaded(skip=skip, flooded_too=True)
        if bot is None or bot.client is None:
            return Pick(resolver, full=bot is None)
        if isinstance(resolver, ChannelResolver) and resolver.client is bot.client:
            return Pick(resolver, bot.account_id)
        return Pick(ChannelResolver(bot.client), bot.account_id)


@dataclass
class _Invite:
    hash: str
    title: str
    history: ParsedDepth | None
    created: float


_REASONS = {
    "not_found": AddCode.NOT_FOUND,
    "invalid": AddCode.NOT_FOUND,
    "private": AddCode.PRIVATE,
    "banned": AddCode.PRIVATE,
    "invite_expired": AddCode.INVITE_INVALID,
    "invite_invalid": AddCode.INVITE_INVALID,
    "too_many_channels": AddCode.TOO_MANY,
}


def _depth(d: ParsedDepth) -> HistoryDepth:
    return HistoryDepth(mode=d.mode, limit=d.limit, since=d.since)


class ChannelService:
    """The channel use cases (bot/api/channels.py `ChannelsAPI`).

    `default_history`: the depth spec (`all`, `N`, `last:N`, `since:YYYY-MM-DD`) for
    channels added without one; `tz`: the zone every typed day is read in (TIMEZONE);
    `default_interval_minutes`: the parse interval of channels without their own;
    `ready_timeout`: seconds /add waits for a connecting client before answering
    "not ready"; `media_default` (MEDIA_DEFAULT: "off" | "photos" | "all"): what new
    channels keep; `media_max_mb` (MEDIA_MAX_MB, 0: no cap): the cap of channels
    without their own. `media_defaults` is the policy of a channel with no settings of
    its own (`Channel.media_policy(service.media_defaults)`: a channel's effective one).
    `resolvers`: where lines are resolved (default: `userbot`'s clients, LocalResolvers).
    """

    def __init__(
        self,
        userbot: UserbotPort,
        repo: ChannelRepository,
        hooks: ChannelScheduleHooks | None,
        *,
        default_history: str = "all",
        default_interval_minutes: int = 60,
        ready_timeout: float = 5.0,
        tz: tzinfo = UTC,
        media_default: str = "photos",
        media_max_mb: int = 50,
        resolvers: Resolvers | None = None,
    ) -> None:
        self._resolvers = resolvers or LocalResolvers(userbot, ready_timeout)
        self.media_defaults: MediaPolicy = default_media_policy(media_default, media_max_mb)
        self._repo = repo
        self._hooks = hooks
        self._tz = tz
        self._default_depth = ParsedDepth.parse(default_history, tz)
        self.default_history = _depth(self._default_depth)
        self.default_interval = default_interval_minutes
        self._invites: dict[str, _Invite] = {}
        self._invite_batches: OrderedDict[str, list[Any]] = OrderedDict()
        self._history_batches: OrderedDict[str, list[Any]] = OrderedDict()
        self._lock = asyncio.Lock()  # one /add at a time: resolution shares one client
        # The account the current /add resolves with (several accounts), and whether
        # every account was full.
        self._account: int | None = None
        self._full = False

    # -- adding ----------------------------------------------------------------------

    async def _resolver(self) -> Resolver | None:
        resolver = await self._resolvers.open()
        return await self._pick(resolver) if resolver is not None else None

    async def _pick(self, resolver: Resolver, skip: frozenset[int] = frozenset()) -> Resolver:
        """The resolver of the least loaded account with room (not one of `skip`): it
        resolves or joins what a line adds, then reads it (`_account`); `_full` when
        every one is full."""
        pick = await self._resolvers.pick(resolver, skip)
        self._account, self._full = pick.account, pick.full
        return pick.resolver

    def _not_ready(self) -> AddCode:
        """Why nothing can be resolved here (Resolvers.why_not)."""
        return self._resolvers.why_not()

    async def add_lines(self, text: str) -> list[AddResult]:
        """Every line's outcome, in order, however many lines there are. A line naming
        a channel an earlier line of the batch named is not asked about again."""
        parsed: list[tuple[str, AddLine | BadLine]] = []
        for line in split_lines(text):
            try:
                parsed.append((line, parse_line(line, self._tz)))
            except BadLine as exc:
                parsed.append((line, exc))
        if all(isinstance(p, BadLine) for _, p in parsed):
            bad = [(line, p) for line, p in parsed if isinstance(p, BadLine)]
            return [AddResult(line, AddCode(p.code)) for line, p in bad]
        async with self._lock:
            resolver = await self._resolver()
            return await self._add_parsed(resolver, parsed)

    async def _add_parsed(
        self, resolver: Resolver | None, parsed: list[tuple[str, AddLine | BadLine]]
    ) -> list[AddResult]:
        results: list[AddResult] = []
        seen: set[tuple[str, str]] = set()
        flood_until = 0.0
        for line, p in parsed:
            if isinstance(p, BadLine):
                results.append(AddResult(line, AddCode(p.code)))
                continue
            key = (p.ref.kind, p.ref.value.lower() if p.ref.kind == "username" else p.ref.value)
            if key in seen:
                results.append(AddResult(line, AddCode.DUPLICATE, p.ref.label))
                continue
            seen.add(key)
            if resolver is None:
                results.append(AddResult(line, self._not_ready(), p.ref.label))
            elif flood_until > time.monotonic() and p.ref.kind == "username":
                left = int(flood_until - time.monotonic()) + 1
                results.append(AddResult(line, AddCode.FLOOD, p.ref.label, seconds=left))
            else:
                resolver = await self._pick(resolver)  # the least loaded, line by line
                if self._full:
                    results.append(AddResult(line, AddCode.TOO_MANY, p.ref.label))
                    continue
                res = await self._add_one(resolver, line, p.ref, p.history)
                if res.code is AddCode.FLOOD and p.ref.kind == "username":
                    flood_until = time.monotonic() + res.seconds
                results.append(res)
        return results

    async def _add_one(
        self, resolver: Resolver, line: str, ref: ChannelRef, history: ParsedDepth | None
    ) -> AddResult:
        try:
            if ref.kind == "invite":
                preview = await resolver.check_invite(ref.value)
                if preview.resolved is not None:
                    return await self._store(line, preview.resolved, history)
                token = self._remember_invite(ref.value, preview.title, history)
                return AddResult(line, AddCode.INVITE, preview.title, token=token)
            resolved = await resolver.resolve(ref)
            return await self._store(line, resolved, history)
        except BaseException as exc:
            return self._failure(line, ref.label, exc)

    def _failure(self, line: str, label: str, exc: BaseException) -> AddResult:
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        if isinstance(exc, NotAChannel):
            return AddResult(line, AddCode.NOT_CHANNEL, label)
        if isinstance(exc, RateLimited):
            return AddResult(line, AddCode.FLOOD, label, seconds=exc.seconds)
        if isinstance(exc, ChannelUnavailable):
            return AddResult(line, _REASONS.get(exc.reason, AddCode.NOT_FOUND), label)
        if isinstance(exc, SessionDead):
            return AddResult(line, AddCode.SESSION_DEAD, label)
        if isinstance(exc, NoWorker):  # a bot-only process: no worker took it (#18)
            return AddResult(line, AddCode.NO_WORKER, label)
        if isinstance(exc, BusUnavailable):
            log.warning("resolving %s: the workers cannot be reached: %s", label, exc.detail)
            return AddResult(line, AddCode.ERROR, label)
        if isinstance(exc, TelegramError):
            log.warning("resolving %s failed: %s", label, exc.code)
            return AddResult(line, AddCode.ERROR, label)
        log.exception("resolving %s failed", label)
        return AddResult(line, AddCode.ERROR, label)

    def _remember_invite(
        self, invite_hash: str, title: str, history: ParsedDepth | None
    ) -> str:
        now = time.monotonic()
        for key in [k for k, v in self._invites.items() if now - v.created > INVITE_TTL]:
            del self._invites[key]
        token = secrets.token_urlsafe(6)
        self._invites[token] = _Invite(invite_hash, title, history, now)
        return token

    async def join(self, token: str) -> AddResult:
        """Join a previously checked invite (the operator confirmed)."""
        invite = self._invites.pop(token, None)
        if invite is None:
            return AddResult("", AddCode.INVITE_GONE)
        async with self._lock:
            resolver = await self._resolver()
            if resolver is None:
                return AddResult("", self._not_ready(), invite.title)
            if self._full:
                return AddResult("", AddCode.TOO_MANY, invite.title)
            refused: frozenset[int] = frozenset()
            while True:
                try:
                    resolved = await resolver.join_invite(invite.hash)
                except ChannelUnavailable as exc:
                    # CHANNELS_TOO_MUCH: this account is in 500 channels (ours or not):
                    # the next account with room joins instead.
                    if exc.reason != "too_many_channels" or self._account is None:
                        return self._failure("", invite.title, exc)
                    refused |= {self._account}
                    resolver = await self._pick(resolver, refused)
                    if self._account is None:
                        return self._failure("", invite.title, exc)
                    continue
                except BaseException as exc:
                    return self._failure("", invite.title, exc)
                return await self._store("", resolved, invite.history)

    def invite_batch(self, tokens: list[str]) -> str:
        """A key for the invites of one /add, for the buttons that join or skip them all."""
        return self._keep(self._invite_batches, list(tokens))

    def pending_invites(self, batch: str) -> list[PendingInvite]:
        """The batch's invites still awaiting an answer, in the order of the batch."""
        tokens = self._invite_batches.get(batch, [])
        return [PendingInvite(t, self._invites[t].title) for t in tokens if t in self._invites]

    async def join_batch(self, batch: str) -> list[AddResult]:
        """Join every invite of the batch still awaiting an answer."""
        return [await self.join(p.token) for p in self.pending_invites(batch)]

    def drop_invites(self, batch: str) -> int:
        """Forget the batch's invites the operator skipped; how many there were."""
        pending = self.pending_invites(batch)
        for p in pending:
            self._invites.pop(p.token, None)
        self._invite_batches.pop(batch, None)
        return len(pending)

    def _keep(self, store: OrderedDict[str, list[Any]], value: list[Any]) -> str:
        token = secrets.token_urlsafe(6)
        store[token] = value
        while len(store) > MAX_BATCHES:
            store.popitem(last=False)
        return token

    async def _store(self, line: str, r: Resolved, history: ParsedDepth | None) -> AddResult:
        known = await self._repo.by_tg_id(r.tg_id)
        if known is not None and known.status in OWN_STATUSES:
            return await self._renew(line, known, r)
        depth = history or self._default_depth
        row, created = await self._repo.add(
            tg_id=r.tg_id,
            access_hash=r.access_hash,
            title=r.title,
            username=r.username,
            kind=r.kind,
            linked_chat_id=r.linked_chat_id,
            linked_access_hash=r.linked_access_hash,
            history_mode=depth.mode,
            history_limit=depth.limit,
            history_since=depth.since,
            media_mode=self.media_defaults.mode.value,
            account_id=self._account,
        )
        if not created:
            return AddResult(line, AddCode.ALREADY, row.label, channel_id=row.id, kind=row.kind)
        # Without an explicit depth the operator may still pick one with the buttons:
        # the first run waits for the pick (or the regular interval, with the default).
        if history is not None:
            await self._hook(_add_channel, row.id)
        else:
            await self._hook(_reschedule, row.id)
        return AddResult(
            line, AddCode.ADDED, row.label, channel_id=row.id,
            history_given=history is not None, kind=row.kind,
        )  # fmt: skip

    async def _renew(self, line: str, known: Channel, r: Resolved) -> AddResult:
        """A channel already stored, named again: what was just resolved replaces the
        stored access hash (an access hash is the account's: after a log-in with another
        account the stored one is refused), the discussion group's, title and username;
        a disabled channel is enabled and runs now. ALREADY when nothing changed,
        REFRESHED when the access hash did, REENABLED when it was disabled."""
        row = await self._repo.renew(
            known.id, access_hash=r.access_hash, title=r.title, username=r.username,
            linked_chat_id=r.linked_chat_id, linked_access_hash=r.linked_access_hash,
            account_id=self._account,
        )  # fmt: skip
        row = row or known
        code = AddCode.ALREADY
        if known.status == "disabled":
            code = AddCode.REENABLED
            await self._hook(_add_channel, row.id)
        elif known.access_hash != r.access_hash:
            code = AddCode.REFRESHED
        return AddResult(line, code, row.label, channel_id=row.id, kind=row.kind)

    async def _hook(self, call: _HookCall, channel_id: int) -> None:
        """Tell the scheduler, if wired; its failure is logged, never the operator's."""
        if self._hooks is None:
            return
        try:
            await call(self._hooks, channel_id)
        except Exception:
            log.exception("scheduler hook %s failed for channel %d", call.__name__, channel_id)

    def history_batch(self, channel_ids: list[int]) -> str:
        """A key for one history question about these newly added channels."""
        return self._keep(self._history_batches, list(channel_ids))

    async def choose_history(self, batch: str, spec: str) -> HistoryChoice | None:
        """Set the depth (`all`, `last:N`, `since:…`, `default`) of the batch's channels
        and start their first runs; None when the question is no longer known.

        Channels with history stored already (too late to choose) or removed meanwhile
        keep what they have and are listed as `late`.
        """
        ids = self._history_batches.get(batch)
        if ids is None:
            return None
        try:
            depth = self._default_depth if spec == "default" else ParsedDepth.parse(spec, self._tz)
        except BadLine:
            return None
        done = await self._repo.set_history_many(ids, depth.mode, depth.limit, depth.since)
        for channel_id in done:
            await self._hook(_add_channel, channel_id)
        chosen = set(done)
        return HistoryChoice(_depth(depth), tuple(done), tuple(i for i in ids if i not in chosen))

    # -- managing --------------------------------------------------------------------

    def next_runs(self) -> dict[int, datetime]:
        """The scheduler's next run time (UTC) of each scheduled channel by row id."""
        return dict(self._hooks.next_runs()) if self._hooks is not None else {}

    async def page(self, page: int) -> tuple[list[Channel], int]:
        """One page (0-based, db/channels.py PAGE_SIZE rows, by row id) of the operator's
        channels, and how many there are in all; `linked` discussion groups are not listed."""
        return await self._repo.page(page)

    async def get(self, channel_id: int) -> Channel | None:
        """The operator's channel with row id `channel_id` (active, paused or disabled),
        or None."""
        return await self._repo.get(channel_id)

    async def pause(self, channel_id: int) -> bool:
        """Set the channel `paused` and unschedule it (a scheduler failure is only logged);
        False when there is no such channel."""
        ok = await self._repo.set_status(channel_id, "paused")
        if ok:
            await self._hook(_drop_channel, channel_id)
        return ok

    async def resume(self, channel_id: int) -> bool:
        """Set the channel `active` (its disabled reason and deferral cleared) and schedule
        a first run now; False when there is no such channel."""
        ok = await self._repo.set_status(channel_id, "active")
        if ok:
            await self._hook(_add_channel, channel_id)
        return ok

    async def remove(self, channel_id: int) -> bool:
        """Unschedule the channel, then delete it with its messages and watches (its
        discussion group's comments too, unless shared); False when there is no such channel."""
        # A run of it in progress ends (its batch committed) before the rows go.
        await self._hook(_drop_channel, channel_id)
        return await self._repo.remove(channel_id)

    async def toggle_comments(self, channel_id: int) -> Channel | None:
        """Flip whether runs read the channel's comments; the channel as it is now, or
        None when there is no such channel."""
        ch = await self._repo.get(channel_id)
        if ch is None:
            return None
        await self._repo.set_comments(channel_id, not ch.comments_enabled)
        return await self._repo.get(channel_id)

    async def toggle_deletion_alerts(self, channel_id: int) -> Channel | None:
        """Flip whether the operators are told when posts of the channel are found
        deleted; the channel as it is now, or None when there is no such channel."""
        ch = await self._repo.get(channel_id)
        if ch is None:
            return None
        await self._repo.set_alert_deletions(channel_id, not ch.alert_deletions)
        return await self._repo.get(channel_id)

    async def set_media_policy(
        self,
        channel_id: int,
        mode: MediaMode | str | None,
        kinds: Iterable[str] | None = None,
        max_mb: int | None = None,
    ) -> Channel | None:
        """Set what the channel keeps from now on (its comments too): `mode` "off" |
        "photos" | "all" (None: follow MEDIA_DEFAULT), `kinds` kept in mode "all"
        (core.media.MEDIA_KINDS values; None or every kind: all of them), `max_mb` the
        largest file in MB (0: no cap; None: follow MEDIA_MAX_MB). Messages read from
        then on are queued by it; files queued and not fetched yet follow it at once
        (kinds no longer kept are set aside as skipped "not_kept" and queued again when
        kept again, files over the cap skipped, files skipped as
        too big queued again when under it; its comments' and old basic group's too);
        older messages already archived are not queued. The channel as it is now
        (`ch.media_policy(self.media_defaults)`: the effective policy), or None when
        there is no such channel. ValueError on an unknown mode or kind or a negative cap.
        """
        value = None if mode is None else MediaMode(mode).value
        chosen = None if kinds is None else frozenset(kinds)
        if not await self._repo.set_media_policy(channel_id, value, chosen, max_mb):
            return None
        ch = await self._repo.get(channel_id)
        if ch is not None:
            await self._repo.apply_media_policy(ch, ch.media_policy(self.media_defaults))
        return ch

    async def find(self, ref: str) -> Channel | None:
        """The stored channel `ref` names (@username, t.me link, Telegram or row id, title:
        db/channels.py `find_channel`), `linked` groups skipped; None when none or ambiguous."""
        return await find_channel(ref)

    async def set_interval(self, channel_id: int, minutes: int | None) -> None:
        """Set the channel's parse interval in minutes (None: `default_interval`) and re-plan
        its job; an unknown row id changes nothing and raises nothing."""
        await self._repo.set_interval(channel_id, minutes)
        await self._hook(_reschedule, channel_id)


_HookCall = Callable[[ChannelScheduleHooks, int], Awaitable[None]]


async def _add_channel(hooks: ChannelScheduleHooks, channel_id: int) -> None:
    await hooks.add_channel(channel_id)


async def _drop_channel(hooks: ChannelScheduleHooks, channel_id: int) -> None:
    await hooks.drop_channel(channel_id)


async def _reschedule(hooks: ChannelScheduleHooks, channel_id: int) -> None:
    await hooks.reschedule(channel_id)
