"""One bot per database: on SQLite one process in all (two processes on one Telegram
session get the auth key killed by Telegram, AUTH_KEY_DUPLICATED); on PostgreSQL one
process polling the bot's updates (two getUpdates pollers of one token get 409
Conflict), while `tg-parser worker` processes take none (their Telegram sessions are
kept apart by leases: services/leases.py)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from core.errors import ProjectError


class AlreadyRunning(ProjectError):
    """Another tg-parser holds the lock (the same SQLite file or PostgreSQL database);
    `str()` says which."""

    code = "already_running"


class InstanceLock:
    """An OS file lock next to the SQLite file, or a PostgreSQL advisory lock.

    The kernel releases a file lock when the process dies, even on `kill -9`.
    """

    PG_LOCK_ID = 0x7470_6172  # "tpar"

    def __init__(self, database_url: str, sqlite_path: Path | None, *, take: bool = True) -> None:
        """`take=False`: acquire() and release() do nothing (a worker process)."""
        self._take = take
        self._url = database_url
        self._sqlite_path = sqlite_path
        self._fd: int | None = None
        self._pg: Any = None

    async def acquire(self) -> None:
        if not self._take:
            return
        if self._url.startswith("sqlite://"):
            path = self._sqlite_path or Path("data/memory")
            lock_path = path.with_name(path.name + ".lock")
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise AlreadyRunning(
                    f"another tg-parser is already running on {path} (lock {lock_path})"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._fd = fd
            return
        import asyncpg

        from db.database import asyncpg_dsn, unreachable

        try:
            self._pg = await asyncpg.connect(asyncpg_dsn(self._url))
        except Exception as exc:
            if (found := unreachable(self._url, exc)) is None:
                raise
            raise found from exc
        if not await self._pg.fetchval("SELECT pg_try_advisory_lock($1)", self.PG_LOCK_ID):
            await self._pg.close()
            self._pg = None
            raise AlreadyRunning(
                "another tg-parser bot is already running on this PostgreSQL DB (one bot "
                "per database: start more with `tg-parser worker`, which runs no bot)"
            )

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._pg is not None:
            await self._pg.close()
            self._pg = None
