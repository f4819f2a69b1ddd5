"""The export's file writers, one per format; each streams rows to disk as they come."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from core.archive import ExportFormat
from services.export.rows import COLUMNS, ExportRow, cell
from services.export.xlsx import XlsxWriter


class Writer(Protocol):
    """Writes rows to one file; `size()` is how many bytes the file holds (or will hold
    once closed, an upper bound for XLSX)."""

    def write(self, row: ExportRow) -> None:
        """Append one row, its values in `COLUMNS` order, after the header row."""

    def size(self) -> int:
        """Bytes of the file so far (XLSX: an upper bound of its size once closed)."""

    def close(self) -> None:
        """Flush and close the file, leaving it complete; no write after."""


class CsvWriter:
    """UTF-8 with BOM (Excel then reads Cyrillic right); newlines stay inside quotes."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(COLUMNS)

    def write(self, row: ExportRow) -> None:
        """One CSV record in `COLUMNS` order; dicts as JSON text, None as ""."""
        self._csv.writerow([cell(row[c]) for c in COLUMNS])

    def size(self) -> int:
        """Bytes written so far, BOM and header row included."""
        return self._fh.tell()

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()


class JsonlWriter:
    """One JSON object per line, UTF-8, `reactions` as an object."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w", encoding="utf-8", newline="\n")

    def write(self, row: ExportRow) -> None:
        """The row as one JSON object on its own line (non-ASCII kept as is)."""
        self._fh.write(json.dumps(row, ensure_ascii=False))
        self._fh.write("\n")

    def size(self) -> int:
        """Bytes written so far."""
        return self._fh.tell()

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()


WRITERS: dict[ExportFormat, Callable[[Path], Writer]] = {
    ExportFormat.CSV: CsvWriter,
    ExportFormat.JSONL: JsonlWriter,
    ExportFormat.XLSX: XlsxWriter,
}
