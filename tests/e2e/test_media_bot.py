"""The operator's side of media downloads, end to end (#16): the app as a process parses
a channel with a photo and a video, downloads both, a keyword alert carries a 📎 button
per post with a file; the photo is sent as a photo, the video (over UPLOAD_LIMIT_MB) is
named by its path on disk; /status counts the files and the bytes the disk holds. One
stack."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from babel.numbers import format_decimal

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, db, seed, wait_until

pytestmark = pytest.mark.timeout(90)
MB = 1024 * 1024


def jpeg(width: int, height: int, size: int) -> bytes:
    """A JPEG's start (its sides readable, as the Bot API double reads them), padded."""
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return (b"\xff\xd8" + sof).ljust(size, b"\x00")


def on_disk(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file() and "partial" not in p.parts]


async def test_alert_buttons_send_the_files_and_status_counts_them(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    ch = world.add_channel(username="pics", title="Pics")
    ch.add_message("нефть без картинки")
    ch.add_media_post("photo", text="нефть на фото", content=jpeg(800, 600, 40_000))
    ch.add_media_post("video", size=3 * MB, file_name="нефть.mp4", text="нефть на видео")
    media = tmp_path / "media"
    env = {"MEDIA_DIR": str(media), "MEDIA_DEFAULT": "all", "UPLOAD_LIMIT_MB": "1"}
    async with running_stack(tmp_path, world, start=False, **env) as stack:
        await seed(stack, [ch])
        with db(stack) as conn:  # the watch exists before the first run stores the posts
            conn.execute(
                "INSERT INTO watch (pattern, is_regex, created_by, created_at)"
                " VALUES ('нефть', 0, 1, '2026-01-01 00:00:00+00:00')"
            )
        await stack.app.start()
        api = stack.botapi
        en = api.users[ADMIN2_ID]
        alert = await api.wait_for_message(ADMIN2_ID, r"Keyword alerts", timeout=60)
        assert alert.button_texts == ["📎 1", "📎 2"]
        assert (alert.text or "").count("📎") == 2

        def statuses() -> list[str]:
            with db(stack) as conn:
                rows = conn.execute("SELECT status FROM media_download ORDER BY msg_id")
                return [r[0] for r in rows.fetchall()]

        await wait_until(lambda: statuses() == ["done", "done"], "the downloads", stack)
        await api.press_button(en, alert, text="📎 1")
        photo = await api.wait_for_message(ADMIN2_ID, r"https://t\.me/pics/2$", timeout=15)
        assert photo.caption == "Pics · @pics · https://t.me/pics/2"
        assert api.uploads[-1].kind == "photo"
        await api.press_button(en, alert, text="📎 2")
        big = await api.wait_for_message(ADMIN2_ID, r"larger than the bot may upload", timeout=15)
        files = on_disk(media)
        video = max(files, key=lambda p: p.stat().st_size)
        assert str(video) in (big.text or "") and "(1 MB)" in (big.text or "")
        await api.send_text(en, "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Media files:", timeout=15)
        text = status.text or ""
        assert "queued 0, downloading 0, downloaded 2, skipped 0, failed 0" in text
        total = sum(p.stat().st_size for p in files)
        shown = format_decimal(round(total / MB, 1), format="0.#", locale="en")  # as t() does
        assert f"Media on disk: {shown} MB, stored files: 2" in text
