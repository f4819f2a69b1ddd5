"""Cutting an export into parts that each fit the upload limit and open by themselves.

Output that would exceed the limit is zipped; when the zip would exceed it too, it is
cut into numbered zip parts of at most `limit` bytes each, cut by their compressed size,
each holding a complete file (its own header row included). CSV and JSONL are written
as one file and cut while being zipped (at row boundaries noted while writing); XLSX,
compressed already, is cut while being written.
"""

from __future__ import annotations

import zipfile
from array import array
from collections.abc import Mapping
from datetime import UTC, tzinfo
from pathlib import Path

from core.archive import ExportFormat, ExportResult
from db.export import ExportRecord, ParentChannel
from services.export import xlsx
from services.export.rows import export_row
from services.export.writers import Writer, open_writer

# Room for the zip's own headers so a part never crosses the limit (and, for a part cut
# while zipping, for what the compressor still holds and the last chunk given to it).
PART_MARGIN = 64 * 1024
# Bytes of rows given to the compressor at a time while cutting zip parts.
ZIP_CHUNK = 16 * 1024


def part_budget(limit_bytes: int) -> int:
    """Bytes of export a part may hold so that its zip stays within `limit_bytes`."""
    return max(limit_bytes - PART_MARGIN, limit_bytes // 2)


class PartWriter:
    """XLSX: rotates to a new part file once the current one reaches `budget` bytes or
    Excel's row limit. CSV/JSONL: one file, the byte offset where each row ends noted in
    `ends` (the first entry: the header's end), for `finish` to cut it by zipped size."""

    def __init__(
        self,
        fmt: ExportFormat,
        out_dir: Path,
        basename: str,
        budget: int,
        tz: tzinfo = UTC,
        parents: Mapping[int, ParentChannel] | None = None,
        versions: bool = False,
    ) -> None:
        self._fmt = fmt
        self._versions = versions
        self._tz = tz
        self._parents = parents
        self._out_dir = out_dir
        self._basename = basename
        self._budget = budget
        self.paths: list[Path] = []
        self._rows = 0
        self._max_rows = xlsx.XLSX_MAX_ROWS if fmt == ExportFormat.XLSX else None
        self._cut_now = fmt == ExportFormat.XLSX
        self._writer = self._open()
        self.ends = array("q", [self._writer.size()])

    def _open(self) -> Writer:
        suffix = self._fmt.suffix
        path = self._out_dir / f"{self._basename}.part{len(self.paths) + 1:03d}.{suffix}"
        self.paths.append(path)
        return open_writer(self._fmt, path, self._tz, self._versions)

    def write_records(self, records: list[ExportRecord]) -> None:
        """Write `records` as rows, in order; once the current part holds `budget` bytes (or
        XLSX's row limit) the next row opens part `<basename>.partNNN.<suffix>`, added to
        `paths`. Times are written in the zone given at construction."""
        if not self._cut_now:
            writer, ends = self._writer, self.ends
            for rec in records:
                writer.write(export_row(rec, self._tz, self._parents, self._versions))
                ends.append(writer.size())
            return
        for rec in records:
            full = self._max_rows is not None and self._rows >= self._max_rows
            if full or self._writer.size() >= self._budget:
                self._writer.close()
                self._writer = self._open()
                self._rows = 0
            self._writer.write(export_row(rec, self._tz, self._parents, self._versions))
            self._rows += 1

    def close(self) -> None:
        """Finish the current part's file; `paths` then lists every part, in order."""
        self._writer.close()


def _zip_part(src: Path, dest: Path, arcname: str) -> None:
    compression = zipfile.ZIP_STORED if src.suffix == ".xlsx" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(dest, "w", compression=compression) as zf:
        zf.write(src, arcname)
    src.unlink()


def zip_cut(src: Path, ends: array[int], out_dir: Path, basename: str, limit: int) -> list[Path]:
    """`src` (CSV or JSONL, rows ending at the offsets `ends`, `ends[0]` the header's
    end) as zip parts `<basename>.partNNN.zip` of at most `limit` bytes each (a single
    row larger than that gets a part of its own), each holding `<basename>.partNNN.<ext>`
    with the header and whole rows. Deletes `src`. Blocking: run in a thread."""
    suffix = src.suffix
    budget = max(limit - PART_MARGIN, limit // 2)
    zips: list[Path] = []
    with open(src, "rb") as fh:
        header = fh.read(ends[0])
        row = 1  # the next row to write: bytes ends[row - 1] .. ends[row]
        while row < len(ends):
            name = f"{basename}.part{len(zips) + 1:03d}"
            dest = out_dir / f"{name}.zip"
            zips.append(dest)
            with (
                zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf,
                zf.open(f"{name}{suffix}", "w", force_zip64=True) as entry,
            ):
                entry.write(header)
                first = True
                while row < len(ends):
                    assert zf.fp is not None
                    if not first and zf.fp.tell() >= budget:
                        break
                    # Whole rows, about ZIP_CHUNK bytes (at least one row).
                    stop = row
                    while stop < len(ends) and (
                        stop == row or ends[stop] - ends[row - 1] <= ZIP_CHUNK
                    ):
                        stop += 1
                    fh.seek(ends[row - 1])
                    entry.write(fh.read(ends[stop - 1] - ends[row - 1]))
                    row, first = stop, False
    src.unlink()
    return zips


def finish(
    part_paths: list[Path],
    rows: int,
    out_dir: Path,
    basename: str,
    fmt: ExportFormat,
    limit_bytes: int,
    ends: array[int] | None = None,
) -> ExportResult:
    """The files to upload: none for no rows, `<basename>.<suffix>` when one part fits,
    `<basename>.zip` when its zip fits, else zip parts `<basename>.partNNN.zip` cut by
    their compressed size (CSV/JSONL, `ends` the rows' end offsets: see `zip_cut`) or
    every XLSX part zipped (blocking: run in a thread)."""
    limit_mb = limit_bytes // (1024 * 1024)
    if rows == 0:
        for p in part_paths:
            p.unlink(missing_ok=True)
        return ExportResult(0, (), False, limit_mb)
    if len(part_paths) == 1 and part_paths[0].stat().st_size <= limit_bytes:
        final = out_dir / f"{basename}.{fmt.suffix}"
        part_paths[0].rename(final)
        return ExportResult(rows, (final,), False, limit_mb)
    if fmt != ExportFormat.XLSX and ends is not None:
        (src,) = part_paths
        zips = zip_cut(src, ends, out_dir, basename, limit_bytes)
        if len(zips) == 1:  # the zip of the whole fits: one file, named as the export
            whole = out_dir / f"{basename}.zip"
            # Zipped again under the export's own name (at most `limit_bytes` zipped).
            deflated = zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(zips[0]) as old, zipfile.ZipFile(whole, "w", deflated) as new:
                (info,) = old.infolist()
                with (
                    old.open(info) as data,
                    new.open(f"{basename}.{fmt.suffix}", "w", force_zip64=True) as out,
                ):
                    while chunk := data.read(1 << 20):
                        out.write(chunk)
            zips[0].unlink()
            return ExportResult(rows, (whole,), False, limit_mb)
        return ExportResult(rows, tuple(zips), True, limit_mb)
    zipped: list[Path] = []
    for path in part_paths:
        dest = path.with_suffix(".zip")
        _zip_part(path, dest, path.name)
        zipped.append(dest)
    return ExportResult(rows, tuple(zipped), True, limit_mb)
