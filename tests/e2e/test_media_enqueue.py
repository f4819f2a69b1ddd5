"""Media queued by each channel's policy, end to end (#16): the app as a process parses
channels of the MTProto double with photos, videos and voice notes; the download queue
holds only the kinds each channel keeps, and one picture re-posted in three channels
ends as one stored file (fetched once) linked from the three posts. One stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, seed, wait_until

pytestmark = pytest.mark.timeout(120)
MB = 1024 * 1024


def build_world() -> tuple[World, dict[str, Channel], dict[str, dict[str, int]], int]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    chans: dict[str, Channel] = {}
    kinds: dict[str, dict[str, int]] = {}
    for name in ("photos", "videos"):
        chan = chans[name] = world.add_channel(username=name, title=name.title())
        chan.add_message("just text")
        kinds[name] = {
            "photo": chan.add_media_post("photo"),
            "video": chan.add_media_post("video", size=3 * MB),
            "voice": chan.add_media_post("voice"),
        }
    first = chans["repost0"] = world.add_channel(username="repost0", title="Repost 0")
    picture = first.add_media_post("photo")
    for i in (1, 2):
        chan = chans[f"repost{i}"] = world.add_channel(username=f"repost{i}", title=f"R{i}")
        chan.add_message("before the picture")
        chan.add_media_post("photo", media_id=picture)  # the same picture re-posted
    return world, chans, kinds, picture


async def test_each_channel_queues_its_kinds_and_a_repost_is_fetched_once(
    tmp_path: Path,
) -> None:
    world, chans, kinds, picture = build_world()
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, list(chans.values()))
        with db(stack) as conn:  # "photos" keeps MEDIA_DEFAULT (photos): media_mode NULL
            conn.execute(
                "UPDATE channel SET media_mode = 'all', media_kinds = 'video', media_max_mb = 0"
                " WHERE id = ?", (ids["videos"],),
            )  # fmt: skip
        await stack.app.start()
        for name, chan in chans.items():
            await wait_until(lambda r=ids[name], c=chan: caught_up(stack, r, c), name, stack)

        def media(row_id: int) -> list[tuple[str, int]]:
            with db(stack) as conn:
                return conn.execute(
                    "SELECT kind, tg_media_id FROM media_download WHERE channel_id = ?"
                    " ORDER BY msg_id", (row_id,),
                ).fetchall()  # fmt: skip

        assert media(ids["photos"]) == [("photo", kinds["photos"]["photo"])]
        assert media(ids["videos"]) == [("video", kinds["videos"]["video"])]

        def linked() -> list[tuple[str, int | None]]:
            with db(stack) as conn:
                return conn.execute(
                    "SELECT status, file_id FROM media_download WHERE tg_media_id = ?",
                    (picture,),
                ).fetchall()

        await wait_until(
            lambda: [s for s, _ in linked()] == ["done"] * 3, "the picture stored", stack
        )
        assert len({f for _, f in linked()}) == 1  # one stored file for the three posts
        assert world.bytes_served[picture] == world.files[picture].size  # fetched once
