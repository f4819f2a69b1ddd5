"""The app as a process: posts parsed from the MTProto double (forwarded, replied, an
album, a document, commented) exported through the Bot API double in every format.

Proves: provenance columns (forwarded-from with the source's title and username, a
hidden user's name, reply links, comments named by their channel with ?comment= links)
in CSV, `csv;` (read back with the csv module's `;` dialect), JSONL and XLSX (read back
with openpyxl: frozen header, autofilter, hyperlinks, date cells); a channel's export
with and without its comments; times in UTC and in `tz:`; a keyword export that takes a
whole album.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from services.export.rows import COLUMNS
from tests.doubles.mtproto.world import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, seed, wait_until

BASE = dt.datetime(2026, 9, 1, 11, 52, 5, tzinfo=dt.UTC)
FWD_DATE = dt.datetime(2026, 8, 30, 8, 0, tzinfo=dt.UTC)


def _world() -> tuple[World, Any, Any]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    source = world.add_channel(username="source", title="Источник")
    source.add_message("оригинал")
    news = world.add_channel(username="news", title="Новости")
    chat = world.add_channel(title="News chat", megagroup=True)
    world.link_discussion(news, chat)

    def at(i: int) -> dt.datetime:
        return BASE + dt.timedelta(minutes=i)

    news.add_message("Выборы в Москве", date=at(0), views=5)  # 1
    fwd = {"from": source, "channel_post": 42, "date": FWD_DATE}
    news.add_message("Репост", date=at(1), fwd_from=fwd)  # 2
    news.add_message("Цитата", date=at(2), fwd_from="Иван Петров")  # 3
    news.add_message("Ответ про выборы", date=at(3), reply_to=1)  # 4
    photo = {"type": "photo", "width": 1280, "height": 960}
    news.add_message("", date=at(4), media=photo, grouped_id=555)  # 5
    news.add_message("Фото ёлки", date=at(4), media=photo, grouped_id=555)  # 6
    news.add_message("", date=at(4), media=photo, grouped_id=555)  # 7
    doc = {"type": "document", "file_name": "report.pdf", "mime_type": "application/pdf",
           "size": 2048}  # fmt: skip
    news.add_message("Отчёт", date=at(5), media=doc)  # 8
    first = chat.add_comment(1, "Первый комментарий")
    chat.add_comment(1, "Ответ на комментарий", reply_to=first.id)
    return world, news, chat


def _csv(data: bytes, delimiter: str) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, *rows = list(reader)
    assert header == list(COLUMNS)
    return [dict(zip(header, r, strict=True)) for r in rows]


async def _export(stack: Any, who: int, command: str) -> tuple[str, bytes]:
    api = stack.botapi
    before = len(api.uploads)
    await api.send_text(api.users[who], command)
    await api.wait_for_message(who, r"Готово|Done", timeout=60)
    (doc,) = api.uploads[before:]
    assert doc.filename is not None
    return doc.filename, doc.data


async def test_provenance_in_every_format(tmp_path: Path) -> None:
    world, news, chat = _world()
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [news], comments=("news",))
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, ids["news"], news), "news", stack)

        def comments() -> int:
            with db(stack) as conn:
                (n,) = conn.execute(
                    "SELECT count(*) FROM message WHERE comment_of IS NOT NULL"
                ).fetchone()
            return int(n)

        await wait_until(lambda: comments() == 2, "comments", stack, 60)
        first_comment, second_comment = chat.comments(1)

        # csv; (semicolon) with the comments, read back with the csv module's ';' dialect.
        name, data = await _export(stack, ADMIN_ID, "/export @news csv; комментарии")
        assert name.endswith(".csv") and data.startswith(b"\xef\xbb\xbf")
        rows = _csv(data, ";")
        by = {(r["channel"], int(r["msg_id"])): r for r in rows}
        assert len(rows) == 10
        post = by[("news", 1)]
        assert post["date"] == "2026-09-01T11:52:05+00:00"
        assert post["link"] == "https://t.me/news/1" and post["text"] == "Выборы в Москве"
        fwd = by[("news", 2)]
        assert fwd["fwd_from_type"] == "channel" and fwd["fwd_from_id"] == str(world_id(world))
        assert (fwd["fwd_from_title"], fwd["fwd_from_username"]) == ("Источник", "source")
        assert fwd["fwd_from_msg_id"] == "42"
        assert fwd["fwd_from_date"] == "2026-08-30T08:00:00+00:00"
        assert fwd["fwd_from_link"] == "https://t.me/source/42"
        hidden = by[("news", 3)]
        assert hidden["fwd_from_name"] == "Иван Петров" and hidden["fwd_from_id"] == ""
        reply = by[("news", 4)]
        assert (reply["reply_to_id"], reply["reply_to_link"]) == ("1", "https://t.me/news/1")
        album = [by[("news", i)] for i in (5, 6, 7)]
        assert {r["grouped_id"] for r in album} == {"555"}
        assert {(r["media_kind"], r["media_width"], r["media_height"]) for r in album} == {
            ("photo", "1280", "960")
        }
        pdf = by[("news", 8)]
        assert (pdf["media_kind"], pdf["media_file_name"]) == ("document", "report.pdf")
        assert (pdf["media_mime_type"], pdf["media_size"]) == ("application/pdf", "2048")
        comment = by[("News chat", first_comment)]
        assert comment["comment_of"] == "1" and comment["comment_of_channel"] == "news"
        assert comment["comment_of_link"] == "https://t.me/news/1"
        assert comment["link"] == f"https://t.me/news/1?comment={first_comment}"
        answer = by[("News chat", second_comment)]
        assert answer["reply_to_id"] == str(first_comment)
        assert answer["reply_to_link"] == f"https://t.me/c/{chat.id}/{first_comment}"

        # Plain csv without the option: the channel's own posts only, comma-separated.
        _, data = await _export(stack, ADMIN2_ID, "/export @news csv")
        assert [int(r["msg_id"]) for r in _csv(data, ",")] == list(range(1, 9))

        # JSONL in another zone: nested objects, the offset in every time.
        _, data = await _export(stack, ADMIN2_ID, "/export @news jsonl comments tz:Europe/Moscow")
        lines = [json.loads(line) for line in data.decode().splitlines()]
        assert all(list(r) == list(COLUMNS) for r in lines)
        jfwd = next(r for r in lines if r["msg_id"] == 2 and r["channel"] == "news")
        assert jfwd["date"] == "2026-09-01T14:53:05+03:00"
        assert jfwd["fwd_from_date"] == "2026-08-30T11:00:00+03:00"
        assert jfwd["fwd_from_title"] == "Источник"
        # No reactions stored: null (absent), not a count of 0.
        assert jfwd["reactions"] is None and jfwd["reactions_total"] is None
        jpdf = next(r for r in lines if r["msg_id"] == 8)
        assert jpdf["media"]["file_name"] == "report.pdf"
        assert sum(1 for r in lines if r["comment_of"] == 1) == 2

        # XLSX: frozen header, autofilter over every row, links as hyperlinks, dates.
        name, data = await _export(stack, ADMIN2_ID, "/export @news xlsx comments")
        from openpyxl import load_workbook

        ws = load_workbook(io.BytesIO(data))["messages"]
        assert ws.freeze_panes == "A2"
        last = ws.cell(1, len(COLUMNS)).column_letter
        assert ws.auto_filter.ref == f"A1:{last}11"
        header = [c.value for c in ws[1]]
        assert header[COLUMNS.index("date")] == "date (UTC)"
        assert [h.split(" (")[0] for h in header] == list(COLUMNS)
        link_col = COLUMNS.index("link") + 1
        targets = [ws.cell(r, link_col).hyperlink for r in range(2, 12)]
        assert all(h is not None for h in targets)
        assert {h.target for h in targets if h is not None} >= {
            "https://t.me/news/1",
            f"https://t.me/news/1?comment={first_comment}",
        }
        date_cell = ws.cell(2, COLUMNS.index("date") + 1)
        assert date_cell.is_date and date_cell.value == dt.datetime(2026, 9, 1, 11, 52, 5)

        # A keyword on one caption of an album selects the whole album (ё = е, stems).
        _, data = await _export(stack, ADMIN2_ID, "/export all csv елка")
        assert [int(r["msg_id"]) for r in _csv(data, ",")] == [5, 6, 7]

        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


def world_id(world: World) -> int:
    """The double's id of the source channel (the forward's from_id)."""
    found = world.find_username("source")
    assert found is not None
    return int(found.id)
