"""Exports on PostgreSQL: the same columns and values as on SQLite (asyncpg records,
jsonb values, timestamptz), comments, the keyword filter (no stored terms there: the
text is stemmed in Python) and a whole album.

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.archive import ExportFormat, ExportQuery
from db.database import close_db, init_db
from db.models import Message
from services.export import export_messages
from tests.unit.export_fixtures import BASE, read_back
from tests.unit.services.export.test_columns import FWD_DATE, _seed


async def test_export_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    await init_db(postgres_url)
    try:
        news, _ = await _seed()
        # An album whose caption alone holds the word.
        for msg_id, text in ((20, ""), (21, "Москва вечером"), (22, "")):
            when = BASE + dt.timedelta(hours=1)
            await Message.create(
                channel=news, msg_id=msg_id, date=when, text=text, grouped_id=9, media_kind="photo"
            )

        async def rows(fmt: ExportFormat, query: ExportQuery) -> list[dict[str, object]]:
            out = tmp_path / f"{fmt.suffix}-{id(query)}"
            result = await export_messages(query, fmt, out, "x", 2**25)
            return [r for p in result.files for r in read_back(p)]

        got = await rows(ExportFormat.JSONL, ExportQuery(channel_id=news.id, comments=True))
        by = {(r["channel"], r["msg_id"]): r for r in got}
        assert len(got) == 12
        assert by[("news", 1)]["date"] == "2026-03-01T12:01:00+00:00"
        assert by[("news", 1)]["entities"][0]["text"] == "#tag"  # type: ignore[index]
        fwd = by[("news", 2)]
        assert (fwd["fwd_from_title"], fwd["fwd_from_date"]) == ("Source", FWD_DATE)
        assert by[("news", 6)]["action"] == {"type": "pin_message", "message_id": 1}
        assert by[("News chat", 10)]["link"] == "https://t.me/news/1?comment=10"
        assert by[("news", 5)]["media_width"] == 1280

        moscow = ExportQuery(keyword="москвы", channel_id=news.id)
        assert [r["msg_id"] for r in await rows(ExportFormat.JSONL, moscow)] == [20, 21, 22]
        xlsx = await rows(ExportFormat.XLSX, ExportQuery(channel_id=news.id))
        assert xlsx[0]["date"] == dt.datetime(2026, 3, 1, 12, 1)
    finally:
        await close_db()
