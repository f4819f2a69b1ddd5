"""The series export (#17): counter snapshots and subscriber counts of a channel as
CSV / XLSX / JSONL, times in the asked zone, cut into zip parts within the limit."""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.analytics import CounterPoint, SubscriberPoint
from core.archive import ExportFormat
from core.channels import Channel
from services.export.series import COUNTER_COLUMNS, SeriesExportService

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CHANNEL = Channel(id=3, tg_id=1555, username="news", title="News")


def _counter_rows(n: int) -> list[dict[str, Any]]:
    """Post 10 read 3 times (a history read, then at 1h and 24h), then posts 11.. once."""
    rows: list[dict[str, Any]] = [
        {"msg_id": 10, "posted_at": T0, "taken_at": T0 + timedelta(minutes=5),
         "age_mark": None, "views": 40, "forwards": 1, "replies": 0, "reactions": 3},
        {"msg_id": 10, "taken_at": T0 + timedelta(hours=1, minutes=2),
         "age_mark": 3600, "views": 500, "forwards": 2, "replies": 1, "reactions": None},
        {"msg_id": 10, "taken_at": T0 + timedelta(hours=24, minutes=1),
         "age_mark": 86400, "views": 4500, "forwards": 9, "replies": 4, "reactions": None},
    ]  # fmt: skip
    for i in range(n - 3):
        rows.append({"msg_id": 11 + i, "taken_at": T0 + timedelta(days=2),
                     "age_mark": None, "views": i, "forwards": 0, "replies": 0,
                     "reactions": 0})  # fmt: skip
    return rows


def _source(rows: list[Any], asked: list[Any]) -> Any:
    async def source(
        channel_id: int, since: datetime | None, until: datetime | None, chunk: int
    ) -> AsyncIterator[list[Any]]:
        asked.append((channel_id, since, until))
        for i in range(0, len(rows), chunk):
            yield rows[i : i + chunk]

    return source


def _service(tmp_path: Path, counters: list[Any], subs: list[Any], asked: list[Any],
             limit_mb: int = 50) -> SeriesExportService:  # fmt: skip
    return SeriesExportService(
        limit_mb, tmp_path, counter_rows=_source(counters, asked),
        subscriber_rows=_source(subs, asked), chunk=2,
    )  # fmt: skip


async def test_counters_as_csv_in_the_asked_zone(tmp_path: Path) -> None:
    asked: list[Any] = []
    svc = _service(tmp_path, _counter_rows(4), [], asked)
    since = T0 - timedelta(days=1)
    result = await svc.export_series(
        CHANNEL, "counters", ExportFormat.CSV_SEMICOLON, since, None, ZoneInfo("Europe/Moscow")
    )
    assert asked == [(3, since, None)] and result.rows == 4 and not result.parts
    (path,) = result.files
    assert path.name.startswith("news-counters-") and path.suffix == ".csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh, delimiter=";"))
    assert tuple(table[0]) == COUNTER_COLUMNS
    first, at_1h = (
        dict(zip(table[0], table[1], strict=True)),
        dict(zip(table[0], table[2], strict=True)),
    )
    assert first["taken_at"] == "2026-11-01T12:05:00+03:00" and first["age"] == ""
    # The post's date in the same zone: its age at each read is taken_at - posted_at.
    assert first["posted_at"] == "2026-11-01T12:00:00+03:00"
    assert at_1h["age"] == "1h" and at_1h["age_seconds"] == "3600" and at_1h["views"] == "500"
    assert at_1h["reactions"] == "" and at_1h["link"] == "https://t.me/news/10"
    assert dict(zip(table[0], table[3], strict=True))["age"] == "1d"
    await svc.cleanup(result)
    assert not path.parent.exists()


async def test_subscribers_as_xlsx_with_the_change(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    subs = [SubscriberPoint(T0 + timedelta(hours=h), 1000 + 7 * h) for h in range(3)]
    svc = _service(tmp_path, [], subs, [])
    result = await svc.export_series(CHANNEL, "subscribers", ExportFormat.XLSX)
    (path,) = result.files
    sheet = load_workbook(path, read_only=True)["subscribers"]
    rows = [tuple(c.value for c in r) for r in sheet.iter_rows()]
    assert rows[0] == ("channel", "taken_at (UTC)", "subscribers", "change")
    assert rows[1][:3] == ("@news", datetime(2026, 11, 1, 9, 0), 1000)  # no change yet
    assert rows[3] == ("@news", datetime(2026, 11, 1, 11, 0), 1014, 7)


async def test_nothing_no_file_and_over_the_limit_zip_parts(tmp_path: Path) -> None:
    svc = _service(tmp_path, [], [], [])
    result = await svc.export_series(CHANNEL, "subscribers", ExportFormat.CSV)
    assert result.rows == 0 and result.files == ()
    # 1 MiB limit, ~6 MB of JSONL rows: zip parts, each within the limit, rows whole.
    svc = _service(tmp_path, _counter_rows(40_000), [], [], limit_mb=1)
    svc._chunk = 5000
    result = await svc.export_series(CHANNEL, "counters", ExportFormat.JSONL)
    assert result.rows == 40_000
    lines = 0
    for part in result.files:
        assert part.stat().st_size <= 1024 * 1024
        with zipfile.ZipFile(part) as zf:
            (name,) = zf.namelist()
            for line in zf.read(name).decode().splitlines():
                json.loads(line)
                lines += 1
    assert lines == 40_000


class _Repo:
    """CounterRepository's two iterators (db/counters.py), over lists."""

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime, int]] = []

    async def iter_counter_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = 2000
    ) -> AsyncIterator[tuple[int, datetime | None, CounterPoint]]:
        self.asked.append((since, until, batch))
        for i in range(5):
            posted = T0 - timedelta(hours=1) if i < 4 else None  # post 14: no longer archived
            yield 10 + i, posted, CounterPoint(T0 + timedelta(hours=i), 100 * i, i, 0, None,
                                       timedelta(hours=1) if i == 1 else None)  # fmt: skip

    async def iter_subscriber_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = 2000
    ) -> AsyncIterator[SubscriberPoint]:
        for h in range(3):
            yield SubscriberPoint(T0 + timedelta(hours=h), 50 - h)


async def test_rows_from_the_counter_repository(tmp_path: Path) -> None:
    repo = _Repo()
    svc = SeriesExportService(50, tmp_path, repo, chunk=2)
    result = await svc.export_series(CHANNEL, "counters", ExportFormat.CSV)
    since, until, batch = repo.asked[0]
    assert since < T0 < until and batch == 2  # unbounded: the whole series
    with open(result.files[0], encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["msg_id"] for r in table] == ["10", "11", "12", "13", "14"]
    assert table[1]["age"] == "1h" and table[1]["views"] == "100" and table[1]["reactions"] == ""
    assert table[1]["posted_at"] == "2026-11-01T08:00:00+00:00" and table[4]["posted_at"] == ""
    result = await svc.export_series(CHANNEL, "subscribers", ExportFormat.CSV)
    with open(result.files[0], encoding="utf-8-sig", newline="") as fh:
        assert [r["change"] for r in csv.DictReader(fh)] == ["", "-1", "-1"]
