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
class WorkerStatus:
    """One process sharing a PostgreSQL database (#18, services/leases.py): `where` is
    host/pid, `role` all | worker | bot, `accounts` and `channels` the row ids of the
    accounts and channel runs it holds leases on, `heartbeat_age` seconds since its
    last heartbeat (the database's clock), `alive` whether that is within LEASE_SECONDS."""

    where: str
    role: str
    accounts: tuple[str, ...]
    channels: tuple[str, ...]
    heartbeat_age: float
    alive: bool
    this: bool = False  # the process answering


@dataclass(frozen=True)
class StatusReport:
    components: tuple[ComponentStatus, ...]
    backup: BackupStatus | None = None  # None: no maintenance (PostgreSQL, no backups)
    # The processes sharing the database (PostgreSQL); None on SQLite (one process).
    workers: tuple[WorkerStatus, ...] | None = None
    workers_error: str | None = None  # why they could not be read
