"""/add, /channels (paginated list, item view, pause/resume/remove, comments,
deletion alerts) and /schedule.

The handlers only parse input, call the `channels` API (bot/api/channels.py) and
render texts; `build_router()` makes a fresh router for each Dispatcher.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.add_report import (
    answer_add,
    ask_history,
    depth_label,
    invites_message,
    render_add_report,
)
from bot.api.channels import ChannelsAPI
from bot.channel_buttons import (
    ChannelItem,
    ChannelMedia,
    ChannelPage,
    HistoryPick,
    InviteBatch,
    ItemAction,
    JoinInvite,
    MediaOp,
)
from bot.channel_views import media_caps, remove_question, render_item, render_media, render_page
from bot.labels import duration, echo
from bot.texts import Html, html_join, t, tn
from bot.times import show
from core.channels import Channel, HistoryChoice
from core.media import MEDIA_KINDS, MediaMode

MAX_MINUTES = 7 * 24 * 60


class AddStates(StatesGroup):
    lines = State()


def build_router() -> Router:
    router = Router(name="channels")
    router.message.register(cmd_add, Command("add"))
    router.message.register(
        add_abandoned, StateFilter(AddStates.lines), F.text.startswith("/"), ~Command("cancel")
    )
    router.message.register(
        add_lines, StateFilter(AddStates.lines), F.text, ~F.text.startswith("/")
    )
    router.callback_query.register(cb_join, JoinInvite.filter())
    router.callback_query.register(cb_join_batch, InviteBatch.filter())
    router.callback_query.register(cb_history, HistoryPick.filter())
    router.message.register(cmd_channels, Command("channels"))
    router.callback_query.register(cb_page, ChannelPage.filter())
    router.callback_query.register(cb_item, ChannelItem.filter())
    router.callback_query.register(cb_media, ChannelMedia.filter())
    router.message.register(cmd_schedule, Command("schedule"))
    return router


# -- /add ----------------------------------------------------------------------------


async def _do_add(
    message: Message, text: str, channels: ChannelsAPI, bot: Bot, lang: str, tz: ZoneInfo
) -> None:
    # Resolving a long list takes a while (one request per name): show that we work.
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
        results = await channels.add_lines(text)
    if not results:
        await message.answer(t("add_prompt", lang))
        return
    await answer_add(message, channels, results, lang, tz)


async def cmd_add(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    channels: ChannelsAPI,
    bot: Bot,
    lang: str,
    tz: ZoneInfo,
) -> None:
    if not command.args:
        await state.set_state(AddStates.lines)
        await message.answer(t("add_prompt", lang))
        return
    await state.clear()
    await _do_add(message, command.args, channels, bot, lang, tz)


async def add_abandoned(message: Message, state: FSMContext) -> None:
    """Another command ends the /add prompt (and still runs): a later stray line must
    not be taken for channels. /cancel is left to say what it cancelled."""
    await state.clear()
    raise SkipHandler


async def add_lines(
    message: Message, state: FSMContext, channels: ChannelsAPI, bot: Bot, lang: str, tz: ZoneInfo
) -> None:
    await state.clear()
    await _do_add(message, message.text or "", channels, bot, lang, tz)


async def cb_join(
    query: CallbackQuery,
    callback_data: JoinInvite,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """One invite of a batch: join it, report, then show the batch's other invites."""
    await query.answer()  # joining takes a round trip to Telegram or more
    msg = query.message
    if not isinstance(msg, Message):
        return
    r = await channels.join(callback_data.token)
    await msg.answer(t(f"add_r_{r.code}", lang, label=r.label, left=duration(r.seconds, lang)))
    await ask_history(msg, channels, [r], lang, tz)
    pending = channels.pending_invites(callback_data.batch)
    if pending:
        await _edit(msg, *invites_message(callback_data.batch, pending, lang))
    else:
        await _edit(msg, t("add_invites_answered", lang), None)


async def cb_join_batch(
    query: CallbackQuery,
    callback_data: InviteBatch,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """Join or skip every invite of a batch still awaiting an answer."""
    batch = callback_data.batch
    pending = channels.pending_invites(batch)
    msg = query.message
    if not pending or not isinstance(msg, Message):
        await query.answer(t("add_r_invite_gone", lang))
        return
    await query.answer()
    if callback_data.action == "jn":
        n = channels.drop_invites(batch)
        await _edit(msg, tn("add_invites_skipped", n, lang), None)
        return
    await _edit(msg, tn("add_invites_joining", len(pending), lang), None)
    results = await channels.join_batch(batch)
    await msg.answer(render_add_report(results, lang))
    await ask_history(msg, channels, results, lang, tz)


async def cb_history(
    query: CallbackQuery,
    callback_data: HistoryPick,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    await query.answer()
    msg = query.message
    if not isinstance(msg, Message):
        return
    choice = await channels.choose_history(callback_data.batch, callback_data.spec)
    if choice is None:
        await _edit(msg, t("add_history_expired", lang), None)
        return
    depth = depth_label(choice.depth.mode, choice.depth.limit, choice.depth.since, lang, tz)
    if len(choice.channel_ids) + len(choice.late) == 1:
        await _edit(msg, await _history_single(channels, choice, depth, lang), None)
        return
    lines = []
    if choice.channel_ids:
        lines.append(tn("add_history_set_many", len(choice.channel_ids), lang, depth=depth))
    if choice.late:
        lines.append(tn("add_history_late_many", len(choice.late), lang))
    await _edit(msg, html_join("\n", lines), None)


async def _history_single(
    channels: ChannelsAPI, choice: HistoryChoice, depth: str, lang: str
) -> Html:
    ch = await channels.get((choice.channel_ids or choice.late)[0])
    if ch is None:
        return t("channel_gone", lang)
    if not choice.channel_ids:
        return t("add_history_late", lang, label=ch.label)
    return t("add_history_set", lang, label=ch.label, depth=depth)


# -- /channels -----------------------------------------------------------------------


async def _edit(msg: Message, text: str, kb: InlineKeyboardMarkup | None) -> None:
    """Edit a list or question in place; the same content again (a button pressed twice
    before the first edit arrived) is not an error."""
    try:
        await msg.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            raise


async def _edit_page(
    msg: Message, channels: ChannelsAPI, page: int, head: Html | None, lang: str, tz: ZoneInfo
) -> None:
    text, kb = await render_page(channels, page, lang, tz)
    await _edit(msg, html_join("\n\n", [head, text]) if head else text, kb)


async def cmd_channels(message: Message, channels: ChannelsAPI, lang: str, tz: ZoneInfo) -> None:
    text, kb = await render_page(channels, 0, lang, tz)
    await message.answer(text, reply_markup=kb)


async def cb_page(
    query: CallbackQuery,
    callback_data: ChannelPage,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _edit_page(query.message, channels, callback_data.page, None, lang, tz)


async def cb_item(
    query: CallbackQuery,
    callback_data: ChannelItem,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """The view of one channel and its actions. The press is answered at once: pausing
    or removing waits for a run of the channel to end its batch."""
    action, channel_id, page = callback_data.action, callback_data.channel_id, callback_data.page
    await query.answer()
    msg = query.message
    if not isinstance(msg, Message):
        return
    ch = await channels.get(channel_id)
    if ch is None:  # removed meanwhile (another operator, or a second tap)
        await _edit_page(msg, channels, page, t("channel_gone", lang), lang, tz)
        return
    if action is ItemAction.REMOVE:
        await _edit(msg, *remove_question(ch, page, lang))
        return
    if action is ItemAction.REMOVE_YES:
        await channels.remove(channel_id)  # waits for a run of it to end its batch
        await _edit_page(msg, channels, page, t("channel_removed", lang, label=ch.label), lang, tz)
        return
    if action is ItemAction.PAUSE:
        await channels.pause(channel_id)
    elif action is ItemAction.RESUME:
        await channels.resume(channel_id)
    elif action is ItemAction.COMMENTS:
        await channels.toggle_comments(channel_id)
    elif action is ItemAction.DELETIONS:
        await channels.toggle_deletion_alerts(channel_id)
    fresh = await channels.get(channel_id)
    if fresh is None:
        await _edit_page(msg, channels, page, t("channel_gone", lang), lang, tz)
        return
    await _edit(msg, *render_item(channels, fresh, page, lang, tz))


async def _apply_media(channels: ChannelsAPI, ch: Channel, op: MediaOp, arg: str) -> None:
    """One press of the media settings: set the mode, toggle a kind, or set the cap;
    the other two settings stay as they are (a stale or forged argument changes
    nothing)."""
    if op is MediaOp.MODE and arg in {m.value for m in MediaMode}:
        await channels.set_media_policy(ch.id, arg, ch.media_kinds, ch.media_max_mb)
    elif op is MediaOp.KIND and arg in MEDIA_KINDS:
        kept = ch.media_policy(channels.media_defaults).kinds
        chosen = set(MEDIA_KINDS if kept is None else kept) ^ {arg}
        await channels.set_media_policy(ch.id, MediaMode.ALL, chosen, ch.media_max_mb)
    elif op is MediaOp.SIZE and arg.isascii() and arg.isdigit():
        cap = int(arg)
        if cap in media_caps(channels.media_defaults):
            await channels.set_media_policy(ch.id, ch.media_mode, ch.media_kinds, cap)


async def cb_media(
    query: CallbackQuery,
    callback_data: ChannelMedia,
    channels: ChannelsAPI,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """A channel's media settings: what it keeps (off, photos, all and which kinds)
    and the largest file; each press saves and redraws them."""
    await query.answer()
    msg = query.message
    if not isinstance(msg, Message):
        return
    page = callback_data.page
    ch = await channels.get(callback_data.channel_id)
    if ch is not None and callback_data.op is not MediaOp.VIEW:
        await _apply_media(channels, ch, callback_data.op, callback_data.arg)
        ch = await channels.get(ch.id)
    if ch is None:  # removed meanwhile
        await _edit_page(msg, channels, page, t("channel_gone", lang), lang, tz)
        return
    await _edit(msg, *render_media(channels, ch, page, lang))


# -- /schedule -----------------------------------------------------------------------


async def cmd_schedule(
    message: Message, command: CommandObject, channels: ChannelsAPI, lang: str, tz: ZoneInfo
) -> None:
    """Set a channel's interval; the answer names the next run (in `tz`) when it has one."""
    args = (command.args or "").strip()
    if not args or len(args.split()) < 2:
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
    ch = await channels.find(ref)
    if ch is None:
        await message.answer(t("schedule_not_found", lang, ref=echo(ref)))
        return
    await channels.set_interval(ch.id, minutes)
    if minutes is None:
        text = t("schedule_default", lang, label=ch.label, n=channels.default_interval)
    else:
        text = t("schedule_set", lang, label=ch.label, n=minutes)
    upcoming = channels.next_runs().get(ch.id) if ch.status == "active" else None
    if upcoming is not None:
        text = html_join("\n", [text, t("schedule_next", lang, when=show(upcoming, tz))])
    await message.answer(text)
