"""Sending a post's file to the Bot API double over HTTP (multipart uploads, as aiogram
sends them): Telegram's own refusals (a photo over 10 MB, a photo it cannot read, odd
sides) never reach the operator: the file goes as a document."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.media_send import send_post_media
from bot.texts import t
from core.media import StoredMedia
from tests.doubles.botapi import BotAPIDouble
from tests.unit.bot.fakes import FakeMediaFiles

TOKEN = "42:MEDIA-TOKEN"
ADMIN = 7
MB = 1024 * 1024


def _jpeg(width: int, height: int, size: int) -> bytes:
    """A JPEG header the double reads the sides from, padded to `size` bytes."""
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    head = b"\xff\xd8" + sof
    return head + b"\x00" * (size - len(head))


@pytest.fixture
async def sent(tmp_path: Path) -> AsyncIterator[tuple[BotAPIDouble, Bot, FakeMediaFiles]]:
    async with BotAPIDouble(token=TOKEN) as double:
        double.add_user(ADMIN, "Olga", language_code="ru")
        bot = double.make_bot(default=DefaultBotProperties(parse_mode="HTML"))
        try:
            yield double, bot, FakeMediaFiles(tmp_path / "media", upload_limit=20 * MB)
        finally:
            await bot.session.close()


async def test_photos_videos_and_documents_reach_the_operator(
    sent: tuple[BotAPIDouble, Bot, FakeMediaFiles],
) -> None:
    double, bot, files = sent
    caption = t("media_caption", "ru", channel="Новости <срочно>", link="https://t.me/c/1/2")
    cases = [
        (StoredMedia(1, 1, "photo", "done", size=5000, key="a/1.jpg", width=800, height=600),
         _jpeg(800, 600, 5000), "photo"),
        # Over 10 MB: as a document at once (sendPhoto would be refused).
        (StoredMedia(1, 2, "photo", "done", size=11 * MB, key="a/2.jpg"),
         _jpeg(4000, 3000, 11 * MB), "document"),
        # Sides 5000 x 200 (25:1): Telegram refuses it as a photo; the dimensions are
        # unknown to the archive here, so the refusal itself sends it as a document.
        (StoredMedia(1, 3, "photo", "done", size=3000, key="a/3.jpg"),
         _jpeg(5000, 200, 3000), "document"),
        (StoredMedia(1, 4, "video", "done", size=2000, key="a/4.mp4", mime_type="video/mp4"),
         b"\x00" * 2000, "video"),
        (StoredMedia(1, 5, "document", "done", size=100, key="a/5.pdf",
                     file_name="Отчёт за март.pdf"), b"%PDF" + b"\x00" * 96, "document"),
        (StoredMedia(1, 6, "voice", "done", size=300, key="a/6.ogg", mime_type="audio/ogg"),
         b"OggS" + b"\x00" * 296, "voice"),
    ]
    for media, data, _ in cases:
        files.add(media, data=data)
        await send_post_media(bot, ADMIN, media, files, caption, "ru")
    assert [u.kind for u in double.uploads] == [kind for _, _, kind in cases]
    names = [u.filename for u in double.uploads]
    assert "5_Отчёт за март.pdf" in names and "2_photo.jpg" in names
    captions = [e.current.caption for e in double.transcript(ADMIN)]
    assert captions == ["Новости <срочно> · https://t.me/c/1/2"] * len(cases)


async def test_over_the_upload_limit_the_path_is_named(
    sent: tuple[BotAPIDouble, Bot, FakeMediaFiles],
) -> None:
    double, bot, files = sent
    media = StoredMedia(1, 9, "video", "done", size=30 * MB, key="b/9.mp4")
    path = files.root / "b/9.mp4"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.truncate(30 * MB)
    files.posts[(1, 9)] = (media, 0)
    await send_post_media(bot, ADMIN, media, files, t("media_caption_gone", "ru", msg_id=9), "ru")
    assert double.uploads == []
    (entry,) = double.transcript(ADMIN)
    assert str(path.resolve()) in (entry.text or "") and "30 МБ" in (entry.text or "")
