"""What /add answers: one compact report per batch, the invites to confirm, and one
history question for the channels the batch added (`answer_add`: for /add and for
/graph's Add button alike).

However many lines come in, the report is one message: lines are grouped by outcome,
each group counted and named by its first few entries ("…and N more").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup, Message

from bot.api.channels import ChannelsAPI
from bot.channel_buttons import HistoryPick, InviteBatch, JoinInvite
from bot.keyboards import button
from bot.labels import SHORT_WIDTH, duration, shorten
from bot.texts import Html, html_join, plain, t, tn
from bot.times import day_start, show_day, today
from core.channels import AddCode, AddResult, PendingInvite

MESSAGE_LIMIT = 4096
# Outcomes in the order the report lists them.
ORDER = (
    "added", "reenabled", "refreshed", "already", "duplicate", "invite", "not_found",
    "private", "not_channel", "too_many", "invite_invalid", "garbage", "bad_option",
    "flood", "not_ready", "elsewhere", "no_worker", "session_dead", "error",
)  # fmt: skip
INVITE_BUTTONS = 10


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _names(results: Sequence[AddResult], shown: int, lang: str) -> Html:
    names = [shorten(r.label or r.line, SHORT_WIDTH) for r in results[:shown]]
    text = html_join(", ", names)
    rest = len(results) - shown
    return Html(f"{text} {t('add_more', lang, n=rest)}") if rest > 0 else text


def _render(groups: dict[str, list[AddResult]], total: int, shown: int, lang: str) -> Html:
    lines = [tn("add_report_title", total, lang)] if total > 1 else []
    for code in ORDER:
        group = groups.get(code)
        if not group:
            continue
        left = duration(max(r.seconds for r in group), lang)
        names = _names(group, shown, lang)
        lines.append(tn(f"add_g_{code}", len(group), lang, names=names, left=left))
    return html_join("\n", lines)


def render_add_report(results: Sequence[AddResult], lang: str) -> Html:
    """The outcome of every line in one message within Telegram's limit: fewer names
    per group when the titles are long (the counts are always all there)."""
    groups: dict[str, list[AddResult]] = {}
    for r in results:
        groups.setdefault(r.code if r.code in ORDER else "error", []).append(r)
    text = Html("")
    for shown in (5, 3, 1):
        text = _render(groups, len(results), shown, lang)
        if utf16_len(text) <= MESSAGE_LIMIT:
            break
    return text


def invites_message(
    batch: str, pending: Sequence[PendingInvite], lang: str
) -> tuple[Html, InlineKeyboardMarkup]:
    """The question about the invites of one batch: a button per invite (the first
    few), "join all" and "skip"."""
    text = tn("add_invites_ask", len(pending), lang)
    if len(pending) > INVITE_BUTTONS:
        text = Html(f"{text}\n{t('add_invites_more', lang, n=len(pending) - INVITE_BUTTONS)}")
    rows = [
        [
            button(
                plain("add_join_yes", lang, title=shorten(p.title, 30)),
                JoinInvite(batch=batch, token=p.token).pack(),
            )
        ]
        for p in pending[:INVITE_BUTTONS]
    ]
    last = [button(plain("add_join_no", lang), InviteBatch(action="jn", batch=batch).pack())]
    if len(pending) > 1:
        join_all = InviteBatch(action="ja", batch=batch).pack()
        last.insert(0, button(plain("add_join_all", lang, n=len(pending)), join_all))
    rows.append(last)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def depth_label(
    mode: str, limit: int | None, since: datetime | None, lang: str, tz: ZoneInfo
) -> str:
    """A history depth in words (no markup: fits texts and buttons alike); a `since`
    depth names its day in `tz`, the zone it was typed in."""
    if mode == "last" and limit:
        return plain("depth_last", lang, n=limit)
    if mode == "since" and since is not None:
        return plain("depth_since", lang, date=show_day(since, tz))
    return plain("depth_all", lang)


def history_keyboard(
    batch: str, default: str, lang: str, tz: ZoneInfo, now: datetime | None = None
) -> InlineKeyboardMarkup:
    """The depth question's buttons; "since" offers the operator's day (in `tz`) 30
    days before today, sent as `since:YYYY-MM-DD` and read back in the same zone."""
    day = today(tz, now) - timedelta(days=30)
    since = day_start(day, tz)

    def pick(mode: str, arg: str = "") -> str:
        return HistoryPick(batch=batch, mode=mode, arg=arg).pack()

    options = [
        (depth_label("all", None, None, lang, tz), pick("all")),
        (depth_label("last", 100, None, lang, tz), pick("last", "100")),
        (depth_label("last", 1000, None, lang, tz), pick("last", "1000")),
    ]
    rows = [
        [button(f"✓ {default}", pick("default"))],
        [button(label, data) for label, data in options],
        [button(depth_label("since", None, since, lang, tz), pick("since", day.isoformat()))],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def answer_add(
    message: Message, channels: ChannelsAPI, results: Sequence[AddResult], lang: str,
    tz: ZoneInfo,
) -> None:
    """Answer an add batch's `results` in `message`'s chat: "no session" (or "open in
    another process") when none was tried for want of one, else the report, the
    invites to confirm and the history question."""
    for code in (AddCode.NOT_READY, AddCode.ELSEWHERE, AddCode.NO_WORKER):
        if all(r.code is code for r in results):
            await message.answer(t(f"add_{code}", lang))
            return
    await message.answer(render_add_report(results, lang))
    await ask_invites(message, channels, [r.token for r in results if r.token], lang)
    await ask_history(message, channels, results, lang, tz)


async def ask_invites(
    message: Message, channels: ChannelsAPI, tokens: list[str], lang: str
) -> None:
    if not tokens:
        return
    batch = channels.invite_batch(tokens)
    text, kb = invites_message(batch, channels.pending_invites(batch), lang)
    await message.answer(text, reply_markup=kb)


async def ask_history(
    message: Message, channels: ChannelsAPI, results: Sequence[AddResult], lang: str,
    tz: ZoneInfo,
) -> None:
    """One question for every channel of the batch added without a depth of its own."""
    fresh = [
        r for r in results if r.code is AddCode.ADDED and not r.history_given and r.channel_id
    ]
    if not fresh:
        return
    batch = channels.history_batch([r.channel_id for r in fresh if r.channel_id])
    d = channels.default_history
    default = depth_label(d.mode, d.limit, d.since, lang, tz)
    if len(fresh) == 1:
        text = t("add_history_ask", lang, label=fresh[0].label, default=default)
    else:
        text = tn("add_history_ask_many", len(fresh), lang, default=default)
    await message.answer(text, reply_markup=history_keyboard(batch, default, lang, tz))
