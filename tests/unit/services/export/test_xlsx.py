"""The direct XLSX writer: exact, safe cells that Excel and openpyxl read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def test_xlsx_cells_are_exact_and_safe(tmp_path: Path) -> None:
    """Markup and control characters in text, over-long cells, 64-bit ids, dates."""
    import json

    from openpyxl import load_workbook

    from services.export.rows import COLUMNS
    from services.export.xlsx import XLSX_CELL_MAX, XlsxWriter

    big_id = 13_835_058_055_282_163_717  # a grouped_id beyond a double's exact range
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        channel_id=-1001234567890,
        channel="news & <co>",
        msg_id=7,
        date="2026-01-02 03:04:05",
        text="a\x00b\x07c & <tag> ]]>\r\n " + "x" * 40_000,
        views=0,
        reactions={"👍": 2},
        grouped_id=big_id,
        link="https://t.me/news/7",
    )
    writer = XlsxWriter(tmp_path / "t.xlsx")
    writer.write(row)
    writer.write({**row, "msg_id": 8, "date": "", "text": "=SUM(A1:A2)"})
    writer.close()

    ws = load_workbook(tmp_path / "t.xlsx")["messages"]
    header = [c.value for c in ws[1]]
    assert header == list(COLUMNS)
    first, second = (dict(zip(header, [c.value for c in r], strict=True)) for r in ws.iter_rows(2))
    assert first["text"] == ("abc & <tag> ]]>\r\n " + "x" * 40_000)[:XLSX_CELL_MAX]
    assert first["channel"] == "news & <co>" and first["link"] == "https://t.me/news/7"
    assert first["date"] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert first["views"] == 0 and first["channel_id"] == -1001234567890
    assert first["grouped_id"] == str(big_id)  # as text, digit for digit
    assert json.loads(first["reactions"]) == {"👍": 2}
    assert first["sender_id"] is None and first["edit_date"] is None
    assert second["msg_id"] == 8 and second["date"] is None
    assert second["text"] == "=SUM(A1:A2)"
    assert ws.cell(3, header.index("text") + 1).data_type == "s"  # text, not a formula
