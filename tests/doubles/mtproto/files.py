"""Files the MTProto double serves with upload.getFile: photos and documents.

A file is a `StoredFile`: Telegram's media id, access hash, file reference and the
attributes of its kind. Its content is either explicit bytes (small files) or generated
on demand from (content seed, offset), so a 2 GB video costs nothing until a part of it
is asked for, and any slice can be produced again (tests compare hashes).

Generated content is made of 4 KiB pages: page p is the 16 bytes
`pack("<QQ", seed, p)` followed by 4,080 bytes of a fixed pseudo-random block, so every
page of every file differs (a part written at the wrong offset changes the hash) while a
512 KiB answer is built by joining slices, not by a random generator.
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass, field
from typing import Any

# Kinds a media post can have (core.media.MEDIA_KINDS spells them the same way).
MEDIA_KINDS = ("photo", "video", "round", "voice", "audio", "document", "animation", "sticker")

PAGE = 4096
MB = 1024 * 1024
_STAMP = 16
_POOL_PAGES = 256  # 1 MiB of filler, reused page by page
_pool: bytes | None = None

# Defaults per kind: (mime type, file name, size in bytes).
KIND_DEFAULTS: dict[str, tuple[str, str | None, int]] = {
    "photo": ("image/jpeg", None, 54321),
    "video": ("video/mp4", "clip.mp4", 12345),
    "round": ("video/mp4", None, 12345),
    "voice": ("audio/ogg", None, 12345),
    "audio": ("audio/mpeg", "song.mp3", 12345),
    "document": ("application/pdf", "file.pdf", 12345),
    "animation": ("video/mp4", "animation.gif.mp4", 12345),
    "sticker": ("image/webp", "sticker.webp", 12345),
}

# Photo size types by the longest side, as Telegram names them
# (https://core.telegram.org/api/files#image-thumbnail-types).
_PHOTO_TYPES = ((100, "s"), (320, "m"), (800, "x"), (1280, "y"), (2560, "w"))


def photo_type(width: int, height: int) -> str:
    """The size type of a photo whose largest size is width x height ("x" up to 800 px,
    "y" up to 1280, "w" above)."""
    side = max(width, height)
    for limit, name in _PHOTO_TYPES[2:]:
        if side <= limit:
            return name
    return "w"


def _filler() -> bytes:
    global _pool
    if _pool is None:
        _pool = random.Random(0x5EED).randbytes(_POOL_PAGES * PAGE)
    return _pool


def generated_bytes(seed: int, offset: int, length: int) -> bytes:
    """`length` bytes at `offset` of the generated content with this seed."""
    if length <= 0:
        return b""
    pool = _filler()
    first = offset // PAGE
    last = (offset + length - 1) // PAGE
    pack = struct.pack
    seed &= 0xFFFFFFFFFFFFFFFF
    parts: list[bytes] = []
    for page in range(first, last + 1):
        base = (page % _POOL_PAGES) * PAGE
        parts.append(pack("<QQ", seed, page))
        parts.append(pool[base + _STAMP : base + PAGE])
    data = b"".join(parts)
    start = offset - first * PAGE
    return data[start : start + length]


@dataclass(eq=False)
class Content:
    """Bytes of one downloadable thing: explicit `data`, or generated from `seed`."""

    size: int
    data: bytes | None = None
    seed: int = 0

    def read(self, offset: int, length: int) -> bytes:
        """At most `length` bytes from `offset` (fewer or none past the end)."""
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        if self.data is not None:
            return self.data[offset:end]
        return generated_bytes(self.seed, offset, end - offset)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for pos in range(0, self.size, MB):
            digest.update(self.read(pos, MB))
        return digest.hexdigest()


@dataclass(eq=False)
class StoredFile:
    """A photo or a document as Telegram stores it: one media id, shared by every post
    that carries it (a re-post keeps id, access hash and bytes).

    `kind`: one of MEDIA_KINDS. For a photo, `thumbs` maps each size type to its
    Content; the largest type (`photo_type(width, height)`) is `content`, what
    Telethon's download_media fetches. `refused`: the error name getFile answers
    (FILE_ID_INVALID, ...) instead of bytes, `refused_code` its code (None: from the
    name).
    """

    id: int
    access_hash: int
    kind: str
    content: Content
    mime_type: str
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    title: str | None = None
    performer: str | None = None
    date: int = 0
    dc_id: int = 2
    file_reference: bytes = b""
    # Earlier references (expired: FILE_REFERENCE_EXPIRED).
    old_references: list[bytes] = field(default_factory=list)
    refused: str | None = None
    refused_code: int | None = None
    thumbs: dict[str, Content] = field(default_factory=dict)
    progressive: bool = False
    # (channel, message) pairs that carry it; their cached TL is dropped on a change.
    posts: list[Any] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.content.size

    @property
    def is_photo(self) -> bool:
        return self.kind == "photo"

    @property
    def largest_type(self) -> str:
        return photo_type(self.width or 800, self.height or 600)

    def content_for(self, thumb_size: str) -> Content | None:
        """What getFile serves for this thumb_size ("" = a document itself)."""
        if self.is_photo:
            if thumb_size == self.largest_type:
                return self.content
            return self.thumbs.get(thumb_size)
        return self.content if thumb_size == "" else None
