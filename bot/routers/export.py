"""/export: one channel or all, CSV / JSONL / XLSX, optional period and keyword."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message

from bot.keyboards import button, pager_row, pages_of
from bot.labels import BUTTON_WIDTH, LIST_WIDTH, channel_name, echo
from bot.live import LiveMessage
from bot.services import BotServices
from bot.texts import Html, html_join, plain, t, tn

log = logging.getLogger(__name__)
router = Router(name="export")

FORMATS = ("csv", "jsonl", "xlsx")
# Words an operator may take for a format: answered with the formats there are, never
# taken as a search filter. (`/export @ch csv pdf` searches for "pdf".)
NOT_FORMATS = frozenset(
    {"pdf", "txt", "text", "json", "xls", "doc", "docx", "html", "htm", "xml", "tsv", "md",
     "zip", "sql", "sqlite", "db", "odt", "ods", "rtf", "epub", "parquet", "excel", "word"}
)  # fmt: skip
PERIODS = (0, 30, 7)  # days; 0 = all time
MENU_PAGE = 10
# One export at a time: each holds a database connection slot and disk space.
_export_lock = asyncio.Lock()


@dataclass(frozen=True)
class ExportArgs:
    channel: str | None  # None = all channels
    fmt: str
    since: datetime | None
    until: datetime | None
    keyword: str | None


class BadDate(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class BadFormat(ValueError):
    """A word that names a file format the export does not write (pdf, txt, ...)."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


def _format_word(token: str) -> str | None:
    """`token` as a format name (`xlsx`, `.xlsx`), or None if it is no format word."""
    low = token.lower().lstrip(".")
    return low if low in FORMATS or low in NOT_FORMATS else None


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadDate(value) from None


def parse_export_args(text: str) -> ExportArgs:
    """`<channel|all> [csv|jsonl|xlsx] [from YYYY-MM-DD] [to YYYY-MM-DD] [words...]`.

    A format word first (`/export xlsx`) means every channel. A word right after the
    channel that names another file format (pdf, txt, ...) raises BadFormat.
    """
    tokens = text.split()
    channel = "all"
    if tokens and not _format_word(tokens[0]):
        channel = tokens.pop(0)
    fmt: str | None = None
    since = until = None
    words: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        word = _format_word(tok) if not words and fmt is None else None
        if word is not None and word not in FORMATS:
            raise BadFormat(tok)
        if word is not None:
            fmt = word
        elif low in ("from", "с", "since") and i + 1 < len(tokens):
            since = _date(tokens[i + 1])
            i += 1
        elif low in ("to", "по", "until") and i + 1 < len(tokens):
            # "to" names the last day included.
            until = _date(tokens[i + 1]) + timedelta(days=1)
            i += 1
        else:
            words.append(tok)
        i += 1
    return ExportArgs(
        None if channel.lower() in ("all", "все") else channel,
        fmt or "csv",
        since,
        until,
        " ".join(words) or None,
    )


def _archive(services: BotServices) -> Any:
    return services.extras["archive"]


def export_name(channel: Any, lang: str, width: int = LIST_WIDTH) -> str:
    """How a channel of the archive is named in /export texts and buttons."""
    return channel_name(
        channel.title,
        channel.username,
        lang,
        comments_of=channel.comments_of,
        width=width,
    )


async def _menu(archive: Any, page: int, lang: str) -> tuple[Html, InlineKeyboardMarkup]:
    """The channel menu of /export: "all channels", then one page of the archive."""
    channels, total = await archive.channel_page(page, MENU_PAGE)
    pages = pages_of(total, MENU_PAGE)
    if not channels and page > 0:  # channels removed since the menu was shown
        return await _menu(archive, pages - 1, lang)
    rows = [[button(plain("export_btn_all", lang), "exp:c:all")]]
    rows += [
        [button(export_name(c, lang, BUTTON_WIDTH), f"exp:c:{c.id}")] for c in channels
    ]
    nav = pager_row("exp:p:", page, pages, lang)
    if nav:
        rows.append(nav)
    text = t("export_usage", lang)
    if pages > 1:
        text = Html(f"{text}\n{t('export_menu_page', lang, page=page + 1, pages=pages)}")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("export"))
async def cmd_export(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    archive = _archive(services)
    if not command.args:
        text, kb = await _menu(archive, 0, lang)
        await message.answer(text, reply_markup=kb)
        return
    try:
        args = parse_export_args(command.args)
    except BadDate as exc:
        await message.answer(t("export_bad_date", lang, value=echo(exc.value)))
        return
    except BadFormat as exc:
        formats = html_join(", ", FORMATS)
        await message.answer(t("export_bad_format", lang, value=echo(exc.value), formats=formats))
        return
    channel = None
    if args.channel is not None:
        channel = await archive.find_channel(args.channel)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=echo(args.channel)))
            return
    await _run_export(
        message, archive, lang, channel, args.fmt, args.since, args.until, args.keyword
    )


@router.callback_query(F.data.regexp(r"^exp:p:\d+$"))
async def on_export_page(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    page = int((query.data or "").split(":")[2])
    text, kb = await _menu(_archive(services), page, lang)
    try:
        await query.message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:  # a second tap before the first edit arrived
        if "not modified" not in str(exc):
            raise


def _format_keyboard(target: str, lang: str) -> InlineKeyboardMarkup:
    rows = []
    for fmt in FORMATS:
        row = []
        for days in PERIODS:
            period = (
                plain("export_btn_period_all", lang)
                if days == 0
                else plain("export_btn_period_days", lang, n=days)
            )
            row.append(button(f"{fmt.upper()} · {period}", f"exp:f:{target}:{fmt}:{days}"))
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(F.data.regexp(r"^exp:c:(all|\d+)$"))
async def on_export_channel(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    target = (query.data or "").split(":")[2]
    if not isinstance(query.message, Message):
        return
    what: str = t("export_all_channels", lang)
    if target != "all":
        channel = await _archive(services).get_channel(int(target))
        if channel is None:  # removed since the menu was shown
            await query.message.answer(t("export_channel_gone", lang))
            return
        what = export_name(channel, lang)
    await query.message.answer(
        t("export_pick_format", lang, what=what), reply_markup=_format_keyboard(target, lang)
    )


@router.callback_query(F.data.regexp(r"^exp:f:(all|\d+):(csv|jsonl|xlsx):\d+$"))
async def on_export_format(query: CallbackQuery, services: BotServices, lang: str) -> None:
    _, _, target, fmt, days_s = (query.data or "").split(":")
    await query.answer()
    if not isinstance(query.message, Message):
        return
    archive = _archive(services)
    channel = None
    if target != "all":
        channel = await archive.get_channel(int(target))
        if channel is None:
            await query.message.answer(t("export_channel_gone", lang))
            return
    days = int(days_s)
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    await _run_export(query.message, archive, lang, channel, fmt, since, None, None)


async def _run_export(
    message: Message,
    archive: Any,
    lang: str,
    channel: Any,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    keyword: str | None,
) -> None:
    if _export_lock.locked():
        await message.answer(t("export_busy", lang))
        return
    what = export_name(channel, lang) if channel else t("export_all_channels", lang)
    async with _export_lock:
        status = await message.answer(t("export_started", lang, what=what, fmt=fmt.upper()))
        live = LiveMessage(status)

        async def progress(n: int) -> None:
            await live.show(t("export_progress", lang, what=what, fmt=fmt.upper(), n=n))

        result = await archive.export(channel, fmt, since, until, keyword, progress)
        try:
            total = len(result.files)
            for i, path in enumerate(result.files, 1):
                caption = t("export_part_caption", lang, i=i, total=total) if total > 1 else None
                await message.answer_document(
                    FSInputFile(path, filename=path.name), caption=caption
                )
        finally:
            await archive.cleanup(result)
    # The final word comes once the lock is free: an operator who reads "done" and
    # asks for the next export at once is not told one is still running.
    if result.rows == 0:
        text = t("export_empty", lang)
    elif result.parts:
        limit = archive.limit_bytes // (1024 * 1024)
        text = t("export_done_parts", lang, n=result.rows, parts=total, limit=limit)
    else:
        text = tn("export_done", result.rows, lang)
    await live.finish(text)
