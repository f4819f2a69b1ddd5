"""/add, /channels (paginated list, item view, pause/resume/remove, comments) and /schedule.

The handlers only parse input, call `services.extras["channels"]` (app/channels.py
ChannelService) and render texts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.add_report import depth_label, history_keyboard, invites_message, render_add_report
from bot.keyboards import button, pager_row, pages_of
from bot.labels import BUTTON_WIDTH, channel_name, echo, shorten
from bot.routers.parse import duration
from bot.services import BotServices
from bot.texts import Html, html_join, plain, reason_text, t, tn

router = Router(name="channels")

PAGE_SIZE = 10
VIEW_WIDTH = 240
MAX_MINUTES = 7 * 24 * 60
KINDS = ("channel", "megagroup", "gigagroup")


class AddStates(StatesGroup):
    lines = State()


def _svc(services: BotServices) -> Any:
    return services.extras.get("channels")


def _when(value: datetime | None, lang: str) -> str:
    if value is None:
        return t("channels_never", lang)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# -- /add ----------------------------------------------------------------------------


async def _do_add(
    message: Message, text: str, services: BotServices, bot: Bot, lang: str
) -> None:
    svc = _svc(services)
    if svc is None:
        await message.answer(t("add_not_ready", lang))
        return
    # Resolving a long list takes a while (one request per name): show that we work.
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
        results = await svc.add_lines(text)
    if not results:
        await message.answer(t("add_prompt", lang))
        return
    if all(r.code == "not_ready" for r in results):
        await message.answer(t("add_not_ready", lang))
        return
    await message.answer(render_add_report(results, lang))
    await _ask_invites(message, svc, [r.token for r in results if r.token], lang)
    await _ask_history(message, svc, results, lang)


async def _ask_invites(message: Message, svc: Any, tokens: list[str], lang: str) -> None:
    if not tokens:
        return
    batch = svc.invite_batch(tokens)
    text, kb = invites_message(batch, svc.pending_invites(batch), lang)
    await message.answer(text, reply_markup=kb)


async def _ask_history(message: Message, svc: Any, results: list[Any], lang: str) -> None:
    """One question for every channel of the batch added without a depth of its own."""
    fresh = [r for r in results if r.code == "added" and not r.history_given and r.channel_id]
    if not fresh:
        return
    batch = svc.history_batch([r.channel_id for r in fresh])
    d = svc.default_history
    default = depth_label(d.mode, d.limit, d.since, lang)
    if len(fresh) == 1:
        text = t("add_history_ask", lang, label=fresh[0].label, default=default)
    else:
        text = tn("add_history_ask_many", len(fresh), lang, default=default)
    await message.answer(text, reply_markup=history_keyboard(batch, default, lang))


@router.message(Command("add"))
async def cmd_add(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    services: BotServices,
    bot: Bot,
    lang: str,
) -> None:
    if not command.args:
        await state.set_state(AddStates.lines)
        await message.answer(t("add_prompt", lang))
        return
    await state.clear()
    await _do_add(message, command.args, services, bot, lang)


@router.message(AddStates.lines, F.text.startswith("/"), ~Command("cancel"))
async def add_abandoned(message: Message, state: FSMContext) -> None:
    """Another command ends the /add prompt (and still runs): a later stray line must
    not be taken for channels. /cancel is left to say what it cancelled."""
    await state.clear()
    raise SkipHandler


@router.message(AddStates.lines, F.text, ~F.text.startswith("/"))
async def add_lines(
    message: Message, state: FSMContext, services: BotServices, bot: Bot, lang: str
) -> None:
    await state.clear()
    await _do_add(message, message.text or "", services, bot, lang)


@router.callback_query(F.data.regexp(r"^ch:j:[\w-]+:[\w-]+$"))
async def cb_join(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """One invite of a batch: join it, report, then show the batch's other invites."""
    svc = _svc(services)
    _, _, batch, token = (query.data or "").split(":")
    await query.answer()  # joining takes a round trip to Telegram or more
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        return
    r = await svc.join(token)
    await msg.answer(t(f"add_r_{r.code}", lang, label=r.label, left=duration(r.seconds, lang)))
    await _ask_history(msg, svc, [r], lang)
    await _show_invites_left(msg, svc, batch, lang)


async def _show_invites_left(msg: Message, svc: Any, batch: str, lang: str) -> None:
    pending = svc.pending_invites(batch)
    if pending:
        text, kb = invites_message(batch, pending, lang)
        await _edit(msg, text, kb)
    else:
        await _edit(msg, t("add_invites_answered", lang), None)


@router.callback_query(F.data.regexp(r"^ch:(ja|jn):[\w-]+$"))
async def cb_join_batch(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """Join or skip every invite of a batch still awaiting an answer."""
    svc = _svc(services)
    _, action, batch = (query.data or "").split(":")
    pending = svc.pending_invites(batch) if svc is not None else []
    msg = query.message
    if not pending or not isinstance(msg, Message):
        await query.answer(t("add_r_invite_gone", lang))
        return
    await query.answer()
    if action == "jn":
        n = svc.drop_invites(batch)
        await _edit(msg, tn("add_invites_skipped", n, lang), None)
        return
    await _edit(msg, tn("add_invites_joining", len(pending), lang), None)
    results = await svc.join_batch(batch)
    await msg.answer(render_add_report(results, lang))
    await _ask_history(msg, svc, results, lang)


@router.callback_query(F.data.startswith("ch:h:"))
async def cb_history(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    _, _, batch, spec = (query.data or "").split(":", 3)
    await query.answer()
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        return
    choice = await svc.choose_history(batch, spec)
    if choice is None:
        await _edit(msg, t("add_history_expired", lang), None)
        return
    depth = depth_label(choice.depth.mode, choice.depth.limit, choice.depth.since, lang)
    if len(choice.channel_ids) + len(choice.late) == 1:
        await _edit(msg, await _history_single(svc, choice, depth, lang), None)
        return
    lines = []
    if choice.channel_ids:
        lines.append(tn("add_history_set_many", len(choice.channel_ids), lang, depth=depth))
    if choice.late:
        lines.append(tn("add_history_late_many", len(choice.late), lang))
    await _edit(msg, html_join("\n", lines), None)


async def _history_single(svc: Any, choice: Any, depth: str, lang: str) -> Html:
    ch = await svc.get((choice.channel_ids or choice.late)[0])
    if ch is None:
        return t("channel_gone", lang)
    if not choice.channel_ids:
        return t("add_history_late", lang, label=ch.label)
    return t("add_history_set", lang, label=ch.label, depth=depth)


# -- /channels -----------------------------------------------------------------------


def _icon(status: str) -> str:
    return {"active": "🟢", "paused": "⏸", "disabled": "🚫"}.get(status, "•")


def _page_line(ch: Any, next_run: datetime | None, lang: str) -> Html:
    err = ch.disabled_reason or ch.last_error
    comments = ""
    if ch.comments_count is not None and (ch.comments_enabled or ch.comments_count):
        comments = t("channels_comments", lang, n=ch.comments_count)
    return t(
        "channels_line",
        lang,
        icon=_icon(ch.status),
        label=channel_name(ch.title, ch.username, lang),
        count=ch.messages_count,
        last=_when(ch.last_run_at, lang),
        next=_when(next_run, lang),
        comments=comments,
        error=t("channels_error", lang, error=reason_text(shorten(err, 100), lang)) if err else "",
    )


async def _render_page(
    svc: Any, page: int, lang: str
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """A page of /channels; a page past the end (channels removed since) is the last."""
    rows, total = await svc.page(page)
    if total == 0:
        return t("channels_empty", lang), None
    pages = pages_of(total, PAGE_SIZE)
    if not rows and page > 0:
        return await _render_page(svc, pages - 1, lang)
    next_runs = svc.next_runs()
    lines = [t("channels_title", lang, total=total, page=page + 1, pages=pages)]
    buttons = []
    for ch in rows:
        nxt = next_runs.get(ch.id, ch.next_run_at) if ch.status == "active" else None
        lines.append(_page_line(ch, nxt, lang))
        name = channel_name(ch.title, ch.username, lang, width=BUTTON_WIDTH)
        buttons.append([button(f"{_icon(ch.status)} {name}", f"ch:v:{ch.id}:{page}")])
    nav = pager_row("ch:p:", page, pages, lang)
    if nav:
        buttons.append(nav)
    return html_join("\n", lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _render_item(
    svc: Any, ch: Any, page: int, lang: str
) -> tuple[Html, InlineKeyboardMarkup]:
    nxt = svc.next_runs().get(ch.id, ch.next_run_at) if ch.status == "active" else None
    if ch.interval_minutes:
        interval = t("channel_interval", lang, n=ch.interval_minutes)
    else:
        interval = t("channel_interval_default", lang, n=svc.default_interval)
    err = ch.disabled_reason or ch.last_error
    text = t(
        "channel_view",
        lang,
        icon=_icon(ch.status),
        label=channel_name(ch.title, ch.username, lang, width=VIEW_WIDTH),
        kind=t(f"channel_kind_{ch.kind}", lang) if ch.kind in KINDS else ch.kind,
        status=t(f"channel_status_{ch.status}", lang),
        count=ch.messages_count,
        last=_when(ch.last_run_at, lang),
        next=_when(nxt, lang),
        interval=interval,
        depth=depth_label(ch.history_mode, ch.history_limit, ch.history_since, lang),
        comments=t("channel_on" if ch.comments_enabled else "channel_off", lang),
        error=t("channels_error", lang, error=reason_text(shorten(err, 200), lang)) if err else "",
    )
    suffix = f"{ch.id}:{page}"
    toggle = (
        button(plain("channel_btn_resume", lang), f"ch:re:{suffix}")
        if ch.status != "active"
        else button(plain("channel_btn_pause", lang), f"ch:pa:{suffix}")
    )
    rows = [[toggle, button(plain("channel_btn_remove", lang), f"ch:rm:{suffix}")]]
    if ch.kind == "channel":
        key = "channel_btn_comments_on" if ch.comments_enabled else "channel_btn_comments_off"
        rows.append([button(plain(key, lang), f"ch:cm:{suffix}")])
    rows.append([button(plain("channels_back", lang), f"ch:p:{page}")])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _edit(msg: Message, text: str, kb: InlineKeyboardMarkup | None) -> None:
    """Edit a list or question in place; the same content again (a button pressed twice
    before the first edit arrived) is not an error."""
    try:
        await msg.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            raise


async def _edit_page(msg: Message, svc: Any, page: int, head: Html | None, lang: str) -> None:
    text, kb = await _render_page(svc, page, lang)
    await _edit(msg, html_join("\n\n", [head, text]) if head else text, kb)


@router.message(Command("channels"))
async def cmd_channels(message: Message, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    if svc is None:
        await message.answer(t("channels_empty", lang))
        return
    text, kb = await _render_page(svc, 0, lang)
    await message.answer(text, reply_markup=kb)


@router.callback_query(F.data.regexp(r"^ch:p:\d+$"))
async def cb_page(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    await query.answer()
    if svc is None or not isinstance(query.message, Message):
        return
    await _edit_page(query.message, svc, int((query.data or "").split(":")[2]), None, lang)


@router.callback_query(F.data.regexp(r"^ch:(v|pa|re|rm|rmy|cm):\d+:\d+$"))
async def cb_item(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """The view of one channel and its actions. The press is answered at once: pausing
    or removing waits for a run of the channel to end its batch."""
    svc = _svc(services)
    _, action, raw_id, raw_page = (query.data or "").split(":")
    channel_id, page = int(raw_id), int(raw_page)
    await query.answer()
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        return
    ch = await svc.get(channel_id)
    if ch is None:  # removed meanwhile (another operator, or a second tap)
        await _edit_page(msg, svc, page, t("channel_gone", lang), lang)
        return
    if action == "rm":
        kb = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    button(plain("channel_remove_yes", lang), f"ch:rmy:{channel_id}:{page}"),
                    button(plain("channel_remove_no", lang), f"ch:v:{channel_id}:{page}"),
                ]
            ]
        )
        await _edit(msg, t("channel_remove_ask", lang, label=ch.label), kb)
        return
    if action == "rmy":
        await svc.remove(channel_id)  # waits for a run of it to end its batch
        await _edit_page(msg, svc, page, t("channel_removed", lang, label=ch.label), lang)
        return
    if action == "pa":
        await svc.pause(channel_id)
    elif action == "re":
        await svc.resume(channel_id)
    elif action == "cm":
        await svc.toggle_comments(channel_id)
    fresh = await svc.get(channel_id)
    if fresh is None:
        await _edit_page(msg, svc, page, t("channel_gone", lang), lang)
        return
    text, kb = await _render_item(svc, fresh, page, lang)
    await _edit(msg, text, kb)


# -- /schedule -----------------------------------------------------------------------


@router.message(Command("schedule"))
async def cmd_schedule(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    svc = _svc(services)
    args = (command.args or "").strip()
    if svc is None or not args or len(args.split()) < 2:
        await message.answer(t("schedule_usage", lang))
        return
    ref, raw = args.rsplit(maxsplit=1)
    if raw.lower() in ("default", "по-умолчанию", "умолчание"):
        minutes: int | None = None
    elif re.fullmatch(r"[0-9]{1,9}", raw) and 1 <= int(raw) <= MAX_MINUTES:
        minutes = int(raw)
    else:
        await message.answer(t("schedule_bad_minutes", lang))
        return
    ch = await svc.find(ref)
    if ch is None:
        await message.answer(t("schedule_not_found", lang, ref=echo(ref)))
        return
    await svc.set_interval(ch.id, minutes)
    label = ch.label
    if minutes is None:
        await message.answer(t("schedule_default", lang, label=label, n=svc.default_interval))
    else:
        await message.answer(t("schedule_set", lang, label=label, n=minutes))
