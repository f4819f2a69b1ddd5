"""Media files of archived messages (issue #16): what a channel keeps, where a file
is on Telegram, and what /status reports.

A message's media is *downloadable* when it is a photo or a document (video, round
video, voice, audio, document, GIF, sticker). Telegram names such a file by its
`id` + `access_hash` + `file_reference` (InputPhotoFileLocation /
InputDocumentFileLocation, https://core.telegram.org/api/files); the file reference
expires (FILE_REFERENCE_EXPIRED) and is renewed by reading the message again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The kinds a channel may keep, in the order the bot lists them. They are the
# `media_kind` values parser/content.py gives photos and documents ("animation" is
# a GIF: Telegram sends GIFs as silent MPEG-4 with DocumentAttributeAnimated).
MEDIA_KINDS: tuple[str, ...] = (
    "photo", "video", "round", "voice", "audio", "document", "animation", "sticker",
)


class MediaMode(StrEnum):
    """What a channel keeps: nothing, photos only, or the kinds chosen (all by default)."""

    OFF = "off"
    PHOTOS = "photos"
    ALL = "all"


class DownloadStatus(StrEnum):
    QUEUED = "queued"  # waiting (next_try_at: not before; a flood wait sets it)
    DOWNLOADING = "downloading"
    DONE = "done"  # file_id names the stored file
    SKIPPED = "skipped"  # over the channel's size cap (reason "too_big"), kept with its size
    FAILED = "failed"  # Telegram cannot give it (reason: the error), or tries exhausted


@dataclass(frozen=True)
class MediaPolicy:
    """A channel's choice: `mode`, the `kinds` kept in mode ALL (None: every kind), and
    `max_bytes` per file (0: no cap). Comments follow their channel's policy."""

    mode: MediaMode = MediaMode.PHOTOS
    kinds: frozenset[str] | None = None
    max_bytes: int = 50 * 1024 * 1024

    def wants(self, kind: str | None) -> bool:
        """Whether a message whose media_kind is `kind` has its file kept."""
        if kind is None or kind not in MEDIA_KINDS or self.mode == MediaMode.OFF:
            return False
        if self.mode == MediaMode.PHOTOS:
            return kind == "photo"
        return self.kinds is None or kind in self.kinds

    def too_big(self, size: int | None) -> bool:
        """Whether a file of `size` bytes is over the cap (unknown sizes are not)."""
        return bool(self.max_bytes) and size is not None and size > self.max_bytes


@dataclass(frozen=True)
class MediaRef:
    """Where a message's file is on Telegram, as read from the message (parser/).

    `kind`: a MEDIA_KINDS value; `tg_id`/`access_hash`/`file_reference`: the photo's
    or document's; `dc_id`: the DC the file lives on; `thumb`: the photo size type to
    fetch (the largest, e.g. "y"; None for documents: the whole file); `size`: bytes
    (the largest photo size's, the document's); `mime_type`, `file_name`: the
    document's (None when Telegram gives none; photos are image/jpeg).
    """

    kind: str
    tg_id: int
    access_hash: int
    file_reference: bytes
    dc_id: int
    size: int | None
    thumb: str | None = None
    mime_type: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class MediaCounts:
    """/status: files by state and the bytes the stored files take (`bytes_on_disk`:
    the sum of the stored files' sizes, each content once, plus the bytes of the
    partial files on disk: downloads under way or kept to resume). `paused`: why downloads
    wait ("disk_full", "no_session"...; None: running)."""

    queued: int = 0
    downloading: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    files: int = 0
    bytes_on_disk: int = 0
    paused: str | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class MediaPause:
    """Why downloads wait as a whole (`paused`: "disk_full", "no_session", "media_dir",
    "storage" (MEDIA_URL's object storage failed); None: they run) and the free bytes
    on the media folder (None: not read): what 📎 needs, without /status's counts."""

    paused: str | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class StoredMedia:
    """A message's media as the archive has it (the bot sends it, /export zips it).

    `channel_id`: the row id the message is stored under (a discussion group's for a
    comment); `status`: a DownloadStatus value; `key`: the storage key once done
    (MediaStore), else None; `size`: bytes (the stored file's once done, else what
    Telegram announced); `reason`: why skipped or failed; `width`/`height`: pixels
    of a photo or video as the message describes it (None when unknown)."""

    channel_id: int
    msg_id: int
    kind: str
    status: str
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    key: str | None = None
    reason: str | None = None
    width: int | None = None
    height: int | None = None


_EXT_BY_MIME = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/x-wav": ".wav",
    "application/pdf": ".pdf", "application/zip": ".zip", "application/x-tgsticker": ".tgs",
    "text/plain": ".txt",
}


def extension(mime_type: str | None, file_name: str | None) -> str:
    """A safe file extension (".jpg", "" if none): from the file name when it has a
    short alphanumeric one, else from the MIME type."""
    if file_name and "." in file_name:
        ext = file_name.rsplit(".", 1)[1].lower()
        if 0 < len(ext) <= 8 and ext.isascii() and ext.isalnum():
            return "." + ext
    return _EXT_BY_MIME.get((mime_type or "").lower(), "")


def media_key(sha256: str, mime_type: str | None, file_name: str | None) -> str:
    """The storage key of a file by its content: "ab/cd/<sha256><ext>" (ASCII, 85
    bytes at most: safe on every file system and in every object store)."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{extension(mime_type, file_name)}"


def parse_media_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of "s3://bucket/prefix" (prefix without surrounding slashes,
    "" for none); ValueError for anything else."""
    if not url.startswith("s3://"):
        raise ValueError("must start with s3://")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in ".-_" for c in bucket):
        raise ValueError("the bucket name must be 3-63 letters, digits, dots or hyphens")
    prefix = prefix.strip("/")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise ValueError("the prefix must be folder names separated by single slashes")
    return bucket, prefix
