"""Sending a post's media to the operator (issue #16): the 📎 buttons of /search results
and keyword alerts, and what the bot says when it cannot send the file.

Within the upload limit (UPLOAD_LIMIT_MB) the file goes by the method of its kind
(sendPhoto, sendVideo, sendAnimation, sendVoice, sendAudio; stickers, round videos'
fallback and everything else by sendDocument). A photo Telegram would refuse as a
photo (over 10 MB, width + height over 10,000, or sides more than 20:1) goes as a
document, and so does any file its kind's method refuses. Above the limit the bot
names where the file is on disk; a file not downloaded yet, skipped or failed gets a
text saying so (the size, the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    FSInputFile,
    InlineKeyboardButton,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)

from bot.api.media import MediaFilesAPI
from bot.keyboards import button
from bot.labels import shorten
from bot.texts import Html, html_join, t
from core.file_names import media_file_name
from core.media import MEDIA_KINDS, DownloadStatus, MediaPause, StoredMedia

log = logging.getLogger(__name__)

# Why a row is set aside (db/media.py TOO_BIG, NOT_KEPT): also on a row still being
# downloaded when the channel's choice changed (its download stops, nothing stored).
TOO_BIG = "too_big"
NOT_KEPT = "not_kept"

MB = 1024 * 1024
PHOTO_MAX_BYTES = 10 * MB  # sendPhoto's limit
PHOTO_MAX_SIDES = 10_000  # width + height
PHOTO_MAX_RATIO = 20
CAPTION_NAME_WIDTH = 100
BUTTONS_PER_ROW = 5


class MediaSend(CallbackData, prefix="m"):
    """📎: send the media of message `msg_id` stored under channel row `channel_id`
    ("m:<row>:<msg_id>", at most 2 + 2 * 20 digits: far within 64 bytes)."""

    channel_id: int
    msg_id: int


def media_buttons(posts: list[tuple[int, int, int]]) -> list[list[InlineKeyboardButton]]:
    """Rows of 📎 buttons, `BUTTONS_PER_ROW` a row, for (number shown, channel row,
    msg_id) triples: the button "📎 3" sends the media of the line numbered 3."""
    buttons = [
        button(f"📎 {n}", MediaSend(channel_id=ch, msg_id=msg).pack()) for n, ch, msg in posts
    ]
    return [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]


def megabytes(size: int | None) -> float:
    """Bytes as MB with one decimal (at least 0.1 for a non-empty file)."""
    if not size:
        return 0.0
    return max(0.1, round(size / MB, 1))


def kind_word(kind: str, lang: str) -> Html:
    return t(f"media_kind_{kind}", lang) if kind in MEDIA_KINDS else Html(kind)


def failure_reason(reason: str | None, lang: str) -> Html:
    """A failed download's reason (media_download.reason: Telegram's error name, or
    the downloader's code) in the operator's language; an unknown one as it is."""
    key = f"media_reason_{(reason or '').lower()}"
    try:
        return t(key, lang)
    except KeyError:
        return t("media_reason_other", lang, reason=shorten(reason or "?", 200))


def status_text(
    media: StoredMedia | None,
    lang: str,
    pause: MediaPause | None = None,
    folder: Path | None = None,
) -> Html | None:
    """What the bot says instead of a file that is not downloaded (None: it is).
    `pause`: the downloader's state (its `paused` reason and the free bytes) when
    downloads wait as a whole; `folder`: the media folder (absolute) named then."""
    if media is None:
        return t("media_none", lang)
    kind = kind_word(media.kind, lang)
    if media.status == DownloadStatus.DOWNLOADING and media.reason in (TOO_BIG, NOT_KEPT):
        # Set aside by the channel's choice while it downloads: it stops, not stored.
        media = replace(media, status=DownloadStatus.SKIPPED)
    if media.status in (DownloadStatus.QUEUED, DownloadStatus.DOWNLOADING):
        if pause is not None and pause.paused:
            return _paused_text(kind, pause, folder, lang)
        if media.reason:  # deferred: a flood wait, network trouble
            reason = failure_reason(media.reason, lang)
            return t("media_not_yet_retry", lang, kind=kind, reason=reason)
        return t("media_not_yet", lang, kind=kind)
    if media.status == DownloadStatus.SKIPPED:
        if media.reason == TOO_BIG:
            return t("media_skipped_too_big", lang, kind=kind, size=megabytes(media.size))
        return t("media_skipped", lang, kind=kind)
    if media.status == DownloadStatus.FAILED:
        return t("media_failed", lang, kind=kind, reason=failure_reason(media.reason, lang))
    if media.status != DownloadStatus.DONE:
        return t("media_not_yet", lang, kind=kind)
    return None


def _paused_text(kind: Html, pause: MediaPause, folder: Path | None, lang: str) -> Html:
    """Why a queued file waits while downloads are paused as a whole: a full disk
    (the folder, its free space, the fix), no session (log in), else the reason in
    words (an unusable media folder: "media_dir")."""
    if pause.paused == "disk_full":
        free = megabytes(pause.free_bytes) if pause.free_bytes is not None else "?"
        where = str(folder) if folder is not None else "MEDIA_DIR"
        return t("media_paused_disk_full", lang, kind=kind, folder=where, free=free)
    if pause.paused == "no_session":
        return t("media_paused_no_session", lang, kind=kind)
    return t("media_paused", lang, kind=kind, reason=failure_reason(pause.paused, lang))


def _photo_fits(media: StoredMedia, size: int) -> bool:
    if size > PHOTO_MAX_BYTES:
        return False
    w, h = media.width, media.height
    if not w or not h:
        return True
    return w + h <= PHOTO_MAX_SIDES and max(w, h) / min(w, h) <= PHOTO_MAX_RATIO


Send = Callable[..., Awaitable[Any]]


def _method(bot: Bot, media: StoredMedia, size: int) -> tuple[Send, str]:
    """The Bot API method for the media's kind and the name of its file argument."""
    if media.kind == "photo":
        if _photo_fits(media, size):
            return bot.send_photo, "photo"
        return bot.send_document, "document"
    if media.kind in ("video", "round"):
        return bot.send_video, "video"
    if media.kind == "animation":
        return bot.send_animation, "animation"
    if media.kind == "voice":
        return bot.send_voice, "voice"
    if media.kind == "audio":
        return bot.send_audio, "audio"
    return bot.send_document, "document"


async def send_post_media(
    bot: Bot,
    chat_id: int,
    media: StoredMedia | None,
    files: MediaFilesAPI,
    caption: Html,
    lang: str,
    pause: MediaPause | None = None,
) -> None:
    """Send the operator at `chat_id` the post's file with `caption` (valid HTML of at
    most 1,024 characters), or a text saying why not (`pause`: the downloader's state,
    for a file that waits because downloads are paused)."""
    text = status_text(media, lang, pause, files.folder)
    if text is not None or media is None:
        await bot.send_message(chat_id, text or t("media_none", lang))
        return
    path = await files.local_file(media)
    if path is None:
        await bot.send_message(chat_id, t("media_missing", lang, kind=kind_word(media.kind, lang)))
        return
    size = media.size if media.size is not None else path.stat().st_size
    if size > files.upload_limit:
        await bot.send_message(chat_id, _on_disk(media, size, files.upload_limit, path, lang))
        return
    name = media_file_name(media.msg_id, media.kind, media.file_name, media.mime_type)
    method, field = _method(bot, media, size)
    try:
        await method(chat_id, **{field: FSInputFile(path, filename=name)}, caption=caption)
        return
    except TelegramEntityTooLarge:
        await bot.send_message(chat_id, _on_disk(media, size, files.upload_limit, path, lang))
        return
    except TelegramBadRequest as exc:
        if field == "document":
            raise
        # A file its kind's method refuses (a photo's dimensions, a voice not in OGG
        # Opus, a video Telegram cannot read): as a document it always goes.
        log.info("%s refused (%s): sent as a document", field, exc.message)
    await bot.send_document(chat_id, FSInputFile(path, filename=name), caption=caption)


def _on_disk(media: StoredMedia, size: int, limit: int, path: Path, lang: str) -> Html:
    return t(
        "media_on_disk",
        lang,
        kind=kind_word(media.kind, lang),
        size=megabytes(size),
        limit=limit // MB,
        path=str(path),  # absolute (MediaFilesAPI.local_file); escaped by t()
    )


ALBUM_MAX = 10  # sendMediaGroup: 2-10 items
ALBUM_TEXT_MAX = 3900  # the "not sent" message stays within 4,096 characters

_AlbumItem = tuple[StoredMedia, Path, int]


def _album_part(media: StoredMedia, size: int) -> str | None:
    """Which album a file may go in: photos and videos together, documents alone, audio
    alone; None: a kind sendMediaGroup does not take (voice, GIF, sticker)."""
    if media.kind == "photo":
        return "visual" if _photo_fits(media, size) else "document"
    if media.kind in ("video", "round"):
        return "visual"
    if media.kind in ("document", "audio"):
        return media.kind
    return None


def _input_media(media: StoredMedia, path: Path, size: int, caption: Html | None) -> Any:
    name = media_file_name(media.msg_id, media.kind, media.file_name, media.mime_type)
    file = FSInputFile(path, filename=name)
    part = _album_part(media, size)
    if part == "visual":
        cls = InputMediaPhoto if media.kind == "photo" else InputMediaVideo
        return cls(media=file, caption=caption)
    if part == "audio":
        return InputMediaAudio(media=file, caption=caption)
    return InputMediaDocument(media=file, caption=caption)


async def send_album(
    bot: Bot,
    chat_id: int,
    items: list[StoredMedia],
    files: MediaFilesAPI,
    caption: Html,
    lang: str,
    pause: MediaPause | None = None,
) -> None:
    """📎 of an album post: the album's downloaded files within the upload limit as
    albums of at most 10 (Telegram's mixing rules), the caption on the first; a kind
    no album takes, or a group of one, goes as `send_post_media` sends it; then one
    message naming each file not sent and why (not downloaded yet, too big: its path)."""
    parts: dict[str, list[StoredMedia]] = {"visual": [], "document": [], "audio": []}
    singles: list[StoredMedia] = []
    local: dict[int, tuple[Path, int]] = {}
    left: list[tuple[int, Html]] = []
    for n, media in enumerate(items, start=1):
        text = status_text(media, lang, pause, files.folder)
        if text is not None:
            left.append((n, text))
            continue
        path = await files.local_file(media)
        if path is None:
            left.append((n, t("media_missing", lang, kind=kind_word(media.kind, lang))))
            continue
        size = media.size if media.size is not None else path.stat().st_size
        if size > files.upload_limit:
            left.append((n, _on_disk(media, size, files.upload_limit, path, lang)))
            continue
        local[media.msg_id] = (path, size)
        part = _album_part(media, size)
        (parts[part] if part else singles).append(media)
    first = True
    for group in parts.values():
        for i in range(0, len(group), ALBUM_MAX):
            chunk = group[i : i + ALBUM_MAX]
            if len(chunk) == 1:
                singles.append(chunk[0])
                continue
            album = [
                _input_media(m, *local[m.msg_id], caption if first and j == 0 else None)
                for j, m in enumerate(chunk)
            ]
            try:
                await bot.send_media_group(chat_id, album)
            except (TelegramEntityTooLarge, TelegramBadRequest) as exc:
                log.info("album refused (%s): its files sent one by one", exc)
                singles.extend(chunk)
                continue
            first = False
    for media in sorted(singles, key=lambda m: m.msg_id):
        await send_post_media(bot, chat_id, media, files, caption, lang)
    if left:
        await bot.send_message(chat_id, _album_left(left, len(items), lang))


def _album_left(left: list[tuple[int, Html]], total: int, lang: str) -> Html:
    lines = [t("media_album_left", lang, sent=total - len(left), total=total)]
    length = len(lines[0])
    for shown, (n, text) in enumerate(left):
        line = t("media_album_item", lang, n=n, text=text)
        if length + len(line) > ALBUM_TEXT_MAX:
            lines.append(t("media_album_more", lang, n=len(left) - shown))
            break
        lines.append(line)
        length += len(line) + 1
    return html_join("\n", lines)
