"""Every kind of post end to end: posted in the MTProto double, parsed by the app as a
process, stored with its content, found by /search where it has words, and present in
every export format (one stack for the module).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telethon.tl import types

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, channel_row, db, parse, seed, wait_until
from tests.unit.export_fixtures import read_back

# One stack for the module: its fixture and tests share one event loop.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

T0 = datetime.now(UTC) - timedelta(hours=2)
GEO = types.GeoPoint(long=37.6173, lat=55.7558, access_hash=0)


def _twe(text: str) -> types.TextWithEntities:
    return types.TextWithEntities(text=text, entities=[])


@dataclass
class Posted:
    """What the test posted: msg id by name, and the world's channels."""

    world: World
    kinds: Channel
    group: Channel
    source: Channel
    ids: dict[str, int]
    comments: list[int]


def post_every_kind() -> Posted:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    source = world.add_channel(username="sourcechan", title="Источник")
    dora = world.add_user("Dora", username="dora_d")
    kinds = world.add_channel(username="kinds", title="Kinds")
    group = world.add_channel(title="Kinds chat", megagroup=True)
    world.link_discussion(kinds, group)
    ids: dict[str, int] = {}
    minute = iter(range(1000))

    def at() -> datetime:
        return T0 + timedelta(minutes=next(minute))

    def post(name: str, text: str = "", **kw: Any) -> None:
        ids[name] = kinds.add_message(text, date=at(), **kw).id

    def event(name: str, action: str, **kw: Any) -> None:
        ids[name] = kinds.add_service(action, date=at(), **kw).id

    event("created", "channel_create", title="Kinds")
    poll = types.MessageMediaPoll(
        poll=types.Poll(
            id=5, question=_twe("Куда поедем летом?"), hash=0, quiz=True,
            answers=[types.PollAnswer(_twe("На Байкал"), b"0"),
                     types.PollAnswer(_twe("В Карелию"), b"1")],
        ),
        results=types.PollResults(
            results=[types.PollAnswerVoters(b"0", voters=3, correct=True, recent_voters=[]),
                     types.PollAnswerVoters(b"1", voters=5, recent_voters=[])],
            total_voters=8,
        ),
    )
    post("poll", media=poll)
    post("geo", media=types.MessageMediaGeo(geo=GEO))
    post("geo_live", media=types.MessageMediaGeoLive(geo=GEO, period=900, heading=45))
    post("venue", media=types.MessageMediaVenue(
        geo=GEO, title="Большой театр", address="Театральная площадь, 1",
        provider="foursquare", venue_id="4b", venue_type="arts",
    ))
    post("contact", media=types.MessageMediaContact(
        phone_number="+79001234567", first_name="Иннокентий", last_name="Смоктуновский",
        vcard="", user_id=0,
    ))
    post("dice", media=types.MessageMediaDice(value=6, emoticon="🎲"))
    post("game", media=types.MessageMediaGame(game=types.Game(
        id=4, access_hash=1, short_name="tetris", title="Тетрис",
        description="Падающие блоки", photo=types.PhotoEmpty(id=0),
    )))
    post("invoice", media=types.MessageMediaInvoice(
        title="Подписка", description="Месяц доступа к архиву", currency="RUB",
        total_amount=29900, start_param="sub",
    ))
    post("webpage", "Смотрите ссылку", media={
        "type": "webpage", "url": "https://example.org/elections", "site_name": "Example",
        "title": "Выборы в городе", "description": "Итоги голосования",
    })
    post("story", media=types.MessageMediaStory(peer=types.PeerChannel(source.id), id=17))
    post("paid", media=types.MessageMediaPaidMedia(stars_amount=50, extended_media=[
        types.MessageExtendedMediaPreview(w=640, h=480, video_duration=9),
    ]))
    post("giveaway", media=types.MessageMediaGiveaway(
        channels=[kinds.id], quantity=3, until_date=T0 + timedelta(days=7),
        prize_description="Три книги о Сибири",
    ))
    post("unsupported", media=types.MessageMediaUnsupported())
    post("album1", "Набережная вечером", grouped_id=9001,
         media={"type": "photo", "width": 1280, "height": 960, "progressive": True})
    post("album2", grouped_id=9001, media="photo")
    post("album3", grouped_id=9001, media="photo")
    post("video", "Репортаж", media={"type": "video", "duration": 7.5, "width": 640,
                                    "height": 360, "file_name": "report.mp4"})
    post("document", media={"type": "document", "file_name": "отчёт.pdf"})
    event("pin", "pin_message", reply_to=ids["poll"])
    event("title", "chat_edit_title", title="Kinds renamed")
    post("fwd_channel", "Перепост из источника",
         fwd_from={"from": source, "channel_post": 42, "post_author": "Эд"})
    post("fwd_user", "Переслано от Доры", fwd_from=dora)
    post("fwd_hidden", "Переслано тайно", fwd_from="Тайный автор")
    post("reply", "Ответ на опрос", reply_to=ids["poll"])
    post("commented", "Пост для обсуждения")
    comments = [
        group.add_comment(ids["commented"], "Отличный комментарий", date=at()).id,
        group.add_comment(ids["commented"], "Второй комментарий", date=at()).id,
        group.add_comment(
            ids["commented"], "Комментарий-репост", date=at(),
            fwd_from={"from": source, "channel_post": 7},
        ).id,
    ]
    return Posted(world, kinds, group, source, ids, comments)


@dataclass
class Parsed:
    stack: Stack
    posted: Posted
    row_id: int


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def parsed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Parsed]:
    posted = post_every_kind()
    tmp = tmp_path_factory.mktemp("kinds")
    async with running_stack(tmp, posted.world, start=False) as stack:
        ids = await seed(stack, [posted.kinds], comments=("kinds",))
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        row_id = ids["kinds"]
        await wait_until(lambda: caught_up(stack, row_id, posted.kinds), "the parse", stack)
        await wait_until(lambda: len(comment_rows(stack)) == 3, "the comments", stack)
        yield Parsed(stack, posted, row_id)
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


def stored_rows(stack: Stack, channel_row: int) -> dict[int, dict[str, Any]]:
    with db(stack) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM message WHERE channel_id = ? ORDER BY msg_id", (channel_row,)
        ).fetchall()
    out = {}
    for r in rows:
        d = dict(r)
        for col in ("media", "action", "fwd_from"):
            d[col] = json.loads(d[col]) if d[col] else None
        out[d["msg_id"]] = d
    return out


def comment_rows(stack: Stack) -> list[dict[str, Any]]:
    with db(stack) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT * FROM message WHERE comment_of IS NOT NULL ORDER BY msg_id"
        ).fetchall()]


# -- stored with its content -----------------------------------------------------------


async def test_every_kind_is_stored_with_its_content(parsed: Parsed) -> None:
    rows = stored_rows(parsed.stack, parsed.row_id)
    ids = parsed.posted.ids
    assert sorted(rows) == parsed.posted.kinds.ids  # nothing dropped, events included

    def row(name: str) -> dict[str, Any]:
        return rows[ids[name]]

    assert row("created")["action"] == {"type": "channel_create", "title": "Kinds"}
    assert row("pin")["action"] == {"type": "pin_message", "message_id": ids["poll"]}
    assert row("title")["action"] == {"type": "chat_edit_title", "title": "Kinds renamed"}
    assert row("title")["content_text"] == "Kinds renamed" and row("title")["text"] == ""

    poll = row("poll")
    assert poll["media_kind"] == "poll" and poll["media"]["quiz"] is True
    assert poll["media"]["options"] == [
        {"text": "На Байкал", "voters": 3, "correct": True}, {"text": "В Карелию", "voters": 5}
    ]
    assert poll["content_text"] == "Куда поедем летом?\nНа Байкал\nВ Карелию"
    assert row("geo")["media"] == {"lat": 55.7558, "long": 37.6173, "accuracy_radius": None}
    live = row("geo_live")
    assert live["media_kind"] == "geo_live" and live["media"]["period"] == 900
    assert row("venue")["content_text"] == (
        "Большой театр\nТеатральная площадь, 1\nfoursquare\narts"
    )
    assert row("contact")["media"]["first_name"] == "Иннокентий"
    assert row("dice")["media"] == {"emoticon": "🎲", "value": 6}
    assert row("game")["content_text"] == "Тетрис\ntetris\nПадающие блоки"
    assert row("invoice")["media"]["total_amount"] == 29900
    web = row("webpage")
    assert web["media"]["url"] == "https://example.org/elections"
    assert web["content_text"] == "Example\nВыборы в городе\nИтоги голосования"
    story = row("story")["media"]
    assert (story["story_id"], story["peer_id"], story["title"], story["username"]) == (
        17, parsed.posted.source.id, "Источник", "sourcechan"
    )
    assert row("paid")["media"] == {"stars": 50, "items": [
        {"kind": "preview", "id": None, "file_name": None, "mime_type": None,
         "size": None, "duration": 9, "width": 640, "height": 480}
    ]}
    assert row("giveaway")["content_text"] == "Три книги о Сибири"
    assert row("unsupported")["media_kind"] == "unsupported"
    photo = row("album1")["media"]
    assert (photo["width"], photo["height"], photo["size"], photo["mime_type"]) == (
        1280, 960, 54321, "image/jpeg"
    )
    assert {rows[ids[n]]["grouped_id"] for n in ("album1", "album2", "album3")} == {9001}
    video = row("video")["media"]
    assert (video["duration"], video["width"], video["height"], video["file_name"]) == (
        7.5, 640, 360, "report.mp4"
    )
    assert row("document")["content_text"] == "отчёт.pdf"
    assert row("fwd_channel")["fwd_from"] == {
        "from_type": "channel", "from_id": parsed.posted.source.id, "title": "Источник",
        "username": "sourcechan", "from_name": None,
        "date": row("fwd_channel")["fwd_from"]["date"], "channel_post": 42, "post_author": "Эд",
    }
    user_fwd = row("fwd_user")["fwd_from"]
    assert (user_fwd["from_type"], user_fwd["title"], user_fwd["username"]) == (
        "user", "Dora", "dora_d"
    )
    assert row("fwd_hidden")["fwd_from"]["from_name"] == "Тайный автор"
    assert row("reply")["reply_to_id"] == ids["poll"]
    # None blank: every row has text, words, media or an event.
    for msg_id, r in rows.items():
        assert r["text"] or r["content_text"] or r["media_kind"] or r["action"], msg_id
    comments = comment_rows(parsed.stack)
    assert [c["text"] for c in comments] == [
        "Отличный комментарий", "Второй комментарий", "Комментарий-репост"
    ]
    assert {c["comment_of"] for c in comments} == {ids["commented"]}
    # Comments come through Telethon's iter_messages: its resolved source names them.
    fwd = json.loads(comments[2]["fwd_from"])
    assert (fwd["from_type"], fwd["title"], fwd["channel_post"]) == ("channel", "Источник", 7)


# -- every export format ---------------------------------------------------------------


def _json_cell(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


def _s(value: Any) -> str:
    """A cell as the CSV has it (numbers in XLSX/JSONL, text in CSV)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.mark.parametrize("fmt", ["csv", "csv;", "jsonl", "xlsx"])
async def test_every_kind_in_every_export_format(
    parsed: Parsed, fmt: str, tmp_path: Path
) -> None:
    api = parsed.stack.botapi
    admin = api.users[ADMIN2_ID]
    before = len(api.uploads)
    await api.send_text(admin, f"/export @kinds {fmt} comments")
    await api.wait_for_message(ADMIN2_ID, r"Done: \d+ messages", timeout=60)
    (upload,) = api.uploads[before:]
    assert upload.filename is not None
    path = tmp_path / upload.filename
    path.write_bytes(upload.data)
    exported = read_back(path)
    ids = parsed.posted.ids
    posts = {int(_s(r["msg_id"])): r for r in exported if not _s(r["comment_of"])}
    assert sorted(posts) == parsed.posted.kinds.ids  # every kind and every event

    def cell(name: str, column: str) -> str:
        return _s(posts[ids[name]][column])

    assert cell("poll", "media_kind") == "poll"
    assert "Куда поедем летом?" in cell("poll", "content_text")
    assert _json_cell(posts[ids["poll"]]["media"])["options"][1]["voters"] == 5
    assert _json_cell(posts[ids["pin"]]["action"]) == {
        "type": "pin_message", "message_id": ids["poll"]
    }
    assert cell("venue", "content_text").startswith("Большой театр")
    assert cell("album1", "media_width") == "1280" and cell("album1", "media_size") == "54321"
    assert {cell(n, "grouped_id") for n in ("album1", "album2", "album3")} == {"9001"}
    assert (cell("video", "media_duration"), cell("video", "media_file_name")) == (
        "7.5", "report.mp4"
    )
    assert (cell("fwd_channel", "fwd_from_type"), cell("fwd_channel", "fwd_from_title")) == (
        "channel", "Источник"
    )
    assert cell("fwd_channel", "fwd_from_username") == "sourcechan"
    assert cell("fwd_channel", "fwd_from_msg_id") == "42"
    assert cell("fwd_hidden", "fwd_from_name") == "Тайный автор"
    assert cell("reply", "reply_to_id") == str(ids["poll"])
    assert cell("reply", "reply_to_link") == f"https://t.me/kinds/{ids['poll']}"
    assert cell("webpage", "media_kind") == "webpage"
    assert "Выборы в городе" in cell("webpage", "content_text")
    comments = [r for r in exported if _s(r["comment_of"])]
    assert [_s(c["text"]) for c in comments] == [
        "Отличный комментарий", "Второй комментарий", "Комментарий-репост"
    ]
    assert _s(comments[2]["fwd_from_title"]) == "Источник"
    for c in comments:
        assert _s(c["comment_of_link"]) == f"https://t.me/kinds/{ids['commented']}"
        assert re.fullmatch(
            rf"https://t\.me/kinds/{ids['commented']}\?comment=\d+", _s(c["link"])
        ), c["link"]


# -- found by /search where it has words -----------------------------------------------

# A query (another word form than the post's, ё for е, ...) -> the posts it must find.
SEARCHES = {
    "Карелии": ["poll"],  # a poll option ("В Карелию")
    "театры": ["venue"],
    "Смоктуновского": ["contact"],
    "тетриса": ["game"],
    "подписки": ["invoice"],
    "выбор": ["webpage"],  # the link preview's title "Выборы в городе"
    "Сибирь": ["giveaway"],
    "репортажи": ["video"],
    "отчет": ["document"],  # the file name "отчёт.pdf"
    "renamed": ["title"],  # a service event's new title
    "набережной": ["album1"],
    "перепосты": ["fwd_channel"],
}


@pytest.mark.parametrize("query", list(SEARCHES), ids=[v[0] for v in SEARCHES.values()])
async def test_every_kind_with_words_is_found_by_search(parsed: Parsed, query: str) -> None:
    api = parsed.stack.botapi
    await api.send_text(api.users[ADMIN2_ID], f"/search {query}")
    found = await api.wait_for_message(ADMIN2_ID, r"Found|Nothing found", timeout=30)
    links = set(re.findall(r"https://t\.me/kinds/(\d+)\b(?!\?)", found.text))
    want = {str(parsed.posted.ids[name]) for name in SEARCHES[query]}
    assert want <= links, (query, found.text)


# -- events and the cursor (last: it adds to the channel) ------------------------------


async def test_a_newest_service_event_moves_the_cursor(parsed: Parsed) -> None:
    """A channel whose newest message is an event is caught up once it is stored: the
    cursor is the event's id (a skipped event left it below the channel's newest id, so
    every run read from there again), and the next run finds nothing new."""
    stack, kinds = parsed.stack, parsed.posted.kinds
    pin = kinds.add_service("pin_message", reply_to=parsed.posted.ids["video"])
    text = await parse(stack, "@kinds")
    assert "@kinds: 1 new message" in text, text
    assert channel_row(stack, parsed.row_id)["cursor"] == pin.id
    assert stored_rows(stack, parsed.row_id)[pin.id]["action"] == {
        "type": "pin_message", "message_id": parsed.posted.ids["video"]
    }
    assert caught_up(stack, parsed.row_id, kinds)
    text = await parse(stack, "@kinds")
    assert "@kinds: 0 new messages" in text, text
    assert channel_row(stack, parsed.row_id)["cursor"] == pin.id
