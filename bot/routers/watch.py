"""/watch, /watches, /unwatch: keyword alerts on newly stored messages."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.services import BotServices
from bot.texts import Html, escape, t

router = Router(name="watch")


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


@router.message(Command("watch"))
async def cmd_watch(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("watch_usage", lang))
        return
    archive = services.extras["archive"]
    pattern, ref = split_watch_args(command.args or "")
    channel = None
    if ref is not None and ref.lower() != "all":
        channel = await archive.find_channel(ref)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=ref))
            return
    try:
        info = await archive.add_watch(
            pattern, channel, message.from_user.id if message.from_user else 0
        )
    except ValueError as exc:  # db.watches.BadPattern
        await message.answer(t("watch_bad_regex", lang, error=str(exc)))
        return
    where = info.channel if info.channel else t("watch_everywhere", lang)
    shown = f"/{info.pattern}/" if info.is_regex else info.pattern
    await message.answer(
        t(
            "watch_added",
            lang,
            id=info.id,
            pattern=Html(f"<code>{escape(shown)}</code>"),
            where=where,
        )
    )


@router.message(Command("watches"))
async def cmd_watches(message: Message, services: BotServices, lang: str) -> None:
    watches = await services.extras["archive"].list_watches()
    if not watches:
        await message.answer(t("watches_none", lang))
        return
    lines = [t("watches_title", lang)]
    for w in watches:
        shown = f"/{w.pattern}/" if w.is_regex else w.pattern
        where = w.channel if w.channel else t("watch_everywhere", lang)
        lines.append(
            t(
                "watches_line",
                lang,
                id=w.id,
                pattern=Html(f"<code>{escape(shown)}</code>"),
                where=where,
            )
        )
    await message.answer("\n".join(lines))


@router.message(Command("unwatch"))
async def cmd_unwatch(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    arg = (command.args or "").strip().lstrip("#")
    if not arg.isdigit():
        await message.answer(t("unwatch_usage", lang))
        return
    if await services.extras["archive"].remove_watch(int(arg)):
        await message.answer(t("unwatch_done", lang, id=int(arg)))
    else:
        await message.answer(t("unwatch_missing", lang, id=int(arg)))
