"""/add, /channels (paginated list, item view, pause/resume/remove, comments) and /schedule.

The handlers only parse input, call `services.extras["channels"]` (app/channels.py
ChannelService) and render texts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.routers.parse import duration
from bot.services import BotServices
from bot.texts import plain, t

router = Router(name="channels")
log = logging.getLogger(__name__)

PAGE_SIZE = 10
MAX_MINUTES = 7 * 24 * 60
KINDS = ("channel", "megagroup", "gigagroup")


class AddStates(StatesGroup):
    lines = State()


def _svc(services: BotServices) -> Any:
    return services.extras.get("channels")


def _btn(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _when(value: datetime | None, lang: str) -> str:
    if value is None:
        return t("channels_never", lang)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def depth_text(mode: str, limit: int | None, since: datetime | None, lang: str) -> str:
    if mode == "last" and limit:
        return t("depth_last", lang, n=limit)
    if mode == "since" and since is not None:
        return t("depth_since", lang, date=since.strftime("%Y-%m-%d"))
    return t("depth_all", lang)


# -- /add ----------------------------------------------------------------------------


def _history_keyboard(channel_id: int, default: str, lang: str) -> InlineKeyboardMarkup:
    since = datetime.now(UTC) - timedelta(days=30)
    options = [
        (t("depth_all", lang), "all"),
        (t("depth_last", lang, n=100), "last:100"),
        (t("depth_last", lang, n=1000), "last:1000"),
        (depth_text("since", None, since, lang), f"since:{since:%Y-%m-%d}"),
    ]
    rows = [[_btn(f"✓ {default}", f"ch:h:{channel_id}:default")]]
    rows.append([_btn(label, f"ch:h:{channel_id}:{spec}") for label, spec in options[:3]])
    rows.append([_btn(options[3][0], f"ch:h:{channel_id}:{options[3][1]}")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _do_add(message: Message, text: str, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    if svc is None:
        await message.answer(t("add_not_ready", lang))
        return
    results = await svc.add_lines(text)
    if results and all(r.code == "not_ready" for r in results):
        await message.answer(t("add_not_ready", lang))
        return
    lines = []
    for r in results:
        label = r.label or r.line[:64]
        lines.append(t(f"add_r_{r.code}", lang, label=label, left=duration(r.seconds, lang)))
    await message.answer("\n".join(lines) or t("add_prompt", lang))
    for r in results:
        if r.code == "invite" and r.token:
            title = r.label[:40]
            kb = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        _btn(plain("add_join_yes", lang, title=r.label[:30]), f"ch:j:{r.token}"),
                        _btn(plain("add_join_no", lang), f"ch:jn:{r.token}"),
                    ]
                ]
            )
            await message.answer(t("add_r_invite", lang, label=title), reply_markup=kb)
        elif r.code == "added" and not r.history_given and r.channel_id is not None:
            await _ask_history(message, svc, r, lang)


async def _ask_history(message: Message, svc: Any, r: Any, lang: str) -> None:
    default = svc.default_history
    default_text = depth_text(default.mode, default.limit, default.since, lang)
    await message.answer(
        t("add_history_ask", lang, label=r.label, default=default_text),
        reply_markup=_history_keyboard(r.channel_id, default_text, lang),
    )


async def _toast(query: CallbackQuery, text: str) -> None:
    """Answer a button press after work that may have taken a while: a press answered
    too late is refused by Telegram, and the edited message says the same anyway."""
    try:
        await query.answer(text)
    except TelegramBadRequest as exc:
        log.info("callback answer refused: %s", exc.message)


@router.message(Command("add"))
async def cmd_add(
    message: Message, command: CommandObject, state: FSMContext, services: BotServices, lang: str
) -> None:
    if not command.args:
        await state.set_state(AddStates.lines)
        await message.answer(t("add_prompt", lang))
        return
    await state.clear()
    await _do_add(message, command.args, services, lang)


@router.message(AddStates.lines, F.text.startswith("/"), ~Command("cancel"))
async def add_abandoned(message: Message, state: FSMContext) -> None:
    """Another command ends the /add prompt (and still runs): a later stray line must
    not be taken for channels. /cancel is left to say what it cancelled."""
    await state.clear()
    raise SkipHandler


@router.message(AddStates.lines, F.text, ~F.text.startswith("/"))
async def add_lines(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    await state.clear()
    await _do_add(message, message.text or "", services, lang)


@router.callback_query(F.data.startswith("ch:j:") | F.data.startswith("ch:jn:"))
async def cb_join(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    action, token = (query.data or "").split(":")[1:3]
    await query.answer()
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        return
    if action == "jn":
        title = svc.drop_invite(token)
        await msg.edit_text(t("add_join_skipped", lang, title=title))
        return
    r = await svc.join(token)
    label = r.label
    await msg.edit_text(t(f"add_r_{r.code}", lang, label=label, left=duration(r.seconds, lang)))
    if r.code == "added" and not r.history_given and r.channel_id is not None:
        await _ask_history(msg, svc, r, lang)


@router.callback_query(F.data.startswith("ch:h:"))
async def cb_history(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    _, _, raw_id, spec = (query.data or "").split(":", 3)
    await query.answer()
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        return
    ch = await svc.get(int(raw_id))
    if ch is None:
        await msg.edit_text(t("channel_gone", lang))
        return
    label = ch.label
    if not await svc.choose_history(ch.id, spec):
        await msg.edit_text(t("add_history_late", lang, label=label))
        return
    ch = await svc.get(ch.id)
    depth = depth_text(ch.history_mode, ch.history_limit, ch.history_since, lang)
    await msg.edit_text(t("add_history_set", lang, label=label, depth=depth))


# -- /channels -----------------------------------------------------------------------


def _icon(status: str) -> str:
    return {"active": "🟢", "paused": "⏸", "disabled": "🚫"}.get(status, "•")


async def _render_page(svc: Any, page: int, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    rows, total = await svc.page(page)
    if total == 0:
        return t("channels_empty", lang), None
    pages = max(1, -(-total // PAGE_SIZE))
    if not rows and page > 0:
        return await _render_page(svc, pages - 1, lang)
    next_runs = svc.next_runs()
    lines = [t("channels_title", lang, total=total, page=page + 1, pages=pages)]
    buttons = []
    for ch in rows:
        nxt = next_runs.get(ch.id, ch.next_run_at) if ch.status == "active" else None
        err = ch.disabled_reason or ch.last_error
        error = t("channels_error", lang, error=err[:100]) if err else ""
        lines.append(
            t(
                "channels_line",
                lang,
                icon=_icon(ch.status),
                label=ch.label,
                count=ch.messages_count,
                last=_when(ch.last_run_at, lang),
                next=_when(nxt, lang),
                error=error,
            )
        )
        buttons.append([_btn(f"{_icon(ch.status)} {ch.label[:50]}", f"ch:v:{ch.id}:{page}")])
    nav = []
    if page > 0:
        nav.append(_btn(plain("channels_prev", lang), f"ch:p:{page - 1}"))
    if page + 1 < pages:
        nav.append(_btn(plain("channels_next", lang), f"ch:p:{page + 1}"))
    if nav:
        buttons.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _render_item(
    svc: Any, ch: Any, page: int, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
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
        label=ch.label,
        kind=t(f"channel_kind_{ch.kind}", lang) if ch.kind in KINDS else ch.kind,
        status=t(f"channel_status_{ch.status}", lang),
        count=ch.messages_count,
        last=_when(ch.last_run_at, lang),
        next=_when(nxt, lang),
        interval=interval,
        depth=depth_text(ch.history_mode, ch.history_limit, ch.history_since, lang),
        comments=t("channel_on" if ch.comments_enabled else "channel_off", lang),
        error=t("channels_error", lang, error=err[:200]) if err else "",
    )
    suffix = f"{ch.id}:{page}"
    toggle = (
        _btn(plain("channel_btn_resume", lang), f"ch:re:{suffix}")
        if ch.status != "active"
        else _btn(plain("channel_btn_pause", lang), f"ch:pa:{suffix}")
    )
    rows = [[toggle, _btn(plain("channel_btn_remove", lang), f"ch:rm:{suffix}")]]
    if ch.kind == "channel":
        key = "channel_btn_comments_on" if ch.comments_enabled else "channel_btn_comments_off"
        rows.append([_btn(plain(key, lang), f"ch:cm:{suffix}")])
    rows.append([_btn(plain("channels_back", lang), f"ch:p:{page}")])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _edit(msg: Message, text: str, kb: InlineKeyboardMarkup | None) -> None:
    try:
        await msg.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            raise


@router.message(Command("channels"))
async def cmd_channels(message: Message, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    if svc is None:
        await message.answer(t("channels_empty", lang))
        return
    text, kb = await _render_page(svc, 0, lang)
    await message.answer(text, reply_markup=kb)


@router.callback_query(F.data.startswith("ch:p:"))
async def cb_page(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    await query.answer()
    if svc is None or not isinstance(query.message, Message):
        return
    text, kb = await _render_page(svc, int((query.data or "").split(":")[2]), lang)
    await _edit(query.message, text, kb)


@router.callback_query(F.data.regexp(r"^ch:(v|pa|re|rm|rmy|cm):\d+:\d+$"))
async def cb_item(query: CallbackQuery, services: BotServices, lang: str) -> None:
    svc = _svc(services)
    _, action, raw_id, raw_page = (query.data or "").split(":")
    channel_id, page = int(raw_id), int(raw_page)
    msg = query.message
    if svc is None or not isinstance(msg, Message):
        await query.answer()
        return
    ch = await svc.get(channel_id)
    if ch is None:
        await query.answer(t("channel_gone", lang))
        text, kb = await _render_page(svc, page, lang)
        await _edit(msg, text, kb)
        return
    label = ch.label
    if action == "rm":
        await query.answer()
        kb = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    _btn(plain("channel_remove_yes", lang), f"ch:rmy:{channel_id}:{page}"),
                    _btn(plain("channel_remove_no", lang), f"ch:v:{channel_id}:{page}"),
                ]
            ]
        )
        await _edit(msg, t("channel_remove_ask", lang, label=label), kb)
        return
    if action == "rmy":
        await svc.remove(channel_id)  # waits for a run of it to end its batch
        await _toast(query, t("channel_removed", lang, label=ch.label))
        text, page_kb = await _render_page(svc, page, lang)
        await _edit(msg, t("channel_removed", lang, label=label) + "\n\n" + text, page_kb)
        return
    if action == "pa":
        await svc.pause(channel_id)
        await _toast(query, t("channel_paused", lang, label=ch.label))
    elif action == "re":
        await svc.resume(channel_id)
        await query.answer(t("channel_resumed", lang, label=ch.label))
    elif action == "cm":
        await svc.toggle_comments(channel_id)
        await query.answer()
    else:
        await query.answer()
    fresh = await svc.get(channel_id)
    if fresh is None:
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
    elif raw.isdigit() and 1 <= int(raw) <= MAX_MINUTES:
        minutes = int(raw)
    else:
        await message.answer(t("schedule_bad_minutes", lang))
        return
    ch = await svc.find(ref)
    if ch is None:
        await message.answer(t("schedule_not_found", lang, ref=ref))
        return
    await svc.set_interval(ch.id, minutes)
    label = ch.label
    if minutes is None:
        await message.answer(t("schedule_default", lang, label=label, n=svc.default_interval))
    else:
        await message.answer(t("schedule_set", lang, label=label, n=minutes))
