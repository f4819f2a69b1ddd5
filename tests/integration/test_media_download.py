"""parser/media.py against the MTProto double with the real Telethon: whole files,
parallel parts, resume from a partial file, errors translated."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.crypto import rsa

from core.errors import FileReferenceExpired, MediaUnavailable
from parser.media import CHUNK, download, download_to, media_ref, refresh
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World, signed_in_client

pytestmark = pytest.mark.timeout(60)

PHONE, CODE = "+15550000001", "12345"
rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)


@pytest.fixture
def world() -> World:
    w = World()
    w.add_account(phone=PHONE, code=CODE, first_name="Ann", username="ann_test")
    return w


@pytest.fixture
async def client(world: World) -> AsyncIterator[TelegramClient]:
    async with MTProtoServer(world, host="127.0.0.1", port=0) as server, signed_in_client(
        server.port, PHONE, CODE, dc_id=server.dc_id, flood_sleep_threshold=0, retry_delay=0.1
    ) as (c, _):
        yield c


async def _post(client: TelegramClient, world: World, kind: str, **kw: object) -> object:
    ch = world.find_username("media") or world.add_channel(username="media", title="Media")
    ch.add_media_post(kind, **kw)
    msgs = [m async for m in client.iter_messages("media", limit=1)]
    return msgs[0]


async def test_photo_whole(client: TelegramClient, world: World, tmp_path: Path) -> None:
    msg = await _post(client, world, "photo")
    ref = media_ref(msg)
    assert ref is not None and ref.kind == "photo" and ref.size == 54321
    got = await download_to(client, ref, tmp_path / "p")
    want = await client.download_media(msg, file=bytes)
    assert got.size == len(want) == 54321
    assert got.sha256 == hashlib.sha256(want).hexdigest() == world.file_sha256(ref.tg_id)
    assert (tmp_path / "p").read_bytes() == want


@pytest.mark.parametrize("parts", [1, 4])
async def test_document_parts_and_resume(
    client: TelegramClient, world: World, tmp_path: Path, parts: int
) -> None:
    size = 9 * CHUNK + 12345
    msg = await _post(client, world, "document", size=size, file_name="r.pdf")
    ref = media_ref(msg)
    assert ref is not None and ref.kind == "document" and ref.file_name == "r.pdf"
    want = world.file_bytes(ref.tg_id)
    # A partial file of 1.3 chunks (not on a request boundary) resumes there.
    path = tmp_path / "d"
    path.write_bytes(want[: CHUNK + 5000])
    got = await download_to(client, ref, path, parts=parts)
    assert path.read_bytes() == want
    assert got.size == size and got.fetched == size - CHUNK - 5000
    assert got.sha256 == world.file_sha256(ref.tg_id)
    # The chunk holding the resume point came again; nothing else twice.
    assert world.bytes_served[ref.tg_id] == size - CHUNK
    # Complete: nothing more is fetched.
    again = await download_to(client, ref, path, parts=parts)
    assert again.fetched == 0 and again.sha256 == got.sha256


@pytest.mark.parametrize("kind", ["video", "round", "voice", "audio", "animation", "sticker"])
async def test_kinds(client: TelegramClient, world: World, tmp_path: Path, kind: str) -> None:
    msg = await _post(client, world, kind)
    ref = media_ref(msg)
    assert ref is not None and ref.kind == kind
    got = await download_to(client, ref, tmp_path / kind, parts=4)
    assert got.sha256 == world.file_sha256(ref.tg_id)


async def test_refused_expired_and_refreshed(client: TelegramClient, world: World) -> None:
    msg = await _post(client, world, "photo")
    ref = media_ref(msg)
    assert ref is not None
    world.refuse_file(ref.tg_id, "FILE_ID_INVALID")
    with pytest.raises(MediaUnavailable) as info:
        await download(client, ref, lambda b: None)
    assert info.value.reason == "FILE_ID_INVALID"
    world.refuse_file(ref.tg_id, None)
    world.expire_file_reference(ref.tg_id)
    with pytest.raises(FileReferenceExpired):
        await download(client, ref, lambda b: None)
    channel = await client.get_input_entity("media")
    fresh = await refresh(client, channel.channel_id, channel.access_hash, msg.id)
    assert fresh.tg_id == ref.tg_id and fresh.file_reference != ref.file_reference
    got: list[bytes] = []
    assert await download(client, fresh, got.append) == ref.size
    with pytest.raises(MediaUnavailable) as gone:
        await refresh(client, channel.channel_id, channel.access_hash, 999)
    assert gone.value.reason == "MESSAGE_DELETED"


async def test_a_progressive_and_a_large_photo(
    client: TelegramClient, world: World, tmp_path: Path
) -> None:
    for i, kw in enumerate(({"progressive": True}, {"width": 2560, "height": 1440})):
        msg = await _post(client, world, "photo", **kw)
        ref = media_ref(msg)
        assert ref is not None and ref.thumb == ("x", "w")[i]
        got = await download_to(client, ref, tmp_path / f"p{i}")
        assert got.sha256 == world.file_sha256(ref.tg_id) and got.size == ref.size
