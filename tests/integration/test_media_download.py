"""parser/media.py against the MTProto double with the real Telethon: whole files,
parallel parts, resume from a partial file, errors translated."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.sessions import StringSession

from core.errors import MediaUnavailable
from parser.media import CHUNK, download, download_to, media_ref
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World

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
    async with MTProtoServer(world, host="127.0.0.1", port=0) as server:
        c = TelegramClient(
            StringSession(), api_id=1, api_hash="x" * 32, receive_updates=False,
            flood_sleep_threshold=0, retry_delay=0.1,
        )
        c.session.set_dc(server.dc_id, server.host, server.port)
        await c.connect()
        await c.send_code_request(PHONE)
        await c.sign_in(PHONE, CODE)
        try:
            yield c
        finally:
            await c.disconnect()


async def _post(client: TelegramClient, world: World, media: object) -> object:
    ch = world.add_channel(username="media", title="Media")
    ch.add_message("caption", media=media)
    msgs = [m async for m in client.iter_messages("media", limit=1)]
    return msgs[0]


async def test_photo_whole(client: TelegramClient, world: World, tmp_path: Path) -> None:
    msg = await _post(client, world, "photo")
    ref = media_ref(msg)
    assert ref is not None and ref.kind == "photo" and ref.size == 54321
    got = await download_to(client, ref, tmp_path / "p")
    want = await client.download_media(msg, file=bytes)
    assert got.size == len(want) == 54321
    assert got.sha256 == hashlib.sha256(want).hexdigest()
    assert (tmp_path / "p").read_bytes() == want


@pytest.mark.parametrize("parts", [1, 4])
async def test_document_parts_and_resume(
    client: TelegramClient, world: World, tmp_path: Path, parts: int
) -> None:
    size = 5 * CHUNK + 12345
    msg = await _post(client, world, {"type": "document", "size": size, "file_name": "r.pdf"})
    ref = media_ref(msg)
    assert ref is not None and ref.kind == "document" and ref.file_name == "r.pdf"
    want = await client.download_media(msg, file=bytes)
    # A partial file of 1.3 chunks (not on a request boundary) resumes there.
    path = tmp_path / "d"
    path.write_bytes(want[: CHUNK + 5000])
    got = await download_to(client, ref, path, parts=parts)
    assert path.read_bytes() == want
    assert got.size == size and got.fetched == size - CHUNK - 5000
    assert got.sha256 == hashlib.sha256(want).hexdigest()
    # Complete: nothing more is fetched.
    again = await download_to(client, ref, path, parts=parts)
    assert again.fetched == 0 and again.sha256 == got.sha256


async def test_unknown_file_is_unavailable(client: TelegramClient, world: World) -> None:
    msg = await _post(client, world, "photo")
    ref = media_ref(msg)
    assert ref is not None
    world.files.clear()
    with pytest.raises(MediaUnavailable) as info:
        await download(client, ref, lambda b: None)
    assert info.value.reason == "LOCATION_INVALID"
