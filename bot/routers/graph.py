"""/graph [channel] [days]: the repost and mention graph as GEXF (for Gephi) and a CSV
edge list, then the channels linked most that are not archived yet, each with an Add
button (the /add flow: the same report and history question)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.add_report import answer_add
from bot.api.archive import ArchiveAPI
from bot.api.channels import ChannelsAPI
from bot.api.graph import GraphAPI
from bot.keyboards import button
from bot.labels import LIST_WIDTH, channel_name, echo, shorten
from bot.texts import Html, html_join, plain, t, tn
from core.links import GraphTarget

MAX_DAYS = 3650
_DAYS = re.compile(r"[0-9]{1,9}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TITLE_WIDTH = 48


class GraphAdd(CallbackData, prefix="gr"):
    """Add the channel @`name` from /graph's list (`gr:a:<name>`, 37 bytes at most)."""

    action: str = "a"
    name: str


def build_router() -> Router:
    """/graph and its Add buttons."""
    router = Router(name="graph")
    router.message.register(cmd_graph, Command("graph"))
    router.callback_query.register(cb_add, GraphAdd.filter())
    return router


def parse_args(args: str | None) -> tuple[str | None, int | None] | None:
    """(channel reference or None, days or None) of `/graph [channel] [days]`; None
    when they are not that, also for days outside 1..MAX_DAYS (the usage says the
    range rather than a silently different period). A lone number is days (a channel
    is never all digits in /graph: use @name or a link)."""
    parts = (args or "").split()
    if len(parts) > 2:
        return None
    days: int | None = None
    if parts and _DAYS.fullmatch(parts[-1]):
        days = int(parts.pop())
        if not 1 <= days <= MAX_DAYS:
            return None
    if len(parts) > 1 or (parts and _DAYS.fullmatch(parts[0])):
        return None
    return (parts[0] if parts else None), days


def target_line(i: int, target: GraphTarget, lang: str) -> Html:
    """`1. Title · @name — 12 reposts, 3 mentions, in 2 channels`."""
    if target.username:
        name: object = channel_name(target.title, target.username, lang, width=_TITLE_WIDTH)
    else:
        title = shorten(target.title, _TITLE_WIDTH) if target.title else ""
        private = t("graph_private", lang, tg_id=target.tg_id or target.target)
        name = html_join(" · ", [title, private]) if title else private
    counts = [
        *([tn("graph_forwards", target.forwards, lang)] if target.forwards else []),
        *([tn("graph_mentions", target.mentions, lang)] if target.mentions else []),
        tn("graph_sources", target.sources, lang),
    ]
    return t("graph_top_line", lang, i=i, name=name, counts=html_join(", ", counts))


def top_message(
    targets: tuple[GraphTarget, ...], lang: str
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """The list of the most linked channels not archived, and an Add button for each
    that has a public name (at most 10 lines: far below 4,096 characters)."""
    if not targets:
        return t("graph_top_none", lang), None
    lines = [t("graph_top_header", lang)]
    rows = []
    for i, target in enumerate(targets, 1):
        lines.append(target_line(i, target, lang))
        if target.username and _NAME.fullmatch(target.username):
            label = plain("graph_add_button", lang, name=target.username)
            rows.append([button(label, GraphAdd(name=target.username).pack())])
    markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return html_join("\n", lines), markup


async def cmd_graph(
    message: Message,
    command: CommandObject,
    archive: ArchiveAPI,
    graph: GraphAPI | None,
    bot: Bot,
    lang: str,
    tz: ZoneInfo,
) -> None:
    parsed = parse_args(command.args)
    if parsed is None:
        await message.answer(t("graph_usage", lang, max_days=MAX_DAYS))
        return
    if graph is None:
        await message.answer(t("graph_unavailable", lang))
        return
    ref, days = parsed
    channel = None
    if ref is not None:
        channel = await archive.find_channel(ref)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=echo(ref)))
            return
    what = (
        channel_name(
            channel.title, channel.username, lang, comments_of=channel.comments_of,
            width=LIST_WIDTH,
        )
        if channel is not None
        else plain("graph_all", lang)
    )
    period = tn("graph_period", days, lang) if days else t("graph_period_all", lang)
    async with ChatActionSender.upload_document(bot=bot, chat_id=message.chat.id):
        export = await graph.export(channel, days, tz)
        if export is None:
            await message.answer(t("graph_empty", lang, what=what, period=period))
            return
        try:
            caption = t(
                "graph_gexf_caption", lang, what=what, period=period,
                nodes=tn("graph_nodes", export.nodes, lang),
                edges=tn("graph_edges", export.edges, lang),
            )
            await message.answer_document(
                FSInputFile(export.gexf, filename=export.gexf.name), caption=caption
            )
            await message.answer_document(
                FSInputFile(export.csv, filename=export.csv.name),
                caption=t("graph_csv_caption", lang),
            )
        finally:
            await graph.cleanup(export)
    text, markup = top_message(export.top, lang)
    await message.answer(text, reply_markup=markup)


async def cb_add(
    query: CallbackQuery,
    callback_data: GraphAdd,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """Add @name as /add would: the add report, then the history depth question for a
    channel added without one."""
    await query.answer()  # resolving takes a round trip to Telegram
    msg = query.message
    if not isinstance(msg, Message):
        return
    results = await channels.add_lines(f"@{callback_data.name}")
    if results:
        await answer_add(msg, channels, results, lang, tz)
