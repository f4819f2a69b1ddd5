"""What /status reports besides the features' own sections: the supervised components
and the archive's last backup and integrity check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ComponentStatus:
    """One supervised component (core/health.py): its state and what last went wrong."""

    name: str
    state: str  # starting | running | restarting | failed | stopped | conflict | ...
    restarts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class BackupStatus:
    """The SQLite archive's maintenance (app/maintenance.py)."""

    last_at: datetime | None = None  # UTC
    size_bytes: int = 0
    error: str | None = None  # the last backup's failure
    check_result: str | None = None  # "ok", None (not checked yet) or what SQLite found


@dataclass(frozen=True)
class StatusReport:
    components: tuple[ComponentStatus, ...]
    backup: BackupStatus | None = None  # None: no maintenance (PostgreSQL, no backups)
