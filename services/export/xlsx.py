"""The direct XLSX writer: the sheet's XML streamed into the zip, row by row.

openpyxl's write-only mode did the same at ~15 us a cell; this is ~1 us (bench P5).
The header row is frozen and carries an autofilter; time columns are real date cells
(their header names the zone); post links are hyperlinks, up to Excel's limit per sheet.
"""

from __future__ import annotations

import math
import re
import tempfile
import zipfile
import zlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any

from services.export.rows import (
    COLUMNS,
    JSON_COLUMNS,
    LINK_COLUMNS,
    TIME_COLUMNS,
    VERSIONS_COLUMN,
    ExportRow,
    cell,
)

# Excel refuses longer cells, and more rows per sheet (header included).
XLSX_CELL_MAX = 32_767
XLSX_MAX_ROWS = 1_048_575
# Excel keeps at most 65,530 hyperlinks a worksheet; links past it stay plain text.
XLSX_MAX_LINKS = 65_530

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
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    # Styles: 1 a date and time cell, 2 a hyperlink, 3 the header row (bold).
    "xl/styles.xml": (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
        "</numFmts>"
        '<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><u/><sz val="11"/><color rgb="FF0563C1"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        "</borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


# Characters XML 1.0 cannot carry at all (Excel would refuse the file).
def cut_cell(text: str) -> str:
    """`text` cut to XLSX_CELL_MAX characters, its end saying so:
    "...…[cut: N characters, full text in CSV/JSONL]" (N: the characters left out)."""
    n = len(text) - XLSX_CELL_MAX
    while True:  # the mark takes room too: N counts what it displaces
        mark = f"…[cut: {n} characters, full text in CSV/JSONL]"
        keep = XLSX_CELL_MAX - len(mark)
        if len(text) - keep == n:
            return text[:keep] + mark
        n = len(text) - keep


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXACT_INT = 2**53  # larger integers (64-bit ids) go in as text, not rounded doubles


_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HYPERLINK_TYPE = f"{_NS_REL}/hyperlink"
_SHEET_HEAD = (
    f'{_XML_HEAD}<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
    "</sheetView></sheetViews><sheetData>"
)


def zone_name(tz: tzinfo) -> str:
    """How the header names a zone: its IANA key ("Europe/Moscow"), else its name."""
    return str(getattr(tz, "key", None) or tz.tzname(None) or "UTC")


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;")


# Deflate input held back at most before a sync flush (bytes).
_SPOOL_FLUSH = 32 * 1024
_SPOOL_OUT = 256 * 1024


class _Spool:
    """XML fragments deflated into a temporary file, so memory stays flat and the size
    they will take in the zip is known as they come."""

    def __init__(self, directory: Path) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=directory)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._pending = 0  # bytes given to the compressor since it last wrote
        self._written = 0  # deflated bytes in the file

    def write(self, data: bytes) -> None:
        out = self._deflate.compress(data)
        if self._pending + len(data) >= _SPOOL_FLUSH:  # keep the size bound tight
            out += self._deflate.flush(zlib.Z_SYNC_FLUSH)
        if out:
            self._file.write(out)
            self._written += len(out)
            self._pending = 0
        self._pending += len(data)

    def size(self) -> int:
        """An upper bound of the bytes these fragments take once deflated."""
        return self._written + self._pending

    def copy_to(self, dest: IO[bytes]) -> None:
        """Inflate everything written into `dest`, then forget it."""
        self._file.write(self._deflate.flush())
        self._file.seek(0)
        inflate = zlib.decompressobj(-15)
        # At most _SPOOL_OUT bytes inflated at a time: hyperlink XML deflates ~20:1.
        while chunk := self._file.read(64 * 1024):
            dest.write(inflate.decompress(chunk, _SPOOL_OUT))
            while inflate.unconsumed_tail:
                dest.write(inflate.decompress(inflate.unconsumed_tail, _SPOOL_OUT))
        dest.write(inflate.flush())
        self._file.close()

    def close(self) -> None:
        self._file.close()


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
    text, never a formula), times as real date cells in `tz` (the header says which:
    "date (UTC)"), 64-bit ids as text, links as hyperlinks (the first XLSX_MAX_LINKS of
    the sheet; later ones plain text). The header row is frozen and has an autofilter.
    The hyperlinks wait in two deflated temporary files beside `path` until close.
    """

    def __init__(
        self,
        path: Path,
        tz: tzinfo = UTC,
        versions: bool = False,
        *,
        columns: Sequence[str] | None = None,
        time_columns: Collection[str] = TIME_COLUMNS,
        sheet: str = "messages",
    ) -> None:
        """`columns`: another table's columns (the series export), none of them JSON,
        `time_columns` among them named with the zone, "link" a hyperlink; the sheet
        then is `sheet`. None: the messages' COLUMNS."""
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        for name, xml in _XLSX_STATIC.items():
            self._zip.writestr(name, _XML_HEAD + xml)
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w")
        self._sheet.write(_SHEET_HEAD.encode())
        self._sheet_name = sheet
        if columns is None:
            columns = (*COLUMNS, VERSIONS_COLUMN) if versions else COLUMNS
            self._json_cols: tuple[int, ...] = tuple(COLUMNS.index(c) for c in JSON_COLUMNS) + (
                (len(COLUMNS),) if versions else ()
            )
            self._link_cols = frozenset(COLUMNS.index(c) for c in LINK_COLUMNS)
        else:
            self._json_cols = ()
            self._link_cols = frozenset(i for i, c in enumerate(columns) if c == "link")
        self._letters = _column_letters(len(columns))
        self._links = _Spool(path.parent)  # <hyperlink> elements
        self._rels = _Spool(path.parent)  # their relationships
        self._n_links = 0
        self._row = 0
        self._flushed_at = 0  # the file's size after the last write that grew it
        self._pending = 0  # sheet bytes given to the compressor since then
        zone = zone_name(tz)
        header = [f"{c} ({zone})" if c in time_columns else c for c in columns]
        self._append(header, style=3)

    def _link(self, ref: str, url: str) -> bool:
        if self._n_links >= XLSX_MAX_LINKS or not url.startswith("https://"):
            return False
        self._n_links += 1
        rid = f"rId{self._n_links}"
        self._links.write(f'<hyperlink ref="{ref}" r:id="{rid}"/>'.encode())
        self._rels.write(
            f'<Relationship Id="{rid}" Type="{_HYPERLINK_TYPE}" Target="{_escape(url)}"'
            ' TargetMode="External"/>'.encode()
        )
        return True

    def _append(self, values: list[Any], style: int = 0) -> None:
        self._row += 1
        r = self._row
        cells = [f'<row r="{r}">']
        letters = self._letters
        for i, value in enumerate(values):
            if value is None or value == "":
                continue
            kind = type(value)
            if kind is int and -_EXACT_INT < value < _EXACT_INT:  # bool is no int here
                cells.append(f'<c r="{letters[i]}{r}"><v>{value}</v></c>')
            elif kind is float and math.isfinite(value):  # media_duration 7.5
                cells.append(f'<c r="{letters[i]}{r}"><v>{value!r}</v></c>')
            elif isinstance(value, datetime):
                wall = value.replace(tzinfo=None)
                serial = (wall - _EXCEL_EPOCH).total_seconds() / 86400
                cells.append(f'<c r="{letters[i]}{r}" s="1"><v>{serial!r}</v></c>')
            else:
                ref = f"{letters[i]}{r}"
                text = _XML_ILLEGAL.sub("", str(value))
                if len(text) > XLSX_CELL_MAX:
                    text = cut_cell(text)
                s = style
                if not style and i in self._link_cols and self._link(ref, text):
                    s = 2
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                if "\r" in text:  # a bare CR would be read back as a newline
                    text = text.replace("\r", "&#13;")
                attr = f' s="{s}"' if s else ""
                cells.append(
                    f'<c r="{ref}"{attr} t="inlineStr"><is><t xml:space="preserve">{text}</t>'
                    "</is></c>"
                )
        cells.append("</row>")
        data = "".join(cells).encode()
        self._sheet.write(data)
        at = self._zip.fp.tell() if self._zip.fp is not None else 0
        if at != self._flushed_at:
            self._flushed_at, self._pending = at, 0
        self._pending += len(data)

    def write(self, row: ExportRow) -> None:
        """One sheet row in the columns' order (`COLUMNS` unless others were given):
        times (aware datetimes) as date cells of their wall time, links as hyperlinks
        while the sheet has room for them, ints and floats as numbers (ints beyond 2**53
        as text), longer texts cut to XLSX_CELL_MAX characters with the cut marked
        (`cut_cell`), characters XML 1.0 cannot carry dropped."""
        values = list(row.values())  # COLUMNS order
        for i in self._json_cols:
            values[i] = cell(values[i])
        self._append(values)

    @property
    def links(self) -> int:
        """How many cells of the sheet are hyperlinks so far."""
        return self._n_links

    def size(self) -> int:
        """Bytes: an upper bound of the file's size once closed."""
        # The compressed bytes on disk, plus at most what the compressor still holds
        # (never more than the bytes it took since it last wrote), the hyperlinks
        # waiting in their spools and the closing records: parts come out close to the
        # upload limit, never above it.
        return (
            self._flushed_at + self._pending + self._links.size() + self._rels.size() + 16 * 1024
        )

    def close(self) -> None:
        """End the sheet (autofilter, hyperlinks), write the workbook and the zip's
        directory; a second call does nothing."""
        if self._sheet.closed:
            return
        last = f"{self._letters[-1]}{self._row}"
        self._sheet.write(f'</sheetData><autoFilter ref="A1:{last}"/>'.encode())
        if self._n_links:
            self._sheet.write(b"<hyperlinks>")
            self._links.copy_to(self._sheet)
            self._sheet.write(b"</hyperlinks>")
        else:
            self._links.close()
        self._sheet.write(b"</worksheet>")
        self._sheet.close()
        if self._n_links:
            with self._zip.open("xl/worksheets/_rels/sheet1.xml.rels", "w") as rels:
                rels.write(f'{_XML_HEAD}<Relationships xmlns="{_NS_PKG_REL}">'.encode())
                self._rels.copy_to(rels)
                rels.write(b"</Relationships>")
        else:
            self._rels.close()
        self._zip.writestr(
            "xl/workbook.xml",
            f'{_XML_HEAD}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
            f'<sheets><sheet name="{self._sheet_name}" sheetId="1" r:id="rId1"/></sheets>'
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0"'
            f' hidden="1">{self._sheet_name}!$A$1:${self._letters[-1]}${self._row}'
            "</definedName></definedNames></workbook>",
        )
        self._zip.close()
