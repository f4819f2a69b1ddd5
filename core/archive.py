"""What the archive's data commands exchange: export, search, stats and keyword watches.

Plain frozen dataclasses and enums shared by services/ (which fills them) and bot/
(which renders them); no database, no Telegram, no bot framework here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path


class ExportFormat(StrEnum):
    """The file formats /export writes (the value is the file suffix)."""

    CSV = "csv"
    JSONL = "jsonl"
    XLSX = "xlsx"


@dataclass(frozen=True)
class ExportQuery:
    """Which stored messages an export holds."""

    channel_id: int | None = None  # db id; None = every channel
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    keyword: str | None = None  # case-insensitive substring of the text


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: `files` to upload in order; `parts` when the export was
    cut into zip parts of at most `limit_mb` MiB each."""

    rows: int
    files: tuple[Path, ...]
    parts: bool
    limit_mb: int = 0
