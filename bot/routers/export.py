"""/export: one channel or all, CSV / JSONL / XLSX, optional period and keyword."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.services import BotServices
from bot.texts import plain, t, tn

log = logging.getLogger(__name__)
router = Router(name="export")

FORMATS = ("csv", "jsonl", "xlsx")
PERIODS = (0, 30, 7)  # days; 0 = all time
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


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadDate(value) from None


def parse_export_args(text: str) -> ExportArgs:
    """`<channel|all> [csv|jsonl|xlsx] [from YYYY-MM-DD] [to YYYY-MM-DD] [words...]`."""
    tokens = text.split()
    channel = tokens.pop(0) if tokens else "all"
    fmt = "csv"
    since = until = None
    words: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low in FORMATS and not words:
            fmt = low
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
        fmt,
        since,
        until,
        " ".join(words) or None,
    )


def _archive(services: BotServices) -> Any:
    return services.extras["archive"]


@router.message(Command("export"))
async def cmd_export(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    archive = _archive(services)
    if not command.args:
        channels = await archive.list_channels()
        all_button = InlineKeyboardButton(
            text=plain("export_btn_all", lang), callback_data="exp:c:all"
        )
        rows = [[all_button]]
        rows += [
            [InlineKeyboardButton(text=c.label[:60], callback_data=f"exp:c:{c.id}")]
            for c in channels
        ]
        await message.answer(
            t("export_usage", lang), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
        )
        return
    try:
        args = parse_export_args(command.args)
    except BadDate as exc:
        await message.answer(t("export_bad_date", lang, value=exc.value))
        return
    channel = None
    if args.channel is not None:
        channel = await archive.find_channel(args.channel)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=args.channel))
            return
    await _run_export(
        message, archive, lang, channel, args.fmt, args.since, args.until, args.keyword
    )


def _format_keyboard(target: str, lang: str) -> InlineKeyboardMarkup:
    rows = []
    for fmt in FORMATS:
        row = []
        for days in PERIODS:
            period = (
                t("export_btn_period_all", lang)
                if days == 0
                else t("export_btn_period_days", lang, n=days)
            )
            row.append(
                InlineKeyboardButton(
                    text=f"{fmt.upper()} · {period}", callback_data=f"exp:f:{target}:{fmt}:{days}"
                )
            )
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(F.data.startswith("exp:c:"))
async def on_export_channel(query: CallbackQuery, services: BotServices, lang: str) -> None:
    target = (query.data or "").split(":")[2]
    what: str = t("export_all_channels", lang)
    if target != "all":
        channel = await _archive(services).get_channel(int(target))
        what = channel.label if channel else target
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("export_pick_format", lang, what=what), reply_markup=_format_keyboard(target, lang)
        )


@router.callback_query(F.data.startswith("exp:f:"))
async def on_export_format(query: CallbackQuery, services: BotServices, lang: str) -> None:
    _, _, target, fmt, days_s = (query.data or "").split(":")
    archive = _archive(services)
    channel = None
    if target != "all":
        channel = await archive.get_channel(int(target))
        if channel is None:
            await query.answer(t("channel_not_found", lang, ref=target))
            return
    await query.answer()
    days = int(days_s)
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    if isinstance(query.message, Message):
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
    what = channel.label if channel else t("export_all_channels", lang)
    async with _export_lock:
        status = await message.answer(t("export_started", lang, what=what, fmt=fmt.upper()))

        async def progress(n: int) -> None:
            try:
                await status.edit_text(t("export_progress", lang, what=what, fmt=fmt.upper(), n=n))
            except TelegramAPIError as exc:
                log.info("export progress edit failed: %s", type(exc).__name__)

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
    await status.edit_text(text)
