"""services/media MediaService with the real Telethon against the MTProto double, a
migrated SQLite archive and LocalMediaStore: kinds, dedup, resume after an
interrupted run, a stale file reference refreshed, refusals recorded, a flood wait
deferring one file only, the disk guard, /status figures against the disk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient
from telethon.crypto import rsa

from core.media import MediaCounts, MediaMode, MediaPolicy, MediaRef
from db.database import close_db, init_db
from db.media_queue import MediaQueue
from db.media_store import LocalMediaStore
from db.models import Channel, MediaDownload, MediaFile
from parser.media import CHUNK, media_ref
from services.media import MediaService
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World, signed_in_client
from tests.doubles.sessions import FakeSession as Session

pytestmark = pytest.mark.timeout(60)

PHONE, CODE = "+15550000001", "12345"
rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)



@dataclass
class Alerts:
    sent: list[tuple[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def alert(self, key: str, text: Any, *, force: bool = False) -> bool:
        if key in self.keys and not force:
            return False
        self.keys.add(key)
        self.sent.append((key, text))
        return True

    def notify(self, body: Any) -> None:
        self.sent.append(("", body))

    def fold(self, kind: str, item: str, body_of: Callable[..., Any], *,
             key: str | None = None) -> bool:
        return True

    def forget(self, key: str) -> None:
        self.keys.discard(key)


@dataclass
class Stack:
    world: World
    server: MTProtoServer
    client: TelegramClient
    root: Path
    alerts: Alerts = field(default_factory=Alerts)
    free: int = 10**12

    def service(self, **kw: Any) -> MediaService:
        kw.setdefault("concurrency", 3)
        kw.setdefault("parts", 4)
        kw.setdefault("min_free_bytes", 100 * 2**20)
        return MediaService(
            MediaQueue(), LocalMediaStore(self.root), Session(self.client), self.alerts,
            root=self.root, poll_seconds=0.1, free=lambda _p: self.free, **kw,
        )


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann", username="ann_test")
    await init_db(f"sqlite://{tmp_path / 'db.sqlite3'}")
    try:
        async with MTProtoServer(world, host="127.0.0.1", port=0) as server, signed_in_client(
            server.port, PHONE, CODE, dc_id=server.dc_id, flood_sleep_threshold=0,
            retry_delay=0.1,
        ) as (c, _):
            yield Stack(world, server, c, tmp_path / "media")
    finally:
        await close_db()


def reread(stack: Stack, channel_id: int, msg_id: int, fresh: MediaRef) -> None:
    """What a refresh-window re-read of post `msg_id` writes, through the enqueue's own
    SQL: its media's location as just read (`fresh`), every kind kept, no cap."""
    import sqlite3

    from db.media import MediaBatch, enqueue_sqlite

    raw = sqlite3.connect(stack.root.parent / "db.sqlite3")
    try:
        enqueue_sqlite(
            raw, channel_id, MediaBatch([(msg_id, fresh)], MediaPolicy(MediaMode.ALL, None, 0)),
            "2026-12-01 00:00:00+00:00",
        )
        raw.commit()
    finally:
        raw.close()


async def enqueue(stack: Stack, username: str) -> list[MediaDownload]:
    """Queue the media posts of channel `username` not queued yet (as db/media.py does)."""
    entity = await stack.client.get_entity(username)
    row, _ = await Channel.get_or_create(
        tg_id=entity.id, defaults={"access_hash": entity.access_hash, "title": username,
                                   "username": username},
    )
    out = []
    async for msg in stack.client.iter_messages(username):
        ref = media_ref(msg)
        if ref is None or await MediaDownload.exists(channel=row, msg_id=msg.id):
            continue
        out.append(await MediaDownload.create(
            channel=row, msg_id=msg.id, kind=ref.kind, tg_media_id=ref.tg_id,
            access_hash=ref.access_hash, file_reference=ref.file_reference.hex(),
            dc_id=ref.dc_id, thumb=ref.thumb, size=ref.size, mime_type=ref.mime_type,
            file_name=ref.file_name,
        ))
    return out


@contextlib.asynccontextmanager
async def running(svc: MediaService) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(svc.run())
    try:
        yield task
    finally:
        await svc.stop()
        await asyncio.wait_for(task, 10)


async def settled(svc: MediaService, done: int) -> MediaCounts:
    """The counts once `done` rows are finished (done/skipped/failed) and none runs."""
    for _ in range(600):
        c = await svc.counts()
        if c.done + c.skipped + c.failed >= done and c.downloading == 0:
            return c
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {await svc.counts()}")


def on_disk(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*") if p.is_file() and "partial" not in p.parts
    }


async def test_kinds_reposts_twins_and_status(stack: Stack) -> None:
    w = stack.world
    a = w.add_channel(username="chana", title="A")
    b = w.add_channel(username="chanb", title="B")
    c = w.add_channel(username="chanc", title="C")
    pic = a.add_media_post("photo")
    kinds = {k: a.add_media_post(k) for k in ("video", "round", "voice", "audio",
                                             "document", "animation", "sticker")}
    big = a.add_media_post("document", size=6 * CHUNK + 100, file_name="Отчёт.pdf")
    b.add_media_post("photo", media_id=pic)
    c.add_media_post("photo", media_id=pic)
    twin = c.add_media_post("document", same_content_as=big)
    rows = [*await enqueue(stack, "chana"), *await enqueue(stack, "chanb"),
            *await enqueue(stack, "chanc")]
    assert len(rows) == 12
    svc = stack.service()
    async with running(svc):
        counts = await settled(svc, 12)
    assert (counts.done, counts.failed, counts.queued) == (12, 0, 0)
    # The picture in three channels came once; the twin's bytes are stored once.
    assert w.bytes_served[pic] == w.files[pic].size
    assert w.bytes_served[big] == w.files[big].size
    files = on_disk(stack.root)
    assert counts.files == len(files) == 9 == await MediaFile.all().count()
    assert counts.bytes_on_disk == sum(files.values())
    for fid in (pic, big, *kinds.values()):
        f = await MediaFile.get(sha256=w.file_sha256(fid))
        assert files[f.key] == w.files[fid].size
    twin_row = await MediaDownload.get(tg_media_id=twin).prefetch_related("file")
    assert twin_row.file is not None and twin_row.file.tg_media_id == big
    assert not list((stack.root / "partial").glob("*"))
    assert counts.paused is None and counts.free_bytes == stack.free


async def test_resume_after_an_interrupted_run(stack: Stack) -> None:
    ch = stack.world.add_channel(username="big", title="Big")
    size = 40 * CHUNK + 777
    fid = ch.add_media_post("video", size=size)
    (row,) = await enqueue(stack, "big")
    stack.server.file_delay = 0.02
    svc = stack.service(parts=2)
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    task = asyncio.create_task(svc.run())
    for _ in range(1000):
        if partial.exists() and partial.stat().st_size >= 8 * CHUNK:
            break
        await asyncio.sleep(0.01)
    task.cancel()  # as a crash would: no stop(), the row may stay 'downloading'
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await MediaDownload.filter(id=row.id).update(status="downloading")
    kept = partial.stat().st_size
    assert 0 < kept < size
    stack.server.file_delay = 0
    svc = stack.service(parts=2)
    async with running(svc):
        counts = await settled(svc, 1)
    assert counts.done == 1
    done = await MediaDownload.get(id=row.id).prefetch_related("file")
    assert done.file is not None and done.file.sha256 == stack.world.file_sha256(fid)
    # About one file, not two: what the first run had in flight and the chunk holding
    # the resume point came twice, nothing else.
    assert stack.world.bytes_served[fid] <= size + 4 * CHUNK


async def test_expired_refused_deleted_and_flood(stack: Stack) -> None:
    w = stack.world
    ch = w.add_channel(username="errs", title="Errs")
    stale = ch.add_media_post("photo")
    refused = ch.add_media_post("document")
    deleted = ch.add_media_post("photo")
    deleted_msg = ch.last_id
    flooded = ch.add_media_post("document")
    fine = ch.add_media_post("voice")
    await enqueue(stack, "errs")
    w.expire_file_reference(stale)
    w.refuse_file(refused, "FILE_ID_INVALID")
    w.expire_file_reference(deleted)
    ch.delete_message(deleted_msg)
    stack.server.faults.add(
        "upload.getFile", "FLOOD_WAIT_120", when=lambda req: req.location.id == flooded
    )
    svc = stack.service()
    async with running(svc):
        counts = await settled(svc, 4)
    rows = {r.tg_media_id: r for r in await MediaDownload.all()}
    assert rows[stale].status == "done" and rows[fine].status == "done"
    assert (rows[refused].status, rows[refused].reason) == ("failed", "FILE_ID_INVALID")
    assert (rows[deleted].status, rows[deleted].reason) == ("failed", "MESSAGE_DELETED")
    flood = rows[flooded]
    assert (flood.status, flood.reason) == ("queued", "FLOOD_WAIT")
    assert flood.next_try_at is not None
    wait = (flood.next_try_at - datetime.now(UTC)).total_seconds()
    assert 60 < wait <= 120
    assert (counts.done, counts.failed, counts.queued) == (2, 2, 1)


async def test_disk_guard_pauses_once_and_resumes(stack: Stack) -> None:
    ch = stack.world.add_channel(username="disk", title="Disk")
    fids = [ch.add_media_post("photo") for _ in range(3)]
    await enqueue(stack, "disk")
    stack.free = 10 * 2**20  # under the 100 MB floor
    svc = stack.service()
    async with running(svc):
        for _ in range(200):
            if (await svc.counts()).paused == "disk_full":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # several polls while paused
        counts = await svc.counts()
        assert counts.paused == "disk_full" and counts.queued == 3 and counts.done == 0
        assert [k for k, _ in stack.alerts.sent] == ["media-disk"]
        stack.free = 10**12
        counts = await settled(svc, 3)
    assert counts.done == 3 and counts.paused is None
    assert [k for k, _ in stack.alerts.sent] == ["media-disk", "media-disk-ok"]
    assert sum(stack.world.bytes_served[f] for f in fids) == sum(
        stack.world.files[f].size for f in fids
    )


async def test_waits_for_a_session_and_wakes_on_a_run(stack: Stack) -> None:
    ch = stack.world.add_channel(username="late", title="Late")
    fid = ch.add_media_post("photo")
    await enqueue(stack, "late")
    session = Session(None, "no_session")
    svc = MediaService(
        MediaQueue(), LocalMediaStore(stack.root), session, stack.alerts, root=stack.root,
        poll_seconds=3600, free=lambda _p: stack.free,
    )
    async with running(svc):
        for _ in range(100):
            if (await svc.counts()).paused == "no_session":
                break
            await asyncio.sleep(0.02)
        assert (await svc.counts()).queued == 1
        session.client, session.state = stack.client, "ready"
        from services.events import RunCompleted

        await svc.on_run_completed(RunCompleted(1, 1, 1, 1))  # no 1-hour poll wait
        counts = await settled(svc, 1)
    assert counts.done == 1 and counts.paused is None
    assert stack.world.bytes_served[fid] == stack.world.files[fid].size
    assert not stack.alerts.sent


async def test_a_stored_file_lost_from_the_folder_comes_back(stack: Stack) -> None:
    ch = stack.world.add_channel(username="lost", title="Lost")
    fid = ch.add_media_post("document", file_name="a.pdf", mime_type="application/pdf")
    await enqueue(stack, "lost")
    svc = stack.service()
    async with running(svc):
        await settled(svc, 1)
        stored = await MediaFile.get(sha256=stack.world.file_sha256(fid))
        (stack.root / stored.key).unlink()  # someone cleaned the folder by hand
        twin = ch.add_media_post("document", same_content_as=fid, file_name="b.bin")
        row = (await enqueue(stack, "lost"))[0]
        assert row.tg_media_id == twin
        svc.wake()
        counts = await settled(svc, 2)
    assert counts.done == 2 and counts.files == 1
    assert on_disk(stack.root) == {stored.key: stored.size}


async def test_a_dead_session_stops_downloads_and_is_reported(stack: Stack) -> None:
    ch = stack.world.add_channel(username="dead", title="Dead")
    ch.add_media_post("photo")
    await enqueue(stack, "dead")
    stack.server.faults.add("upload.getFile", "AUTH_KEY_UNREGISTERED", code=401)
    session = Session(stack.client)
    svc = MediaService(
        MediaQueue(), LocalMediaStore(stack.root), session, stack.alerts, root=stack.root,
        poll_seconds=0.05, free=lambda _p: stack.free,
    )
    async with running(svc):
        for _ in range(500):
            counts = await svc.counts()
            if session.dead and counts.paused == "no_session" and not counts.downloading:
                break
            await asyncio.sleep(0.02)
    assert session.dead == ["AuthKeyUnregistered"]
    assert (counts.queued, counts.failed, counts.paused) == (1, 0, "no_session")


async def test_a_stale_channel_hash_on_refresh_is_retried_not_failed(stack: Stack) -> None:
    ch = stack.world.add_channel(username="stale", title="Stale")
    fid = ch.add_media_post("photo")
    await enqueue(stack, "stale")
    stack.world.expire_file_reference(fid)
    stack.server.faults.add("channels.getMessages", "CHANNEL_INVALID")
    svc = stack.service()
    async with running(svc):
        for _ in range(500):
            row = await MediaDownload.get(tg_media_id=fid)
            if row.reason == "CHANNEL_INVALID":
                break
            await asyncio.sleep(0.02)
    assert (row.status, row.reason) == ("queued", "CHANNEL_INVALID")
    assert row.next_try_at is not None and row.next_try_at > datetime.now(UTC)


async def test_partial_files_nobody_resumes_are_dropped_at_start(stack: Stack) -> None:
    ch = stack.world.add_channel(username="orph", title="Orphans")
    fid = ch.add_media_post("photo")
    (row,) = await enqueue(stack, "orph")
    store = LocalMediaStore(stack.root)
    (stack.root / "partial").mkdir(parents=True)
    keep = stack.root / "partial" / f"{row.id}-{fid}"
    keep.write_bytes(b"")  # resumed (empty)
    gone = [stack.root / "partial" / "999-5", stack.root / "partial" / f"{row.id}-1"]
    for p in gone:
        p.write_bytes(b"x" * 10)
    assert await store.partial_keys() == sorted(f"partial/{p.name}" for p in [keep, *gone])
    svc = MediaService(
        MediaQueue(), store, Session(None, "no_session"), stack.alerts, root=stack.root,
        poll_seconds=0.05, free=lambda _p: stack.free, partials=store.partial_keys,
    )
    async with running(svc):
        for _ in range(500):
            if not any(p.exists() for p in gone):
                break
            await asyncio.sleep(0.02)
    assert keep.exists() and not any(p.exists() for p in gone)


class FullDisk(LocalMediaStore):
    """Writes to partial files fail with ENOSPC after `room` bytes, while `full`."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room, self.full = room, True

    async def open_append(self, key: str) -> Any:
        fh = await super().open_append(key)
        store, write = self, fh.write

        def limited(data: bytes) -> int:
            import errno

            if store.full and fh.tell() + len(data) > store.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            return write(data)

        fh.write = limited
        return fh


async def test_enospc_while_writing_pauses_once_and_resumes(stack: Stack) -> None:
    ch = stack.world.add_channel(username="enospc", title="Full")
    fid = ch.add_media_post("document", size=8 * CHUNK)
    await enqueue(stack, "enospc")
    store = FullDisk(stack.root, room=3 * CHUNK)
    svc = MediaService(
        MediaQueue(), store, Session(stack.client), stack.alerts, root=stack.root,
        poll_seconds=0.05, free=lambda _p: stack.free, parts=1, disk_retry_seconds=0.2,
    )
    async with running(svc):
        for _ in range(500):
            row = await MediaDownload.get(tg_media_id=fid)
            if row.reason == "DISK_FULL":
                break
            await asyncio.sleep(0.02)
        assert row.status == "queued"
        assert await store.size(f"partial/{row.id}-{fid}") == 3 * CHUNK
        store.full = False
        counts = await settled(svc, 1)
    assert counts.done == 1
    assert [k for k, _ in stack.alerts.sent] == ["media-disk", "media-disk-ok"]
    f = await MediaFile.get(sha256=stack.world.file_sha256(fid))
    assert (stack.root / f.key).stat().st_size == 8 * CHUNK


async def test_a_partial_file_longer_than_the_file_is_fetched_again(stack: Stack) -> None:
    ch = stack.world.add_channel(username="longer", title="Longer")
    fid = ch.add_media_post("voice")
    (row,) = await enqueue(stack, "longer")
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * (stack.world.files[fid].size + 1))
    svc = stack.service()
    async with running(svc):
        await settled(svc, 1)
    f = await MediaFile.get(sha256=stack.world.file_sha256(fid))
    assert (stack.root / f.key).stat().st_size == stack.world.files[fid].size


class CountingFullDisk(FullDisk):
    """FullDisk that counts the downloads started (each opens its partial file)."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root, room)
        self.opens = 0

    async def open_append(self, key: str) -> Any:
        self.opens += 1
        return await super().open_append(key)


@pytest.mark.parametrize("floor_mb", [100, 0])
async def test_enospc_with_room_shown_waits_a_growing_while_and_says_why(
    stack: Stack, floor_mb: int
) -> None:
    # A quota (EDQUOT), no inodes, or MIN_FREE_DISK_MB=0 on a full disk: the write
    # fails though the free space looks fine. One alert naming the folder, the error
    # and the real free space; tries spaced by a wait that doubles, never a loop.
    ch = stack.world.add_channel(username="quota", title="Quota")
    fids = [ch.add_media_post("document", size=3 * CHUNK) for _ in range(3)]
    await enqueue(stack, "quota")
    stack.free = 0 if floor_mb == 0 else 10**12
    store = CountingFullDisk(stack.root, room=1000)
    svc = MediaService(
        MediaQueue(), store, Session(stack.client), stack.alerts, root=stack.root,
        poll_seconds=0.01, free=lambda _p: stack.free, parts=1,
        min_free_bytes=floor_mb * 2**20, disk_retry_seconds=0.3,
    )
    async with running(svc):
        for _ in range(500):
            if store.opens >= 3 * 3:  # three tries of the three files at most
                break
            await asyncio.sleep(0.02)
        for _ in range(500):  # the last try over
            counts = await svc.counts()
            if counts.paused == "disk_full" and not counts.downloading:
                break
            await asyncio.sleep(0.02)
    assert store.opens >= 3 * 3
    assert counts.paused == "disk_full" and counts.done == 0
    # Each try after the first waited longer than the one before (0.3, 0.6, 1.2 s).
    assert svc._retry_wait >= 0.3 * 2**3
    assert [k for k, _ in stack.alerts.sent] == ["media-disk"]
    text = stack.alerts.sent[0][1]
    assert text.key == "alert_media_disk_error"
    assert text.args["where"] == str(stack.root)
    assert text.args["free_mb"] == stack.free // 2**20
    assert "ENOSPC" in text.args["error"]
    assert sum(stack.world.bytes_served[f] for f in fids) <= store.opens * 2 * CHUNK


async def test_a_damaged_partial_file_is_fetched_again(stack: Stack) -> None:
    ch = stack.world.add_channel(username="damaged", title="Damaged")
    size = 3 * CHUNK + 100
    wrong = ch.add_media_post("document", size=size)  # a partial of wrong bytes
    tail = ch.add_media_post("document", size=size)  # right head, wrong tail
    whole = ch.add_media_post("document", size=size)  # complete, last byte wrong
    rows = {r.tg_media_id: r for r in await enqueue(stack, "damaged")}
    (stack.root / "partial").mkdir(parents=True)
    w = stack.world
    partial = {f: stack.root / "partial" / f"{rows[f].id}-{f}" for f in rows}
    partial[wrong].write_bytes(b"\x01" * CHUNK)
    partial[tail].write_bytes(w.files[tail].content.read(0, CHUNK) + b"\x01" * 1000)
    partial[whole].write_bytes(w.files[whole].content.read(0, size - 1) + b"\x00")
    svc = stack.service(parts=1)
    async with running(svc):
        counts = await settled(svc, 3)
    assert counts.done == 3
    for fid in rows:
        row = await MediaDownload.get(id=rows[fid].id).prefetch_related("file")
        assert row.file is not None and row.file.sha256 == w.file_sha256(fid)
        assert (stack.root / row.file.key).read_bytes() == w.files[fid].content.read(0, size)


async def test_a_file_of_another_size_than_announced_is_never_done(stack: Stack) -> None:
    ch = stack.world.add_channel(username="sized", title="Sized")
    fid = ch.add_media_post("document", size=2 * CHUNK)
    (row,) = await enqueue(stack, "sized")
    await MediaDownload.filter(id=row.id).update(size=2 * CHUNK + 10)
    svc = stack.service(parts=1)
    async with running(svc):
        counts = await settled(svc, 1)
    got = await MediaDownload.get(id=row.id)
    assert (got.status, got.reason, counts.files) == ("failed", "SIZE_MISMATCH", 0)
    assert on_disk(stack.root) == {}
    assert stack.world.bytes_served[fid] == 2 * 2 * CHUNK  # fetched again once


async def test_a_long_download_outlives_many_expired_references(stack: Stack) -> None:
    # Each refresh is followed by progress: the count of refreshes starts again.
    ch = stack.world.add_channel(username="slow", title="Slow")
    size = 12 * CHUNK
    fid = ch.add_media_post("video", size=size)
    (row,) = await enqueue(stack, "slow")
    stack.server.file_delay = 0.02
    svc = stack.service(parts=1)
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    expired = 0
    async with running(svc):
        for at in (2, 5, 8):
            for _ in range(1000):
                if partial.exists() and partial.stat().st_size >= at * CHUNK:
                    break
                await asyncio.sleep(0.005)
            stack.world.expire_file_reference(fid)
            expired += 1
        counts = await settled(svc, 1)
    assert expired == 3
    got = await MediaDownload.get(id=row.id).prefetch_related("file")
    assert (got.status, counts.done) == ("done", 1)
    assert got.file is not None and got.file.sha256 == stack.world.file_sha256(fid)
    assert stack.world.bytes_served[fid] <= size + 3 * CHUNK


async def test_media_edited_while_downloading_is_one_download_of_the_new_file(
    stack: Stack,
) -> None:


    ch = stack.world.add_channel(username="edited", title="Edited")
    old = ch.add_media_post("document", size=16 * CHUNK, file_name="old.pdf")
    msg_id = ch.last_id
    (row,) = await enqueue(stack, "edited")
    stack.server.file_delay = 0.02
    svc = stack.service(parts=1)
    partial = stack.root / "partial" / f"{row.id}-{old}"
    most_tasks = 0
    async with running(svc):
        for _ in range(1000):
            if partial.exists() and partial.stat().st_size >= 2 * CHUNK:
                break
            await asyncio.sleep(0.005)
        new_file = stack.world.add_file("document", size=2 * CHUNK, file_name="new.pdf")
        new = new_file.id
        ch.edit_message(msg_id, media=new_file)
        fresh = media_ref(await stack.client.get_messages("edited", ids=msg_id))
        assert fresh is not None and fresh.tg_id != old
        reread(stack, row.channel_id, msg_id, fresh)  # type: ignore[attr-defined]
        assert (await MediaDownload.get(id=row.id)).status == "downloading"
        for _ in range(600):
            most_tasks = max(most_tasks, len(svc._tasks))
            got = await MediaDownload.get(id=row.id)
            if got.status == "done":
                break
            await asyncio.sleep(0.02)
    got = await MediaDownload.get(id=row.id).prefetch_related("file")
    assert most_tasks == 1
    assert got.status == "done" and got.tg_media_id == new
    assert got.file is not None and got.file.sha256 == stack.world.file_sha256(new)
    assert await MediaFile.all().count() == 1
    assert on_disk(stack.root) == {got.file.key: 2 * CHUNK}
    assert not list((stack.root / "partial").glob("*"))
    assert stack.world.bytes_served[new] == 2 * CHUNK


async def test_a_media_folder_that_cannot_be_written_pauses_with_one_alert(
    stack: Stack,
) -> None:
    ch = stack.world.add_channel(username="nodir", title="No dir")
    fid = ch.add_media_post("photo")
    (row,) = await enqueue(stack, "nodir")
    blocker = stack.root.parent / "blocker"
    blocker.write_bytes(b"not a folder")
    root = blocker / "media"
    svc = MediaService(
        MediaQueue(), LocalMediaStore(root), Session(stack.client), stack.alerts,
        root=root, poll_seconds=0.02, free=lambda _p: stack.free, disk_retry_seconds=0.2,
    )
    async with running(svc):
        for _ in range(200):
            if (await svc.counts()).paused == "media_dir":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # several tries of the folder
        counts = await svc.counts()
        assert counts.paused == "media_dir" and counts.queued == 1
        assert [k for k, _ in stack.alerts.sent] == ["media-dir"]
        text = stack.alerts.sent[0][1]
        assert text.key == "alert_media_dir" and text.args["where"] == str(root)
        assert "ENOTDIR" in text.args["error"]
        assert stack.world.bytes_served[fid] == 0
        blocker.unlink()  # the disk mounted, the folder fixed
        counts = await settled(svc, 1)
    assert counts.done == 1 and counts.paused is None
    assert [k for k, _ in stack.alerts.sent] == ["media-dir", "media-dir-ok"]
    assert (await MediaDownload.get(id=row.id)).status == "done"


async def test_a_file_failed_for_a_stale_reference_resumes_after_a_re_read(
    stack: Stack,
) -> None:


    ch = stack.world.add_channel(username="stuck", title="Stuck")
    size = 6 * CHUNK
    fid = ch.add_media_post("document", size=size)
    msg_id = ch.last_id
    (row,) = await enqueue(stack, "stuck")
    # From byte 2 * CHUNK on, every reference is refused (no progress between refreshes).
    fault = stack.server.faults.add(
        "upload.getFile", "FILE_REFERENCE_EXPIRED", times=None,
        when=lambda req: req.location.id == fid and req.offset >= 2 * CHUNK,
    )
    svc = stack.service(parts=1)
    async with running(svc):
        await settled(svc, 1)
    got = await MediaDownload.get(id=row.id)
    assert (got.status, got.reason) == ("failed", "FILE_REFERENCE_EXPIRED")
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    assert partial.stat().st_size == 2 * CHUNK  # kept for a later try
    stack.server.faults.remove(fault)
    stack.world.expire_file_reference(fid)
    fresh = media_ref(await stack.client.get_messages("stuck", ids=msg_id))
    assert fresh is not None
    reread(stack, row.channel_id, msg_id, fresh)  # type: ignore[attr-defined]
    assert (await MediaDownload.get(id=row.id)).status == "queued"
    served = stack.world.bytes_served[fid]
    svc = stack.service(parts=1, partials=LocalMediaStore(stack.root).partial_keys)
    async with running(svc):
        counts = await settled(svc, 1)
    done = await MediaDownload.get(id=row.id).prefetch_related("file")
    assert counts.done == 1 and done.file is not None
    assert done.file.sha256 == stack.world.file_sha256(fid)
    # Resumed: the part holding the resume point again, then the rest.
    assert stack.world.bytes_served[fid] - served == size - CHUNK


async def test_off_stops_a_running_download_and_no_interruption_queues_it_again(
    stack: Stack,
) -> None:
    """#16 review16b A2: "Off" while files download stops them at their next chunk (not
    stored, skipped not_kept, partial dropped); a row set aside while downloading and
    then deferred (flood wait), released (stop) or left at a crash is skipped, not
    queued; kept again, it is queued."""
    from core.media import MediaMode, MediaPolicy
    from db.media import apply_policy

    ch = stack.world.add_channel(username="offnow", title="Off now")
    fid = ch.add_media_post("document", size=40 * CHUNK)
    (row,) = await enqueue(stack, "offnow")
    stack.server.file_delay = 0.05
    svc = stack.service(parts=1)
    async with running(svc):
        for _ in range(400):
            if (await MediaDownload.get(id=row.id)).bytes_done >= 2 * CHUNK:
                break
            await asyncio.sleep(0.02)
        channel_id = row.channel_id  # type: ignore[attr-defined]
        assert await apply_policy([channel_id], [], MediaPolicy(MediaMode.OFF, None, 0)) == (
            1, 0, 0)
        counts = await settled(svc, 1)
    got = await MediaDownload.get(id=row.id)
    assert (got.status, got.reason) == ("skipped", "not_kept")
    assert counts.files == 0 and not (stack.root / "partial" / f"{row.id}-{fid}").exists()
    assert stack.world.bytes_served[fid] < 20 * CHUNK  # stopped, not fetched to its end
    # The three other ends of a download of a row set aside meanwhile.
    q = MediaQueue()
    policy_all = MediaPolicy(MediaMode.ALL, None, 0)
    for end in ("defer", "release", "crash"):
        await apply_policy([channel_id], [], policy_all)
        assert [c.id for c in await q.claim(1)] == [row.id]
        await apply_policy([channel_id], [], MediaPolicy(MediaMode.OFF, None, 0))
        assert (await MediaDownload.get(id=row.id)).status == "downloading"
        if end == "defer":
            await q.defer(row.id, None, "FLOOD_WAIT", fid)
        elif end == "release":
            await q.release([row.id])
        else:
            await q.requeue_interrupted()
        got = await MediaDownload.get(id=row.id)
        assert (end, got.status, got.reason) == (end, "skipped", "not_kept")
        assert await q.claim(1) == []
    # A lower cap does the same to a running download over it.
    await apply_policy([channel_id], [], policy_all)
    assert [c.id for c in await q.claim(1)] == [row.id]
    assert await apply_policy([channel_id], [], MediaPolicy(MediaMode.ALL, None, CHUNK)) == (
        0, 1, 0)
    await q.release([row.id])
    got = await MediaDownload.get(id=row.id)
    assert (got.status, got.reason) == ("skipped", "too_big")


async def test_a_deleted_posts_partial_file_is_not_kept(stack: Stack) -> None:
    """#16 review16b A: a post deleted while its file downloads: failed MESSAGE_DELETED
    and its partial file deleted (no re-read ever resumes it); a partial of a row failed
    for a stale reference is kept only within the refresh window (the sweep)."""
    ch = stack.world.add_channel(username="delmid", title="Deleted mid-file")
    fid = ch.add_media_post("document", size=40 * CHUNK)
    msg_id = ch.last_id
    (row,) = await enqueue(stack, "delmid")
    stack.server.file_delay = 0.05
    svc = stack.service(parts=1)
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    async with running(svc):
        for _ in range(400):
            if (await MediaDownload.get(id=row.id)).bytes_done >= 2 * CHUNK:
                break
            await asyncio.sleep(0.02)
        ch.delete_message(msg_id)
        stack.world.expire_file_reference(fid)
        await settled(svc, 1)
    got = await MediaDownload.get(id=row.id)
    assert (got.status, got.reason) == ("failed", "MESSAGE_DELETED")
    assert not partial.exists()
    # A stale-reference failure's partial: kept within the window, swept after it.
    partial.write_bytes(b"x" * CHUNK)
    await MediaDownload.filter(id=row.id).update(reason="FILE_REFERENCE_EXPIRED")
    store = LocalMediaStore(stack.root)
    for keep, exists in ((timedelta(hours=24), True), (timedelta(0), False)):
        svc = MediaService(
            MediaQueue(), store, Session(None, "no_session"), stack.alerts,
            root=stack.root, poll_seconds=0.05, free=lambda _p: stack.free,
            partials=store.partial_keys, keep_failed_partials=keep,
        )
        async with running(svc):
            await asyncio.sleep(0.3)
        assert partial.exists() == exists, keep


async def test_status_bytes_on_disk_count_partial_files(stack: Stack) -> None:
    """#16 review16b A: /status's bytes on disk include the partial files' bytes."""
    ch = stack.world.add_channel(username="partb", title="Partial bytes")
    fid = ch.add_media_post("document", size=4 * CHUNK)
    (row,) = await enqueue(stack, "partb")
    (stack.root / "partial").mkdir(parents=True)
    (stack.root / "partial" / f"{row.id}-{fid}").write_bytes(b"x" * CHUNK)
    store = LocalMediaStore(stack.root)
    svc = MediaService(
        MediaQueue(), store, Session(None, "no_session"), stack.alerts, root=stack.root,
        poll_seconds=0.05, free=lambda _p: stack.free, partials=store.partial_keys,
    )
    assert (await svc.counts()).bytes_on_disk == CHUNK
