"""What the bot's data commands call: /export and /search (bot.api.archive; /stats is
services/analytics.py).

Each use case returns the plain types of core/archive.py; bot/ renders them.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from core.archive import (
    ChannelPage,
    ExportFormat,
    ExportQuery,
    ExportResult,
    IndexProgress,
    SearchPage,
)
from core.channels import Channel
from core.ports import MediaStore
from core.words import SearchQuery
from db import search as search_db
from db.channels import channel_page, find_channel, get_channel
from services.export import ProgressCallback, export_messages
from services.export.media import zip_parts
from services.search_index import SearchIndexRebuild


class ArchiveService:
    """Export, search and stats over the stored messages.

    `upload_limit_mb`: the largest file the bot may upload (MiB); bigger exports are
    cut into zip parts of at most that size. Exports are written under a fresh
    temporary folder in `work_dir` (the system's default when None). `media_store`:
    where downloaded media is (MEDIA_DIR), for exports that add the posts' media;
    `min_free_bytes`: the room (MIN_FREE_DISK_MB) a media zip part must leave free.
    """

    def __init__(
        self,
        upload_limit_mb: int,
        work_dir: Path | None = None,
        index: SearchIndexRebuild | None = None,
        media_store: MediaStore | None = None,
        min_free_bytes: int = 0,
    ) -> None:
        self.limit_bytes = upload_limit_mb * 1024 * 1024
        self._min_free = min_free_bytes
        self._media_store = media_store
        self._work_dir = work_dir
        self._exporting = asyncio.Lock()
        self._index = index

    @asynccontextmanager
    async def export_slot(self) -> AsyncIterator[bool]:
        """One export at a time (each holds a database connection and disk space):
        True inside when this caller has the slot for its export and upload, False
        at once when another export is running."""
        if self._exporting.locked():
            yield False
            return
        async with self._exporting:
            yield True

    async def find_channel(self, ref: str) -> Channel | None:
        """A stored channel (discussion groups too) by @username, link, id or title."""
        return await find_channel(ref, include_linked=True)

    async def get_channel(self, channel_id: int) -> Channel | None:
        """The stored channel with that database id, None once it was removed."""
        return await get_channel(channel_id)

    async def channel_page(self, page: int, size: int) -> ChannelPage:
        """Page `page` (0-based, `size` per page) of every stored channel, discussion
        groups too, in the order they were added, and how many there are in all."""
        channels, total = await channel_page(page, size)
        return ChannelPage(tuple(channels), total)

    async def export(
        self,
        channel: Channel | None,
        fmt: ExportFormat,
        since: datetime | None = None,
        until: datetime | None = None,
        keyword: str | None = None,
        progress: ProgressCallback | None = None,
        *,
        comments: bool = False,
        tz: tzinfo = UTC,
        versions: bool = False,
        media: str = "",
    ) -> ExportResult:
        """Export `channel`'s messages (None: every channel) posted in [since, until)
        that match `keyword` (search syntax; an album whole) to files named
        `<channel>-<UTC stamp>`; with `comments`, a channel's export also holds the
        comments of its discussion group; with `versions`, each row lists the earlier
        versions of an edited message; times are written in `tz`; `media` "zip" adds
        the posts' media files as zip parts within the limit and their list, "paths"
        the list alone (where each file is on disk, or why it is not there).

        `progress` is awaited with the rows written so far every 50,000 rows. The
        caller uploads `files` and then calls `cleanup`. Raises OSError when the disk
        refuses (nothing is left behind then).
        """
        out_dir = Path(tempfile.mkdtemp(prefix="export-", dir=self._work_dir))
        name = (channel.username or f"channel{channel.tg_id}") if channel else "all"
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        query = ExportQuery(
            channel.id if channel else None,
            since,
            until,
            keyword or None,
            comments,
            tz,
            versions,
        )
        try:
            result = await export_messages(
                query,
                fmt,
                out_dir,
                f"{name}-{stamp}",
                self.limit_bytes,
                progress,
                media=media,
                store=self._media_store,
            )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            raise
        if not result.files:  # nothing to upload: nothing to clean up later either
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
        return result

    async def media_parts(self, result: ExportResult) -> AsyncGenerator[Path, None]:
        """The export's media zip parts, each built when asked for and deleted when the
        next is asked for (or the iteration stops): upload each before asking for the
        next. Raises core.archive.NoRoomForPart when the work folder's disk has no room
        for a part (keeping `min_free_bytes` free); nothing of that part is left."""
        if result.media_plan is None:
            return
        async for path in zip_parts(result.media_plan, result.media_part_bytes, self._min_free):
            yield path

    async def cleanup(self, result: ExportResult) -> None:
        """Remove an export's files and their folder."""
        for d in {p.parent for p in result.files}:
            await asyncio.to_thread(shutil.rmtree, d, True)

    async def search(self, text: str, page: int, per_page: int) -> SearchPage:
        """Page `page` (0-based, `per_page` hits) of the messages matching `text` (the
        syntax of core.words.SearchQuery: any form of each word, "phrases", -words,
        prefix*), best matches first. Raises core.words.BadQuery when `text` is not a
        usable query."""
        query = SearchQuery.parse(text)
        return await search_db.search_messages(query, page * per_page, per_page)

    def index_progress(self) -> IndexProgress | None:
        """The background rebuild of the search index, while one runs."""
        return self._index.progress() if self._index is not None else None
