"""/stats <channel> [days]: a chart of posts and median views per day, top posts."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.services import BotServices
from bot.texts import plain, t

router = Router(name="stats")

DEFAULT_DAYS = 30
MAX_DAYS = 3650


@router.message(Command("stats"))
async def cmd_stats(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    parts = (command.args or "").split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        await message.answer(t("stats_usage", lang))
        return
    days = min(int(parts[1]), MAX_DAYS) if len(parts) == 2 else DEFAULT_DAYS
    archive = services.extras["archive"]
    channel = await archive.find_channel(parts[0])
    if channel is None:
        await message.answer(t("channel_not_found", lang, ref=parts[0]))
        return
    st, png = await archive.stats(
        channel, days, plain("stats_posts_label", lang), plain("stats_views_label", lang)
    )
    label = channel.label
    if png is None:
        await message.answer(t("stats_empty", lang, channel=label, days=days))
        return
    await message.answer_photo(
        BufferedInputFile(png, filename="stats.png"),
        caption=t("stats_caption", lang, channel=label, posts=st.posts, days=days),
    )
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
                    "stats_top_line",
                    lang,
                    link=p.link,
                    msg_id=p.msg_id,
                    views=p.views,
                    reactions=p.reactions,
                )
            )
    if lines:
        await message.answer("\n".join(lines), disable_web_page_preview=True)
