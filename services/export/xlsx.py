"""The direct XLSX writer: the sheet's XML streamed into the zip, row by row.

openpyxl's write-only mode did the same at ~15 us a cell; this is ~1 us (bench P5).
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from services.export.rows import COLUMNS, ExportRow, cell

# Excel refuses longer cells, and more rows per sheet (header included).
XLSX_CELL_MAX = 32_767
XLSX_MAX_ROWS = 1_048_575

_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="messages" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    # Style 1: a date and time cell.
    "xl/styles.xml": (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
        "</numFmts>"
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        "</borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Characters XML 1.0 cannot carry at all (Excel would refuse the file).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXACT_INT = 2**53  # larger integers (64-bit ids) go in as text, not rounded doubles


def _column_letters(n: int) -> list[str]:
    out = []
    for i in range(1, n + 1):
        name = ""
        while i:
            i, rem = divmod(i - 1, 26)
            name = chr(65 + rem) + name
        out.append(name)
    return out


class XlsxWriter:
    """A streaming .xlsx: the sheet's XML goes straight into the zip, row by row.

    One sheet "messages"; text as inline strings (so a text starting with "=" stays
    text, never a formula), the post date as a real date cell, 64-bit ids as text.
    openpyxl's write-only mode did the same at ~15 us a cell; this is ~1 us.
    """

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        for name, xml in _XLSX_STATIC.items():
            self._zip.writestr(name, _XML_HEAD + xml)
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w")
        self._sheet.write(
            (
                _XML_HEAD
                + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<sheetData>"
            ).encode()
        )
        self._letters = _column_letters(len(COLUMNS))
        self._date_col = COLUMNS.index("date")
        self._row = 0
        self._flushed_at = 0  # the file's size after the last write that grew it
        self._pending = 0  # sheet bytes given to the compressor since then
        self._append(list(COLUMNS))

    def _append(self, values: list[Any]) -> None:
        self._row += 1
        r = self._row
        cells = [f'<row r="{r}">']
        for i, value in enumerate(values):
            if value is None or value == "":
                continue
            ref = f"{self._letters[i]}{r}"
            if isinstance(value, datetime):
                serial = (value - _EXCEL_EPOCH).total_seconds() / 86400
                cells.append(f'<c r="{ref}" s="1"><v>{serial!r}</v></c>')
            elif (
                isinstance(value, int)
                and not isinstance(value, bool)
                and (-_EXACT_INT < value < _EXACT_INT)
            ):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                text = _XML_ILLEGAL.sub("", str(value))[:XLSX_CELL_MAX]
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                if "\r" in text:  # a bare CR would be read back as a newline
                    text = text.replace("\r", "&#13;")
                cells.append(
                    f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
                )
        cells.append("</row>")
        data = "".join(cells).encode()
        self._sheet.write(data)
        at = self._zip.fp.tell() if self._zip.fp is not None else 0
        if at != self._flushed_at:
            self._flushed_at, self._pending = at, 0
        self._pending += len(data)

    def write(self, row: ExportRow) -> None:
        """One sheet row in `COLUMNS` order; `date` (ISO 8601) as a date cell, cells cut to
        XLSX_CELL_MAX characters, characters XML 1.0 cannot carry dropped."""
        values = [cell(row[c]) for c in COLUMNS]
        if row["date"]:
            values[self._date_col] = datetime.fromisoformat(row["date"])
        self._append(values)

    def size(self) -> int:
        """Bytes: an upper bound of the file's size once closed."""
        # The compressed bytes on disk, plus at most what the compressor still holds
        # (never more than the bytes it took since it last wrote) and the closing
        # records: parts come out close to the upload limit, never above it.
        return self._flushed_at + self._pending + 16 * 1024

    def close(self) -> None:
        """End the sheet and write the zip's directory; a second call does nothing."""
        if self._sheet.closed:
            return
        self._sheet.write(b"</sheetData></worksheet>")
        self._sheet.close()
        self._zip.close()
