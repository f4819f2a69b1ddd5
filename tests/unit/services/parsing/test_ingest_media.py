"""Which media a run queues for download, as the text is archived (#16): the channel's
policy (mode, kinds, cap), one file per Telegram media id, comments and the old basic
group following the channel, re-reads refreshing the location, edited media queued
again. Real Telethon against the MTProto double, the real repositories on a migrated
SQLite database; the downloads themselves are the media service's (not run here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.channels import default_media_policy
from db.channels import ChannelStateRepository, migrated_row_id
from db.messages import MessageRepository
from db.models import Channel, MediaDownload
from services.parsing.ingest import ChannelFetcher
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.unit.db.test_media import finish

PHONE, CODE = "+15550000001", "12345"
STATE = ChannelStateRepository()
MB = 1024 * 1024

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def world() -> World:
    w = World()
    w.add_account(phone=PHONE, code=CODE)
    return w


@pytest.fixture
async def client(world: World) -> AsyncIterator[Any]:
    async with MTProtoServer(world) as server:
        async with signed_in_client(server.port, PHONE, CODE) as (c, _me):
            yield c


async def added(client: Any, chan: Any, **fields: Any) -> Any:
    """The channel as /add stores it (with `fields`), as a run's snapshot."""
    entity = await client.get_input_entity(chan.username)
    row = await Channel.create(
        tg_id=chan.id, access_hash=entity.access_hash, username=chan.username,
        title=chan.username, **fields,
    )  # fmt: skip
    ch = await STATE.channel(row.id)
    assert ch is not None
    return ch


async def queued(row_id: int) -> dict[int, tuple[str, str, int]]:
    """msg_id -> (status, kind, tg_media_id) of the row's media."""
    rows = await MediaDownload.filter(channel_id=row_id).values_list(
        "msg_id", "status", "kind", "tg_media_id"
    )
    return {int(m): (s, k, int(t)) for m, s, k, t in rows}


def mixed(world: World, name: str) -> tuple[Any, dict[str, int]]:
    """A channel with a text, a photo, a 5 MB video and a voice note; kind -> media id."""
    chan = world.add_channel(username=name)
    chan.add_message("just text")
    ids = {
        "photo": chan.add_media_post("photo"),
        "video": chan.add_media_post("video", size=5 * MB),
        "voice": chan.add_media_post("voice"),
    }
    return chan, ids


async def test_the_channels_policy_picks_the_kinds_and_the_cap(
    repo: MessageRepository, world: World, client: Any
) -> None:
    photos, p_ids = mixed(world, "photos")
    videos, v_ids = mixed(world, "videos")
    nothing, _ = mixed(world, "nothing")
    default, d_ids = mixed(world, "default")
    fetcher = ChannelFetcher(
        repo, STATE, refresh_window_hours=0, media_defaults=default_media_policy("all", 1)
    )
    ch_p = await added(client, photos, media_mode="photos")
    ch_v = await added(client, videos, media_mode="all", media_kinds="video", media_max_mb=0)
    ch_n = await added(client, nothing, media_mode="off")
    ch_d = await added(client, default)  # media_mode None: MEDIA_DEFAULT, MEDIA_MAX_MB
    for ch in (ch_p, ch_v, ch_n, ch_d):
        assert (await fetcher.run(client, ch)).status == "ok"
    assert await queued(ch_p.id) == {2: ("queued", "photo", p_ids["photo"])}
    assert await queued(ch_v.id) == {3: ("queued", "video", v_ids["video"])}  # no cap
    assert await queued(ch_n.id) == {}
    assert await queued(ch_d.id) == {
        2: ("queued", "photo", d_ids["photo"]),
        3: ("skipped", "video", d_ids["video"]),  # over the 1 MB default cap
        4: ("queued", "voice", d_ids["voice"]),
    }
    skipped = await MediaDownload.get(channel_id=ch_d.id, msg_id=3)
    assert (skipped.reason, skipped.size) == ("too_big", 5 * MB)
    # Nothing for a fetcher told no policy.
    bare, _ = mixed(world, "bare")
    ch_b = await added(client, bare, media_mode="all")
    await ChannelFetcher(repo, STATE, media_defaults=None).run(client, ch_b)
    assert await queued(ch_b.id) == {}


async def test_one_picture_in_three_channels_is_fetched_once(
    repo: MessageRepository, world: World, client: Any
) -> None:
    first = world.add_channel(username="first")
    fid = first.add_media_post("photo")
    others = []
    for name in ("second", "third"):
        chan = world.add_channel(username=name)
        chan.add_message("before")
        chan.add_media_post("photo", media_id=fid)  # the same picture re-posted
        others.append(chan)
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=0)
    ch1 = await added(client, first, media_mode="photos")
    await fetcher.run(client, ch1)
    assert await queued(ch1.id) == {1: ("queued", "photo", fid)}
    file_id = await finish(ch1.id, 1)  # as the downloader marks it
    for chan in others:
        ch = await added(client, chan, media_mode="photos")
        await fetcher.run(client, ch)
        row = await MediaDownload.get(channel_id=ch.id, msg_id=2)
        assert (row.status, row.file_id, row.tg_media_id) == ("done", file_id, fid)
    assert await MediaDownload.filter(status="queued").count() == 0


async def test_comments_and_the_old_group_follow_the_channel(
    repo: MessageRepository, world: World, client: Any
) -> None:
    chan = world.add_channel(username="news")
    group = world.add_channel(username="news_chat", megagroup=True)
    world.link_discussion(chan, group)
    post_fid = chan.add_media_post("photo")
    video_fid = world.add_file("video").id
    photo_fid = world.add_file("photo").id
    group.add_comment(chan.last_id, "a photo", media=world.files[photo_fid])
    group.add_comment(chan.last_id, "a video", media=world.files[video_fid])
    # The group's own row would keep nothing by the defaults: comments go by the channel.
    fetcher = ChannelFetcher(
        repo, STATE, refresh_window_hours=0, media_defaults=default_media_policy("off", 50)
    )
    ch = await added(client, chan, media_mode="photos", comments_enabled=True)
    result = await fetcher.run(client, ch)
    assert result.status == "ok" and result.comments == 2
    assert await queued(ch.id) == {chan.last_id: ("queued", "photo", post_fid)}
    disc = await Channel.get(tg_id=group.id)
    rows = await MediaDownload.filter(channel_id=disc.id).values_list(
        "kind", "tg_media_id", "from_discussion"
    )
    assert rows == [("photo", photo_fid, True)]

    old = world.add_chat("Old chat", members=[PHONE])
    old.add_message("old text", from_id=world.account(PHONE))
    old_photo = old.add_media_post("photo", from_id=world.account(PHONE))
    old.add_media_post("voice", from_id=world.account(PHONE))
    upgraded = world.migrate(old, username="upgraded", title="Upgraded")
    upgraded.add_media_post("voice")
    ch = await added(client, upgraded, kind="megagroup", media_mode="photos")
    assert (await fetcher.run(client, ch)).status == "ok"
    old_row = await migrated_row_id(ch.id)
    assert old_row is not None and await queued(ch.id) == {}
    assert [v[1:] for v in (await queued(old_row)).values()] == [("photo", old_photo)]


async def test_a_re_read_refreshes_the_reference_and_edited_media_is_queued_again(
    repo: MessageRepository, world: World, client: Any
) -> None:
    chan = world.add_channel(username="refreshed")
    fid = chan.add_media_post("photo")
    post = chan.last_id
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=24)
    ch = await added(client, chan, media_mode="photos")
    await fetcher.run(client, ch)
    before = await MediaDownload.get(channel_id=ch.id, msg_id=post)
    assert before.file_reference == world.files[fid].file_reference.hex()
    fresh = world.expire_file_reference(fid)
    ch = await STATE.channel(ch.id)
    await fetcher.run(client, ch)  # the refresh window reads the post again
    after = await MediaDownload.get(channel_id=ch.id, msg_id=post)
    assert after.status == "queued" and after.file_reference == fresh.hex()
    assert fresh.hex() != before.file_reference

    await MediaDownload.filter(id=after.id).update(status="downloading", bytes_done=4096)
    new_fid = world.add_file("photo").id
    chan.edit_message(post, media=world.files[new_fid])
    await fetcher.run(client, await STATE.channel(ch.id))
    edited = await MediaDownload.get(channel_id=ch.id, msg_id=post)
    # Still the one download (db/media_queue.py `changed` re-queues it for the new id).
    assert (edited.status, edited.tg_media_id, edited.bytes_done) == ("downloading", new_fid, 0)
