"""Export: each format round-trips against the database, splitting, filters, Russian CSV."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.archive import ExportFormat, ExportQuery
from db.models import Message
from services.export import export_messages
from services.export.parts import PART_MARGIN
from tests.unit.export_fixtures import BASE, make_channel, read_back, upsert

TRICKY = [
    (1, "Привет, мир! Первая строка\nвторая строка, с запятой"),
    (2, 'Кавычки "внутри" и ; точка с запятой'),
    (3, "=1+2 not a formula"),
    (4, "English text with émoji 👍"),
    (5, ""),
]


async def _db_rows() -> list[dict[str, Any]]:
    rows = await Message.all().order_by("id").values("msg_id", "text", "views", "date")
    return rows


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_round_trip_matches_database(db: Path, tmp_path: Path, fmt: ExportFormat) -> None:
    news = await make_channel(-1001234567890, "news", "Новости")
    await upsert(news, TRICKY, views=42, reactions={"👍": 3, "❤": 2})
    result = await export_messages(ExportQuery(), fmt, tmp_path / "out", "x", 50 * 2**20)
    assert result.rows == len(TRICKY) and not result.parts
    (path,) = result.files
    assert path.suffix == f".{fmt.suffix}"
    got = read_back(path)
    expected = await _db_rows()
    assert [int(r["msg_id"]) for r in got] == [r["msg_id"] for r in expected]
    texts = [r["text"] for r in expected]
    if fmt in (ExportFormat.CSV, ExportFormat.CSV_SEMICOLON):  # no formula runs from a CSV
        texts = [f"'{t}" if t.startswith("=") else t for t in texts]
    assert [(r["text"] or "") for r in got] == texts
    assert [int(r["views"]) for r in got] == [42] * len(TRICKY)
    assert [int(r["reactions_total"]) for r in got] == [5] * len(TRICKY)
    first = got[0]
    assert first["channel"] == "news"
    assert first["link"] == "https://t.me/news/1"
    when = first["date"]
    if isinstance(when, dt.datetime):  # xlsx keeps a real date cell (UTC wall time)
        assert when == expected[0]["date"].astimezone(dt.UTC).replace(tzinfo=None)
    else:  # ISO 8601 with the offset
        assert when == expected[0]["date"].astimezone(dt.UTC).isoformat()
        assert when.endswith("+00:00") and "T" in when
    if fmt == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path)["messages"]
        text_col = [c.value for c in ws[1]].index("text") + 1
        cell = ws.cell(row=4, column=text_col)
        assert cell.value == "=1+2 not a formula" and cell.data_type == "s"  # no injection


async def test_csv_is_excel_friendly_utf8_with_bom(db: Path, tmp_path: Path) -> None:
    ch = await make_channel(5, None, "Канал")
    await upsert(ch, TRICKY[:1])
    result = await export_messages(
        ExportQuery(), ExportFormat.CSV, tmp_path / "out", "x", 50 * 2**20
    )
    raw = result.files[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    assert "Привет, мир!".encode() in raw
    # The newline stays inside a quoted field, rows end with CRLF.
    assert b'"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, ' in raw
    assert raw.count(b"\r\n") == 2
    assert "\nвторая строка".encode() in raw
    assert read_back(result.files[0])[0]["link"] == "https://t.me/c/5/1"


@pytest.mark.parametrize("fmt", [ExportFormat.CSV, ExportFormat.JSONL])
async def test_split_into_zip_parts_by_their_compressed_size(
    db: Path, tmp_path: Path, fmt: ExportFormat
) -> None:
    import random

    rng = random.Random(5)
    letters = "абвгдежзиклмнопрстуфхцчшщыэюяabcdefghijklmnopqrstuvwxyz0123456789"
    ch = await make_channel(7, "big", "Big")
    n = 3000
    texts = [
        (i, f"Сообщение {i}\n" + "".join(rng.choices(letters, k=300))) for i in range(1, n + 1)
    ]
    await upsert(ch, texts)
    limit = 200 * 1024
    result = await export_messages(ExportQuery(), fmt, tmp_path / "out", "big", limit)
    assert result.parts and len(result.files) >= 3
    assert [p.name for p in result.files] == [
        f"big.part{i:03d}.zip" for i in range(1, len(result.files) + 1)
    ]
    sizes = [p.stat().st_size for p in result.files]
    assert all(s <= limit for s in sizes), sizes
    # Cut by the zipped size, not by the text before compression: no part but the last
    # is small (cut by the uncompressed size they were about a third of the limit).
    assert all(s >= limit - 2 * PART_MARGIN for s in sizes[:-1]), sizes
    rows: list[dict[str, Any]] = []
    for part in result.files:
        with zipfile.ZipFile(part) as zf:
            assert zf.namelist() == [part.with_suffix(f".{fmt.suffix}").name]
        rows += read_back(part)  # each part opens by itself, header included
    assert [int(r["msg_id"]) for r in rows] == list(range(1, n + 1))
    assert rows[-1]["text"] == texts[-1][1]
    same = await export_messages(ExportQuery(), fmt, tmp_path / "one", "big", 50 * 2**20)
    assert not same.parts and [p.name for p in same.files] == [f"big.{fmt.suffix}"]


async def test_a_single_zip_when_the_zip_of_the_whole_fits(db: Path, tmp_path: Path) -> None:
    ch = await make_channel(7, "big", "Big")
    texts = [(i, f"Сообщение {i} " + "текст " * 40) for i in range(1, 3001)]
    await upsert(ch, texts)
    limit = 200 * 1024  # the CSV is ~1.3 MB, its zip ~60 KB
    result = await export_messages(ExportQuery(), ExportFormat.CSV, tmp_path / "out", "big", limit)
    assert not result.parts and [p.name for p in result.files] == ["big.zip"]
    (path,) = result.files
    assert path.stat().st_size <= limit
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
        assert info.filename == "big.csv" and info.compress_type == zipfile.ZIP_DEFLATED
        assert info.file_size > limit
    rows = read_back(path)
    assert [int(r["msg_id"]) for r in rows] == list(range(1, 3001))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["big.zip"]


async def test_xlsx_parts_are_cut_by_their_compressed_size(db: Path, tmp_path: Path) -> None:
    import random

    words = "выборы бюджет мэр город новости погода курс рубль доллар нефть school rain".split()
    rng = random.Random(7)
    n = 18_000
    posts = [(i, " ".join(rng.choices(words, k=60))) for i in range(1, n + 1)]
    ch = await make_channel(7, "big", "Big")
    await upsert(ch, posts)
    limit = 2**20
    result = await export_messages(ExportQuery(), ExportFormat.XLSX, tmp_path / "o", "big", limit)
    sizes = [p.stat().st_size for p in result.files]
    assert result.parts and len(sizes) >= 3 and all(s <= limit for s in sizes)
    # Cut by what is on disk (plus what the compressor may still hold), not by the XML
    # before compression (4-5 times larger): no part but the last is small.
    assert all(s >= limit // 2 for s in sizes[:-1]), sizes
    rows = [r for p in result.files for r in read_back(p)]
    assert [int(r["msg_id"]) for r in rows] == list(range(1, n + 1))
    assert rows[-1]["text"] == posts[-1][1]


async def test_filters_channel_period_keyword(db: Path, tmp_path: Path) -> None:
    a = await make_channel(1, "a", "A")
    b = await make_channel(2, "b", "B")
    await upsert(a, [(1, "Выборы в Москве"), (2, "погода")], day=0)
    await upsert(a, [(3, "ВЫБОРЫ снова")], day=10)
    await upsert(b, [(1, "выборы где-то ещё")], day=0)

    async def ids(q: ExportQuery) -> list[tuple[str, int]]:
        r = await export_messages(q, ExportFormat.JSONL, tmp_path / "f", "f", 50 * 2**20)
        return [(row["channel"], row["msg_id"]) for p in r.files for row in read_back(p)]

    assert await ids(ExportQuery(channel_id=a.id)) == [("a", 1), ("a", 2), ("a", 3)]
    assert await ids(ExportQuery(keyword="выборы")) == [("a", 1), ("a", 3), ("b", 1)]
    since = BASE + dt.timedelta(days=5)
    assert await ids(ExportQuery(channel_id=a.id, since=since)) == [("a", 3)]
    assert await ids(ExportQuery(until=since)) == [("a", 1), ("a", 2), ("b", 1)]


async def test_empty_result_sends_no_file(db: Path, tmp_path: Path) -> None:
    ch = await make_channel(1, "a", "A")
    await upsert(ch, [(1, "hello")])
    out = tmp_path / "out"
    result = await export_messages(
        ExportQuery(keyword="absent"), ExportFormat.XLSX, out, "x", 2**20
    )
    assert result.rows == 0 and result.files == ()
    assert list(out.iterdir()) == []


async def test_progress_is_reported(db: Path, tmp_path: Path) -> None:
    ch = await make_channel(1, "a", "A")
    await upsert(ch, [(i, "x") for i in range(1, 26)])
    seen: list[int] = []

    async def progress(n: int) -> None:
        seen.append(n)

    await export_messages(
        ExportQuery(),
        ExportFormat.CSV,
        tmp_path / "o",
        "x",
        2**20,
        progress=progress,
        progress_every=10,
        chunk=10,
    )
    assert seen == [10, 20]


async def test_xlsx_parts_stay_within_excel_row_limit(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import services.export.xlsx as xlsx_module

    monkeypatch.setattr(xlsx_module, "XLSX_MAX_ROWS", 4)
    ch = await make_channel(1, "a", "A")
    await upsert(ch, [(i, f"строка {i}") for i in range(1, 11)])
    result = await export_messages(
        ExportQuery(), ExportFormat.XLSX, tmp_path / "o", "x", 50 * 2**20
    )
    assert result.parts and len(result.files) == 3
    per_part = [[int(r["msg_id"]) for r in read_back(p)] for p in result.files]
    assert per_part == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


async def test_keyword_filter_has_search_semantics_and_takes_whole_albums(
    db: Path, tmp_path: Path
) -> None:
    """Stems and ё as /search has them; a match on one album item selects the album,
    also when its items come in different chunks; another chat's album is not dragged in."""
    from db.models import Message

    a = await make_channel(1, "a", "A")
    b = await make_channel(2, "b", "B")

    async def post(ch: Any, msg_id: int, text: str, **fields: Any) -> None:
        when = BASE + dt.timedelta(minutes=msg_id)
        await Message.create(channel=ch, msg_id=msg_id, date=when, text=text, **fields)

    await post(a, 1, "Новости из Москвы")  # Москва -> Москвы
    await post(a, 2, "", grouped_id=77, media_kind="photo")  # the album, no caption
    await post(a, 3, "Фото: ёлка в Москве", grouped_id=77, media_kind="photo")
    await post(a, 4, "", grouped_id=77, media_kind="photo")
    await post(a, 5, "погода")
    await post(a, 6, "", media_kind="poll", content_text="Поедете в Москву? Да Нет")
    await post(b, 7, "", grouped_id=77)  # same grouped_id, other chat: not this album
    await post(a, 8, "Москва, выборы мэра")

    async def ids(keyword: str, chunk: int = 2000) -> list[int]:
        r = await export_messages(
            ExportQuery(keyword=keyword), ExportFormat.JSONL, tmp_path / "k", "k", 2**25,
            chunk=chunk,
        )  # fmt: skip
        return [row["msg_id"] for p in r.files for row in read_back(p)]

    assert await ids("Москва") == [1, 2, 3, 4, 6, 8]
    assert await ids("москва", chunk=2) == [1, 2, 3, 4, 6, 8]
    assert await ids("елка") == [2, 3, 4]
    assert await ids("Москва -выборы") == [1, 2, 3, 4, 6]
    assert await ids('"выборы мэра"') == [8]
    assert await ids("погода") == [5]


async def test_an_unusable_keyword_is_refused(db: Path, tmp_path: Path) -> None:
    from core.words import BadQuery

    await make_channel(1, "a", "A")
    with pytest.raises(BadQuery):
        await export_messages(
            ExportQuery(keyword="-только"), ExportFormat.CSV, tmp_path / "x", "x", 2**20
        )
