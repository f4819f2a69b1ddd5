"""Media downloads end to end (#16): the app as a process against both doubles.

The session, the channel and its queued downloads are seeded into the database
before the app starts (what queues them, the parse, is proven on its own).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from db.database import close_db, init_db
from db.models import Channel as ChannelModel
from db.models import MediaDownload
from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, db, seed_caught_up, wait_until

pytestmark = pytest.mark.timeout(90)

CHUNK = 512 * 1024


async def queue_posts(stack: Stack, ch: Channel, row_id: int) -> None:
    """media_download rows for every media post of `ch`, as the enqueue side writes them."""
    await init_db(stack.app.env["DATABASE_URL"])
    try:
        row = await ChannelModel.get(id=row_id)
        for fid, stored in stack.world.files.items():
            for post_channel, msg_id in stack.world.media_posts(fid):
                if post_channel is not ch:
                    continue
                await MediaDownload.create(
                    channel=row, msg_id=msg_id, kind=stored.kind, tg_media_id=fid,
                    access_hash=stored.access_hash,
                    file_reference=stored.file_reference.hex(), dc_id=stored.dc_id,
                    size=stored.size, mime_type=stored.mime_type,
                    thumb=stored.largest_type if stored.is_photo else None,
                    file_name=stored.file_name,
                )
    finally:
        await close_db()


def downloads(stack: Stack) -> list[tuple[str, int, str | None]]:
    with db(stack) as conn:
        return conn.execute(
            "SELECT d.status, d.tg_media_id, f.key FROM media_download d "
            "LEFT JOIN media_file f ON f.id = d.file_id ORDER BY d.id"
        ).fetchall()


def partial_bytes(media: Path) -> int:
    folder = media / "partial"
    return sum(p.stat().st_size for p in folder.iterdir()) if folder.exists() else 0


def statuses(stack: Stack) -> list[str]:
    return [status for status, _, _ in downloads(stack)]


async def test_full_disk_pause_then_kill_9_mid_file_resumes(tmp_path: Path) -> None:
    """One stack, three starts: (1) less free space than MIN_FREE_DISK_MB: nothing is
    fetched, one alert; (2) room again: the photos come, the video is killed (-9)
    mid-file; (3) the restart resumes it from the bytes on disk."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    ch = world.add_channel(username="films", title="Films")
    pics = [ch.add_media_post("photo") for _ in range(2)]
    size = 48 * CHUNK + 1234
    film = ch.add_media_post("video", size=size, file_name="film.mp4")
    media = tmp_path / "media"
    async with running_stack(
        tmp_path, world, start=False, MEDIA_DIR=str(media), MEDIA_DEFAULT="off",
        MIN_FREE_DISK_MB=str(10**9),  # a petabyte: never free
    ) as stack:
        ids = await seed_caught_up(stack, [ch])
        await queue_posts(stack, ch, ids["films"])
        api = stack.botapi
        # (1) The disk guard: one alert (en and ru admins), nothing fetched.
        await stack.app.start()
        alert = await api.wait_for_message(ADMIN2_ID, r"Media downloads are paused", timeout=30)
        assert str(media) in alert.text and "MIN_FREE_DISK_MB" in alert.text
        await api.wait_for_message(ADMIN_ID, r"Media downloads are paused", timeout=5)
        assert statuses(stack) == ["queued"] * 3
        assert sum(world.bytes_served[f] for f in (*pics, film)) == 0
        await stack.app.terminate()
        # (2) Room again; the video comes slowly (~20 MB/s) and is killed mid-file.
        stack.app.env["MIN_FREE_DISK_MB"] = "0"
        stack.mtproto.file_delay = 0.1
        await stack.app.start()
        await wait_until(lambda: partial_bytes(media) >= 8 * CHUNK, "a partial file", stack)
        await stack.app.kill()
        kept = partial_bytes(media)
        assert 0 < kept < size and statuses(stack)[2] == "downloading"
        served_before = world.bytes_served[film]
        # (3) The restart resumes from the bytes on disk.
        stack.mtproto.file_delay = 0.0
        await stack.app.start()
        await wait_until(lambda: statuses(stack) == ["done"] * 3, "the downloads", stack)
        for fid, (_, media_id, key) in zip((*pics, film), downloads(stack), strict=True):
            assert media_id == fid and key is not None
            data = (media / key).read_bytes()
            assert hashlib.sha256(data).hexdigest() == world.file_sha256(fid)
        assert partial_bytes(media) == 0
        # About one file, not two: after the restart only what was not on disk came
        # (from the 512 KB boundary below it), and before it no more than was in flight.
        assert world.bytes_served[film] - served_before <= size - kept + CHUNK
        assert world.bytes_served[film] <= size + 16 * CHUNK
        assert all(world.bytes_served[p] == world.files[p].size for p in pics)
        paused = [m for m in api.transcript(ADMIN2_ID) if "Media downloads are" in m.text]
        assert len(paused) == 1
