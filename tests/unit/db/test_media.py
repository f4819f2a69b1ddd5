"""db/media.py through store_batch: the download queue rows written with the messages
(dedup by Telegram media id, the cap, re-reads, edited media). The same cases run on
PostgreSQL in tests/integration/test_media_postgres.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from telethon.tl import custom, types

from core.media import MediaMode, MediaPolicy, MediaRef
from db.media import MediaBatch
from db.messages import MessageRepository
from db.models import Channel, MediaDownload, MediaFile
from parser.history import message_row
from parser.media import media_ref
from tests.unit.message_fixtures import NOW, tl_message

CAP = MediaPolicy(MediaMode.ALL, None, 1_000_000)


def photo_post(
    msg_id: int, media_id: int, size: int = 50_000, ref: bytes = b"r1"
) -> custom.Message:
    photo = types.Photo(
        id=media_id, access_hash=media_id * 3, file_reference=ref, date=NOW, dc_id=2,
        sizes=[types.PhotoSize("x", 800, 600, size)],
    )  # fmt: skip
    return tl_message(msg_id, "", media=types.MessageMediaPhoto(photo=photo))


def video_post(msg_id: int, media_id: int, size: int) -> custom.Message:
    doc = types.Document(
        id=media_id, access_hash=-5, file_reference=b"v", date=NOW, mime_type="video/mp4",
        size=size, dc_id=4, attributes=[types.DocumentAttributeVideo(3.0, 64, 64)],
    )  # fmt: skip
    return tl_message(msg_id, "", media=types.MessageMediaDocument(document=doc))


async def channel(tg_id: int) -> int:
    return int((await Channel.create(tg_id=tg_id, title=str(tg_id))).id)


async def store(
    repo: MessageRepository,
    channel_id: int,
    posts: list[custom.Message],
    policy: MediaPolicy = CAP,
    *,
    new: bool = True,
    discussion: bool = False,
) -> None:
    """Store `posts` (new above the cursor, or re-reads) with their files queued."""
    rows = [message_row(channel_id, m, NOW) for m in posts]
    refs: list[tuple[int, MediaRef]] = []
    for m in posts:
        ref = media_ref(m.media)
        if ref is not None:
            refs.append((m.id, ref))
    cursor = max(m.id for m in posts)
    media = MediaBatch(refs, policy, discussion)
    await repo.store_batch(channel_id, rows, cursor, len(rows) if new else 0, media)


async def queue(channel_id: int) -> dict[int, dict[str, Any]]:
    rows = await MediaDownload.filter(channel_id=channel_id).values()
    return {int(r["msg_id"]): r for r in rows}


async def finish(channel_id: int, msg_id: int, sha: str = "a" * 64) -> int:
    """Mark a row done as the downloader would: a stored file, linked."""
    row = await MediaDownload.get(channel_id=channel_id, msg_id=msg_id)
    f = await MediaFile.create(
        sha256=sha, size=row.size or 0, mime_type=row.mime_type, tg_media_id=row.tg_media_id,
        key=f"{sha[:2]}/{sha[2:4]}/{sha}.jpg",
    )  # fmt: skip
    await MediaDownload.filter(id=row.id).update(status="done", file_id=f.id, bytes_done=row.size)
    return int(f.id)


async def test_new_files_are_queued_skipped_over_the_cap_or_linked_at_once(
    repo: MessageRepository,
) -> None:
    a, b, c = await channel(1), await channel(2), await channel(3)
    posts = [tl_message(1, "text"), photo_post(2, 500), video_post(3, 600, 5_000_000)]
    await store(repo, a, posts)
    rows = await queue(a)
    assert set(rows) == {2, 3}  # the text has no file
    p, v = rows[2], rows[3]
    assert (p["status"], p["kind"], p["tg_media_id"], p["access_hash"], p["dc_id"]) == (
        "queued", "photo", 500, 1500, 2
    )
    assert (p["file_reference"], p["thumb"], p["size"], p["mime_type"]) == (
        b"r1".hex(), "x", 50_000, "image/jpeg"
    )
    assert not p["from_discussion"] and p["file_id"] is None and p["bytes_done"] == 0
    assert (v["status"], v["reason"], v["size"], v["kind"]) == (
        "skipped", "too_big", 5_000_000, "video"
    )
    assert (await Channel.get(id=a)).messages_count == 3  # the messages are stored too

    # The same picture re-posted: once one is done, the others link to its file at once.
    await store(repo, b, [photo_post(10, 500, ref=b"other")])
    assert (await queue(b))[10]["status"] == "queued"  # none done yet: queued
    file_id = await finish(a, 2)
    await store(repo, c, [photo_post(7, 500), photo_post(8, 501)], discussion=True)
    rows = await queue(c)
    assert (rows[7]["status"], rows[7]["file_id"], rows[7]["reason"]) == ("done", file_id, None)
    assert rows[7]["from_discussion"] and rows[8]["status"] == "queued"
    # Over the cap but already stored: linked, nothing to fetch.
    await store(repo, c, [photo_post(9, 500, size=9_000_000)])
    assert (await queue(c))[9]["status"] == "done"
    # Names and types longer than their columns are cut, not refused (PostgreSQL).
    long_doc = types.Document(
        id=602, access_hash=1, file_reference=b"d", date=NOW, mime_type="x/" + "y" * 200,
        size=10, dc_id=1, attributes=[types.DocumentAttributeFilename("я" * 300 + ".pdf")],
    )  # fmt: skip
    doc_post = tl_message(12, "", media=types.MessageMediaDocument(document=long_doc))
    await store(repo, c, [doc_post])
    row = (await queue(c))[12]
    assert (row["file_name"], len(row["mime_type"])) == ("я" * 255, 128)
    # No cap: never too big.
    await store(repo, c, [video_post(11, 601, 10**11)], MediaPolicy(MediaMode.ALL, None, 0))
    assert (await queue(c))[11]["status"] == "queued"


async def test_a_re_read_refreshes_the_location_and_edited_media_is_queued_again(
    repo: MessageRepository,
) -> None:
    a = await channel(1)
    await store(repo, a, [photo_post(1, 500), photo_post(2, 501), photo_post(3, 502),
                          video_post(4, 600, 5_000_000), photo_post(5, 503)])  # fmt: skip
    file_id = await finish(a, 2)
    await MediaDownload.filter(channel_id=a, msg_id=3).update(
        status="failed", reason="FILE_REFERENCE_EXPIRED", attempts=3
    )
    await MediaDownload.filter(channel_id=a, msg_id=5).update(status="downloading", bytes_done=10)
    await MediaDownload.filter(channel_id=a, msg_id=1).update(next_try_at=NOW, reason="FLOOD_WAIT")
    before = await queue(a)

    # The refresh window reads them again with fresh file references; the cap grew.
    again = [photo_post(1, 500, ref=b"new"), photo_post(2, 501, ref=b"new"),
             photo_post(3, 502, ref=b"new"), video_post(4, 600, 5_000_000),
             photo_post(5, 503, ref=b"new")]  # fmt: skip
    await store(repo, a, again, MediaPolicy(MediaMode.ALL, None, 0), new=False)
    rows = await queue(a)
    assert (rows[1]["status"], rows[1]["file_reference"]) == ("queued", b"new".hex())
    assert (rows[1]["next_try_at"], rows[1]["reason"]) == (NOW, "FLOOD_WAIT")  # still waits
    assert rows[2] == before[2]  # done: untouched
    # Failed for a stale reference: a fresh one queues it again (once per re-read).
    assert (rows[3]["status"], rows[3]["reason"], rows[3]["attempts"]) == ("queued", None, 3)
    assert rows[3]["file_reference"] == b"new".hex()
    await MediaDownload.filter(channel_id=a, msg_id=3).update(
        status="failed", reason="FILE_REFERENCE_EXPIRED"
    )
    await store(repo, a, [photo_post(3, 502, ref=b"new")], new=False)  # the same one
    assert (await queue(a))[3]["status"] == "failed"
    await MediaDownload.filter(channel_id=a, msg_id=3).update(reason="FILE_ID_INVALID")
    await store(repo, a, [photo_post(3, 502, ref=b"new2")], new=False)  # would not help
    assert ((await queue(a))[3]["status"], (await queue(a))[3]["reason"]) == (
        "failed", "FILE_ID_INVALID"
    )
    assert (rows[4]["status"], rows[4]["reason"]) == ("queued", None)  # no cap now
    assert (rows[5]["status"], rows[5]["bytes_done"]) == ("downloading", 10)
    assert rows[5]["file_reference"] == b"new".hex()

    # A failed one whose picture another message got meanwhile: linked.
    twin = await channel(2)
    await store(repo, twin, [photo_post(1, 502)])
    twin_file = await finish(twin, 1, "b" * 64)
    await store(repo, a, [photo_post(3, 502, ref=b"newer")], new=False)
    assert ((await queue(a))[3]["status"], (await queue(a))[3]["file_id"]) == ("done", twin_file)

    # Edited media (another id): queued again from scratch; a row being downloaded
    # keeps its status (the downloader re-queues it when it sees the new media id).
    edited = [photo_post(2, 777, ref=b"e"), photo_post(5, 778, ref=b"e")]
    await store(repo, a, edited, new=False)
    rows = await queue(a)
    for msg_id, media_id, status in ((2, 777, "queued"), (5, 778, "downloading")):
        row = rows[msg_id]
        assert (row["status"], row["tg_media_id"], row["file_id"], row["bytes_done"]) == (
            status, media_id, None, 0
        )
        assert (row["attempts"], row["reason"], row["file_reference"]) == (0, None, b"e".hex())
    assert await MediaFile.filter(id=file_id).exists()  # the old file stays stored
    # Edited into a picture the archive has: done at once.
    await store(repo, a, [photo_post(1, 501, ref=b"x")], new=False)
    assert ((await queue(a))[1]["status"], (await queue(a))[1]["file_id"]) == ("done", file_id)


async def test_no_refs_no_rows(db: Path, repo: MessageRepository) -> None:
    a = await channel(1)
    await store(repo, a, [tl_message(1, "a"), tl_message(2, "b")])
    rows = [message_row(a, photo_post(3, 5), NOW)]
    await repo.store_batch(a, rows, 3, 1)  # no media batch: nothing queued
    assert await MediaDownload.filter(channel_id=a).count() == 0


async def test_a_new_policy_applies_to_the_files_not_fetched_yet(
    repo: MessageRepository,
) -> None:
    from db.channels import ChannelRepository
    from services.channels import ChannelService
    from tests.unit.services.test_channels import NoSession

    group = await Channel.create(tg_id=900, title="chat", status="linked", kind="megagroup")
    old = await Channel.create(tg_id=-901, title="old", status="linked", kind="chat")
    a = int((await Channel.create(
        tg_id=1, title="a", linked_chat_id=900, migrated_from_chat_id=901,
    )).id)  # fmt: skip
    await store(repo, a, [photo_post(1, 500), video_post(2, 600, 5_000), video_post(3, 601, 10**7),
                          photo_post(4, 502)])  # fmt: skip
    await finish(a, 4)
    await store(repo, group.id, [video_post(7, 700, 5_000)], discussion=True)
    await store(repo, group.id, [video_post(8, 701, 5_000)])  # the group's own post
    await store(repo, old.id, [video_post(5, 800, 5_000)])
    svc = ChannelService(NoSession(), ChannelRepository(), None, media_max_mb=50)

    def state(rows: dict[int, dict[str, Any]]) -> dict[int, tuple[str, str | None]]:
        return {m: (r["status"], r["reason"]) for m, r in rows.items()}

    await svc.set_media_policy(a, "photos")  # videos set aside, never deleted
    aside = ("skipped", "not_kept")
    assert state(await queue(a)) == {
        1: ("queued", None), 2: aside, 3: aside, 4: ("done", None)
    }
    assert state(await queue(group.id)) == {7: aside, 8: ("queued", None)}  # comments only
    assert state(await queue(old.id)) == {5: aside}
    await svc.set_media_policy(a, "all")  # back as they were (the cap: 50 MB)
    assert state(await queue(a)) == {
        1: ("queued", None), 2: ("queued", None), 3: ("queued", None), 4: ("done", None)
    }
    assert state(await queue(group.id)) == {7: ("queued", None), 8: ("queued", None)}
    assert state(await queue(old.id)) == {5: ("queued", None)}
    await svc.set_media_policy(a, "all", ["photo"])  # unticked: set aside again
    assert state(await queue(a))[2] == aside
    await store(repo, a, [video_post(2, 600, 5_000), video_post(3, 601, 10**7)], CAP, new=False)
    assert {m: r["status"] for m, r in (await queue(a)).items()} == {
        1: "queued", 2: "queued", 3: "skipped", 4: "done"
    }
    await svc.set_media_policy(a, "all", None, 0)  # no cap: the big one is queued again
    assert (await queue(a))[3]["status"] == "queued"
    await svc.set_media_policy(a, "all", None, 1)  # 1 MB
    assert ((await queue(a))[3]["status"], (await queue(a))[3]["reason"]) == ("skipped", "too_big")
    await svc.set_media_policy(a, "off")
    assert state(await queue(a)) == {1: aside, 2: aside, 3: aside, 4: ("done", None)}
    await svc.set_media_policy(a, "all", None, 1)  # back: the big one over the cap
    assert state(await queue(a)) == {
        1: ("queued", None), 2: ("queued", None), 3: ("skipped", "too_big"), 4: ("done", None)
    }


async def test_files_the_database_refuses_never_cost_the_messages(
    repo: MessageRepository, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import db.media

    a = await channel(1)
    broken = (  # a NOT NULL column left NULL: sqlite3.IntegrityError
        "INSERT INTO media_download (channel_id, msg_id) SELECT ?1, NULL"
        " WHERE ?2 IS NOT NULL AND ?3 IS NOT NULL AND ?4 IS NOT NULL"
    )
    monkeypatch.setattr(db.media, "ENQUEUE_SQLITE", broken)
    await store(repo, a, [tl_message(1, "text"), photo_post(2, 500)])
    assert await queue(a) == {}
    assert (await Channel.get(id=a)).messages_count == 2 and (await Channel.get(id=a)).cursor == 2
    assert "the files of 1 messages of channel row" in caplog.text
    monkeypatch.undo()
    await store(repo, a, [photo_post(3, 501)])  # the connection is fine afterwards
    assert list(await queue(a)) == [3]


async def test_apply_policy_updates_use_the_channel_index_in_one_transaction(
    db: Path,
) -> None:
    """#16 review16b C: every UPDATE of a policy change filters by channel row through
    the (channel_id, msg_id) index, not an OR that SQLite plans over the status index
    (a scan of every queued row of every channel); all of them in one transaction."""
    from tortoise import Tortoise

    from db.media import apply_policy

    ch = await Channel.create(tg_id=1, access_hash=1, title="c", username="c")
    await MediaDownload.create(
        channel=ch, msg_id=1, kind="video", tg_media_id=1, access_hash=1, file_reference="",
        dc_id=2, size=10,
    )
    conn = Tortoise.get_connection("default")._connection  # the aiosqlite connection
    seen: list[str] = []
    await conn.set_trace_callback(seen.append)
    try:
        await apply_policy([ch.id], [], MediaPolicy(MediaMode.OFF, None, 5))
        await apply_policy([ch.id], [ch.id], MediaPolicy(MediaMode.ALL, None, 0))
    finally:
        await conn.set_trace_callback(None)
    updates = [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    assert updates
    for sql in updates:
        plan = " | ".join(str(r[-1]) for r in await conn.execute_fetchall(
            "EXPLAIN QUERY PLAN " + sql))
        assert "channel_id" in plan and "status" not in plan.split("INDEX")[-1], (sql, plan)
    # One transaction per call: BEGIN before the first UPDATE, COMMIT after the last.
    begins = [i for i, s in enumerate(seen) if s.strip().upper().startswith("BEGIN")]
    assert begins and begins[0] < seen.index(updates[0])
