"""/stats <channel> [days]: a chart of posts and median views per day, week or month,
and the top posts."""

from __future__ import annotations

import asyncio
import re
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.api.archive import ArchiveAPI
from bot.charts import stats_chart
from bot.labels import LIST_WIDTH, channel_name, echo
from bot.texts import html_join, plain, t, tn
from bot.times import zone_label
from core.archive import StatsReport, StatsUnit

DEFAULT_DAYS = 30
MAX_DAYS = 3650
_DAYS = re.compile(r"[0-9]{1,9}")
_POSTS_LABEL = {
    StatsUnit.DAY: "stats_posts_label",
    StatsUnit.WEEK: "stats_posts_label_week",
    StatsUnit.MONTH: "stats_posts_label_month",
}


def build_router() -> Router:
    """/stats."""
    router = Router(name="stats")
    router.message.register(cmd_stats, Command("stats"))
    return router


async def draw(report: StatsReport, title: str, lang: str) -> bytes:
    """The chart as a PNG, drawn in a worker thread (matplotlib takes ~0.1-0.5 s)."""
    posts_label = plain(_POSTS_LABEL[report.unit], lang)
    views_label = plain("stats_views_label", lang)
    return await asyncio.to_thread(stats_chart, report, title, posts_label, views_label)


def empty_text(name: str, days: int, lang: str) -> str:
    """No posts in the period: "за 1 день", "за 21 день", "in the last 1 day"."""
    return t("stats_empty", lang, channel=name, period=tn("stats_period", days, lang))


async def cmd_stats(
    message: Message,
    command: CommandObject,
    archive: ArchiveAPI,
    bot: Bot,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """The chart's days are the operators' (`tz`): `/stats @c 7` is today and the six
    days before it there; an album counts once."""
    parts = (command.args or "").split()
    # Days in ASCII digits ("²" is a digit to str.isdigit() that int() refuses).
    if not parts or len(parts) > 2 or (len(parts) == 2 and not _DAYS.fullmatch(parts[1])):
        await message.answer(t("stats_usage", lang))
        return
    days = max(1, min(int(parts[1]), MAX_DAYS)) if len(parts) == 2 else DEFAULT_DAYS
    channel = await archive.find_channel(parts[0])
    if channel is None:
        await message.answer(t("channel_not_found", lang, ref=echo(parts[0])))
        return
    name = channel_name(
        channel.title, channel.username, lang, comments_of=channel.comments_of, width=LIST_WIDTH
    )
    # Drawing takes a moment: the operator sees "sending a photo" meanwhile. Leaving the
    # block waits for the action request in flight, so it always precedes the photo.
    async with ChatActionSender.upload_photo(bot=bot, chat_id=message.chat.id):
        st = await archive.stats(channel, days, tz)
        png = await draw(st, name, lang) if st.buckets else None
    if png is None:
        await message.answer(empty_text(name, days, lang))
        return
    by = t(f"stats_by_{st.unit.value}", lang)
    if zone_label(tz) != "UTC":  # whose days: ", by day, Europe/Moscow (UTC+03:00)"
        by = html_join(", ", [by, zone_label(tz)])
    period = tn("stats_period", days, lang)
    caption = tn("stats_caption", st.posts, lang, channel=name, period=period, by=by)
    if st.deleted:
        caption = html_join("\n", [caption, t("stats_deleted", lang, n=st.deleted)])
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"), caption=caption)
    await _send_top(message, st, lang)


async def _send_top(message: Message, st: StatsReport, lang: str) -> None:
    lines: list[str] = []
    for title_key, posts in (
        ("stats_top_views", st.top_views),
        ("stats_top_reactions", st.top_reactions),
    ):
        if not posts:
            continue
        lines.append(t(title_key, lang))
        for p in posts:
            lines.append(
                t(
                    "stats_top_line" if p.link else "stats_top_line_plain",
                    lang,
                    link=p.link,
                    msg_id=p.msg_id,
                    views=p.views,
                    reactions=p.reactions,
                )
            )
    if lines:
        await message.answer("\n".join(lines), disable_web_page_preview=True)
