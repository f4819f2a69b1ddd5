"""The direct XLSX writer: exact, safe cells that Excel and openpyxl read back; a frozen
header with an autofilter, real date cells named by zone, links as hyperlinks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest


def _row(**values: Any) -> dict[str, Any]:
    from services.export.rows import COLUMNS

    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(values)
    return row


def test_xlsx_cells_are_exact_and_safe(tmp_path: Path) -> None:
    """Markup and control characters in text, over-long cells, 64-bit ids, dates."""
    from openpyxl import load_workbook

    from services.export.rows import COLUMNS, TIME_COLUMNS
    from services.export.xlsx import XLSX_CELL_MAX, XlsxWriter

    big_id = 13_835_058_055_282_163_717  # a grouped_id beyond a double's exact range
    row = _row(
        channel_id=-1001234567890,
        channel="news & <co>",
        msg_id=7,
        date=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        text="a\x00b\x07c & <tag> ]]>\r\n " + "x" * 40_000,
        views=0,
        reactions={"👍": 2},
        entities=[{"type": "url", "offset": 0, "length": 1, "text": "a"}],
        grouped_id=big_id,
        link="https://t.me/news/7",
        media_duration=7.5,
        media_size=12,
    )
    writer = XlsxWriter(tmp_path / "t.xlsx")
    writer.write(row)
    writer.write({**row, "msg_id": 8, "date": None, "text": "=SUM(A1:A2)"})
    writer.close()

    ws = load_workbook(tmp_path / "t.xlsx")["messages"]
    header = [c.value for c in ws[1]]
    assert header == [f"{c} (UTC)" if c in TIME_COLUMNS else c for c in COLUMNS]
    names = [h.split(" (")[0] for h in header]
    first, second = (dict(zip(names, [c.value for c in r], strict=True)) for r in ws.iter_rows(2))
    full = "abc & <tag> ]]>\r\n " + "x" * 40_000
    kept, cut, n = first["text"].partition("…[cut: ")
    assert len(first["text"]) == XLSX_CELL_MAX and cut
    assert n.endswith(" characters, full text in CSV/JSONL]")
    assert full.startswith(kept) and len(full) - len(kept) == int(n.split()[0])
    assert first["media_duration"] == 7.5 and first["media_size"] == 12
    assert ws.cell(2, names.index("media_duration") + 1).data_type == "n"
    assert first["channel"] == "news & <co>" and first["link"] == "https://t.me/news/7"
    assert first["date"] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert first["views"] == 0 and first["channel_id"] == -1001234567890
    assert first["grouped_id"] == str(big_id)  # as text, digit for digit
    assert json.loads(first["reactions"]) == {"👍": 2}
    assert json.loads(first["entities"])[0]["type"] == "url"
    assert first["sender_id"] is None and first["edit_date"] is None
    assert second["msg_id"] == 8 and second["date"] is None
    assert second["text"] == "=SUM(A1:A2)"
    assert ws.cell(3, names.index("text") + 1).data_type == "s"  # text, not a formula


def test_frozen_header_autofilter_hyperlinks_and_zone(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from services.export.rows import COLUMNS
    from services.export.xlsx import XlsxWriter

    moscow = ZoneInfo("Europe/Moscow")
    writer = XlsxWriter(tmp_path / "t.xlsx", moscow)
    when = dt.datetime(2026, 9, 1, 11, 52, 5, tzinfo=dt.UTC).astimezone(moscow)
    for i in (1, 2, 3):
        writer.write(
            _row(
                msg_id=i,
                date=when,
                edit_date=when,
                link=f"https://t.me/news/{i}?comment=5&x=<1>",
                reply_to_link="https://t.me/news/1" if i > 1 else None,
                text="https://not.a/link/column",
            )
        )
    assert writer.links == 5
    writer.close()

    ws = load_workbook(tmp_path / "t.xlsx")["messages"]
    assert ws.freeze_panes == "A2"
    last = ws.cell(1, len(COLUMNS)).column_letter
    assert ws.auto_filter.ref == f"A1:{last}4"
    header = [c.value for c in ws[1]]
    assert header[COLUMNS.index("date")] == "date (Europe/Moscow)"
    assert header[COLUMNS.index("fwd_from_date")] == "fwd_from_date (Europe/Moscow)"
    date_cell = ws.cell(2, COLUMNS.index("date") + 1)
    assert date_cell.is_date and date_cell.value == dt.datetime(2026, 9, 1, 14, 52, 5)
    link = ws.cell(3, COLUMNS.index("link") + 1)
    assert link.hyperlink is not None
    assert link.hyperlink.target == link.value == "https://t.me/news/2?comment=5&x=<1>"
    assert ws.cell(3, COLUMNS.index("reply_to_link") + 1).hyperlink.target == (
        "https://t.me/news/1"
    )
    assert ws.cell(2, COLUMNS.index("text") + 1).hyperlink is None  # only link columns


def test_links_past_excels_limit_stay_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    import services.export.xlsx as xlsx_module
    from services.export.rows import COLUMNS

    monkeypatch.setattr(xlsx_module, "XLSX_MAX_LINKS", 2)
    writer = xlsx_module.XlsxWriter(tmp_path / "t.xlsx")
    for i in (1, 2, 3):
        writer.write(_row(msg_id=i, link=f"https://t.me/news/{i}"))
    writer.close()
    ws = load_workbook(tmp_path / "t.xlsx")["messages"]
    col = COLUMNS.index("link") + 1
    assert [ws.cell(r, col).hyperlink is not None for r in (2, 3, 4)] == [True, True, False]
    assert ws.cell(4, col).value == "https://t.me/news/3"


def test_many_hyperlinks_keep_memory_flat_and_size_bounded(tmp_path: Path) -> None:
    """Hyperlinks wait deflated on disk, not in memory; size() stays an upper bound."""
    import tracemalloc

    from services.export.xlsx import XlsxWriter

    writer = XlsxWriter(tmp_path / "t.xlsx")
    tracemalloc.start()
    for i in range(1, 10_001):
        writer.write(_row(msg_id=i, link=f"https://t.me/news/{i}", text="слово " * 10))
    bound = writer.size()
    writer.close()  # the spools are inflated into the zip a slice at a time
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20, peak  # 10,000 links kept in memory: ~2.5 MB
    assert (tmp_path / "t.xlsx").stat().st_size <= bound
