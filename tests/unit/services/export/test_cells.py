"""What a cell holds once a spreadsheet opens it: no formula runs from a CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from core.archive import ExportFormat, ExportQuery
from db.models import Channel, Message
from services.export import export_messages
from tests.unit.export_fixtures import BASE, read_back

FORMULAS = ['=HYPERLINK("http://x","y")', "+7 999", "-1+1", "@SUM(A1)", "\tTAB", "\rCR"]
HARMLESS = ["hello", "1+1=2", "a=b", "'quoted", ""]


async def _export(tmp: Path, fmt: ExportFormat) -> list[dict[str, Any]]:
    result = await export_messages(ExportQuery(), fmt, tmp / fmt.suffix, "x", 2**25)
    (path,) = result.files
    return read_back(path)


async def _seed(texts: list[str], **fields: Any) -> None:
    ch = await Channel.create(tg_id=1001, username="news", title="=News")
    for i, text in enumerate(texts, 1):
        date = BASE + dt.timedelta(minutes=i)
        await Message.create(channel=ch, msg_id=i, date=date, text=text, **fields)


async def test_csv_text_that_starts_a_formula_gets_an_apostrophe(db: Path, tmp_path: Path) -> None:
    await _seed(FORMULAS + HARMLESS, post_author="-signed")
    for fmt in (ExportFormat.CSV, ExportFormat.CSV_SEMICOLON):
        rows = await _export(tmp_path / fmt.value, fmt)
        assert [r["text"] for r in rows] == [f"'{t}" for t in FORMULAS] + HARMLESS
        assert {r["post_author"] for r in rows} == {"'-signed"}
        assert {r["channel"] for r in rows} == {"news"}
        # Numbers stay numbers: only text is prefixed.
        assert [r["msg_id"] for r in rows] == [str(i) for i in range(1, 12)]


@pytest.mark.parametrize("fmt", [ExportFormat.JSONL, ExportFormat.XLSX])
async def test_other_formats_keep_the_text_as_it_is(
    db: Path, tmp_path: Path, fmt: ExportFormat
) -> None:
    # JSONL is no spreadsheet; XLSX writes text as inline strings, never as formulas.
    await _seed(FORMULAS)
    rows = await _export(tmp_path, fmt)
    expected = [t.replace("\r", "\n") if fmt == ExportFormat.XLSX else t for t in FORMULAS]
    got = [r["text"] for r in rows]
    assert [g.replace("\r", "\n") if fmt == ExportFormat.XLSX else g for g in got] == expected
