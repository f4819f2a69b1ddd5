"""Media in the bot (#16), real Updates through the real Dispatcher: the media choice of
/channels, the 📎 buttons of /search and keyword alerts, sending a post's file (or
saying why not), the media lines of /status."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape as html_escape
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.channel_buttons import ChannelItem, ChannelMedia, ItemAction, MediaOp
from bot.component import ControlBot
from bot.delivery import alert_markup, render_alert
from bot.media_send import MediaSend, failure_reason, status_text
from bot.routers.export import (
    BadMediaOption,
    ExportMediaPick,
    GarbledOption,
    parse_export_args,
)
from core.archive import HL_END, HL_START, SearchHit, WatchHit
from core.health import HealthRegistry
from core.media import MediaCounts, MediaPolicy, StoredMedia
from services.watches import watch_alert
from tests.unit.bot.archive_fakes import FakeArchive, FakeWatches, channel
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import (
    FakeChannels,
    FakeMediaFiles,
    FakeMediaStatus,
    FakeStatus,
    make_deps,
)

MB = 1024 * 1024
HOSTILE = '<b>&amp; "Q" </i> שלום ' + "Канал «Новости» " * 20


@dataclass
class MediaBot:
    tg: BotUnderTest
    archive: FakeArchive
    files: FakeMediaFiles
    status: FakeMediaStatus


@pytest.fixture
async def media_bot(tmp_path: Path) -> AsyncIterator[MediaBot]:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = [channel(1), channel(2, username=None, title=HOSTILE)]
    archive = FakeArchive(tmp_path, channels=channels)
    files = FakeMediaFiles(tmp_path / "media", upload_limit=20 * MB)
    status = FakeMediaStatus()
    fake_channels = FakeChannels()
    deps = replace(
        make_deps({ADMIN}, channels=fake_channels, status=FakeStatus(health)),
        archive=archive,
        watches=FakeWatches(channels=channels),
        media=files,
        media_status=status,
    )
    control = ControlBot(bot, deps, health=health)
    yield MediaBot(BotUnderTest(control, bot, session, Updates(), fake_channels, health),
                   archive, files, status)


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _done(msg_id: int, kind: str, size: int, key: str, **extra: object) -> StoredMedia:
    return StoredMedia(1, msg_id, kind, "done", size=size, key=key, **extra)  # type: ignore[arg-type]


# -- /channels ---------------------------------------------------------------------


async def test_the_media_choice_round_trip(tg: BotUnderTest) -> None:
    ch = tg.channels.add(title="News", username="news", media_mode="photos")
    (view,) = await tg.press(ChannelItem(action=ItemAction.VIEW, channel_id=ch.id, page=0).pack())
    assert "Media: photos only, files up to 50 MB" in view.text
    media_data = ChannelMedia(channel_id=ch.id, page=0, op=MediaOp.VIEW).pack()
    assert ("🖼 Media: photos", media_data) in view.buttons
    (settings,) = await tg.press(media_data, on=view)
    labels = [text for text, _ in settings.buttons]
    assert "✅ Photos" in labels and "✅ 50 MB" in labels and "No cap" in labels
    assert not any("Videos" in x for x in labels)  # kinds only in mode all

    def press(op: MediaOp, arg: str) -> str:
        return ChannelMedia(channel_id=ch.id, page=0, op=op, arg=arg).pack()

    (all_kinds,) = await tg.press(press(MediaOp.MODE, "all"), on=settings)
    assert "every kind, files up to 50 MB" in all_kinds.text
    assert "✅ Videos" in [x for x, _ in all_kinds.buttons]
    (no_video,) = await tg.press(press(MediaOp.KIND, "video"), on=all_kinds)
    assert "⬜ Videos" in [x for x, _ in no_video.buttons]
    assert "photos, round videos, voice messages, audio, documents, GIFs, stickers" in (
        no_video.text
    )
    (capped,) = await tg.press(press(MediaOp.SIZE, "200"), on=no_video)
    assert "files up to 200 MB" in capped.text
    (free,) = await tg.press(press(MediaOp.SIZE, "0"), on=capped)
    assert "files of any size" in free.text and "✅ No cap" in [x for x, _ in free.buttons]
    # A forged cap or kind changes nothing.
    calls = len(tg.channels.calls)
    await tg.press(press(MediaOp.SIZE, "12345"), on=free)
    await tg.press(press(MediaOp.KIND, "pdf"), on=free)
    assert len(tg.channels.calls) == calls
    stored = tg.channels.channels[ch.id]
    assert (stored.media_mode, stored.media_max_mb) == ("all", 0)
    assert stored.media_kinds is not None and "video" not in stored.media_kinds
    (off,) = await tg.press(press(MediaOp.MODE, "off"), on=free)
    assert "Now: no files are downloaded" in off.text
    assert "posts read from now on" in off.text and "files not downloaded yet" in off.text
    assert "set aside (not deleted)" in off.text and "queued again" in off.text
    (back,) = await tg.press(ChannelItem(action=ItemAction.VIEW, channel_id=ch.id, page=0).pack())
    assert "Media: no files are downloaded" in back.text
    # The kinds chosen stay for when "all" is picked again.
    assert tg.channels.channels[ch.id].media_kinds == stored.media_kinds


async def test_the_russian_media_view_reads_as_russian(tg: BotUnderTest) -> None:
    tg.updates.lang = "ru"
    ch = tg.channels.add(title="Новости", username="news", media_mode="off")
    (view,) = await tg.press(ChannelMedia(channel_id=ch.id, page=0, op=MediaOp.VIEW).pack())
    assert "Сейчас: файлы не скачиваются" in view.text  # was "Сейчас сохраняются: не ..."
    some = tg.channels.add(title="Видео", username="v", media_mode="all",
                           media_kinds=("video", "voice"), media_max_mb=None)
    (view,) = await tg.press(ChannelMedia(channel_id=some.id, page=0, op=MediaOp.VIEW).pack())
    assert "Сейчас: видео, голосовые; файлы до 50 МБ" in view.text
    (page,) = await tg.send("/channels")
    assert " · медиа: выкл" in page.text and " · медиа: видео, голосовые" in page.text
    # The view says a change also reaches the files not downloaded yet (set aside, or
    # queued again), not only the posts read from now on.
    assert "прочитанные с этого момента" in view.text and "ещё не скачаны" in view.text
    assert "откладываются (не удаляются)" in view.text and "в очередь" in view.text


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_thousand_channels_stay_within_telegram_limits(
    tg: BotUnderTest, lang: str
) -> None:
    tg.updates.lang = lang
    tg.channels.media_defaults = MediaPolicy(max_bytes=75 * MB)  # MEDIA_MAX_MB=75
    # The longest lists of kinds: four kept, or all but three.
    kinds = [("photo", "voice", "sticker"), ("round", "voice", "document", "sticker"),
             ("photo", "video", "audio", "animation", "voice"), ()]
    for i in range(1000):
        tg.channels.add(title=HOSTILE + str(i), username=f"c{i}" if i % 2 else None,
                        media_mode="all", media_kinds=kinds[i % 4], media_max_mb=None,
                        comments_enabled=True, comments_count=123_456_789,
                        last_error="FLOOD_WAIT_X " + "ошибка <b> " * 50)
    (page,) = await tg.send("/channels")  # the session refuses what Telegram refuses
    if lang == "en":
        assert page.text.count(" · media: photos, voice messages, stickers") == 3
        assert " · media: round videos, voice messages, documents, stickers" in page.text
        assert " · media: all but round videos, documents, stickers" in page.text
        assert page.text.count(" · media: off") == 2 and " · media: all\n" not in page.text
    else:
        assert page.text.count(" · медиа: фото, голосовые, стикеры") == 3
        assert " · медиа: всё, кроме видеосообщений, документов, стикеров" in page.text
        assert page.text.count(" · медиа: выкл") == 2
    (view,) = await tg.press(ChannelItem(action=ItemAction.VIEW, channel_id=2, page=0).pack())
    label = next(x for x, _ in view.buttons if x.startswith("🖼"))
    assert len(label) <= 48 and label.startswith("🖼 Media: round" if lang == "en" else "🖼 Медиа: ")
    (view,) = await tg.press(ChannelItem(action=ItemAction.VIEW, channel_id=1000, page=99).pack())
    media = ChannelMedia(channel_id=1000, page=99, op=MediaOp.VIEW).pack()
    assert media in [d for _, d in view.buttons]
    (settings,) = await tg.press(media, on=view)
    caps = [x for x, _ in settings.buttons if "MB" in x or "МБ" in x]
    assert len(caps) == 4 and any("75" in x for x in caps)  # 10, 50, 75, 200
    assert len(settings.buttons) <= 100
    assert all(len(d.encode()) <= 64 for _, d in settings.buttons)


# -- sending a post's media --------------------------------------------------------


async def _press_media(mb: MediaBot, channel_id: int, msg_id: int) -> list:  # type: ignore[type-arg]
    return await mb.tg.press(MediaSend(channel_id=channel_id, msg_id=msg_id).pack())


async def test_a_photo_goes_as_a_photo_with_its_caption(media_bot: MediaBot) -> None:
    media_bot.files.add(_done(5, "photo", 1000, "ab/cd/p.jpg", width=800, height=600),
                        data=b"\xff" * 1000)
    (sent,) = await _press_media(media_bot, 1, 5)
    assert sent.method == "sendPhoto"
    assert sent.params["caption"] == "C1 · @c1 · https://t.me/c1/5"


async def test_a_big_or_odd_photo_goes_as_a_document(media_bot: MediaBot) -> None:
    big = _done(6, "photo", 11 * MB, "ab/cd/big.jpg")
    _sparse(media_bot.files.root / "ab/cd/big.jpg", 11 * MB)
    media_bot.files.add(big)
    (sent,) = await _press_media(media_bot, 1, 6)
    assert sent.method == "sendDocument"
    thin = _done(7, "photo", 1000, "ab/cd/thin.jpg", width=5000, height=200)
    media_bot.files.add(thin, data=b"x" * 1000)
    (sent,) = await _press_media(media_bot, 1, 7)
    assert sent.method == "sendDocument"
    # A comment's media: the discussion group has no link of its own here; a long title.
    doc = StoredMedia(2, 8, "document", "done", size=10, key="ab/cd/d.pdf",
                      file_name="отчёт/2026:\x07.pdf")
    media_bot.files.add(doc, data=b"%PDF-1.4 x")
    (sent,) = await _press_media(media_bot, 2, 8)
    assert sent.method == "sendDocument" and len(sent.params["caption"]) <= 1024


async def test_a_file_over_the_upload_limit_is_named_by_its_path(media_bot: MediaBot) -> None:
    video = _done(9, "video", 30 * MB, "ef/01/v.mp4")
    _sparse(media_bot.files.root / "ef/01/v.mp4", 30 * MB)
    media_bot.files.add(video)
    (sent,) = await _press_media(media_bot, 1, 9)
    assert sent.method == "sendMessage"
    assert str(media_bot.files.root / "ef/01/v.mp4") in sent.text
    assert "30 MB" in sent.text and "(20 MB)" in sent.text


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_files_not_there_are_explained(media_bot: MediaBot, lang: str) -> None:
    media_bot.tg.updates.lang = lang
    f = media_bot.files
    f.add(StoredMedia(1, 20, "video", "queued", size=5 * MB))
    f.add(StoredMedia(1, 21, "video", "skipped", size=300 * MB, reason="too_big"))
    f.add(StoredMedia(1, 22, "document", "failed", reason="FILE_ID_INVALID"))
    f.add(StoredMedia(1, 23, "voice", "failed", reason="SOMETHING_<NEW>"))
    f.add(_done(24, "audio", 10, "gone/x.mp3"))  # done, but not on disk any more
    texts = [(await _press_media(media_bot, 1, n))[0].text for n in (20, 21, 22, 23, 24, 25)]
    if lang == "en":
        assert "not downloaded yet" in texts[0]
        assert "300 MB" in texts[1] and "size cap" in texts[1]
        assert "Telegram no longer serves this file" in texts[2]
        assert "SOMETHING_&lt;NEW&gt;" in texts[3]
        assert "no longer on disk" in texts[4]
        assert "no file" in texts[5]
    else:
        assert "ещё не скачан" in texts[0]
        assert "300 МБ" in texts[1]
        assert "Telegram больше не отдаёт этот файл" in texts[2]
        assert "SOMETHING_&lt;NEW&gt;" in texts[3]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_file_waiting_for_paused_downloads_says_why(
    media_bot: MediaBot, lang: str, tmp_path: Path
) -> None:
    media_bot.tg.updates.lang = lang
    media_bot.files.root = tmp_path / "m <&> dir"
    media_bot.files.add(StoredMedia(1, 30, "video", "queued", size=5 * MB, reason="DISK_FULL"))
    media_bot.status.figures = MediaCounts(queued=1, paused="disk_full", free_bytes=12 * MB)
    (full,) = await _press_media(media_bot, 1, 30)
    folder = html_escape(str((tmp_path / "m <&> dir").resolve()), quote=False)
    assert f"<code>{folder}</code>" in full.text and "disk_full" not in full.text.lower()
    assert ("12 MB free" in full.text) if lang == "en" else ("свободно 12 МБ" in full.text)
    assert "MIN_FREE_DISK_MB" in full.text
    media_bot.status.figures = MediaCounts(queued=1, paused="no_session")
    (login,) = await _press_media(media_bot, 1, 30)
    assert "/login" in login.text
    media_bot.status.figures = MediaCounts(queued=1, paused="media_dir")
    (folder_pause,) = await _press_media(media_bot, 1, 30)
    assert "media_dir" not in folder_pause.text
    assert ("media folder cannot be written" in folder_pause.text) if lang == "en" else (
        "в папку медиафайлов нельзя записывать" in folder_pause.text
    )
    # Room again, the file not tried since: the stored reason, in words.
    media_bot.status.figures = MediaCounts(queued=1)
    (later,) = await _press_media(media_bot, 1, 30)
    assert "DISK_FULL" not in later.text and "disk_full" not in later.text
    assert ("disk of the media folder is full" in later.text) if lang == "en" else (
        "на диске с папкой медиафайлов закончилось место" in later.text
    )
    # Only the pause was asked for, not /status's counts (a GROUP BY over every row).
    assert media_bot.status.counted == 0


# Every reason the app stores on a row that waits (services/media/service.py: _defer,
# _guarded, _telegram_error) and on a failed one (_fail, parser/errors.py media_error).
WAIT_REASONS = (
    "FLOOD_WAIT", "TRANSPORT", "SERVER", "NO_ANSWER", "TIMEOUT", "CLOCK_SKEW",
    "CHANNEL_UNAVAILABLE", "NOT_CHANNEL", "TELEGRAM_ERROR", "UNKNOWN_RPC", "CHANNEL_INVALID",
    "PEER_ID_INVALID", "DISK_FULL", "MEDIA_DIR", "ERROR",
)  # fmt: skip
FAIL_REASONS = (
    "SIZE_MISMATCH", "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_EMPTY", "MESSAGE_DELETED",
    "MEDIA_GONE", "MEDIA_CHANGED", "FILE_ID_INVALID", "LOCATION_INVALID", "CHANNEL_PRIVATE",
    "CHANNEL_INVALID", "PEER_ID_INVALID",
)  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_every_stored_reason_is_said_in_words_once_with_the_retry_once(
    media_bot: MediaBot, lang: str
) -> None:
    media_bot.tg.updates.lang = lang
    rows = [("queued", r) for r in WAIT_REASONS] + [("failed", r) for r in FAIL_REASONS]
    for n, (status, reason) in enumerate(rows, start=100):
        media_bot.files.add(StoredMedia(1, n, "video", status, size=5 * MB, reason=reason))
    retry = "tried again" if lang == "en" else "повторится"
    for n, (status, reason) in enumerate(rows, start=100):
        (sent,) = await _press_media(media_bot, 1, n)
        text = sent.text
        assert reason not in text and "_" not in text, (reason, text)
        assert "Telegram's answer" not in text and "ответ Telegram" not in text, text
        assert not re.search(r"\([^)]*\(", text), text  # no brackets inside brackets
        assert text.lower().count(retry) == (1 if status == "queued" else 0), text
        assert "go on by themselves" not in text and "продолжится" not in text, text
        if lang == "ru":
            assert not re.search(r"[A-Za-z]{3,}", text.replace("Telegram", "")), text
    # Set aside by the channel's choice while it downloads (reason kept on the running
    # row): it reads as skipped, never as a code or a retry.
    media_bot.files.add(StoredMedia(1, 90, "video", "downloading", size=300 * MB,
                                    reason="too_big"))
    media_bot.files.add(StoredMedia(1, 91, "video", "downloading", size=5 * MB,
                                    reason="not_kept"))
    big, unwanted = [(await _press_media(media_bot, 1, n))[0].text for n in (90, 91)]
    assert ("300 MB" in big) if lang == "en" else ("300 МБ" in big)
    for text in (big, unwanted):
        assert "_" not in text and retry not in text.lower(), text
        assert "Telegram's answer" not in text and "ответ Telegram" not in text, text
    # Paused for an unusable folder: the cause once, that it goes on by itself once.
    media_bot.status.figures = MediaCounts(queued=1, paused="media_dir")
    (paused,) = await _press_media(media_bot, 1, 100)
    goes_on = "go on by themselves" if lang == "en" else "продолжится"
    assert paused.text.count(goes_on) == 1 and retry not in paused.text.lower(), paused.text
    assert media_bot.status.counted == 0


def test_the_russian_texts_say_downloading_media_one_way() -> None:
    """"загрузка" also means upload: downloading media is "скачивание медиафайлов"."""
    locales = Path(__file__).parents[4] / "bot/locales/ru/LC_MESSAGES"
    for name in ("media.po", "downloads.po", "base.po"):
        text = (locales / name).read_text(encoding="utf-8")
        strings = " ".join(re.findall(r'^(?:msgstr )?"(.*)"$', text, flags=re.M))
        assert not re.search(r"[Зз]агрузк[аиу] (медиа|продолж)|загрузчик", strings), name
        assert not re.search(r"[Сс]качивани[ея] медиа(?!файл)", strings), name


async def test_paths_are_absolute_whatever_the_media_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.media_files import MediaFilesService

    class Store:
        async def get(self, key: str) -> Path:
            return Path("data/media") / key  # relative, as MEDIA_DIR unset gives

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/media/ab").mkdir(parents=True)
    (tmp_path / "data/media/ab/f.mp4").write_bytes(b"x")
    svc = MediaFilesService(Store(), 50, Path("data/media"))  # type: ignore[arg-type]
    assert svc.folder == (tmp_path / "data/media").resolve()
    path = await svc.local_file(_done(1, "video", 1, "ab/f.mp4"))
    assert path == (tmp_path / "data/media/ab/f.mp4").resolve() and path.is_absolute()


# -- /search and keyword alerts ------------------------------------------------------


async def test_search_hits_with_media_get_a_button(media_bot: MediaBot) -> None:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    media_bot.archive.hits = [
        SearchHit(100 + i, "@c1", i, when, f"{HL_START}x{HL_END}", f"https://t.me/c1/{i}")
        for i in range(1, 8)
    ]
    media_bot.files.add(_done(2, "photo", 10, "aa/bb/2.jpg"), message_id=102, data=b"x" * 10)
    media_bot.files.add(StoredMedia(1, 7, "video", "queued"), message_id=107)
    (page,) = await media_bot.tg.send("/search x")
    media_buttons = [(x, d) for x, d in page.buttons if x.startswith("📎")]
    assert media_buttons == [("📎 2", MediaSend(channel_id=1, msg_id=2).pack())]
    nxt = next(d for x, d in page.buttons if not x.startswith("📎"))
    (second,) = await media_bot.tg.press(nxt, on=page)
    assert ("📎 7", MediaSend(channel_id=1, msg_id=7).pack()) in second.buttons
    (photo,) = await media_bot.tg.press(MediaSend(channel_id=1, msg_id=2).pack(), on=page)
    assert photo.method == "sendPhoto"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_watch_alert_numbers_the_posts_with_media(lang: str) -> None:
    hits = [
        WatchHit(1, "нефть", 100 + i, "@c1" if i else HOSTILE, f"https://t.me/c1/{i}", "")
        for i in range(20)
    ]
    media = {100 + i: StoredMedia(9, i, "photo", "queued") for i in range(0, 20, 2)}
    body = watch_alert(hits, 5, media)
    text = render_alert(body, lang)
    assert text.count("📎") == 10 and "📎 10" in text
    markup = alert_markup(body)
    assert markup is not None
    datas = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert len(datas) == 10 and datas[0] == MediaSend(channel_id=9, msg_id=0).pack()
    assert alert_markup(watch_alert(hits[:1], 0, {})) is None


# -- /status -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_status_shows_the_media_figures(media_bot: MediaBot, lang: str) -> None:
    media_bot.tg.updates.lang = lang
    media_bot.status.figures = MediaCounts(
        queued=1200, downloading=3, done=45_000, skipped=7, failed=2, files=44_000,
        bytes_on_disk=3 * 1024 * MB + 300 * MB, paused="disk_full", free_bytes=120 * MB,
    )
    (status,) = await media_bot.tg.send("/status")
    if lang == "en":
        assert "queued 1,200, downloading 3, downloaded 45,000, skipped 7, failed 2" in status.text
        assert "Media on disk: 3.3 GB, stored files: 44,000" in status.text
        assert "disk is almost full (free: 120 MB)" in status.text
    else:
        assert "Медиафайлы: в очереди — 1\xa0200, скачивается — 3, скачано — 45\xa0000, " \
               "пропущено — 7, с ошибкой — 2" in status.text
        assert "3,3 ГБ" in status.text
        assert "свободно 120 МБ" in status.text
    media_bot.status.figures = MediaCounts(paused="something_else", free_bytes=None)
    (status,) = await media_bot.tg.send("/status")
    assert "something_else" in status.text


# -- /export -------------------------------------------------------------------------


def test_export_media_words() -> None:
    assert parse_export_args("@c1 csv media").media == "zip"
    assert parse_export_args("all с медиа нефть").media == "zip"
    assert parse_export_args("all с медиа нефть").keyword == "нефть"
    assert parse_export_args("media:paths").media == "paths"
    assert parse_export_args("@c1 медиа:пути").channel == "@c1"
    assert parse_export_args("@c1 xlsx").media == ""
    assert parse_export_args("@c1 медиа-холдинг").keyword == "медиа-холдинг"  # a word
    assert parse_export_args('@c1 "media:path"').media == ""  # quoted: searched for


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_mistyped_media_option_is_answered_with_its_spelling(
    media_bot: MediaBot, lang: str
) -> None:
    media_bot.tg.updates.lang = lang
    media, paths = ("media", "media:paths") if lang == "en" else ("медиа", "медиа:пути")
    for typo in ("media:path", "медиа:путь", "media:", "media=paths", "media:zip"):
        with pytest.raises(BadMediaOption):
            parse_export_args(f"@c1 нефть {typo}")
        (answer,) = await media_bot.tg.send(f"/export @c1 {typo}")
        assert f"<code>{media}</code>" in answer.text and f"<code>{paths}</code>" in answer.text
        (answer,) = await media_bot.tg.send(f"/export {typo}")  # no channel named first
        assert f"<code>{paths}</code>" in answer.text
    for typo, fix in (("media,", "media"), ("медиа.", "медиа"), ("media:paths,", "media:paths")):
        with pytest.raises(GarbledOption) as garbled:
            parse_export_args(f"@c1 {typo}")
        assert garbled.value.fix == fix
        (answer,) = await media_bot.tg.send(f"/export @c1 {typo}")
        assert f"<code>{fix}</code>" in answer.text
    assert not [c for c in media_bot.archive.calls if c[0].startswith("export")]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_export_with_media_uploads_the_list_and_says_what_it_holds(
    media_bot: MediaBot, lang: str
) -> None:
    media_bot.tg.updates.lang = lang
    media_bot.archive.rows = 5
    sent = await media_bot.tg.send("/export @c1 csv media")
    assert ("export_media", "zip") in media_bot.archive.calls
    docs = [s for s in sent if s.method == "sendDocument"]
    assert len(docs) == 3  # the rows, the list, the one media part
    final = sent[-1].text
    assert ("zipped: 2" in final) if lang == "en" else ("в архивах: 2" in final)
    sent = await media_bot.tg.send("/export @c1 media:paths")
    assert ("export_media", "paths") in media_bot.archive.calls
    assert ".media.tsv" in sent[-1].text


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_media_parts_go_one_at_a_time_and_a_full_disk_is_said(
    media_bot: MediaBot, lang: str
) -> None:
    tg, archive = media_bot.tg, media_bot.archive
    tg.updates.lang = lang
    archive.rows, archive.media_zip_parts = 5, 3
    sent = await tg.send("/export @c1 media")
    docs = [s for s in sent if s.method == "sendDocument"]
    assert len(docs) == 5
    captions = [d.params.get("caption") for d in docs[2:]]
    assert captions == (
        [f"Media files, part {i} of 3" for i in (1, 2, 3)]
        if lang == "en"
        else [f"Медиафайлы, часть {i} из 3" for i in (1, 2, 3)]
    )
    # Each part is built after the one before was sent and deleted.
    steps = [c for c in archive.calls if c[0].startswith("media_part")]
    assert steps == [(k, i) for i in (1, 2, 3) for k in ("media_part", "media_part_deleted")]
    # The disk has room for one part only: the rows, the list and part 1 are sent, then
    # the operator reads why the rest was not, with the folder (escaped) and the room.
    archive.calls.clear()
    archive.room_for = 1
    sent = await tg.send("/export @c1 media")
    assert [s.method for s in sent].count("sendDocument") == 3
    final = sent[-1].text
    assert html_escape(str(archive.out_dir / "<tmp & co>")) in final
    if lang == "en":
        assert "Media part 2 of 3 was not sent" in final and "3 MB free" in final
        assert "needs 60 MB" in final and "<code>media:paths</code>" in final
    else:
        assert "Часть 2 из 3 с медиафайлами не отправлена" in final and "свободно 3 МБ" in final
        assert "нужно 60 МБ" in final and "<code>медиа:пути</code>" in final
    assert ("media_part_deleted", 1) in archive.calls and ("cleanup", 5) in archive.calls


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_reason_the_downloader_gives_reads_in_the_operators_language(lang: str) -> None:
    reasons = (
        "FILE_ID_INVALID", "LOCATION_INVALID", "CHANNEL_PRIVATE", "FILE_REFERENCE_EXPIRED",
        "FILE_REFERENCE_EMPTY", "MESSAGE_DELETED", "MEDIA_GONE", "MEDIA_CHANGED",
        "FLOOD_WAIT", "TRANSPORT", "ERROR", "DISK_FULL", "CHANNEL_INVALID",
        # The app's own codes (core/errors.py), never Telegram's: not "Telegram's answer".
        "CHANNEL_UNAVAILABLE", "NOT_CHANNEL", "SERVER", "NO_ANSWER", "TIMEOUT", "CLOCK_SKEW",
        "UNKNOWN_RPC", "TELEGRAM_ERROR", "NO_SESSION",
    )
    for reason in reasons:
        text = failure_reason(reason, lang)
        assert reason not in text and "_" not in text, (lang, reason)
        if lang == "ru":
            assert not re.search(r"[A-Za-z]{3,}", text.replace("Telegram", "")), text
    waiting = status_text(StoredMedia(1, 1, "video", "queued", reason="FLOOD_WAIT"), lang)
    assert waiting is not None and "FLOOD_WAIT" not in waiting


async def test_export_media_buttons(media_bot: MediaBot) -> None:
    tg, archive = media_bot.tg, media_bot.archive
    archive.rows = 4
    (menu,) = await tg.send("/export")
    (formats,) = await tg.press(dict(menu.buttons)["C1 · @c1"], on=menu)
    media = dict(formats.buttons)["📎 CSV + media files"]
    assert ExportMediaPick.unpack(media) == ExportMediaPick(channel_id=1, media="zip")
    assert all(len(d.encode()) <= 64 for _, d in formats.buttons)
    sent = await tg.press(media, on=formats)
    assert [s.method for s in sent].count("sendDocument") == 3  # rows, list, 1 part
    assert ("export_media", "zip") in archive.calls
    paths = dict(formats.buttons)["📎 CSV + where the files are"]
    await tg.press(paths, on=formats)
    assert ("export_media", "paths") in archive.calls


# -- albums ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_an_album_post_sends_the_albums_files(media_bot: MediaBot, lang: str) -> None:
    media_bot.tg.updates.lang = lang
    f = media_bot.files
    # 12 photos and a video (two albums: 10 + 3), a document (alone: sendDocument), one
    # photo not downloaded yet, one video over the upload limit (named by its path).
    ids = list(range(40, 56))
    for n in ids[:12]:
        f.add(_done(n, "photo", 1000, f"al/{n}.jpg", width=800, height=600), data=b"\xff" * 1000)
    f.add(_done(52, "video", 2000, "al/52.mp4"), data=b"\x00" * 2000)
    f.add(_done(53, "document", 10, "al/53.pdf", file_name="a<b>.pdf"), data=b"%PDF-1.4 x")
    f.add(StoredMedia(1, 54, "photo", "queued", size=5000))
    big = _done(55, "video", 30 * MB, "al/55 <&>.mp4")
    _sparse(f.root / "al/55 <&>.mp4", 30 * MB)
    f.add(big)
    f.albums.append((1, ids))
    sent = await _press_media(media_bot, 1, 44)  # any member's 📎: the whole album
    methods = [s.method for s in sent]
    assert methods == ["sendMediaGroup", "sendMediaGroup", "sendDocument", "sendMessage"]
    first, second = (json.loads(s.params["media"]) for s in sent[:2])
    assert len(first) == 10 and len(second) == 3 and second[-1]["type"] == "video"
    assert first[0]["caption"] == "C1 · @c1 · https://t.me/c1/44"
    assert all("caption" not in m for m in first[1:] + second)
    rest = sent[-1].text
    assert len(rest) <= 4096
    assert ("14 of 16 files were sent" in rest) if lang == "en" else (
        "отправлено файлов: 14 из 16" in rest
    )
    assert "15. " in rest and "16. " in rest
    assert html_escape(str((f.root / "al/55 <&>.mp4").resolve()), quote=False) in rest
    assert ("not downloaded yet" in rest) if lang == "en" else ("ещё не скачан" in rest)
    # A message in no album: its own file only.
    f.add(_done(60, "photo", 1000, "al/60.jpg", width=8, height=6), data=b"\xff" * 1000)
    (one,) = await _press_media(media_bot, 1, 60)
    assert one.method == "sendPhoto"


async def test_a_long_list_of_album_files_not_sent_stays_within_a_message(
    media_bot: MediaBot, tmp_path: Path
) -> None:
    f = media_bot.files
    f.root = tmp_path.joinpath(*["deep <&> dir " * 15] * 3)
    for n in range(1, 11):
        big = _done(n, "document", 30 * MB, f"{'x' * 200}/{n}.bin")
        _sparse(f.root / big.key, 30 * MB)  # type: ignore[operator]
        f.add(big)
    f.albums.append((1, list(range(1, 11))))
    (rest,) = await _press_media(media_bot, 1, 1)
    assert rest.method == "sendMessage" and len(rest.text) <= 4096
    assert "0 of 10 files were sent" in rest.text and "more (all of them via /export)" in rest.text
