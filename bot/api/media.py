"""What the bot asks about media files (issue #16).

`MediaStatusAPI`: the figures /status shows (services/media/ MediaService implements it).
`MediaFilesAPI`: a message's media and its file, for sending it from a search result or
a watch alert (services/media_files.py MediaFilesService implements it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from core.media import MediaCounts, MediaPause, StoredMedia


class MediaStatusAPI(Protocol):
    async def counts(self) -> MediaCounts:
        """Files by download state, the bytes stored, and why downloads pause (if so)."""
        ...

    async def pause(self) -> MediaPause:
        """Only whether (and why) downloads pause, and the free bytes: no counting."""
        ...


class MediaFilesAPI(Protocol):
    @property
    def upload_limit(self) -> int:
        """The largest file (bytes) the bot may upload (UPLOAD_LIMIT_MB)."""
        ...

    @property
    def folder(self) -> Path | None:
        """The media folder (MEDIA_DIR), absolute; None when unknown."""
        ...

    async def post_media(self, channel_id: int, msg_id: int) -> StoredMedia | None:
        """The media of message `msg_id` stored under channel row `channel_id` (a
        discussion group's row for a comment): its download state, size, MIME type,
        file name, storage key once done; None when the message has no file the archive
        keeps track of (no media, a kind not downloadable, or the message is unknown)."""
        ...

    async def media_by_message(self, message_ids: Sequence[int]) -> dict[int, StoredMedia]:
        """message row id (SearchHit.message_id, WatchHit.message_id) -> its media, for
        the messages that have a file the archive keeps track of."""
        ...

    async def album_media(self, channel_id: int, msg_id: int) -> list[StoredMedia]:
        """The media of every message of the album `msg_id` belongs to (same chat, same
        grouped_id), in message order; [] when the message is in no album."""
        ...

    async def local_file(self, media: StoredMedia) -> Path | None:
        """A local file holding a done media's bytes (the stored file itself for local
        storage: also where it is on disk, as an absolute path); None when not done or
        missing from the store."""
        ...
