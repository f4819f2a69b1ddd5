"""What /status reports besides the features' own sections (bot/api/status.py
`StatusAPI`): the supervised components' states and the archive's maintenance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from core.health import HealthRegistry
from core.status import BackupStatus, ComponentStatus, StatusReport, WorkerStatus

# The processes sharing a PostgreSQL database (services/leases.py LeaseKeeper.workers).
WorkersView = Callable[[], Awaitable[tuple[WorkerStatus, ...]]]


class MaintenanceView(Protocol):
    """The part of app/maintenance.py's MaintenanceState /status shows."""

    @property
    def last_backup_at(self) -> datetime | None:
        """When (UTC) the last backup was made (after a failed one: set so the next try
        comes within the hour); None before any."""

    @property
    def last_backup_size(self) -> int | None:
        """Bytes of the last backup made; None before any."""

    @property
    def backup_error(self) -> str | None:
        """Why the last backup failed (exception name and message); None if it did not."""

    @property
    def check_result(self) -> str | None:
        """The last integrity check: "ok" or what SQLite found; None before any."""


class StatusService:
    """Reads `health` (every component, in registration order) and, when the archive
    is a SQLite file with backups, its maintenance state."""

    def __init__(
        self,
        health: HealthRegistry,
        maintenance: MaintenanceView | None = None,
        *,
        workers: WorkersView | None = None,
    ) -> None:
        self._health = health
        self._maintenance = maintenance
        self._workers = workers

    def watch_maintenance(self, maintenance: MaintenanceView) -> None:
        """Report this maintenance state too (it is built after the bot)."""
        self._maintenance = maintenance

    async def report(self) -> StatusReport:
        """Every component's state, restarts and last error, in registration order, the
        backup status (None without a maintenance state; a size not known yet reads 0)
        and, on PostgreSQL, the processes sharing the database."""
        components = tuple(
            ComponentStatus(c.name, c.state, c.restarts, c.last_error)
            for c in self._health.components.values()
        )
        m = self._maintenance
        backup = None
        if m is not None:
            backup = BackupStatus(
                last_at=m.last_backup_at,
                size_bytes=m.last_backup_size or 0,
                error=m.backup_error,
                check_result=m.check_result,
            )
        workers, error = None, None
        if self._workers is not None:
            try:
                workers = await self._workers()
            except Exception as exc:  # the database unreachable: the rest is shown
                error = f"{type(exc).__name__}: {exc}"[:200]
        return StatusReport(components, backup, workers, error)
