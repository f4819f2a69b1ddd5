"""The 📎 buttons (send a post's media) and the media part of /status (issue #16)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message
from babel.numbers import format_decimal

from bot.api.archive import ArchiveAPI
from bot.api.media import MediaFilesAPI, MediaStatusAPI
from bot.labels import channel_name
from bot.media_send import CAPTION_NAME_WIDTH, MB, MediaSend, send_album, send_post_media
from bot.texts import Html, html_join, t
from core.channels import post_link
from core.media import DownloadStatus, MediaCounts

GB = 1024 * MB


def build_router() -> Router:
    router = Router(name="media")
    router.callback_query.register(on_media, MediaSend.filter())
    return router


async def _caption(archive: ArchiveAPI, channel_id: int, msg_id: int, lang: str) -> Html:
    """The channel's name and the post's link (at most ~200 characters: a caption may
    hold 1,024)."""
    ch = await archive.get_channel(channel_id)
    if ch is None:
        return t("media_caption_gone", lang, msg_id=msg_id)
    name = channel_name(
        ch.title, ch.username, lang, comments_of=ch.comments_of, width=CAPTION_NAME_WIDTH
    )
    if ch.kind == "chat":  # a basic group's message has no link
        return t("media_caption_plain", lang, channel=name, msg_id=msg_id)
    return t("media_caption", lang, channel=name, link=post_link(ch.username, ch.tg_id, msg_id))


async def on_media(
    query: CallbackQuery,
    callback_data: MediaSend,
    bot: Bot,
    archive: ArchiveAPI,
    lang: str,
    media: MediaFilesAPI | None = None,
    media_status: MediaStatusAPI | None = None,
) -> None:
    """📎 pressed: the press is answered at once (an upload takes a while), then the
    file or the text saying why there is none."""
    await query.answer()
    chat_id = query.message.chat.id if isinstance(query.message, Message) else query.from_user.id
    if media is None:
        await bot.send_message(chat_id, t("media_unavailable", lang))
        return
    found = await media.post_media(callback_data.channel_id, callback_data.msg_id)
    caption = await _caption(archive, callback_data.channel_id, callback_data.msg_id, lang)
    album = await media.album_media(callback_data.channel_id, callback_data.msg_id)
    pause = None
    waiting = (DownloadStatus.QUEUED, DownloadStatus.DOWNLOADING)
    asked = album or ([found] if found is not None else [])
    if media_status is not None and any(m.status in waiting for m in asked):
        pause = await media_status.pause()  # downloads paused as a whole: say why
    if len(album) >= 2:  # an album post: its files, not only this message's
        await send_album(bot, chat_id, album, media, caption, lang, pause)
        return
    await send_post_media(bot, chat_id, found, media, caption, lang, pause)


def data_size(size: int, lang: str) -> Html:
    """Bytes as "512 KB", "12.3 MB", "1.5 GB" (the language's decimal separator)."""
    if size >= GB:
        return t("media_size_gb", lang, n=round(size / GB, 1))
    if size >= MB:
        return t("media_size_mb", lang, n=round(size / MB, 1))
    return t("media_size_kb", lang, n=round(size / 1024) if size else 0)


def _number(n: int, lang: str) -> str:
    return format_decimal(n, locale=lang)


def counts_lines(c: MediaCounts, lang: str) -> Html:
    """The media lines of /status: files by state, the bytes on disk, and why
    downloads wait when they do."""
    lines = [
        t(
            "status_media",
            lang,
            queued=_number(c.queued, lang),
            downloading=_number(c.downloading, lang),
            done=_number(c.done, lang),
            skipped=_number(c.skipped, lang),
            failed=_number(c.failed, lang),
        ),
        t(
            "status_media_disk",
            lang,
            files=_number(c.files, lang),
            size=data_size(c.bytes_on_disk, lang),
        ),
    ]
    if c.paused:
        free = data_size(c.free_bytes, lang) if c.free_bytes is not None else "?"
        key = f"status_media_paused_{c.paused}"
        try:
            lines.append(t(key, lang, free=free))
        except KeyError:
            lines.append(t("status_media_paused", lang, reason=c.paused, free=free))
    return html_join("\n", lines)


async def status_section(api: MediaStatusAPI | None, lang: str) -> str:
    """The media part of /status ("" when the app runs without media downloads)."""
    if api is None:
        return ""
    return counts_lines(await api.counts(), lang)
