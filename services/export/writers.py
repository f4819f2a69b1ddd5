"""The export's file writers, one per format; each streams rows to disk as they come."""

from __future__ import annotations

import csv
import json
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Protocol

from core.archive import ExportFormat
from services.export.rows import (
    COLUMNS,
    ID_STRING_COLUMNS,
    JSON_COLUMNS,
    TIME_COLUMNS,
    VERSIONS_COLUMN,
    ExportRow,
    cell,
    exact_ints,
    json_default,
)
from services.export.xlsx import XlsxWriter

# The columns a flat format cannot write as they are (the csv module writes None as ""
# and ints and strings as they are): converted by `cell`, the rest passed through.
_CONVERTED = tuple(COLUMNS.index(c) for c in (*TIME_COLUMNS, *JSON_COLUMNS))
# A cell Excel (or LibreOffice) reads as a formula starts with one of these: a text cell
# that does is written with a leading apostrophe (OWASP's CSV injection advice), so a
# message "=HYPERLINK(...)" opens as the text it is, never runs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet runs: a str starting with = + - @, a tab
    or CR gets a leading "'"; numbers and other text as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
    """UTF-8 with BOM (Excel then reads Cyrillic right); newlines stay inside quotes.
    `delimiter` "," or ";" (a Russian-locale Excel splits columns on ";")."""

    def __init__(self, path: Path, delimiter: str = ",", versions: bool = False) -> None:
        self._fh = open(path, "w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._fh, delimiter=delimiter)
        self._csv.writerow((*COLUMNS, VERSIONS_COLUMN) if versions else COLUMNS)
        self._versions = versions

    def write(self, row: ExportRow) -> None:
        """One CSV record in `COLUMNS` order; dicts and lists as JSON text, times as
        ISO 8601 with their offset, None as ""; text that a spreadsheet would take for
        a formula (see `defuse`) after a "'"."""
        values = list(row.values())  # COLUMNS order
        for i in _CONVERTED:
            values[i] = cell(values[i])
        if self._versions:
            values[-1] = cell(values[-1])
        self._csv.writerow([defuse(v) for v in values])

    def size(self) -> int:
        """Bytes written so far, BOM and header row included."""
        return self._fh.tell()

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()


class JsonlWriter:
    """One JSON object per line, UTF-8: the COLUMNS keys, nested values as objects and
    lists, times as ISO 8601 strings with their offset."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w", encoding="utf-8", newline="\n")

    def write(self, row: ExportRow) -> None:
        """The row as one JSON object on its own line (non-ASCII kept as is); the
        ID_STRING_COLUMNS as strings, and inside nested values every int beyond +-2**53
        as a string (a double-based JSON reader would round it)."""
        for col in ID_STRING_COLUMNS:
            if row[col] is not None:
                row[col] = str(row[col])
        for col in JSON_COLUMNS:
            if row[col]:
                row[col] = exact_ints(row[col])
        if row.get(VERSIONS_COLUMN):
            row[VERSIONS_COLUMN] = exact_ints(row[VERSIONS_COLUMN])
        self._fh.write(json.dumps(row, ensure_ascii=False, default=json_default))
        self._fh.write("\n")

    def size(self) -> int:
        """Bytes written so far."""
        return self._fh.tell()

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()


def open_writer(
    fmt: ExportFormat, path: Path, tz: tzinfo = UTC, versions: bool = False
) -> Writer:
    """A new file `path` in `fmt`, its header row written; `tz` is the zone of the
    rows' times (named in XLSX's header); `versions`: the rows end with
    VERSIONS_COLUMN (the header names it)."""
    if fmt is ExportFormat.CSV:
        return CsvWriter(path, versions=versions)
    if fmt is ExportFormat.CSV_SEMICOLON:
        return CsvWriter(path, delimiter=";", versions=versions)
    if fmt is ExportFormat.JSONL:
        return JsonlWriter(path)
    return XlsxWriter(path, tz, versions=versions)
