"""/watch, /watches, /unwatch: keyword alerts on newly stored messages."""

from __future__ import annotations

import re

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.api.watches import WatchesAPI
from bot.keyboards import pager_row, pages_of
from bot.labels import LIST_WIDTH, channel_name, echo, shorten
from bot.texts import Html, escape, html_join, t
from core.archive import MAX_PATTERN, WatchInfo

PAGE_SIZE = 20
PATTERN_WIDTH = MAX_PATTERN + 10  # every pattern in full, slashes included
LIST_PATTERN_WIDTH = 80


class WatchesPage(CallbackData, prefix="wtp"):
    """A /watches pager button: the page (0-based) it opens."""

    page: int


# pager_row() builds each button's data as this prefix + the page: WatchesPage packed.
PAGER_PREFIX = f"{WatchesPage.__prefix__}{WatchesPage.__separator__}"


def build_router() -> Router:
    """/watch, /watches (and its pager) and /unwatch."""
    router = Router(name="watch")
    router.message.register(cmd_watch, Command("watch"))
    router.message.register(cmd_watches, Command("watches"))
    router.callback_query.register(on_watches_page, WatchesPage.filter())
    router.message.register(cmd_unwatch, Command("unwatch"))
    return router


def split_watch_args(args: str) -> tuple[str, str | None]:
    """`/re gex/ [channel|all]` or `words ... [@channel|all]` -> (pattern, channel ref)."""
    args = args.strip()
    if args.startswith("/"):
        end = args.rfind("/")
        if end > 0:
            rest = args[end + 1 :].strip()
            return args[: end + 1], (rest or None)
    tokens = args.split()
    if len(tokens) > 1:
        last = tokens[-1]
        if last.lower() == "all" or last.startswith("@") or "t.me/" in last:
            return " ".join(tokens[:-1]), last
    return args, None


def _pattern(pattern: str, is_regex: bool, width: int) -> Html:
    shown = f"/{pattern}/" if is_regex else pattern
    return Html(f"<code>{escape(shorten(shown, width))}</code>")


def _where(info: WatchInfo, lang: str, width: int) -> Html:
    """`in all channels` or `in <channel>`, as the alert's texts say it."""
    ref = info.channel
    if ref is None:
        return t("watch_everywhere", lang)
    name = channel_name(ref.title, ref.username, lang, comments_of=ref.comments_of, width=width)
    return t("watch_in_channel", lang, channel=name)


async def cmd_watch(
    message: Message, command: CommandObject, watches: WatchesAPI, lang: str
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("watch_usage", lang))
        return
    watches = watches
    pattern, ref = split_watch_args(command.args or "")
    channel = None
    if ref is not None and ref.lower() != "all":
        channel = await watches.find_channel(ref)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=echo(ref)))
            return
    # A pattern that is not usable raises BadPattern: bot/errors.py says why.
    info = await watches.add_watch(
        pattern, channel, message.from_user.id if message.from_user else 0
    )
    await message.answer(
        t(
            "watch_added",
            lang,
            id=info.id,
            pattern=_pattern(info.pattern, info.is_regex, PATTERN_WIDTH),
            where=_where(info, lang, LIST_WIDTH),
        )
    )


async def _watches_page(
    api: WatchesAPI, page: int, lang: str
) -> tuple[Html, InlineKeyboardMarkup | None]:
    found = await api.watch_page(page, PAGE_SIZE)
    watches, total = found.watches, found.total
    pages = pages_of(total, PAGE_SIZE)
    if not watches and page > 0:  # alerts removed since the page was shown
        return await _watches_page(api, pages - 1, lang)
    if not watches:
        return t("watches_none", lang), None
    lines = [t("watches_title", lang, total=total, page=page + 1, pages=pages)]
    for w in watches:
        pattern = _pattern(w.pattern, w.is_regex, LIST_PATTERN_WIDTH)
        where = _where(w, lang, LIST_WIDTH)
        lines.append(t("watches_line", lang, id=w.id, pattern=pattern, where=where))
    nav = pager_row(PAGER_PREFIX, page, pages, lang)
    kb = InlineKeyboardMarkup(inline_keyboard=[nav]) if nav else None
    return html_join("\n", lines), kb


async def cmd_watches(message: Message, watches: WatchesAPI, lang: str) -> None:
    text, kb = await _watches_page(watches, 0, lang)
    await message.answer(text, reply_markup=kb)


async def on_watches_page(
    query: CallbackQuery, callback_data: WatchesPage, watches: WatchesAPI, lang: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    text, kb = await _watches_page(watches, callback_data.page, lang)
    try:
        await query.message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:  # a second tap before the first edit arrived
        if "not modified" not in str(exc):
            raise


async def cmd_unwatch(
    message: Message, command: CommandObject, watches: WatchesAPI, lang: str
) -> None:
    arg = (command.args or "").strip().lstrip("#")
    if not re.fullmatch(r"[0-9]+", arg):  # not isdigit(): "²" is a digit int() refuses
        await message.answer(t("unwatch_usage", lang))
        return
    if len(arg) <= 18 and await watches.remove_watch(int(arg)):
        await message.answer(t("unwatch_done", lang, id=int(arg)))
    else:  # beyond 18 digits: no alert has that id (and SQLite's INTEGER ends there)
        await message.answer(t("unwatch_missing", lang, id=arg[:40]))
