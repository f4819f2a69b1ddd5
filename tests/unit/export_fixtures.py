"""Shared seeding helpers for the export/search/watch tests (a real SQLite file)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tortoise import connections

from db.models import Channel

BASE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

UPSERT = (
    "INSERT INTO message (channel_id, msg_id, date, text, views, forwards, reactions,"
    " post_author, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(channel_id, msg_id) DO UPDATE SET text = excluded.text,"
    " views = excluded.views, reactions = excluded.reactions"
)


def sqlite_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


async def make_channel(tg_id: int, username: str | None, title: str) -> Channel:
    return await Channel.create(tg_id=tg_id, username=username, title=title)


async def upsert(
    channel: Channel,
    rows: Sequence[tuple[int, str]],
    *,
    views: int = 10,
    day: int = 0,
    reactions: dict[str, int] | None = None,
) -> None:
    """Raw executemany upsert, the way the ingestion code writes batches."""
    conn = connections.get("default")
    values: list[list[Any]] = []
    for msg_id, text in rows:
        date = BASE + dt.timedelta(days=day, minutes=msg_id)
        values.append(
            [
                channel.id,
                msg_id,
                sqlite_time(date),
                text,
                views,
                1,
                json.dumps(reactions) if reactions is not None else None,
                None,
                sqlite_time(BASE),
            ]
        )
    await conn.execute_many(UPSERT, values)


def read_back(path: Path) -> list[dict[str, Any]]:
    """Parse an export file (or a zip part) back into rows of strings; for tests and checks."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            (name,) = zf.namelist()
            data = zf.read(name)
        inner = Path(name)
    else:
        data = path.read_bytes()
        inner = path
    if inner.suffix == ".csv":
        text = data.decode("utf-8-sig")
        # "csv;" files: the header row (plain names) holds no comma, only semicolons.
        delimiter = ";" if ";" in text.split("\r\n", 1)[0] else ","
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    if inner.suffix == ".jsonl":
        return [json.loads(line) for line in data.decode().splitlines() if line]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True)
    ws = wb["messages"]
    it = ws.iter_rows(values_only=True)
    # Time columns name their zone in XLSX ("date (UTC)"): the column is "date".
    header = [str(h).split(" (")[0] for h in next(it)]
    # A row ends at its last non-empty cell: the rest of the columns are empty.
    out = [dict(zip(header, [*r, *[None] * (len(header) - len(r))], strict=True)) for r in it]
    wb.close()
    return out
