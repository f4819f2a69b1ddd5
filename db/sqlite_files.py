"""The SQLite archive as a file: checks before start, online backups, background checks.

Everything here uses the standard library's `sqlite3` on its own connection, in a
worker thread, so the event loop and Tortoise's connection are never blocked.
File format facts from https://www.sqlite.org/fileformat2.html (the 100-byte header).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ProjectError

log = logging.getLogger(__name__)

HEADER_MAGIC = b"SQLite format 3\x00"
BACKUP_PREFIX = "tg_parser-"
BACKUP_SUFFIX = ".sqlite3"


class DatabaseDamaged(ProjectError):
    """The archive file cannot be opened or read. `str()` is one line for the operator:
    the file, what is wrong, and how to recover."""

    code = "database_damaged"

    def __init__(self, path: Path, problem: str, backups: list[Path]) -> None:
        self.path = path
        self.problem = problem
        self.backups = backups
        latest = f" (latest: {backups[0]})" if backups else ""
        super().__init__(
            f"the database {path} {problem}. Restore the latest backup{latest} by copying "
            f"it over {path.name} (with the bot stopped), or salvage what is readable with "
            f"`sqlite3 {path.name} .recover | sqlite3 recovered.sqlite3`"
        )


@dataclass(frozen=True)
class BackupResult:
    """One finished backup: where, bytes on disk, seconds taken."""

    path: Path
    size: int
    seconds: float


def default_backup_dir(db_path: Path) -> Path:
    return db_path.parent / "backups"


def list_backups(backup_dir: Path) -> list[Path]:
    """This archive's backups in `backup_dir`, newest first."""
    if not backup_dir.is_dir():
        return []
    found = [
        p
        for p in backup_dir.iterdir()
        if p.name.startswith(BACKUP_PREFIX) and p.name.endswith(BACKUP_SUFFIX) and p.is_file()
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def check_file(path: Path, backup_dir: Path | None = None) -> None:
    """Refuse a database file that SQLite cannot use, within a second whatever its size.

    Reads the header and the schema, and compares the page count the header promises
    with the file's length (a file cut short). Raises DatabaseDamaged. A missing file
    is fine here: the app creates a new archive (see `lost_archive_hint`).
    """
    if not path.exists():
        return
    backups = list_backups(backup_dir or default_backup_dir(path))
    size = path.stat().st_size
    if size == 0:
        return  # SQLite treats an empty file as a new database
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(HEADER_MAGIC):
        raise DatabaseDamaged(path, "is not an SQLite database (its header is damaged)", backups)
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = struct.unpack(">I", header[24:28]) + struct.unpack(
        ">I", header[28:32]
    ) + struct.unpack(">I", header[92:96])
    if page_size < 512 or page_size & (page_size - 1):
        raise DatabaseDamaged(path, f"has a damaged header (page size {page_size})", backups)
    if pages and valid_for == change_counter and size < pages * page_size:
        raise DatabaseDamaged(
            path,
            f"is cut short ({size} bytes on disk, its header says {pages * page_size})",
            backups,
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseDamaged(path, f"cannot be read ({exc})", backups) from None


def lost_archive_hint(path: Path, backup_dir: Path | None = None) -> str | None:
    """A warning when the database file is missing but backups show there was one."""
    if path.exists():
        return None
    backups = list_backups(backup_dir or default_backup_dir(path))
    if not backups:
        return None
    return (
        f"the database {path} is missing, but {len(backups)} backup(s) exist (latest: "
        f"{backups[0]}): starting with an EMPTY archive. To get the archive back, stop the "
        f"bot and copy the latest backup to {path}"
    )


def _backup_blocking(src: Path, dest: Path) -> None:
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(partial)
        try:
            # One step: a copy made in several steps starts over whenever another
            # connection writes in between, so under a busy backfill it would never end.
            # One step reads one consistent snapshot; in WAL mode writers go on meanwhile
            # (and sqlite3 releases the GIL while it copies).
            source.backup(target, pages=-1)
            ok = target.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {ok}")
        finally:
            target.close()
    finally:
        source.close()
    os.replace(partial, dest)


async def backup(
    src: Path,
    dest: Path | None = None,
    *,
    backup_dir: Path | None = None,
    open_elsewhere: bool = False,
) -> BackupResult:
    """A consistent copy of the live archive `src` (the bot may keep writing meanwhile).

    `dest` defaults to `<backup_dir>/tg_parser-YYYYmmdd-HHMMSS.sqlite3`. The copy is
    written to `dest.partial` and renamed once complete and checked. Raises
    DatabaseDamaged when `src` is unreadable (sqlite3.DatabaseError when it fails
    while being copied) and OSError when the disk is full.

    `open_elsewhere`: this process has `src` open through SQLite (the app's own
    backups). The file is then read only through SQLite: closing any other descriptor
    of it would drop every POSIX lock the process holds on it, and the next process to
    close the database would take the app's WAL for unused and delete it under the app
    (its later commits lost; https://www.sqlite.org/howtocorrupt.html, 2.2).
    """
    if not open_elsewhere:
        check_file(src, backup_dir)
    if dest is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        dest = (backup_dir or default_backup_dir(src)) / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    await asyncio.to_thread(_backup_blocking, src, dest)
    return BackupResult(dest, dest.stat().st_size, time.monotonic() - started)


def prune_backups(backup_dir: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest backups (and stale `.partial` files)."""
    removed = []
    for stale in backup_dir.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}.partial"):
        stale.unlink(missing_ok=True)
        removed.append(stale)
    for old in list_backups(backup_dir)[keep:]:
        old.unlink(missing_ok=True)
        removed.append(old)
    return removed


def _quick_check_blocking(path: Path, should_stop: Callable[[], bool]) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    # Give the rest of the process the GIL back often: the check is a background chore.
    def yield_then_go_on() -> int:
        time.sleep(0.001)
        return int(should_stop())  # non-zero interrupts the check

    conn.set_progress_handler(yield_then_go_on, 20_000)
    try:
        rows = conn.execute("PRAGMA quick_check(20)").fetchall()
    except sqlite3.OperationalError as exc:
        if should_stop():
            return "ok"  # interrupted on purpose (shutdown): nothing found so far
        return str(exc)
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"
        return str(exc)
    finally:
        conn.close()
    return "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows)


async def quick_check(path: Path, should_stop: Callable[[], bool] = lambda: False) -> str:
    """`PRAGMA quick_check` of the file, throttled: "ok", or what SQLite found wrong."""
    return await asyncio.to_thread(_quick_check_blocking, path, should_stop)
