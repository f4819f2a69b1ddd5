"""The analytics series as files (#17): a channel's counter snapshots (table
`counter_snapshot`: a post's views, forwards, replies and reactions each time they were
read, with the post's date) or its subscriber counts (`subscriber_snapshot`), as CSV,
CSV with semicolons, JSONL or XLSX, cut into zip parts within the upload limit like the
messages' export (services/export/parts.py `finish`).

Rows are read in chunks (db/counters.py CounterRepository `iter_counter_rows` /
`iter_subscriber_rows`, keyset pagination) and written as they come, so memory stays
flat. Counter rows come in the order they were taken.
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import tempfile
from array import array
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

from core.analytics import CounterPoint, SubscriberPoint, age_label
from core.archive import ExportFormat, ExportResult
from core.channels import Channel, post_link
from services.export import xlsx
from services.export.parts import PART_MARGIN, finish
from services.export.writers import defuse

# The files' columns. `posted_at`: the post's date (empty when it is no longer
# archived), so taken_at - posted_at is its age at the read; `age`: the configured age
# (SNAPSHOT_AGES, e.g. "24h") a read was made for, empty for a read with the post's
# history; `age_seconds` the same in seconds.
COUNTER_COLUMNS = (
    "channel", "msg_id", "posted_at", "taken_at", "age", "age_seconds",
    "views", "forwards", "replies", "reactions", "link",
)  # fmt: skip
SUBSCRIBER_COLUMNS = ("channel", "taken_at", "subscribers", "change")
_TIME_COLUMNS = frozenset({"posted_at", "taken_at"})

# A row source: (channel row id, since, until, chunk) -> lists of rows (mappings or
# objects with the named fields), in the order they are written.
RowSource = Callable[[int, datetime | None, datetime | None, int], AsyncIterator[list[Any]]]


def _field(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def _utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _seconds(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return int(value)


class _Writer(Protocol):
    def write(self, values: list[Any]) -> None: ...
    def size(self) -> int: ...
    def close(self) -> None: ...


def _csv_cell(value: Any) -> Any:
    """A time as ISO 8601 with its offset, None as "", text a spreadsheet would run
    as a formula defused (writers.py `defuse`)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return defuse("" if value is None else value)


class _Csv:
    """UTF-8 with BOM (Excel reads Cyrillic right); `delimiter` "," or ";"."""

    def __init__(self, path: Path, columns: tuple[str, ...], tz: tzinfo, delimiter: str) -> None:
        self._fh = open(path, "w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._fh, delimiter=delimiter)
        self._csv.writerow(columns)

    def write(self, values: list[Any]) -> None:
        self._csv.writerow([_csv_cell(v) for v in values])

    def size(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()


class _Jsonl:
    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self._fh = open(path, "w", encoding="utf-8", newline="\n")
        self._columns = columns

    def write(self, values: list[Any]) -> None:
        row = {
            c: v.isoformat() if isinstance(v, datetime) else v
            for c, v in zip(self._columns, values, strict=True)
        }
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def size(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()


class _Xlsx:
    def __init__(self, path: Path, columns: tuple[str, ...], tz: tzinfo, sheet: str) -> None:
        self._w = xlsx.XlsxWriter(
            path, tz, columns=columns, time_columns=_TIME_COLUMNS, sheet=sheet
        )
        self._columns = columns

    def write(self, values: list[Any]) -> None:
        self._w.write(dict(zip(self._columns, values, strict=True)))

    def size(self) -> int:
        return self._w.size()

    def close(self) -> None:
        self._w.close()


class _Parts:
    """One file (CSV/JSONL: row ends noted for `finish` to cut by zipped size) or XLSX
    parts rotated at `budget` bytes or Excel's row limit."""

    def __init__(
        self,
        fmt: ExportFormat,
        out_dir: Path,
        basename: str,
        columns: tuple[str, ...],
        tz: tzinfo,
        sheet: str,
        budget: int,
    ) -> None:
        self.fmt, self.paths = fmt, list[Path]()
        self._out_dir, self._basename, self._columns = out_dir, basename, columns
        self._tz, self._sheet, self._budget = tz, sheet, budget
        self._rows = 0
        self._w = self._open()
        self.ends = array("q", [self._w.size()])

    def _open(self) -> _Writer:
        path = self._out_dir / f"{self._basename}.part{len(self.paths) + 1:03d}.{self.fmt.suffix}"
        self.paths.append(path)
        if self.fmt is ExportFormat.XLSX:
            return _Xlsx(path, self._columns, self._tz, self._sheet)
        if self.fmt is ExportFormat.JSONL:
            return _Jsonl(path, self._columns)
        delimiter = ";" if self.fmt is ExportFormat.CSV_SEMICOLON else ","
        return _Csv(path, self._columns, self._tz, delimiter)

    def write_rows(self, rows: list[list[Any]]) -> None:
        for values in rows:
            if self.fmt is ExportFormat.XLSX and (
                self._rows >= xlsx.XLSX_MAX_ROWS or self._w.size() >= self._budget
            ):
                self._w.close()
                self._w = self._open()
                self._rows = 0
            self._w.write(values)
            self._rows += 1
            if self.fmt is not ExportFormat.XLSX:
                self.ends.append(self._w.size())

    def close(self) -> None:
        self._w.close()


def counter_values(row: Any, name: str, channel: Channel, tz: tzinfo) -> list[Any]:
    """One counter snapshot as COUNTER_COLUMNS values, times in `tz`."""
    msg_id = int(_field(row, "msg_id"))
    age = _seconds(_field(row, "age_mark"))
    taken = _utc(_field(row, "taken_at"))
    posted = _utc(_field(row, "posted_at"))
    link = post_link(channel.username, channel.tg_id, msg_id) if channel.kind != "chat" else None
    return [
        name,
        msg_id,
        posted.astimezone(tz) if posted else None,
        taken.astimezone(tz) if taken else None,
        age_label(timedelta(seconds=age)) if age else None,
        age,
        _field(row, "views"),
        _field(row, "forwards"),
        _field(row, "replies"),
        _field(row, "reactions"),
        link,
    ]


async def write_series(
    rows: AsyncIterator[list[Any]],
    kind: str,
    channel: Channel,
    fmt: ExportFormat,
    out_dir: Path,
    basename: str,
    limit_bytes: int,
    tz: tzinfo = UTC,
) -> ExportResult:
    """Write `rows` (lists of counter or subscriber rows, `kind` "counters" or
    "subscribers") under `out_dir`: `<basename>.<suffix>` when it fits `limit_bytes`,
    else its zip, else zip parts (see parts.py `finish`); no file for no rows. Writing
    runs in a worker thread a chunk at a time. Raises OSError when the disk refuses."""
    columns = COUNTER_COLUMNS if kind == "counters" else SUBSCRIBER_COLUMNS
    name = f"@{channel.username}" if channel.username else str(channel.tg_id)
    budget = max(limit_bytes - PART_MARGIN, limit_bytes // 2)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    parts = await asyncio.to_thread(_Parts, fmt, out_dir, basename, columns, tz, kind, budget)
    n = 0
    previous: int | None = None
    try:
        async for chunk in rows:
            if kind == "counters":
                values = [counter_values(r, name, channel, tz) for r in chunk]
            else:
                values = []
                for r in chunk:
                    count = int(_field(r, "subscribers"))
                    taken = _utc(_field(r, "taken_at"))
                    change = None if previous is None else count - previous
                    values.append([name, taken.astimezone(tz) if taken else None, count, change])
                    previous = count
            if values:
                await asyncio.to_thread(parts.write_rows, values)
                n += len(values)
    finally:
        await asyncio.to_thread(parts.close)
    ends = parts.ends if fmt is not ExportFormat.XLSX else None
    return await asyncio.to_thread(
        finish, parts.paths, n, out_dir, basename, fmt, limit_bytes, ends
    )


class SeriesSource(Protocol):
    """Where the series' rows are (db/counters.py CounterRepository): every snapshot
    taken in [since, until), in the order taken, `batch` rows a query."""

    def iter_counter_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = ...
    ) -> AsyncIterator[tuple[int, datetime | None, CounterPoint]]: ...

    def iter_subscriber_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = ...
    ) -> AsyncIterator[SubscriberPoint]: ...


# An unbounded period's ends (the rows' taken_at always lies between).
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def repository_sources(repo: SeriesSource) -> tuple[RowSource, RowSource]:
    """The counter and subscriber row sources over `repo`, in chunks of `chunk` rows."""

    async def counters(
        channel_id: int, since: datetime | None, until: datetime | None, chunk: int
    ) -> AsyncIterator[list[Any]]:
        rows: list[dict[str, Any]] = []
        async for msg_id, posted, p in repo.iter_counter_rows(
            channel_id, since or _EARLIEST, until or _LATEST, batch=chunk
        ):
            rows.append({
                "msg_id": msg_id, "posted_at": posted, "taken_at": p.taken_at,
                "age_mark": p.age_mark,
                "views": p.views, "forwards": p.forwards, "replies": p.replies,
                "reactions": p.reactions,
            })  # fmt: skip
            if len(rows) >= chunk:
                yield rows
                rows = []
        if rows:
            yield rows

    async def subscribers(
        channel_id: int, since: datetime | None, until: datetime | None, chunk: int
    ) -> AsyncIterator[list[Any]]:
        rows: list[SubscriberPoint] = []
        async for p in repo.iter_subscriber_rows(
            channel_id, since or _EARLIEST, until or _LATEST, batch=chunk
        ):
            rows.append(p)
            if len(rows) >= chunk:
                yield rows
                rows = []
        if rows:
            yield rows

    return counters, subscribers


class SeriesExportService:
    """bot.api.analytics.SeriesExportAPI: the series of one channel as files under a
    fresh temporary folder in `work_dir` (the system's default when None), cut within
    `upload_limit_mb` MiB. The rows come from `source` (db/counters.py
    CounterRepository), or from `counter_rows` / `subscriber_rows` (tests)."""

    def __init__(
        self,
        upload_limit_mb: int,
        work_dir: Path | None = None,
        source: SeriesSource | None = None,
        *,
        counter_rows: RowSource | None = None,
        subscriber_rows: RowSource | None = None,
        chunk: int = 5000,
    ) -> None:
        self.limit_bytes = upload_limit_mb * 1024 * 1024
        self._work_dir = work_dir
        if source is not None:
            counter_rows, subscriber_rows = repository_sources(source)
        if counter_rows is None or subscriber_rows is None:
            raise ValueError("a SeriesExportService needs a source of rows")
        self._sources = {"counters": counter_rows, "subscribers": subscriber_rows}
        self._chunk = chunk

    async def export_series(
        self,
        channel: Channel,
        kind: str,
        fmt: ExportFormat,
        since: datetime | None = None,
        until: datetime | None = None,
        tz: tzinfo | None = None,
    ) -> ExportResult:
        """Files `<channel>-<kind>-<UTC stamp>.<suffix>` (see SeriesExportAPI)."""
        kind = str(kind)
        if kind not in self._sources:
            raise ValueError(f"no series {kind!r}")
        out_dir = Path(tempfile.mkdtemp(prefix="series-", dir=self._work_dir))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        name = channel.username or f"channel{channel.tg_id}"
        rows = self._sources[kind](channel.id, since, until, self._chunk)
        try:
            result = await write_series(
                rows,
                kind,
                channel,
                fmt,
                out_dir,
                f"{name}-{kind}-{stamp}",
                self.limit_bytes,
                tz or UTC,
            )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            raise
        if not result.files:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
        return result

    async def cleanup(self, result: ExportResult) -> None:
        """Remove an export's files and their folder."""
        for d in {p.parent for p in result.files}:
            await asyncio.to_thread(shutil.rmtree, d, True)
