"""The read side of the media archive (db/media_files.py) over a migrated SQLite file,
and the keyword alert's 📎 buttons it feeds (services/watches.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tortoise import connections

from core.alerts import AlertBody, AlertLines
from core.media import StoredMedia
from db import media_files
from db.models import Channel, MediaDownload, MediaFile, Message
from services.events import RunCompleted
from services.watches import WatchesService, WatchNotifier
from tests.unit.export_fixtures import make_channel, upsert


async def _media(ch: Channel, msg_id: int, kind: str, status: str, **fields: object) -> None:
    await MediaDownload.create(
        channel=ch, msg_id=msg_id, kind=kind, status=status, tg_media_id=msg_id * 10,
        access_hash=1, dc_id=2, **fields,
    )


async def _seed() -> tuple[Channel, Channel]:
    a = await make_channel(1, "a", "A")
    group = await make_channel(2, None, "Группа")
    await upsert(a, [(1, "photo post"), (2, "video"), (3, "text only"), (4, "doc")])
    await upsert(group, [(1, "a comment with a voice")])
    conn = connections.get("default")
    await conn.execute_query(
        "UPDATE message SET media = ? WHERE channel_id = ? AND msg_id = 1",
        [json.dumps({"width": 1280, "height": 720, "size": 5}), a.id],
    )
    f = await MediaFile.create(sha256="ab" * 32, size=5, mime_type="image/jpeg", key="ab/ab/x.jpg")
    await _media(a, 1, "photo", "done", file=f, size=7)
    await _media(a, 2, "video", "skipped", size=10**9, reason="too_big")
    await _media(a, 4, "document", "failed", reason="FILE_ID_INVALID", file_name="r.pdf")
    await _media(group, 1, "voice", "queued", size=3)
    return a, group


async def test_a_posts_media_and_its_file(db: Path) -> None:
    a, group = await _seed()
    photo = await media_files.post_media(a.id, 1)
    assert photo == StoredMedia(
        a.id, 1, "photo", "done", size=5, mime_type="image/jpeg", key="ab/ab/x.jpg",
        width=1280, height=720,
    )
    skipped = await media_files.post_media(a.id, 2)
    assert skipped is not None and (skipped.size, skipped.reason, skipped.key) == (
        10**9, "too_big", None,
    )
    assert await media_files.post_media(a.id, 3) is None
    voice = await media_files.post_media(group.id, 1)
    assert voice is not None and voice.status == "queued"
    ids = {m.msg_id: m.id for m in await Message.filter(channel_id=a.id)}
    found = await media_files.media_by_message([ids[1], ids[3], ids[4]])
    assert {k: v.kind for k, v in found.items()} == {ids[1]: "photo", ids[4]: "document"}
    posts = await media_files.media_of_posts([(a.id, 4), (group.id, 1), (a.id, 3), (a.id, 1)])
    assert [(m.channel_id, m.msg_id) for m in posts] == [(a.id, 4), (group.id, 1), (a.id, 1)]
    many = await media_files.media_of_posts([(a.id, n) for n in range(1, 1500)])
    assert [m.msg_id for m in many] == [1, 2, 4]


async def test_a_keyword_alert_carries_the_posts_with_media(db: Path) -> None:
    a, _ = await _seed()
    await WatchesService().add_watch("post", None, 1)
    sent: list[AlertBody] = []

    async def notify(body: AlertBody) -> None:
        sent.append(body)

    await WatchNotifier(notify).on_run_completed(
        RunCompleted(channel_id=a.id, first_id=1, last_id=4, count=4)
    )
    (body,) = sent
    assert isinstance(body, AlertLines)
    assert body.posts == ((1, a.id, 1),)
    assert [line.key for line in body.lines] == ["watch_alert_title", "watch_alert_line_media"]
