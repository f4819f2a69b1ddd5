"""db/media_queue.py: claiming, finishing, deferring download rows; the /status counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.media import MediaRef
from db.media_queue import MediaQueue
from db.models import Channel, MediaDownload


async def _channel(tg_id: int = 100) -> Channel:
    return await Channel.create(tg_id=tg_id, access_hash=5, title="c", username=f"c{tg_id}")


async def _row(ch: Channel, msg_id: int, media_id: int, **kw: object) -> MediaDownload:
    values: dict[str, object] = {
        "kind": "photo", "tg_media_id": media_id, "access_hash": 9,
        "file_reference": b"\x01\x02".hex(), "dc_id": 2, "thumb": "y", "size": 1000,
        "mime_type": "image/jpeg",
    }
    values.update(kw)
    return await MediaDownload.create(channel=ch, msg_id=msg_id, **values)


async def test_claim_order_due_and_one_per_media_id(db: Path) -> None:
    q = MediaQueue()
    ch = await _channel()
    a = await _row(ch, 1, 11)
    b = await _row(ch, 2, 11)  # same media as a: waits for a
    c = await _row(ch, 3, 12, next_try_at=datetime.now(UTC) + timedelta(hours=1))
    d = await _row(ch, 4, 13, next_try_at=datetime.now(UTC) - timedelta(seconds=1))
    e = await _row(ch, 5, 14)
    got = await q.claim(10, busy={14})
    assert [r.id for r in got] == [a.id, d.id]
    first = got[0]
    assert first.ref == MediaRef("photo", 11, 9, b"\x01\x02", 2, 1000, "y", "image/jpeg")
    assert first.peer.tg_id == 100 and first.peer.access_hash == 5 and first.attempts == 1
    assert first.partial_key == f"partial/{a.id}-11"
    counts = await q.counts()
    assert (counts.queued, counts.downloading) == (3, 2)
    # Done: the queued row with the same media id is done with it.
    f = await q.add_file(sha256="f" * 64, size=1000, mime_type="image/jpeg",
                         tg_media_id=11, key="ff/ff/x.jpg")
    assert await q.done(a.id, 11, f.id, 1000)
    assert (await MediaDownload.get(id=b.id)).status == "done"
    assert (await q.stored(11)) == f
    assert await q.claim(10, busy={14}) == []
    del c, e


async def test_defer_fail_skip_release_requeue_counts(db: Path) -> None:
    q = MediaQueue()
    ch = await _channel()
    rows = [await _row(ch, i, 20 + i) for i in range(1, 6)]
    got = await q.claim(5)
    assert len(got) == 5
    await q.defer(rows[0].id, datetime.now(UTC) + timedelta(seconds=30), "FLOOD_WAIT")
    await q.failed(rows[1].id, "FILE_ID_INVALID")
    await q.skipped(rows[2].id, "too_big", 10**9)
    await q.release([rows[3].id])
    await q.progress(rows[4].id, 4096)
    assert await q.requeue_interrupted() == 1  # rows[4] was left downloading
    r = {x.id: x for x in await MediaDownload.all()}
    assert r[rows[0].id].status == "queued" and r[rows[0].id].reason == "FLOOD_WAIT"
    assert (r[rows[1].id].status, r[rows[1].id].reason) == ("failed", "FILE_ID_INVALID")
    assert (r[rows[2].id].status, r[rows[2].id].size) == ("skipped", 10**9)
    assert r[rows[4].id].bytes_done == 4096
    # Only the due rows come again (rows[0] waits 30 s).
    assert sorted(c.id for c in await q.claim(5)) == [rows[3].id, rows[4].id]
    # The same content under another media id is stored once.
    f1 = await q.add_file(sha256="a" * 64, size=5, mime_type=None, tg_media_id=24, key="k1")
    f2 = await q.add_file(sha256="a" * 64, size=5, mime_type=None, tg_media_id=25, key="k2")
    assert f1 == f2 and f2.key == "k1"
    assert await q.done(rows[3].id, 24, f1.id, 5)
    assert await q.done(rows[4].id, 25, f1.id, 5)
    # A row whose media changed meanwhile is not marked done.
    assert not await q.done(rows[3].id, 99, f1.id, 5)
    counts = await q.counts()
    assert (counts.queued, counts.downloading, counts.done, counts.skipped, counts.failed) == (
        1, 0, 2, 1, 1
    )
    assert (counts.files, counts.bytes_on_disk) == (1, 5)


async def test_update_ref_and_an_edited_media(db: Path) -> None:
    q = MediaQueue()
    ch = await _channel()
    row = await _row(ch, 1, 30, bytes_done=500)
    await q.update_ref(row.id, MediaRef("photo", 30, 9, b"\xff", 4, 1000, "y"))
    fresh = await MediaDownload.get(id=row.id)
    assert (fresh.file_reference, fresh.dc_id, fresh.bytes_done) == ("ff", 4, 500)
    await q.update_ref(row.id, MediaRef("video", 31, 8, b"\xee", 2, 5000, None, "video/mp4"))
    fresh = await MediaDownload.get(id=row.id)
    assert (fresh.tg_media_id, fresh.kind, fresh.size, fresh.bytes_done) == (31, "video", 5000, 0)
    assert (await q.counts()).files == 0


async def test_a_row_edited_while_downloading_becomes_what_the_enqueue_decided(
    db: Path,
) -> None:
    q = MediaQueue()
    ch = await _channel()
    rows = [await _row(ch, i, 40 + i) for i in range(1, 7)]
    assert len(await q.claim(6)) == 6
    f = await q.add_file(sha256="e" * 64, size=1000, mime_type="image/jpeg",
                         tg_media_id=99, key="ee/ee/x.jpg")
    # The enqueue recorded edited media on rows being downloaded (status kept):
    await MediaDownload.filter(id=rows[0].id).update(tg_media_id=90)  # plain
    await MediaDownload.filter(id=rows[1].id).update(tg_media_id=99, file_id=f.id)  # stored
    await MediaDownload.filter(id=rows[2].id).update(tg_media_id=91, reason="too_big")
    await MediaDownload.filter(id=rows[3].id).update(tg_media_id=92)
    await MediaDownload.filter(id=rows[4].id).update(tg_media_id=93)
    # The old downloads' ends apply to nothing of the new media's row.
    assert not await q.done(rows[0].id, 41, f.id, 1000)
    assert not await q.failed(rows[1].id, "FILE_ID_INVALID", 42)
    assert not await q.defer(rows[2].id, None, "FLOOD_WAIT", 43)
    await q.progress(rows[3].id, 4096, 44)
    assert not await q.current(rows[3].id, 44) and await q.current(rows[5].id, 46)
    assert await q.changed(rows[3].id, 44)
    got = {r.id: r for r in await MediaDownload.all()}
    assert (got[rows[0].id].status, got[rows[0].id].tg_media_id) == ("queued", 90)
    assert (got[rows[1].id].status, got[rows[1].id].file_id) == ("done", f.id)
    assert (got[rows[2].id].status, got[rows[2].id].reason) == ("skipped", "too_big")
    assert (got[rows[3].id].status, got[rows[3].id].bytes_done) == ("queued", 0)
    # A crash while rows[4] (edited) and rows[5] were downloading: both queued again.
    assert await q.requeue_interrupted() == 2
    assert {r.status for r in await MediaDownload.filter(id__in=[rows[4].id, rows[5].id])} == {
        "queued"
    }


async def test_a_file_stored_before_a_crash_marked_its_row_done_is_found(db: Path) -> None:
    q = MediaQueue()
    ch = await _channel()
    await _row(ch, 1, 77)
    assert await q.stored(77) is None
    f = await q.add_file(sha256="7" * 64, size=1000, mime_type="image/jpeg",
                         tg_media_id=77, key="77/77/x.jpg")
    assert await q.stored(77) == f  # no row done with it yet: not fetched again


async def test_due_retries_are_claimed_by_age_behind_a_backlog_and_lose_their_reason(
    db: Path,
) -> None:
    """A retry whose wait is over is claimed before newer never-tried rows, however many
    of those are queued (#16 review16b E); claiming clears the last try's reason (G2)."""
    q = MediaQueue()
    ch = await _channel()
    retry = await _row(ch, 1, 1, next_try_at=datetime.now(UTC) - timedelta(seconds=1),
                       reason="FLOOD_WAIT", attempts=1)
    for i in range(2, 260):  # more than the claim window of fresh rows, all newer
        await _row(ch, i, i)
    got = await q.claim(1)
    assert [r.id for r in got] == [retry.id]
    row = await MediaDownload.get(id=retry.id)
    assert (row.status, row.reason, row.attempts) == ("downloading", None, 2)
    # Rows of a media id in flight do not fill the window: the next one is claimed.
    for i in range(300, 500):
        await _row(ch, i, 7)
    await MediaDownload.filter(msg_id__gte=2, msg_id__lt=260).delete()
    assert [r.msg_id for r in await q.claim(1, busy={7})] == []
    await _row(ch, 600, 8)
    assert [r.msg_id for r in await q.claim(1, busy={7})] == [600]


async def test_partials_kept_only_for_curable_recent_failures(db: Path) -> None:
    """#16 review16b A: a failed row's partial is in use only when a re-read may cure it
    (a stale reference, not a deleted post) and only within the refresh window; a row
    set aside (skipped not_kept) keeps none (kept again, it starts over)."""
    q = MediaQueue()
    ch = await _channel()
    old = datetime.now(UTC) - timedelta(hours=30)
    rows = {
        "queued": await _row(ch, 1, 1),
        "stale": await _row(ch, 2, 2, status="failed", reason="FILE_REFERENCE_EXPIRED"),
        "deleted": await _row(ch, 3, 3, status="failed", reason="MESSAGE_DELETED"),
        "gone": await _row(ch, 4, 4, status="failed", reason="MEDIA_GONE"),
        "old": await _row(ch, 5, 5, status="failed", reason="CHANNEL_PRIVATE"),
        "aside": await _row(ch, 6, 6, status="skipped", reason="not_kept"),
    }
    await MediaDownload.filter(id=rows["old"].id).update(updated_at=old)
    keys = await q.partial_keys_in_use(timedelta(hours=24))
    assert keys == {f"partial/{rows[n].id}-{rows[n].tg_media_id}" for n in ("queued", "stale")}
