"""The app as a process: /export, /search, /stats, /watch against the Bot API double.

The app's SQLite database is seeded directly before the app starts (the ingestion
path is another feature); the files the bot uploads are parsed back and compared with
what was seeded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from db.database import close_db, init_db
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, running_stack
from tests.unit.export_fixtures import make_channel, read_back, upsert

N = 4000
LIMIT_MB = 1


def _text(i: int) -> str:
    # The hex makes the file hard to compress: parts are cut by their zipped size.
    noise = "".join(hashlib.sha256(f"{i}.{k}".encode()).hexdigest() for k in range(8))
    return f"Пост {i}: «новости» дня, строка\nвторая строка " + "слово " * 40 + noise


async def _seed(db_path: Path) -> None:
    await init_db(f"sqlite://{db_path}")
    try:
        news = await make_channel(-1001000000001, "news", "Новости")
        for start in range(1, N + 1, 1000):
            await upsert(news, [(i, _text(i)) for i in range(start, start + 1000)], views=7)
        other = await make_channel(-1001000000002, "other", "Other")
        await upsert(other, [(1, "Единственный пост про бюджет")], reactions={"👍": 4})
    finally:
        await close_db()


def _save(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


async def test_export_search_stats_watch_end_to_end(tmp_path: Path) -> None:
    async with running_stack(tmp_path, start=False, UPLOAD_LIMIT_MB=str(LIMIT_MB)) as stack:
        await _seed(stack.app.db_path)
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        admin = api.users[ADMIN_ID]

        # A big export: above the (lowered) upload limit it comes as numbered zip parts.
        await api.send_text(admin, "/export @news csv")
        await api.wait_for_message(ADMIN_ID, r"Выгружаю", timeout=15)
        done = await api.wait_for_message(ADMIN_ID, r"Готово", timeout=60)
        assert "zip" in done.text, done.text
        parts = [u for u in api.uploads if u.kind == "document"]
        assert len(parts) >= 2
        rows = []
        for i, part in enumerate(parts, 1):
            assert part.filename is not None and part.filename.endswith(f".part{i:03d}.zip")
            assert len(part.data) <= LIMIT_MB * 2**20
            rows += read_back(_save(tmp_path, part.filename, part.data))
        assert [int(r["msg_id"]) for r in rows] == list(range(1, N + 1))
        assert rows[41]["text"] == _text(42)  # Russian text and the newline survive
        assert {r["channel"] for r in rows} == {"news"}

        # A small filtered export in XLSX: one document, round-trips.
        before = len(api.uploads)
        await api.send_text(admin, "/export all xlsx бюджет")
        await api.wait_for_message(ADMIN_ID, r"Готово: 1 сообщение\.", timeout=30)
        (xlsx,) = api.uploads[before:]
        assert xlsx.filename is not None and xlsx.filename.endswith(".xlsx")
        (row,) = read_back(_save(tmp_path, xlsx.filename, xlsx.data))
        assert row["text"] == "Единственный пост про бюджет"
        assert row["reactions_total"] == 4 and row["link"] == "https://t.me/other/1"

        # Nothing matches: said so, no empty file.
        before = len(api.uploads)
        await api.send_text(admin, "/export all jsonl несуществующееслово")
        await api.wait_for_message(ADMIN_ID, r"Выгружать нечего", timeout=30)
        assert len(api.uploads) == before

        # Buttons: /export alone offers channels, then formats.
        await api.send_text(admin, "/export")
        menu = await api.wait_for_message(ADMIN_ID, r"Выгрузка", timeout=15)
        assert "Все каналы" in menu.button_texts
        await api.press_button(admin, menu, text="Other · @other")
        formats = await api.wait_for_message(ADMIN_ID, r"выберите формат", timeout=15)
        before = len(api.uploads)
        await api.press_button(admin, formats, text="JSONL · всё время")
        await api.wait_for_message(ADMIN_ID, r"Готово: 1 сообщение\.", timeout=30)
        (jsonl,) = api.uploads[before:]
        assert jsonl.filename is not None and jsonl.filename.endswith(".jsonl")
        (row,) = read_back(_save(tmp_path, jsonl.filename, jsonl.data))
        assert row["reactions"] == {"👍": 4} and row["channel"] == "other"

        # Search with paging (English operator).
        en = api.users[ADMIN2_ID]
        await api.send_text(en, "/search НОВОСТИ")
        page1 = await api.wait_for_message(ADMIN2_ID, r"Found 4,000", timeout=15)
        assert "page 1 of 800" in page1.text and "https://t.me/news/" in page1.text
        await api.press_button(en, page1, text="Next »")
        page2 = await api.wait_for_message(ADMIN2_ID, r"page 2 of 800", timeout=15)
        assert page2.kind == "edited"

        # Stats: a PNG photo and the top posts.
        await api.send_text(en, "/stats @other 3650")
        await api.wait_for_message(ADMIN2_ID, r"Top by views", timeout=30)
        photos = [u for u in api.uploads if u.kind == "photo"]
        assert photos and photos[-1].data.startswith(b"\x89PNG")

        # Watches: a bad regex is explained, a good one is listed.
        await api.send_text(en, "/watch /(oops/")
        await api.wait_for_message(ADMIN2_ID, r"Bad pattern", timeout=15)
        await api.send_text(en, "/watch бюджет @other")
        await api.wait_for_message(ADMIN2_ID, r"Alert #1 added", timeout=15)
        await api.send_text(en, "/watches")
        listed = await api.wait_for_message(ADMIN2_ID, r"Keyword alerts", timeout=15)
        assert "бюджет" in listed.text and "@other" in listed.text

        assert await stack.app.terminate() == 0, stack.app.log()
