"""Fake services implementing the bot's Protocols (bot/api/), in memory.

`make_deps()` gives a `BotDeps` for a real ControlBot/Dispatcher in tests; each fake
records its calls so a test can check what a handler asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.api import BotDeps
from core.channels import (
    AddCode,
    AddResult,
    Channel,
    HistoryChoice,
    HistoryDepth,
    PendingInvite,
)
from core.health import HealthRegistry
from core.login import AccountStatus, AccountView, SessionState
from core.media import MEDIA_KINDS, MediaCounts, MediaMode, MediaPause, MediaPolicy, StoredMedia
from core.parsing import BreakerState, ParseStatus
from core.status import ComponentStatus, StatusReport

PAGE = 10


@dataclass
class FakeChannels:
    """ChannelsAPI over a dict of channels; /add answers from `add_answers`."""

    channels: dict[int, Channel] = field(default_factory=dict)
    add_answers: list[AddResult] = field(default_factory=list)
    invites: dict[str, str] = field(default_factory=dict)  # token -> title
    batches: dict[str, list[str]] = field(default_factory=dict)
    history: dict[str, list[int]] = field(default_factory=dict)
    runs: dict[int, datetime] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    default_history: HistoryDepth = field(default_factory=HistoryDepth)
    default_interval: int = 60
    media_defaults: MediaPolicy = field(default_factory=MediaPolicy)

    def add(self, **fields: Any) -> Channel:
        n = len(self.channels) + 1
        ch = Channel(**{"id": n, "tg_id": 1000 + n, **fields})
        self.channels[ch.id] = ch
        return ch

    async def add_lines(self, text: str) -> list[AddResult]:
        self.calls.append(("add_lines", text))
        return list(self.add_answers)

    def invite_batch(self, tokens: list[str]) -> str:
        key = f"b{len(self.batches)}"
        self.batches[key] = list(tokens)
        return key

    def pending_invites(self, batch: str) -> list[PendingInvite]:
        return [
            PendingInvite(tok, self.invites[tok])
            for tok in self.batches.get(batch, [])
            if tok in self.invites
        ]

    async def join(self, token: str) -> AddResult:
        self.calls.append(("join", token))
        title = self.invites.pop(token, None)
        if title is None:
            return AddResult("", AddCode.INVITE_GONE)
        ch = self.add(title=title)
        return AddResult("", AddCode.ADDED, title, channel_id=ch.id, kind="channel")

    async def join_batch(self, batch: str) -> list[AddResult]:
        return [await self.join(p.token) for p in self.pending_invites(batch)]

    def drop_invites(self, batch: str) -> int:
        pending = self.pending_invites(batch)
        for p in pending:
            self.invites.pop(p.token, None)
        return len(pending)

    def history_batch(self, channel_ids: list[int]) -> str:
        key = f"h{len(self.history)}"
        self.history[key] = list(channel_ids)
        return key

    async def choose_history(self, batch: str, spec: str) -> HistoryChoice | None:
        self.calls.append(("choose_history", (batch, spec)))
        ids = self.history.get(batch)
        if ids is None:
            return None
        mode, _, arg = spec.partition(":")
        depth = HistoryDepth("last", int(arg)) if mode == "last" else HistoryDepth()
        return HistoryChoice(depth, tuple(ids), ())

    def next_runs(self) -> Mapping[int, datetime]:
        return self.runs

    async def page(self, page: int) -> tuple[list[Channel], int]:
        rows = sorted(self.channels.values(), key=lambda c: c.id)
        return rows[page * PAGE : (page + 1) * PAGE], len(rows)

    async def get(self, channel_id: int) -> Channel | None:
        return self.channels.get(channel_id)

    async def _set(self, name: str, channel_id: int, **changes: Any) -> bool:
        self.calls.append((name, channel_id))
        ch = self.channels.get(channel_id)
        if ch is None:
            return False
        self.channels[channel_id] = replace(ch, **changes)
        return True

    async def pause(self, channel_id: int) -> bool:
        return await self._set("pause", channel_id, status="paused")

    async def resume(self, channel_id: int) -> bool:
        return await self._set("resume", channel_id, status="active")

    async def remove(self, channel_id: int) -> bool:
        self.calls.append(("remove", channel_id))
        return self.channels.pop(channel_id, None) is not None

    async def toggle_comments(self, channel_id: int) -> Channel | None:
        ch = self.channels.get(channel_id)
        if ch is not None:
            await self._set("comments", channel_id, comments_enabled=not ch.comments_enabled)
        return self.channels.get(channel_id)

    async def toggle_deletion_alerts(self, channel_id: int) -> Channel | None:
        ch = self.channels.get(channel_id)
        if ch is not None:
            await self._set("deletions", channel_id, alert_deletions=not ch.alert_deletions)
        return self.channels.get(channel_id)

    async def set_media_policy(
        self,
        channel_id: int,
        mode: MediaMode | str | None,
        kinds: Iterable[str] | None = None,
        max_mb: int | None = None,
    ) -> Channel | None:
        """As services/channels.py stores them: every kind is None (all)."""
        chosen = None if kinds is None else tuple(k for k in MEDIA_KINDS if k in set(kinds))
        if chosen is not None and len(chosen) == len(MEDIA_KINDS):
            chosen = None
        value = None if mode is None else MediaMode(mode).value
        self.calls.append(("media", (channel_id, value, chosen, max_mb)))
        await self._set("media_set", channel_id, media_mode=value, media_kinds=chosen,
                        media_max_mb=max_mb)
        return self.channels.get(channel_id)

    async def find(self, ref: str) -> Channel | None:
        name = ref.removeprefix("@").lower()
        return next((c for c in self.channels.values() if (c.username or "") == name), None)

    async def set_interval(self, channel_id: int, minutes: int | None) -> None:
        await self._set("interval", channel_id, interval_minutes=minutes)


@dataclass
class FakeStatus:
    """StatusAPI over a HealthRegistry (no maintenance)."""

    health: HealthRegistry = field(default_factory=HealthRegistry)

    async def report(self) -> StatusReport:
        return StatusReport(
            tuple(
                ComponentStatus(c.name, c.state, c.restarts, c.last_error)
                for c in self.health.components.values()
            )
        )


@dataclass
class FakeLogin:
    """The part of LoginAPI /status asks: no account yet."""

    account: AccountStatus = field(default_factory=lambda: AccountStatus(SessionState.NO_SESSION))

    views: list[AccountView] = field(default_factory=list)

    async def status(self) -> AccountStatus:
        return self.account

    async def accounts(self) -> list[AccountView]:
        return list(self.views)


@dataclass
class FakeParsing:
    """The part of ParsingAPI /status asks: nothing stored, no session."""

    async def status(self) -> ParseStatus:
        return ParseStatus(
            ready=False,
            session="no_session",
            breaker=BreakerState("closed"),
            counts={},
            named={},
            messages=0,
            db_size=None,
        )


@dataclass
class FakeMediaStatus:
    """MediaStatusAPI: the counts a test sets."""

    figures: MediaCounts = field(default_factory=MediaCounts)
    counted: int = 0  # counts() calls: a 📎 press must not need them

    async def counts(self) -> MediaCounts:
        self.counted += 1
        return self.figures

    async def pause(self) -> MediaPause:
        return MediaPause(self.figures.paused, self.figures.free_bytes)


@dataclass
class FakeMediaFiles:
    """MediaFilesAPI over a dict (channel row, msg_id) -> (media, message row id), files
    on local disk under their key in `root`."""

    root: Path
    upload_limit: int = 50 * 1024 * 1024
    posts: dict[tuple[int, int], tuple[StoredMedia, int]] = field(default_factory=dict)
    albums: list[tuple[int, list[int]]] = field(default_factory=list)  # (channel, msg_ids)

    def add(self, media: StoredMedia, message_id: int = 0, data: bytes | None = None) -> None:
        self.posts[(media.channel_id, media.msg_id)] = (media, message_id)
        if data is not None and media.key is not None:
            path = self.root / media.key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    async def post_media(self, channel_id: int, msg_id: int) -> StoredMedia | None:
        found = self.posts.get((channel_id, msg_id))
        return found[0] if found else None

    async def media_by_message(self, message_ids: Sequence[int]) -> dict[int, StoredMedia]:
        wanted = set(message_ids)
        return {mid: m for m, mid in self.posts.values() if mid in wanted}

    async def album_media(self, channel_id: int, msg_id: int) -> list[StoredMedia]:
        for ch, ids in self.albums:
            if ch == channel_id and msg_id in ids:
                return [self.posts[(ch, m)][0] for m in ids if (ch, m) in self.posts]
        return []

    @property
    def folder(self) -> Path:
        return self.root.resolve()

    async def local_file(self, media: StoredMedia) -> Path | None:
        if media.status != "done" or media.key is None:
            return None
        path = self.root / media.key
        return path.resolve() if path.exists() else None


class NoArchive:
    """The ArchiveAPI of a test that does not use it: only /status asks it something."""

    def index_progress(self) -> None:
        return None


def make_deps(
    admin_ids: set[int],
    *,
    default_lang: str = "en",
    channels: FakeChannels | None = None,
    status: FakeStatus | None = None,
    health: HealthRegistry | None = None,
    tz: ZoneInfo | None = None,
) -> BotDeps:
    """BotDeps with the fakes (archive and watches: not faked yet, None)."""
    return BotDeps(
        channels=channels or FakeChannels(),
        parsing=cast(Any, FakeParsing()),
        login=cast(Any, FakeLogin()),
        archive=cast(Any, NoArchive()),
        watches=cast(Any, None),
        status=status or FakeStatus(health or HealthRegistry()),
        admin_ids=frozenset(admin_ids),
        default_lang=default_lang,
        tz=tz or ZoneInfo("UTC"),
    )
