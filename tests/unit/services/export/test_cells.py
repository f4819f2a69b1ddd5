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


async def test_64_bit_ids_keep_every_digit_in_jsonl_and_csv(db: Path, tmp_path: Path) -> None:
    big = 2**60 + 1  # a double would read 1152921504606846976
    ch = await Channel.create(tg_id=1001, username="news", title="News")
    await Message.create(channel=ch, msg_id=1, date=BASE, text="", grouped_id=big,
                         media_kind="document", media={"id": big, "size": 5, "duration": 7.5},
                         entities=[["CustomEmoji", 0, 0, big]])  # fmt: skip
    await Message.create(channel=ch, msg_id=2, date=BASE, text="", grouped_id=big,
                         media_kind="photo", media={"id": 99})  # fmt: skip
    await Message.create(channel=ch, msg_id=3, date=BASE, text="plain")
    raw = (
        await export_messages(ExportQuery(), ExportFormat.JSONL, tmp_path / "j", "x", 2**25)
    ).files
    first, second, third = read_back(raw[0])
    # The id columns are strings always (a small id too), so a reader treats them alike.
    assert (first["media_id"], first["grouped_id"]) == (str(big), str(big))
    assert (second["media_id"], second["grouped_id"]) == ("99", str(big))
    assert third["media_id"] is None and third["grouped_id"] is None
    # Nested: ints beyond 2**53 as strings, the rest as numbers.
    assert first["media"] == {"id": str(big), "size": 5, "duration": 7.5}
    assert second["media"] == {"id": 99}
    assert first["entities"][0]["document_id"] == str(big)
    assert first["media_size"] == 5 and first["media_duration"] == 7.5
    # Digit for digit in the file itself, not only after Python's exact int parsing.
    text = raw[0].read_text()
    assert f'"grouped_id": "{big}"' in text and f'"id": "{big}"' in text
    (csv_file,) = (
        await export_messages(ExportQuery(), ExportFormat.CSV, tmp_path / "c", "x", 2**25)
    ).files
    row = read_back(csv_file)[0]
    assert row["grouped_id"] == str(big) and row["media_id"] == str(big)
    assert f'"id": "{big}"' in row["media"]


async def test_reactions_never_stored_are_empty_not_zero(db: Path, tmp_path: Path) -> None:
    ch = await Channel.create(tg_id=1001, username="news", title="News")
    await Message.create(channel=ch, msg_id=1, date=BASE, text="", action={"type": "pin_message"})
    await Message.create(channel=ch, msg_id=2, date=BASE, text="post", views=5,
                         reactions={"👍": 2, "❤": 1})  # fmt: skip
    await Message.create(channel=ch, msg_id=3, date=BASE, text="none yet", views=5, reactions={})
    jsonl = (
        await export_messages(ExportQuery(), ExportFormat.JSONL, tmp_path / "j", "x", 2**25)
    ).files
    event, post, bare = read_back(jsonl[0])
    assert event["views"] is None and event["reactions_total"] is None
    assert event["reactions"] is None
    assert (post["reactions_total"], post["reactions"]) == (3, {"👍": 2, "❤": 1})
    assert (bare["reactions_total"], bare["reactions"]) == (0, {})
    for fmt in (ExportFormat.CSV, ExportFormat.XLSX):
        (path,) = (
            await export_messages(ExportQuery(), fmt, tmp_path / fmt.value, "x", 2**25)
        ).files
        event, post, bare = read_back(path)
        assert event["reactions_total"] in ("", None) and event["views"] in ("", None), fmt
        assert str(post["reactions_total"]) == "3" and str(bare["reactions_total"]) == "0"
