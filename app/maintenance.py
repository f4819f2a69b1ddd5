"""Background care of a SQLite archive: an integrity check after start, daily backups.

A supervised component. The check (`PRAGMA quick_check`) and the backup run in worker
threads on their own sqlite3 connections and yield often, so the bot stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.alerts import Alerter, AlertText
from db.sqlite_files import BackupResult, backup, list_backups, prune_backups, quick_check

log = logging.getLogger(__name__)


@dataclass
class MaintenanceState:
    """What /status and /healthz show: the last backup, the last check."""

    last_backup: Path | None = None
    last_backup_at: datetime | None = None
    last_backup_size: int | None = None
    next_backup_at: datetime | None = None
    backup_error: str | None = None
    check_result: str | None = None  # "ok" or what SQLite found


class ArchiveMaintenance:
    name = "maintenance"

    def __init__(
        self,
        db_path: Path,
        backup_dir: Path,
        alerter: Alerter,
        *,
        interval_hours: float = 24,
        keep: int = 7,
        check_delay: float = 60.0,
    ) -> None:
        self._db = db_path
        self._dir = backup_dir
        self._alerter = alerter
        self._interval = interval_hours * 3600
        self._keep = keep
        self._check_delay = check_delay
        self._stop = asyncio.Event()
        self.state = MaintenanceState()
        newest = list_backups(backup_dir)
        if newest:
            self._note_backup(newest[0], newest[0].stat().st_size, newest[0].stat().st_mtime)

    def _note_backup(self, path: Path, size: int, mtime: float) -> None:
        self.state.last_backup = path
        self.state.last_backup_size = size
        self.state.last_backup_at = datetime.fromtimestamp(mtime, UTC)

    def _seconds_to_next_backup(self) -> float:
        if self._interval <= 0:
            return float("inf")
        if self.state.last_backup_at is None:
            return 0.0
        age = time.time() - self.state.last_backup_at.timestamp()
        return max(0.0, self._interval - age)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when it is time to stop."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        self._stop.clear()
        if await self._sleep(self._check_delay):
            return
        await self.check()
        while True:
            wait = self._seconds_to_next_backup()
            if wait != float("inf"):
                self.state.next_backup_at = datetime.fromtimestamp(time.time() + wait, UTC)
            if await self._sleep(min(wait, 3600.0)):
                return
            if self._seconds_to_next_backup() <= 0:
                await self.back_up()

    async def stop(self) -> None:
        self._stop.set()

    async def check(self) -> str:
        """The throttled integrity check; one alert when it finds damage."""
        if not self._db.exists():
            return "ok"
        result = await quick_check(self._db, should_stop=self._stop.is_set)
        self.state.check_result = result
        if result != "ok":
            log.error("integrity check of %s failed: %s", self._db, result)
            self._alerter.alert(
                "integrity",
                AlertText(
                    "alert_integrity",
                    db=str(self._db),
                    error=result[:300],
                    backup=str(self.state.last_backup or "—"),
                    name=self._db.name,
                ),
            )
        return result

    async def back_up(self) -> BackupResult | None:
        """One automatic backup, then the oldest beyond the kept count are removed."""
        try:
            result = await backup(self._db, backup_dir=self._dir, open_elsewhere=True)
        except Exception as exc:  # disk full, damaged file: say so, try again later
            self.state.backup_error = f"{type(exc).__name__}: {exc}"[:300]
            # A retry within the hour, not at once: the cause may take a while to clear.
            self.state.last_backup_at = datetime.fromtimestamp(
                time.time() - self._interval + 3600, UTC
            )
            log.error("automatic backup failed: %s", self.state.backup_error)
            self._alerter.alert(
                "backup", AlertText("alert_backup_failed", error=self.state.backup_error)
            )
            return None
        self.state.backup_error = None
        self._note_backup(result.path, result.size, time.time())
        prune_backups(self._dir, self._keep)
        self._alerter.forget("backup")
        log.info("backup written: %s (%.1f MB)", result.path, result.size / 1e6)
        return result
