"""Fake ArchiveAPI and WatchesAPI (bot/api/archive.py, bot/api/watches.py), in memory.

Each records its calls; a test sets what they answer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from bot.api.archive import ExportProgress
from core.archive import (
    BadPattern,
    ChannelPage,
    ExportFormat,
    ExportResult,
    IndexProgress,
    NoRoomForPart,
    PatternProblem,
    SearchHit,
    SearchPage,
    WatchInfo,
    WatchPage,
)
from core.channels import Channel
from core.words import SearchQuery

MB = 1024 * 1024


def channel(n: int, **fields: Any) -> Channel:
    return Channel(**{"id": n, "tg_id": 1000 + n, "username": f"c{n}", "title": f"C{n}", **fields})


@dataclass
class FakeArchive:
    """ArchiveAPI over a list of channels; export writes `rows` lines to `out_dir`."""

    out_dir: Path
    channels: list[Channel] = field(default_factory=list)
    rows: int = 3
    hits: list[SearchHit] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    busy: bool = False
    unindexed: int = 0  # what search pages say is not searchable yet
    progress: IndexProgress | None = None  # the search index rebuild /status shows
    media_zip_parts: int = 1  # the media zip parts an export with "media" makes
    room_for: int | None = None  # media parts written before the disk is full

    @asynccontextmanager
    async def export_slot(self) -> AsyncIterator[bool]:
        yield not self.busy

    async def find_channel(self, ref: str) -> Channel | None:
        self.calls.append(("find_channel", ref))
        return next((c for c in self.channels if c.label == ref), None)

    async def get_channel(self, channel_id: int) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    async def channel_page(self, page: int, size: int) -> ChannelPage:
        return ChannelPage(
            tuple(self.channels[page * size : (page + 1) * size]), len(self.channels)
        )

    async def export(
        self,
        channel: Channel | None,
        fmt: ExportFormat,
        since: datetime | None = None,
        until: datetime | None = None,
        keyword: str | None = None,
        progress: ExportProgress | None = None,
        *,
        comments: bool = False,
        tz: tzinfo = UTC,
        versions: bool = False,
        media: str = "",
    ) -> ExportResult:
        if versions:
            self.calls.append(("export_versions", True))
        if media:
            self.calls.append(("export_media", media))
        self.calls.append(
            ("export", (channel.id if channel else None, fmt, since, until, keyword))
        )
        self.calls.append(("export_options", (comments, tz)))
        if not self.rows:
            return ExportResult(0, (), False, 50)
        path = self.out_dir / f"x.{fmt.suffix}"
        path.write_text("row\n" * self.rows)
        if media:
            listing = self.out_dir / "x.media.tsv"
            listing.write_text("channel\tmsg_id\n")
            zipped = 2 if media == "zip" else 0
            parts = self.media_zip_parts if media == "zip" else 0
            return ExportResult(self.rows, (path, listing), False, 50, 3, zipped, parts)
        return ExportResult(self.rows, (path,), False, 50)

    def media_parts(self, result: ExportResult) -> AsyncGenerator[Path, None]:
        """`result.media_parts` parts, each written when asked for and deleted when the
        next is (as the service does); after `room_for` parts the disk is full."""

        async def parts() -> AsyncGenerator[Path, None]:
            for i in range(1, result.media_parts + 1):
                if self.room_for is not None and i > self.room_for:
                    raise NoRoomForPart(
                        self.out_dir / "<tmp & co>", i, result.media_parts, 60 * MB, 3 * MB
                    )
                path = self.out_dir / f"x.media.part{i:03d}.zip"
                path.write_bytes(b"PK" + bytes(10))
                self.calls.append(("media_part", i))
                try:
                    yield path
                finally:
                    path.unlink()
                    self.calls.append(("media_part_deleted", i))

        return parts()

    async def cleanup(self, result: ExportResult) -> None:
        self.calls.append(("cleanup", result.rows))

    async def search(self, text: str, page: int, per_page: int) -> SearchPage:
        self.calls.append(("search", (text, page)))
        SearchQuery.parse(text)  # raises BadQuery as the service does
        shown = self.hits[page * per_page : (page + 1) * per_page]
        return SearchPage(len(self.hits), tuple(shown), self.unindexed)

    def index_progress(self) -> IndexProgress | None:
        return self.progress


@dataclass
class FakeWatches:
    """WatchesAPI over a list; a pattern of `(` is refused as unbalanced."""

    channels: list[Channel] = field(default_factory=list)
    watches: list[WatchInfo] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def find_channel(self, ref: str) -> Channel | None:
        return next((c for c in self.channels if c.label == ref), None)

    async def add_watch(self, raw: str, channel: Channel | None, created_by: int) -> WatchInfo:
        self.calls.append(("add_watch", (raw, channel.id if channel else None, created_by)))
        if raw == "/(/":
            raise BadPattern(PatternProblem.UNBALANCED, "missing )", 0)
        regex = raw.startswith("/") and raw.endswith("/")
        info = WatchInfo(len(self.watches) + 1, raw.strip("/") if regex else raw, regex, channel)
        self.watches.append(info)
        return info

    async def watch_page(self, page: int, size: int) -> WatchPage:
        return WatchPage(tuple(self.watches[page * size : (page + 1) * size]), len(self.watches))

    async def remove_watch(self, watch_id: int) -> bool:
        before = len(self.watches)
        self.watches = [w for w in self.watches if w.id != watch_id]
        return len(self.watches) < before
