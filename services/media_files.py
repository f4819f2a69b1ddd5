"""What the bot asks about a message's media (bot.api.media.MediaFilesAPI): its
download state and its stored file, to send it from a search result or a watch alert."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from core.media import DownloadStatus, StoredMedia
from core.ports import MediaStore
from db import albums, media_files


class MediaFilesService:
    """`store`: where the files are (core.ports.MediaStore; db/media_store.py's
    LocalMediaStore over MEDIA_DIR); `upload_limit_mb`: the largest file the bot may
    upload (UPLOAD_LIMIT_MB, MiB); `folder`: the media folder (MEDIA_DIR), named when
    downloads wait for disk space (made absolute here)."""

    def __init__(
        self, store: MediaStore, upload_limit_mb: int, folder: Path | None = None
    ) -> None:
        self._store = store
        self._limit = upload_limit_mb * 1024 * 1024
        self._folder = folder.resolve() if folder is not None else None

    @property
    def folder(self) -> Path | None:
        return self._folder

    @property
    def upload_limit(self) -> int:
        return self._limit

    async def post_media(self, channel_id: int, msg_id: int) -> StoredMedia | None:
        return await media_files.post_media(channel_id, msg_id)

    async def media_by_message(self, message_ids: Sequence[int]) -> dict[int, StoredMedia]:
        return await media_files.media_by_message(message_ids)

    async def album_media(self, channel_id: int, msg_id: int) -> list[StoredMedia]:
        posts = await albums.album_posts(channel_id, msg_id)
        if len(posts) < 2:
            return []
        return await media_files.media_of_posts((channel_id, m) for m in posts)

    async def local_file(self, media: StoredMedia) -> Path | None:
        if media.status != DownloadStatus.DONE or media.key is None:
            return None
        try:
            path = await self._store.get(media.key)
        except FileNotFoundError:
            return None
        # Absolute: the operator reads it in Telegram, far from the app's working folder.
        return await asyncio.to_thread(path.resolve)
