"""Every export column, in every format: provenance (forwards, replies, comments), media,
service events, entities with their text, ISO times; a channel's export with comments."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from core.archive import ExportFormat, ExportQuery
from db.models import Channel, Message
from services.export import export_messages
from services.export.rows import COLUMNS
from tests.unit.export_fixtures import BASE, read_back

FWD_DATE = "2026-02-01T10:00:00+00:00"
HIDDEN_DATE = "2026-02-02T09:30:00+00:00"
TEXT = "👍 Hi #tag, see docs"  # the emoji takes two UTF-16 code units


async def _seed() -> tuple[Channel, Channel]:
    news = await Channel.create(tg_id=1001, username="news", title="News", linked_chat_id=2002)
    chat = await Channel.create(tg_id=2002, username=None, title="News chat", status="linked")
    other = await Channel.create(tg_id=3003, username=None, title="Private")

    async def post(ch: Channel, msg_id: int, **fields: Any) -> None:
        date = BASE + dt.timedelta(minutes=msg_id)
        await Message.create(channel=ch, msg_id=msg_id, date=date, **fields)

    await post(
        news,
        1,
        text=TEXT,
        entities=[["Hashtag", 6, 4], ["TextUrl", 16, 4, "https://example.com/docs"]],
        views=10,
    )
    await post(
        news,
        2,
        text="",
        fwd_from={
            "from_type": "channel",
            "from_id": 777,
            "title": "Source",
            "username": "src",
            "channel_post": 55,
            "date": FWD_DATE,
        },
    )
    await post(news, 3, text="repost", fwd_from={"from_name": "Иван", "date": HIDDEN_DATE})
    await post(news, 4, text="answer", reply_to_id=1)
    await post(
        news,
        5,
        text="",
        media_kind="photo",
        media={"id": 99, "width": 1280, "height": 720, "size": 12345},
        grouped_id=2**60 + 1,
    )
    await post(news, 6, text="", action={"type": "pin_message", "message_id": 1})
    await post(news, 7, text="", media_kind="poll", content_text="Кто победит? Да Нет",
               media={"question": "Кто победит?", "options": ["Да", "Нет"]})  # fmt: skip
    await post(chat, 10, text="first comment", comment_of=1)
    await post(chat, 11, text="a reply", comment_of=1, reply_to_id=10)
    await post(other, 1, text="private post", reply_to_id=1, fwd_from={"from_type": "channel",
               "from_id": 1001, "channel_post": 1})  # fmt: skip
    return news, other


def _flat(value: Any) -> str:
    """A value as CSV text (what a flat format holds)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flat_id(fmt: ExportFormat, value: int) -> Any:
    """An id as CSV (text) or XLSX (a number cell) holds it."""
    return value if fmt == ExportFormat.XLSX else str(value)


def _as(fmt: ExportFormat, row: dict[str, Any], col: str) -> Any:
    """The column's value as JSONL would hold it, whatever the format."""
    value = row[col]
    if fmt == ExportFormat.JSONL:
        return value
    if isinstance(value, dt.datetime):  # XLSX: a UTC wall-clock date cell
        return value.replace(tzinfo=dt.UTC).isoformat()
    if value in ("", None):
        return None
    if col in ("action", "media", "entities", "reactions"):
        return json.loads(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


async def _export(tmp: Path, fmt: ExportFormat, query: ExportQuery) -> list[dict[str, Any]]:
    result = await export_messages(query, fmt, tmp / f"o{fmt.suffix}{id(query)}", "x", 2**25)
    (path,) = result.files
    rows = read_back(path)
    for r in rows:
        assert list(r) == list(COLUMNS), fmt
    return rows


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_every_column_in_every_format(db: Path, tmp_path: Path, fmt: ExportFormat) -> None:
    await _seed()
    rows = await _export(tmp_path, fmt, ExportQuery())
    by = {(_as(fmt, r, "channel"), _as(fmt, r, "msg_id")): r for r in rows}
    assert len(rows) == 10

    def get(key: tuple[str, int], col: str) -> Any:
        return _as(fmt, by[key], col)

    first = ("news", 1)
    assert get(first, "date") == "2026-03-01T12:01:00+00:00"
    assert get(first, "link") == "https://t.me/news/1"
    assert get(first, "entities") == [
        {"type": "hashtag", "offset": 6, "length": 4, "text": "#tag"},
        {
            "type": "text_url",
            "offset": 16,
            "length": 4,
            "text": "docs",
            "url": "https://example.com/docs",
        },
    ]
    fwd = ("news", 2)
    assert [get(fwd, f"fwd_from_{k}") for k in ("type", "id", "title", "username")] == [
        "channel",
        777,
        "Source",
        "src",
    ]
    assert get(fwd, "fwd_from_msg_id") == 55 and get(fwd, "fwd_from_date") == FWD_DATE
    assert get(fwd, "fwd_from_link") == "https://t.me/src/55"
    hidden = ("news", 3)
    assert get(hidden, "fwd_from_name") == "Иван" and get(hidden, "fwd_from_id") is None
    assert get(hidden, "fwd_from_date") == HIDDEN_DATE and get(hidden, "fwd_from_link") is None
    assert get(("news", 4), "reply_to_id") == 1
    assert get(("news", 4), "reply_to_link") == "https://t.me/news/1"
    photo = ("news", 5)
    # JSONL writes media_id as a string always (a 64-bit id); the flat formats as digits.
    assert by[photo]["media_id"] == ("99" if fmt == ExportFormat.JSONL else _flat_id(fmt, 99))
    assert [get(photo, f"media_{k}") for k in ("kind", "width", "height", "size")] == [
        "photo",
        1280,
        720,
        12345,
    ]
    assert str(get(photo, "grouped_id")) == str(2**60 + 1)
    assert get(("news", 6), "action") == {"type": "pin_message", "message_id": 1}
    poll = ("news", 7)
    assert get(poll, "content_text") == "Кто победит? Да Нет"
    assert get(poll, "media")["options"] == ["Да", "Нет"]
    # Comments: stored under the discussion group, named by the channel they answer.
    comment = ("News chat", 10)
    assert get(comment, "comment_of") == 1 and get(comment, "comment_of_channel") == "news"
    assert get(comment, "comment_of_link") == "https://t.me/news/1"
    assert get(comment, "link") == "https://t.me/news/1?comment=10"
    assert get(("News chat", 11), "reply_to_link") == "https://t.me/c/2002/10"
    private = ("Private", 1)
    assert get(private, "link") == "https://t.me/c/3003/1"
    assert get(private, "reply_to_link") == "https://t.me/c/3003/1"
    assert get(private, "fwd_from_link") == "https://t.me/c/1001/1"
    assert get(private, "comment_of_channel") is None


async def test_a_channels_export_with_its_comments(db: Path, tmp_path: Path) -> None:
    news, other = await _seed()
    plain = await _export(tmp_path, ExportFormat.JSONL, ExportQuery(channel_id=news.id))
    assert [r["msg_id"] for r in plain] == [1, 2, 3, 4, 5, 6, 7]
    query = ExportQuery(channel_id=news.id, comments=True)
    both = await _export(tmp_path, ExportFormat.JSONL, query)
    assert [(r["channel"], r["msg_id"]) for r in both][-2:] == [
        ("News chat", 10),
        ("News chat", 11),
    ]
    assert {r["comment_of_channel"] for r in both[-2:]} == {"news"}
    # A channel without a discussion group: the option changes nothing.
    alone = await _export(tmp_path, ExportFormat.JSONL, ExportQuery(other.id, comments=True))
    assert [r["msg_id"] for r in alone] == [1]


async def test_times_in_another_zone(db: Path, tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    news, _ = await _seed()
    moscow = ZoneInfo("Europe/Moscow")
    query = ExportQuery(channel_id=news.id, tz=moscow)
    (first, fwd, *_) = await _export(tmp_path, ExportFormat.JSONL, query)
    assert first["date"] == "2026-03-01T15:01:00+03:00"
    assert fwd["fwd_from_date"] == "2026-02-01T13:00:00+03:00"
    (row, *_) = await _export(tmp_path, ExportFormat.CSV_SEMICOLON, query)
    assert row["date"] == "2026-03-01T15:01:00+03:00"
