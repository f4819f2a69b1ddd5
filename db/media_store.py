"""Media files on the local disk (#16): core.ports.MediaStore over a folder.

A key ("ab/cd/<sha256>.jpg", "partial/<id>-<media id>") is a relative path under
`root`. `put` makes a file visible atomically: fsync'ed, then os.replace'd into place
(a reader sees the whole file or none); the folders are made as needed. Object storage
(S3-compatible, the scale-out issue) goes behind the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO


class LocalMediaStore:
    """Files under `root` (settings.media_path), by key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The local path of `key`; ValueError for a key leaving `root` (absolute,
        '..', empty parts)."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad media key {key!r}")
        return self.root.joinpath(*parts)

    async def put(self, key: str, source: Path) -> None:
        """Move `source` (a complete local file) to `key`: fsync'ed, then renamed into
        place (atomic on one file system; across file systems: copied to a temporary
        name next to the target first). OSError (ENOSPC) as raised."""
        await asyncio.to_thread(self._put, key, Path(source))

    def _put(self, key: str, source: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != 18:  # EXDEV: another file system
                raise
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(source, tmp)
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            source.unlink()
        _fsync_dir(target.parent)

    async def get(self, key: str) -> Path:
        """The file holding `key`; FileNotFoundError if there is none."""
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def open_append(self, key: str) -> BinaryIO:
        """`key` open for appending (and reading: "a+b"), created empty if missing;
        the caller closes it."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a+b")

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def partial_keys(self) -> list[str]:
        """The keys under "partial/" (downloads under way or left behind)."""
        folder = self.root / "partial"
        if not folder.is_dir():
            return []
        return sorted(f"partial/{p.name}" for p in folder.iterdir() if p.is_file())

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
