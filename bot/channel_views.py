"""How /channels draws its pages and the view of one channel (texts and keyboards)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.add_report import depth_label
from bot.api.channels import ChannelsAPI
from bot.channel_buttons import ChannelItem, ChannelMedia, ChannelPage, ItemAction, MediaOp
from bot.keyboards import button, pager_row, pages_of
from bot.labels import BUTTON_WIDTH, channel_name, shorten
from bot.texts import Html, html_join, plain, reason_text, t, tn
from bot.times import show
from core.channels import Channel
from core.media import MEDIA_KINDS, MediaMode, MediaPolicy

PAGE_SIZE = 10
MEDIA_CAPS_MB = (10, 50, 200)  # the size cap presets (and MEDIA_MAX_MB, and no cap)
MB = 1024 * 1024
VIEW_WIDTH = 240
KINDS = ("channel", "megagroup", "gigagroup", "chat")


def when(value: datetime | None, lang: str, tz: ZoneInfo) -> str:
    """A run's time in `tz` (bot/times.show), or "never"."""
    if value is None:
        return t("channels_never", lang)
    return show(value, tz)


def icon(status: str) -> str:
    return {"active": "🟢", "paused": "⏸", "disabled": "🚫"}.get(status, "•")


def _next_run(ch: Channel, next_runs: Mapping[int, datetime]) -> datetime | None:
    return next_runs.get(ch.id, ch.next_run_at) if ch.status == "active" else None


def _error(ch: Channel, width: int, lang: str) -> str:
    err = ch.disabled_reason or ch.last_error
    return t("channels_error", lang, error=reason_text(shorten(err, width), lang)) if err else ""


def _page_line(
    ch: Channel, next_run: datetime | None, lang: str, tz: ZoneInfo, media: MediaPolicy
) -> Html:
    comments = ""
    if ch.comments_count is not None and (ch.comments_enabled or ch.comments_count):
        comments = t("channels_comments", lang, n=ch.comments_count)
    return t(
        "channels_line",
        lang,
        icon=icon(ch.status),
        label=channel_name(ch.title, ch.username, lang),
        count=ch.messages_count,
        last=when(ch.last_run_at, lang, tz),
        next=when(next_run, lang, tz),
        media=t("channels_media", lang, mode=_media_short(ch.media_policy(media), lang)),
        comments=comments,
        error=_error(ch, 100, lang),
    )


def _media_short(policy: MediaPolicy, lang: str) -> str:
    """What a channel keeps, in a few words (plain text): "off", "photos", "all", the
    kinds kept ("videos, voice messages") or, when more than half are, "all but
    stickers": at most 4 kinds named, so a page of 10 channels stays short."""
    if policy.mode is not MediaMode.ALL:
        return plain(f"channel_media_short_{policy.mode.value}", lang)
    kept = [k for k in MEDIA_KINDS if policy.kinds is None or k in policy.kinds]
    if len(kept) == len(MEDIA_KINDS):
        return plain("channel_media_short_all", lang)
    if not kept:
        return plain("channel_media_short_off", lang)
    if len(kept) <= len(MEDIA_KINDS) // 2:
        return ", ".join(plain(f"media_kinds_{k}", lang) for k in kept)
    left_out = ", ".join(plain(f"media_kinds_but_{k}", lang) for k in MEDIA_KINDS if k not in kept)
    return plain("channel_media_short_all_but", lang, kinds=left_out)


async def render_page(
    channels: ChannelsAPI, page: int, lang: str, tz: ZoneInfo
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """A page of /channels (times in `tz`); a page past the end (channels removed
    since) is the last."""
    rows, total = await channels.page(page)
    if total == 0:
        return t("channels_empty", lang), None
    pages = pages_of(total, PAGE_SIZE)
    if not rows and page > 0:
        return await render_page(channels, pages - 1, lang, tz)
    next_runs = channels.next_runs()
    lines = [t("channels_title", lang, total=total, page=page + 1, pages=pages)]
    buttons: list[list[InlineKeyboardButton]] = []
    for ch in rows:
        lines.append(_page_line(ch, _next_run(ch, next_runs), lang, tz, channels.media_defaults))
        name = channel_name(ch.title, ch.username, lang, width=BUTTON_WIDTH)
        data = ChannelItem(action=ItemAction.VIEW, channel_id=ch.id, page=page).pack()
        buttons.append([button(f"{icon(ch.status)} {name}", data)])
    nav = pager_row(lambda n: ChannelPage(page=n).pack(), page, pages, lang)
    if nav:
        buttons.append(nav)
    return html_join("\n", lines), InlineKeyboardMarkup(inline_keyboard=buttons)


def completeness_lines(ch: Channel, lang: str, tz: ZoneInfo) -> Html:
    """The archive's ends, the ids missing between them, whether older history exists,
    and for a supergroup upgraded from a basic group what came (or could not come) from
    the old group; "" when not looked up."""
    c = ch.completeness
    if c is None:
        return Html("")
    if ch.history_before is None:
        before = t("channel_before_unknown", lang)
    else:
        before = t("channel_before_yes" if ch.history_before else "channel_before_no", lang)
    if c.oldest_id is None or c.newest_id is None:
        lines = [t("channel_complete_empty", lang, before=before)]
    else:
        lines = [
            t(
                "channel_complete",
                lang,
                oldest=c.oldest_id,
                oldest_date=show(c.oldest_date, tz) if c.oldest_date else "?",
                newest=c.newest_id,
                newest_date=show(c.newest_date, tz) if c.newest_date else "?",
                missing=c.missing,
                deleted=t("channel_complete_deleted", lang, n=c.deleted) if c.deleted else "",
                before=before,
            )
        ]
    if ch.migrated_error:
        reason = reason_text(shorten(ch.migrated_error, 100), lang)
        missing = ch.migrated_missing or 0
        lines.append(tn("channel_old_group_missing", missing, lang, reason=reason))
    elif c.old_group:
        lines.append(tn("channel_old_group", c.old_group, lang))
    elif ch.migrated_from_chat_id:
        lines.append(t("channel_old_group_pending", lang))
    return html_join("", lines)


def render_item(
    channels: ChannelsAPI, ch: Channel, page: int, lang: str, tz: ZoneInfo
) -> tuple[Html, InlineKeyboardMarkup]:
    """One channel's view (times in `tz`) and its buttons (pause or resume, remove,
    comments, deletion alerts, media, back)."""
    policy = ch.media_policy(channels.media_defaults)
    if ch.interval_minutes:
        interval = t("channel_interval", lang, n=ch.interval_minutes)
    else:
        interval = t("channel_interval_default", lang, n=channels.default_interval)
    text = t(
        "channel_view",
        lang,
        icon=icon(ch.status),
        label=channel_name(ch.title, ch.username, lang, width=VIEW_WIDTH),
        kind=t(f"channel_kind_{ch.kind}", lang) if ch.kind in KINDS else ch.kind,
        status=t(f"channel_status_{ch.status}", lang),
        count=ch.messages_count,
        last=when(ch.last_run_at, lang, tz),
        next=when(_next_run(ch, channels.next_runs()), lang, tz),
        interval=interval,
        depth=depth_label(ch.history_mode, ch.history_limit, ch.history_since, lang, tz),
        comments=html_join("\n", [
            t("channel_on" if ch.comments_enabled else "channel_off", lang),
            t("channel_deletions", lang,
              state=t("channel_on" if ch.alert_deletions else "channel_off", lang)),
            t("channel_media", lang, policy=media_policy_text(policy, lang)),
        ]),
        complete=completeness_lines(ch, lang, tz),
        error=_error(ch, 200, lang),
    )

    def item(action: ItemAction) -> str:
        return ChannelItem(action=action, channel_id=ch.id, page=page).pack()

    toggle = (
        button(plain("channel_btn_resume", lang), item(ItemAction.RESUME))
        if ch.status != "active"
        else button(plain("channel_btn_pause", lang), item(ItemAction.PAUSE))
    )
    rows = [[toggle, button(plain("channel_btn_remove", lang), item(ItemAction.REMOVE))]]
    if ch.kind == "channel":
        key = "channel_btn_comments_on" if ch.comments_enabled else "channel_btn_comments_off"
        rows.append([button(plain(key, lang), item(ItemAction.COMMENTS))])
    deletions = "channel_btn_deletions_on" if ch.alert_deletions else "channel_btn_deletions_off"
    rows.append([button(plain(deletions, lang), item(ItemAction.DELETIONS))])
    media = ChannelMedia(channel_id=ch.id, page=page, op=MediaOp.VIEW).pack()
    mode = _media_short(policy, lang)
    label = shorten(plain("channel_btn_media", lang, mode=mode), BUTTON_WIDTH)
    rows.append([button(label, media)])
    rows.append([button(plain("channels_back", lang), ChannelPage(page=page).pack())])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _cap(max_bytes: int, lang: str) -> Html:
    if not max_bytes:
        return t("channel_media_any_size", lang)
    return t("channel_media_upto", lang, n=_mb(max_bytes))


def _mb(max_bytes: int) -> int | float:
    mb = max_bytes / MB
    return int(mb) if mb == int(mb) else round(mb, 1)


def media_policy_text(policy: MediaPolicy, lang: str) -> Html:
    """What a channel keeps, in words: "photos only, up to 50 MB"."""
    if policy.mode is MediaMode.OFF:
        return t("channel_media_off", lang)
    cap = _cap(policy.max_bytes, lang)
    if policy.mode is MediaMode.PHOTOS:
        return t("channel_media_photos", lang, cap=cap)
    kinds = policy.kinds
    if kinds is None or set(MEDIA_KINDS) <= kinds:
        return t("channel_media_all", lang, cap=cap)
    if not kinds:
        return t("channel_media_none_ticked", lang)
    names = html_join(", ", (t(f"media_kinds_{k}", lang) for k in MEDIA_KINDS if k in kinds))
    return t("channel_media_some", lang, kinds=names, cap=cap)


def media_caps(defaults: MediaPolicy) -> list[int]:
    """The cap buttons, in MB: the presets, MEDIA_MAX_MB when it is none of them, and
    0 (no cap) last."""
    default = defaults.max_bytes // MB
    caps = sorted({*MEDIA_CAPS_MB, *([default] if default else [])})
    return [*caps, 0]


def render_media(
    channels: ChannelsAPI, ch: Channel, page: int, lang: str
) -> tuple[Html, InlineKeyboardMarkup]:
    """A channel's media settings: the mode (off, photos, all), the kinds kept in mode
    all, the size cap; the current choices ticked. At most 3 + 8 + 5 + 1 buttons."""
    defaults = channels.media_defaults
    policy = ch.media_policy(defaults)
    text = t(
        "channel_media_view",
        lang,
        label=channel_name(ch.title, ch.username, lang, width=VIEW_WIDTH),
        policy=media_policy_text(policy, lang),
    )

    def op(kind: MediaOp, arg: str) -> str:
        return ChannelMedia(channel_id=ch.id, page=page, op=kind, arg=arg).pack()

    def ticked(on: bool, label: str) -> str:
        return f"✅ {label}" if on else label

    modes = []
    for mode in MediaMode:
        value = mode.value
        label = plain(f"channel_media_btn_{value}", lang)
        modes.append(button(ticked(policy.mode is mode, label), op(MediaOp.MODE, value)))
    rows = [modes]
    if policy.mode is MediaMode.ALL:
        kept = set(MEDIA_KINDS) if policy.kinds is None else policy.kinds
        kinds = []
        for k in MEDIA_KINDS:
            label = plain(f"media_kinds_{k}", lang)
            label = label[:1].upper() + label[1:]
            kinds.append(button(f"{'✅' if k in kept else '⬜'} {label}", op(MediaOp.KIND, k)))
        rows += [kinds[i : i + 4] for i in range(0, len(kinds), 4)]
    if policy.mode is not MediaMode.OFF:
        cap_mb = policy.max_bytes // MB if policy.max_bytes else 0
        rows.append([
            button(
                ticked(
                    n == cap_mb,
                    plain("channel_media_btn_mb", lang, n=n)
                    if n
                    else plain("channel_media_btn_nocap", lang),
                ),
                op(MediaOp.SIZE, str(n)),
            )
            for n in media_caps(defaults)
        ])
    back = ChannelItem(action=ItemAction.VIEW, channel_id=ch.id, page=page).pack()
    rows.append([button(plain("channel_media_back", lang), back)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def remove_question(ch: Channel, page: int, lang: str) -> tuple[Html, InlineKeyboardMarkup]:
    def item(action: ItemAction) -> str:
        return ChannelItem(action=action, channel_id=ch.id, page=page).pack()

    yes = button(plain("channel_remove_yes", lang), item(ItemAction.REMOVE_YES))
    no = button(plain("channel_remove_no", lang), item(ItemAction.VIEW))
    kb = InlineKeyboardMarkup(inline_keyboard=[[yes, no]])
    return t("channel_remove_ask", lang, label=ch.label), kb
