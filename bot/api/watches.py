"""What the /watch, /watches and /unwatch handlers call
(services.watches.WatchesService)."""

from __future__ import annotations

from typing import Protocol

from core.archive import WatchInfo, WatchPage
from core.channels import Channel


class WatchesAPI(Protocol):
    async def find_channel(self, ref: str) -> Channel | None:
        """A stored channel (discussion groups too) by @username, link, id or title."""
        ...

    async def add_watch(self, raw: str, channel: Channel | None, created_by: int) -> WatchInfo:
        """Store a watch (`channel` None: every channel); raises core.archive.BadPattern
        when `raw` is not usable."""
        ...

    async def watch_page(self, page: int, size: int) -> WatchPage:
        """Page `page` (0-based) of the watches, oldest first."""
        ...

    async def remove_watch(self, watch_id: int) -> bool:
        """False when no watch has that id."""
        ...
