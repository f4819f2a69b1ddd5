"""What the /export, /search and /stats handlers call (services.archive.ArchiveService)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Protocol

from core.archive import (
    ChannelPage,
    ExportFormat,
    ExportResult,
    IndexProgress,
    SearchPage,
)
from core.channels import Channel

# Awaited with the number of rows written so far.
ExportProgress = Callable[[int], Awaitable[None]]


class ArchiveAPI(Protocol):
    async def find_channel(self, ref: str) -> Channel | None:
        """A stored channel (discussion groups too) by @username, link, id or title."""
        ...

    async def get_channel(self, channel_id: int) -> Channel | None:
        """The stored channel with that database id; None once it was removed."""
        ...

    async def channel_page(self, page: int, size: int) -> ChannelPage:
        """Page `page` (0-based) of every stored channel, discussion groups too."""
        ...

    def export_slot(self) -> AbstractAsyncContextManager[bool]:
        """`async with archive.export_slot() as free:` True when this caller may run
        its export (and upload it), False when another one is running."""
        ...

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
        """Write the export (None: every channel) of [since, until), with the comments
        of a channel's discussion group when `comments`, the earlier versions of edited
        posts when `versions`, times in `tz`; `media` "zip": the posts' media files as
        zip parts and their list, "paths": the list alone; upload
        `result.files`, then call `cleanup(result)`."""
        ...

    def media_parts(self, result: ExportResult) -> AsyncGenerator[Path, None]:
        """The export's media zip parts (`result.media_parts` of them), each built when
        asked for and deleted when the next one is: upload each before asking for the
        next (`async with aclosing(...)`). Raises core.archive.NoRoomForPart when the
        disk has no room for the next part."""
        ...

    async def cleanup(self, result: ExportResult) -> None:
        """Remove an export's files."""
        ...

    async def search(self, text: str, page: int, per_page: int) -> SearchPage:
        """Page `page` (0-based) of the messages matching the query `text`; raises
        core.words.BadQuery when it is not usable."""
        ...

    def index_progress(self) -> IndexProgress | None:
        """The background rebuild of the search index, while one runs."""
        ...
