"""The Bot API double against the real, unmodified aiogram 3 over HTTP."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from tests.doubles.botapi import BotAPIDouble, User

pytestmark = pytest.mark.timeout(30)

TOKEN = "123456:TEST-TOKEN"


class FakeMethod(TelegramMethod[bool]):
    """A method Telegram does not have: the double must answer 404."""

    __returning__ = bool
    __api_method__ = "fakeMethodThatDoesNotExist"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Confirm", callback_data="confirm"),
                InlineKeyboardButton(text="Cancel", callback_data="cancel"),
            ]
        ]
    )


def _router(seen: list[str]) -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        seen.append(f"start:{message.message_id}")
        await message.answer(
            "<b>Welcome</b>, pick one", parse_mode="HTML", reply_markup=_keyboard()
        )

    @router.message(Command("echo"))
    async def echo(message: Message) -> None:
        seen.append(f"echo:{message.text}")
        await message.answer(f"echo {message.text}")

    @router.callback_query(F.data == "confirm")
    async def confirm(query: CallbackQuery) -> None:
        seen.append("confirm")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Confirmed")
        await query.answer("done")

    @router.callback_query(F.data == "cancel")
    async def cancel(query: CallbackQuery) -> None:
        seen.append("cancel")
        assert isinstance(query.message, Message)
        await query.message.delete()
        await query.answer()

    return router


@pytest.fixture
async def double() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(double: BotAPIDouble) -> AsyncIterator[Bot]:
    bot: Bot = double.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
def alice(double: BotAPIDouble) -> User:
    return double.add_user(1001, "Alice", username="alice", language_code="en")


@pytest.fixture
async def polling(double: BotAPIDouble, bot: Bot) -> AsyncIterator[list[str]]:
    """A running Dispatcher with the tiny router; yields the handler log."""
    seen: list[str] = []
    dp = Dispatcher()
    dp.include_router(_router(seen))
    async with double.polling(dp, bot, polling_timeout=5):
        yield seen


# ------------------------------------------------------------------ polling


async def test_start_command_reply_and_latency(
    double: BotAPIDouble, alice: User, polling: list[str]
) -> None:
    incoming = await double.send_text(alice, "/start")
    assert incoming.update["message"]["entities"] == [
        {"type": "bot_command", "offset": 0, "length": 6}
    ]
    reply = await double.wait_for_message(alice.id, r"Welcome")
    assert reply.text == "Welcome, pick one"  # HTML parsed like Telegram does
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 7}]
    assert reply.reply_markup == [[("Confirm", "confirm"), ("Cancel", "cancel")]]
    assert incoming.message_id is not None
    assert reply.message_id == incoming.message_id + 1  # one counter per chat
    assert reply.from_bot and reply.kind == "sent"
    latency = incoming.latency_to(reply)
    assert 0 <= latency < 2
    assert polling == [f"start:{incoming.message_id}"]
    assert double.requests[0].method == "getMe"
    method, params = double.requests_for("sendMessage")[0]
    assert method == "sendMessage"
    assert params["chat_id"] == alice.id and params["parse_mode"] == "HTML"
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "confirm"


async def test_offsets_acknowledge_and_nothing_is_delivered_twice(
    double: BotAPIDouble, alice: User, polling: list[str]
) -> None:
    sent = [await double.send_text(alice, f"/echo {i}") for i in range(5)]
    for i in range(5):
        await double.wait_for_message(alice.id, rf"^echo /echo {i}$")
    await double.wait_for_poll()
    await asyncio.sleep(0.05)  # the next getUpdates acknowledged the batch
    delivered_ids = [update_id for update_id, _ in double.deliveries]
    assert sorted(delivered_ids) == [s.update_id for s in sent]
    assert len(delivered_ids) == len(set(delivered_ids))
    assert all(s.acknowledged and s.delivery_count == 1 for s in sent)
    assert double.pending_updates == []
    assert polling == [f"echo:/echo {i}" for i in range(5)]


async def test_button_press_reaches_callback_handler(
    double: BotAPIDouble, alice: User, polling: list[str]
) -> None:
    await double.send_text(alice, "/start")
    menu = await double.wait_for_message(alice, "Welcome")
    query = await double.press_button(alice, menu, "confirm")
    edited = await double.wait_for_message(alice, "Confirmed")
    assert edited.kind == "edited" and edited.message_id == menu.message_id
    assert edited.reply_markup == []  # editMessageText without markup drops the keyboard
    answer = await double.wait_for_callback_answer(query)
    assert answer.text == "done"
    assert "confirm" in polling
    [entry] = double.transcript(alice.id)
    assert [v.kind for v in entry.history] == ["sent", "edited"]
    assert entry.text == "Confirmed"
    # The keyboard is gone now: a press must fail loudly, not pass by accident.
    with pytest.raises(AssertionError, match="no inline button"):
        await double.press_button(alice, menu, text="Confirm")


async def test_press_by_text_and_delete(
    double: BotAPIDouble, alice: User, polling: list[str]
) -> None:
    await double.send_text(alice, "/start")
    menu = await double.wait_for_message(alice, "Welcome")
    with pytest.raises(AssertionError, match="no inline button"):
        await double.press_button(alice, menu, "nope")
    await double.press_button(alice, menu.message_id, text="Cancel")
    gone = await double.wait_for_message(alice, kind="deleted")
    assert gone.deleted and gone.message_id == menu.message_id
    assert double.messages_deleted(alice.id) == [menu.message_id]


async def test_wait_for_message_timeout_shows_transcript(
    double: BotAPIDouble, alice: User
) -> None:
    with pytest.raises(AssertionError, match="no bot message"):
        await double.wait_for_message(alice, "never", timeout=0.1)


# ---------------------------------------------------------------- long poll


async def test_long_poll_waits_for_timeout_when_idle(double: BotAPIDouble, bot: Bot) -> None:
    started = time.monotonic()
    updates = await bot.get_updates(timeout=1)
    elapsed = time.monotonic() - started
    assert updates == []
    assert 0.9 <= elapsed < 2.0


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    double: BotAPIDouble, bot: Bot, alice: User
) -> None:
    async def later() -> None:
        await asyncio.sleep(0.3)
        await double.send_text(alice, "hello")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=10)
    elapsed = time.monotonic() - started
    await task
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert 0.25 <= elapsed < 1.5


async def test_offset_limit_and_allowed_updates(
    double: BotAPIDouble, bot: Bot, alice: User
) -> None:
    first = await double.send_text(alice, "one")
    second = await double.send_text(alice, "two")
    batch = await bot.get_updates(limit=1, timeout=0)
    assert [u.update_id for u in batch] == [first.update_id]
    again = await bot.get_updates(timeout=0)  # no offset: nothing acknowledged yet
    assert [u.update_id for u in again] == [first.update_id, second.update_id]
    rest = await bot.get_updates(offset=first.update_id + 1, timeout=0)
    assert [u.update_id for u in rest] == [second.update_id]
    assert first.acknowledged and not second.acknowledged
    assert await bot.get_updates(offset=second.update_id + 1, timeout=0) == []
    third = await double.send_text(alice, "three")
    assert await bot.get_updates(timeout=0, allowed_updates=["callback_query"]) == []
    assert third.dropped and double.dropped_updates == [third]


async def test_concurrent_get_updates_conflict(double: BotAPIDouble, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await double.wait_for_poll()
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    assert await second == []


# ------------------------------------------------------------------- files


async def test_document_upload_is_stored(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    sent = await bot.send_document(
        alice.id, BufferedInputFile(b"a,b\n1,2\n", "a.csv"), caption="report"
    )
    assert sent.document is not None
    assert sent.document.file_name == "a.csv" and sent.document.file_size == 8
    [upload] = double.uploads
    assert upload.data == b"a,b\n1,2\n" and upload.filename == "a.csv"
    assert upload.mime_type == "text/csv"
    snapshot = await double.wait_for_message(alice, "report")
    assert snapshot.document is upload
    assert double.requests_for("sendDocument")[0].params["caption"] == "report"
    # Resending by file_id reuses the stored file.
    again = await bot.send_document(alice.id, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(alice.id, BufferedInputFile(b"", "empty.txt"))


async def test_photo_media_group_and_download(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    photo = await bot.send_photo(alice.id, BufferedInputFile(_png(200, 100), "chart.png"))
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (
        200,
        100,
    )
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, BufferedInputFile(b"not an image", "x.png"))
    group = await bot.send_media_group(
        alice.id,
        [
            InputMediaDocument(media=BufferedInputFile(b"1", "one.txt"), caption="first"),
            InputMediaDocument(media=BufferedInputFile(b"22", "two.txt")),
        ],
    )
    assert [m.document.file_name for m in group if m.document] == ["one.txt", "two.txt"]
    assert group[0].media_group_id == group[1].media_group_id is not None
    # A file the user sends can be fetched by the bot (getFile + /file/ download).
    incoming = await double.send_document(alice, "channels.txt", b"@durov\n")
    document = incoming.update["message"]["document"]
    file = await bot.get_file(document["file_id"])
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"@durov\n"


def _png_header(width: int, height: int) -> bytes:
    """Just a PNG signature and IHDR: enough for Telegram (and the double) to read the
    dimensions of an image too large to build in a test."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = b"IHDR" + header
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + ihdr + struct.pack(
        ">I", zlib.crc32(ihdr)
    )


async def test_video_audio_voice_animation_uploads(
    double: BotAPIDouble, bot: Bot, alice: User
) -> None:
    video = await bot.send_video(
        alice.id, BufferedInputFile(b"\x00" * 2048, "clip.mp4"), caption="<b>clip</b>",
        width=640, height=360, duration=7, parse_mode="HTML",
    )
    assert video.video is not None and video.caption == "clip"
    assert (video.video.width, video.video.height, video.video.duration) == (640, 360, 7)
    assert video.video.mime_type == "video/mp4" and video.video.file_name == "clip.mp4"
    audio = await bot.send_audio(
        alice.id, BufferedInputFile(b"ID3" + b"\x00" * 100, "song.mp3"), title="Song",
        performer="Band", duration=180,
    )
    assert audio.audio is not None and (audio.audio.title, audio.audio.performer) == (
        "Song", "Band"
    )
    voice = await bot.send_voice(alice.id, BufferedInputFile(b"OggS" + b"\x00" * 50, "v.ogg"))
    assert voice.voice is not None and voice.voice.mime_type == "audio/ogg"
    gif = await bot.send_animation(alice.id, BufferedInputFile(b"GIF89a" + b"\x00" * 9, "a.gif"))
    assert gif.animation is not None and gif.document is not None
    snapshot = await double.wait_for_message(alice, "clip")
    assert snapshot.video is snapshot.media and snapshot.media is not None
    assert snapshot.media.kind == "video" and snapshot.media.data == b"\x00" * 2048
    assert [u.kind for u in double.uploads] == ["video", "audio", "voice", "animation"]
    # A file_id is reusable for its kind.
    again = await bot.send_video(alice.id, video.video.file_id)
    assert again.video is not None and again.video.file_id == video.video.file_id


async def test_upload_limits_like_telegram(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    # Photos: at most 10 MB, width + height <= 10000, ratio <= 20.
    big_photo = _png(10, 10) + b"\x00" * (10 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
        await bot.send_photo(alice.id, BufferedInputFile(big_photo, "big.png"))
    for width, height in ((6000, 4001), (2100, 100)):
        with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
            await bot.send_photo(alice.id, BufferedInputFile(_png_header(width, height), "p.png"))
    # The same bytes go as a document (any file up to 50 MB).
    doc = await bot.send_document(alice.id, BufferedInputFile(big_photo, "big.png"))
    assert doc.document is not None and doc.document.file_size == len(big_photo)
    # Multipart uploads: at most 50 MB.
    assert double.max_upload_size == 50 * 1024 * 1024
    with pytest.raises(TelegramEntityTooLarge):
        too_big = b"\x00" * (50 * 1024 * 1024 + 1)
        await bot.send_video(alice.id, BufferedInputFile(too_big, "x.mp4"))
    # Captions: at most 1024 characters after entity parsing, valid HTML.
    ok = "<b>" + "x" * 1024 + "</b>"
    sent = await bot.send_document(
        alice.id, BufferedInputFile(b"1", "a.txt"), caption=ok, parse_mode="HTML"
    )
    assert sent.caption == "x" * 1024
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_audio(alice.id, BufferedInputFile(b"1", "a.mp3"), caption="y" * 1025)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_photo(
            alice.id, BufferedInputFile(_png(2, 2), "p.png"), caption="<channel|all>",
            parse_mode="HTML",
        )


async def test_media_groups_mix_like_telegram(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    mixed = await bot.send_media_group(
        alice.id,
        [
            InputMediaPhoto(media=BufferedInputFile(_png(4, 4), "p.png"), caption="album"),
            InputMediaVideo(media=BufferedInputFile(b"\x00" * 10, "v.mp4")),
        ],
    )
    assert mixed[0].photo is not None and mixed[1].video is not None
    songs = await bot.send_media_group(
        alice.id,
        [InputMediaAudio(media=BufferedInputFile(b"1", f"{i}.mp3")) for i in range(3)],
    )
    assert [m.audio is not None for m in songs] == [True] * 3
    with pytest.raises(TelegramBadRequest, match="can't be mixed"):
        await bot.send_media_group(
            alice.id,
            [
                InputMediaDocument(media=BufferedInputFile(b"1", "a.zip")),
                InputMediaPhoto(media=BufferedInputFile(_png(4, 4), "p.png")),
            ],
        )
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(
            alice.id,
            [InputMediaDocument(media=BufferedInputFile(b"1", f"{i}.zip")) for i in range(11)],
        )


# ------------------------------------------------------------------ faults


async def test_fault_classes(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    double.faults.add(method="sendMessage", status=429, retry_after=3, times=1)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(alice.id, "x")
    assert retry.value.retry_after == 3
    assert (await bot.send_message(alice.id, "x")).text == "x"  # times=1 wore out

    double.faults.add(method="getUpdates", status=409)
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await bot.get_updates(timeout=0)

    double.faults.add(method="sendMessage", status=401)
    with pytest.raises(TelegramUnauthorizedError):
        await bot.send_message(alice.id, "x")

    fault = double.faults.add(method="sendMessage", status=500, times=None)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(alice.id, "x")
    assert fault.hits == 2
    double.faults.clear()

    with pytest.raises(TelegramNotFound):
        await bot(FakeMethod())
    assert double.request_count("fakeMethodThatDoesNotExist") == 1

    double.faults.add(method="getMe", drop=True)
    with pytest.raises(TelegramNetworkError):
        await bot.get_me()

    double.block_bot(alice)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(alice.id, "x")


async def test_wrong_token_is_unauthorized(double: BotAPIDouble) -> None:
    intruder = Bot("999:WRONG", session=AiohttpSession(api=double.api_server()))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert double.requests == []


async def test_slow_answer(double: BotAPIDouble, bot: Bot) -> None:
    double.faults.add(method="getMe", delay=0.5)
    started = time.monotonic()
    me = await bot.get_me()
    assert me.username == "test_bot" and me.id == 123456
    assert time.monotonic() - started >= 0.45


# ------------------------------------------------------- edits and deletes


async def test_edit_and_delete_errors(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    sent = await bot.send_message(alice.id, "status", reply_markup=_keyboard())
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "status", chat_id=alice.id, message_id=sent.message_id, reply_markup=_keyboard()
        )
    edited = await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, 999)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(alice.id, "a < b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "nobody")
    # The user's own message is part of the chat: the bot may delete it.
    code = await double.send_text(alice, "1 2 3 4 5")
    assert code.message_id is not None
    assert await bot.delete_message(alice.id, code.message_id)
    assert await bot.delete_messages(alice.id, [sent.message_id, 12345])
    assert double.messages_deleted(alice.id) == [code.message_id, sent.message_id]
    assert [e.deleted for e in double.transcript(alice.id)] == [True]


async def test_commands_per_scope_and_language(double: BotAPIDouble, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Начать")], language_code="ru"
    )
    await bot.set_my_commands(
        [BotCommand(command="admin", description="Admin")], scope=BotCommandScopeChat(chat_id=7)
    )
    assert double.commands == {"": [("start", "Start")], "ru": [("start", "Начать")]}
    assert double.commands_for({"type": "chat", "chat_id": 7}) == [("admin", "Admin")]
    ru = await bot.get_my_commands(language_code="ru")
    assert [(c.command, c.description) for c in ru] == [("start", "Начать")]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


async def test_raw_json_and_form_bodies(double: BotAPIDouble, alice: User) -> None:
    url = f"{double.base_url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as http:
        markup: dict[str, Any] = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        async with http.post(
            f"{url}/sendMessage",
            json={"chat_id": alice.id, "text": "json", "reply_markup": markup},
        ) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["reply_markup"] == markup
        async with http.post(
            f"{url}/SENDMESSAGE", data={"chat_id": str(alice.id), "text": "f"}
        ) as resp:
            assert (await resp.json())["result"]["text"] == "f"
        async with http.post(f"{url}/nope") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
    assert [r.method for r in double.requests] == ["sendMessage", "sendMessage", "nope"]
    assert double.requests[1] == ("sendMessage", {"chat_id": alice.id, "text": "f"})
    assert double.requests[2].status == 404


async def test_formatting_and_cursor(double: BotAPIDouble, bot: Bot, alice: User) -> None:
    await bot.send_message(alice.id, "*bold* \\- _it_", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="reserved and must be escaped"):
        await bot.send_message(alice.id, "v1.2", parse_mode="MarkdownV2")
    first = await double.wait_for_message(alice, "bold")
    assert first.text == "bold - it"
    assert [e["type"] for e in first.entities] == ["bold", "italic"]
    marker = double.mark()
    await bot.send_message(alice.id, "second")
    await bot.send_message(alice.id, "third")
    assert (await double.wait_for_message(alice)).text == "second"  # the cursor moved on
    assert (await double.wait_for_message(alice)).text == "third"
    assert (await double.wait_for_message(alice, after=marker)).text == "second"
    assert (await double.wait_for_message(alice, "bold", after=0)).message_id == 1


async def test_user_must_start_the_bot(double: BotAPIDouble, bot: Bot) -> None:
    bob = double.add_user(2002, "Bob", started=False)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(bob.id, "hi")
    said = await double.send_text(bob, "hello")
    assert said.message_id is not None
    assert (await bot.send_message(bob.id, "hi")).message_id == said.message_id + 1
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=bob.id, message_id=said.message_id)


async def test_polling_helper_surfaces_startup_errors(double: BotAPIDouble, bot: Bot) -> None:
    double.faults.add("getMe", 401)
    with pytest.raises(TelegramUnauthorizedError):
        async with double.polling(Dispatcher(), bot):
            pass


async def test_channel_post_has_sender_chat(double: BotAPIDouble, bot: Bot) -> None:
    double.add_chat(-1001, "channel", "Alerts", username="alerts")
    post = await bot.send_message("@alerts", "alert")
    assert post.from_user is None and post.sender_chat is not None
    assert post.chat.id == -1001


# ------------------------------------------------- rules Telegram enforces


def _buttons(n: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=str(i), callback_data=f"b{i}") for i in range(j, j + 5)]
            for j in range(0, n, 5)
        ]
    )


async def test_an_inline_keyboard_of_more_than_100_buttons_is_refused(
    double: BotAPIDouble, bot: Bot, alice: User
) -> None:
    sent = await bot.send_message(alice.id, "a page", reply_markup=_buttons(100))
    assert len(double.message(alice.id, sent.message_id).callback_datas) == 100
    for call in (
        bot.send_message(alice.id, "too many", reply_markup=_buttons(105)),
        bot.edit_message_text(
            "more", chat_id=alice.id, message_id=sent.message_id, reply_markup=_buttons(105)
        ),
        bot.edit_message_reply_markup(
            chat_id=alice.id, message_id=sent.message_id, reply_markup=_buttons(105)
        ),
    ):
        with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
            await call
    assert len(double.transcript(alice.id)) == 1 and double.transcript(alice.id)[0].edits == 0


async def test_a_callback_query_answered_too_late_is_refused(
    double: BotAPIDouble, bot: Bot, alice: User
) -> None:
    sent = await bot.send_message(alice.id, "pick", reply_markup=_keyboard())
    late = await double.press_button(alice, sent.message_id, "confirm")
    [update] = await bot.get_updates(timeout=0)
    assert late.delivered_at is not None
    double.callback_answer_timeout = 0.0  # every answer comes "later than" the window
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(str(late.callback_query_id))
    assert str(late.callback_query_id) not in double.answered_callbacks

    double.callback_answer_timeout = 15.0  # Telegram's
    in_time = await double.press_button(alice, sent.message_id, "cancel")
    await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert await bot.answer_callback_query(str(in_time.callback_query_id), text="ok")
    assert double.answered_callbacks[str(in_time.callback_query_id)].text == "ok"


async def test_set_my_commands_is_validated_like_telegram(double: BotAPIDouble, bot: Bot) -> None:
    longest = BotCommand(command="a_1" + "x" * 29, description="d" * 256)
    assert await bot.set_my_commands([longest])
    assert double.commands == {"": [(longest.command, longest.description)]}
    for bad, error in (
        (BotCommand(command="x" * 33, description="d"), "BOT_COMMAND_INVALID"),
        (BotCommand(command="", description="d"), "BOT_COMMAND_INVALID"),
        (BotCommand(command="Start", description="d"), "BOT_COMMAND_INVALID"),
        (BotCommand(command="start", description=""), "BOT_COMMAND_DESCRIPTION_INVALID"),
        (BotCommand(command="start", description="d" * 257), "BOT_COMMAND_DESCRIPTION_INVALID"),
    ):
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.set_my_commands([bad])
    many = [BotCommand(command=f"c{i}", description="d") for i in range(101)]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands(many)
    assert await bot.set_my_commands(many[:100])
    assert len(double.commands[""]) == 100
