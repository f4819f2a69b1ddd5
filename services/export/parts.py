"""Cutting an export into parts that each fit the upload limit and open by themselves.

Output that would exceed the limit is cut into numbered parts, each a zip holding at
most `limit` bytes of the export (its own header row included).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from datetime import UTC, tzinfo
from pathlib import Path

from core.archive import ExportFormat, ExportResult
from db.export import ExportRecord, ParentChannel
from services.export import xlsx
from services.export.rows import export_row
from services.export.writers import Writer, open_writer

# Room for the zip's own headers so a part never crosses the limit.
PART_MARGIN = 64 * 1024


def part_budget(limit_bytes: int) -> int:
    """Bytes of export a part may hold so that its zip stays within `limit_bytes`."""
    return max(limit_bytes - PART_MARGIN, limit_bytes // 2)


class PartWriter:
    """Rotates to a new part file once the current one reaches `budget` bytes (or, for
    XLSX, Excel's row limit)."""

    def __init__(
        self,
        fmt: ExportFormat,
        out_dir: Path,
        basename: str,
        budget: int,
        tz: tzinfo = UTC,
        parents: Mapping[int, ParentChannel] | None = None,
    ) -> None:
        self._fmt = fmt
        self._tz = tz
        self._parents = parents
        self._out_dir = out_dir
        self._basename = basename
        self._budget = budget
        self.paths: list[Path] = []
        self._rows = 0
        self._max_rows = xlsx.XLSX_MAX_ROWS if fmt == ExportFormat.XLSX else None
        self._writer = self._open()

    def _open(self) -> Writer:
        suffix = self._fmt.suffix
        path = self._out_dir / f"{self._basename}.part{len(self.paths) + 1:03d}.{suffix}"
        self.paths.append(path)
        return open_writer(self._fmt, path, self._tz)

    def write_records(self, records: list[ExportRecord]) -> None:
        """Write `records` as rows, in order; once the current part holds `budget` bytes (or
        XLSX's row limit) the next row opens part `<basename>.partNNN.<suffix>`, added to
        `paths`. Times are written in the zone given at construction."""
        for rec in records:
            full = self._max_rows is not None and self._rows >= self._max_rows
            if full or self._writer.size() >= self._budget:
                self._writer.close()
                self._writer = self._open()
                self._rows = 0
            self._writer.write(export_row(rec, self._tz, self._parents))
            self._rows += 1

    def close(self) -> None:
        """Finish the current part's file; `paths` then lists every part, in order."""
        self._writer.close()


def _zip_part(src: Path, dest: Path, arcname: str) -> None:
    compression = zipfile.ZIP_STORED if src.suffix == ".xlsx" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(dest, "w", compression=compression) as zf:
        zf.write(src, arcname)
    src.unlink()


def finish(
    part_paths: list[Path],
    rows: int,
    out_dir: Path,
    basename: str,
    fmt: ExportFormat,
    limit_bytes: int,
) -> ExportResult:
    """The files to upload: none for no rows, `<basename>.<suffix>` when one part fits,
    else every part zipped as `<basename>.partNNN.zip` (blocking: run in a thread)."""
    limit_mb = limit_bytes // (1024 * 1024)
    if rows == 0:
        for p in part_paths:
            p.unlink(missing_ok=True)
        return ExportResult(0, (), False, limit_mb)
    if len(part_paths) == 1 and part_paths[0].stat().st_size <= limit_bytes:
        final = out_dir / f"{basename}.{fmt.suffix}"
        part_paths[0].rename(final)
        return ExportResult(rows, (final,), False, limit_mb)
    zips: list[Path] = []
    for path in part_paths:
        dest = path.with_suffix(".zip")
        _zip_part(path, dest, path.name)
        zips.append(dest)
    return ExportResult(rows, tuple(zips), True, limit_mb)
