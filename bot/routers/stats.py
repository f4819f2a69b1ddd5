"""/stats <channel> [days]: the channel's analytics (#17) as an album of charts (subscriber
growth, posting heatmap, metrics table) and a text of metrics and top posts;
/stats <post link>: that post's views over time. Without analytics wired (bot.api.BotDeps),
/stats says it is not available."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message
from aiogram.utils.chat_action import ChatActionSender
from babel.dates import get_day_names
from babel.numbers import format_decimal

from bot.api.analytics import AnalyticsAPI
from bot.api.archive import ArchiveAPI
from bot.charts import (
    curve_chart,
    growth_chart,
    heatmap_chart,
    render_chart,
    table_chart,
)
from bot.charts import load as load_charts
from bot.labels import LIST_WIDTH, channel_name, echo, shorten
from bot.texts import Html, html_join, plain, t, tn
from bot.times import in_zone, show, zone_label
from core.analytics import ChannelMetrics, PostCurve, RankedPost
from core.archive import StatsUnit
from core.channels import Channel, post_link

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
    analytics: AnalyticsAPI | None = None,
) -> None:
    """The period's days are the operators' (`tz`): `/stats @c 7` is today and the six
    days before it there; an album counts once."""
    parts = (command.args or "").split()
    post = parse_post_link(parts[0]) if len(parts) == 1 and analytics is not None else None
    if post is not None and analytics is not None:
        await _post_curve(message, post, archive, analytics, bot, lang, tz)
        return
    # Days in ASCII digits ("²" is a digit to str.isdigit() that int() refuses).
    # Days outside 1..MAX_DAYS answer the usage (it gives the range), as /graph does.
    ok = len(parts) == 1 or (len(parts) == 2 and _DAYS.fullmatch(parts[1]) is not None)
    days = int(parts[1]) if ok and len(parts) == 2 else DEFAULT_DAYS
    if not ok or not 1 <= days <= MAX_DAYS:
        await message.answer(t("stats_usage", lang, default=DEFAULT_DAYS, max_days=MAX_DAYS))
        return
    channel = await archive.find_channel(parts[0])
    if channel is None:
        await message.answer(t("channel_not_found", lang, ref=echo(parts[0])))
        return
    if analytics is None:  # not wired (bot.api.BotDeps)
        await message.answer(t("stats_unavailable", lang))
        return
    name = _name(channel, lang)
    await _channel_analytics(message, channel, name, days, analytics, bot, lang, tz)


def _period_caption(
    posts: int, unit: str, deleted: Html | None, name: str, days: int, lang: str, tz: ZoneInfo
) -> Html:
    """The caption's first line (posts, period, `unit` of the chart's bars, whose days),
    then `deleted` when given."""
    by = t(f"stats_by_{unit}", lang)
    if zone_label(tz) != "UTC":  # whose days: ", by day, Europe/Moscow (UTC+03:00)"
        by = html_join(", ", [by, zone_label(tz)])
    period = tn("stats_period", days, lang)
    caption = tn("stats_caption", posts, lang, channel=name, period=period, by=by)
    return caption if deleted is None else html_join("\n", [caption, deleted])


def _name(channel: Channel, lang: str) -> str:
    return channel_name(
        channel.title, channel.username, lang, comments_of=channel.comments_of, width=LIST_WIDTH
    )


# ---------------------------------------------------------------- analytics (#17)

# A post link: https://t.me/name/123, t.me/s/name/123, t.me/c/<id>/123 (a topic's
# t.me/c/<id>/<topic>/123 too), telegram.me/..., @name/123; ?single, ?comment=... ignored.
_POST_LINK = re.compile(
    r"(?:(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?|@)"
    r"(?:c/(?P<cid>[0-9]{1,19})|(?P<name>[A-Za-z][A-Za-z0-9_]{1,31}))"
    r"(?:/[0-9]{1,10})?/(?P<msg>[0-9]{1,10})/?(?:[?#].*)?",
    re.IGNORECASE,
)
TOP_TEXT_WIDTH = 60  # a top post's first words
_MARKS_SHOWN = 8  # milestones listed in a curve's caption


@dataclass(frozen=True)
class PostRef:
    """A post an operator linked: `channel` as find_channel reads it, `msg_id`."""

    channel: str
    msg_id: int


def parse_post_link(text: str) -> PostRef | None:
    """`https://t.me/name/123`, `t.me/s/name/123`, `t.me/c/1234567/123` (a topic's
    `t.me/c/1234567/5/123` too), `@name/123` -> the post; None for anything else (a
    channel reference)."""
    m = _POST_LINK.fullmatch(text.strip())
    if m is None:
        return None
    msg_id = int(m.group("msg"))
    if msg_id <= 0:
        return None
    cid = m.group("cid")
    # The private form goes on as a t.me/c/ link: find_channel then never takes the
    # digits for a row id.
    ref = f"https://t.me/c/{cid}/{msg_id}" if cid else f"@{m.group('name')}"
    return PostRef(ref, msg_id)


def number(value: float, lang: str) -> str:
    """12 345 / 12,345; a fraction to one decimal (4,3 / 4.3)."""
    fmt = "#,##0" if float(value).is_integer() or abs(value) >= 100 else "#,##0.#"
    return format_decimal(round(value, 1), format=fmt, locale=lang)


def rate(value: float, lang: str) -> str:
    """A per-day rate as `number`, but under 0.05 and above 0 "<0.1" / "<0,1" (not 0)."""
    if 0 < value and round(value, 1) == 0:
        return "<" + number(0.1, lang)
    return number(value, lang)


def percent(share: float, lang: str, *, signed: bool = False) -> str:
    """A share (0.104) as "10.4%" / "10,4 %"; `signed`: "+4.2%"."""
    value = format_decimal(share * 100, format="#,##0.0#" if abs(share) < 0.01 else "#,##0.0",
                           locale=lang)  # fmt: skip
    if signed and share >= 0:
        value = "+" + value
    return plain("stats_pct", lang, value=value)


def _dash(value: str | None) -> str:
    return "—" if value is None else value


def growth_text(m: ChannelMetrics, lang: str) -> str | None:
    """ "+1,234 (+5.6%)", "−12 (−0.1%)"; None without two counts."""
    if m.growth is None:
        return None
    n = ("+" if m.growth >= 0 else "") + number(m.growth, lang)
    return f"{n} ({percent(m.growth_pct, lang, signed=True)})" if m.growth_pct is not None else n


def weekday_names(lang: str) -> list[str]:
    """Monday first, abbreviated in `lang` (Mon / пн)."""
    names = get_day_names("abbreviated", locale=lang)
    return [str(names[i]) for i in range(7)]


def metric_rows(m: ChannelMetrics, lang: str) -> list[tuple[str, str]]:
    """(label, value) per metric, in the operator's language; "—" where there is
    nothing to compute from."""
    days = weekday_names(lang)
    reach = number(m.reach, lang) if m.reach is not None else None
    ads = None
    if m.posts:
        share = percent(m.ad_share or 0.0, lang)
        ads = plain(
            "stats_ads_value",
            lang,
            ads=number(m.ad_posts, lang),
            posts=number(m.posts, lang),
            pct=share,
        )
    rows = [
        ("stats_m_posts", number(m.posts, lang)),
        ("stats_m_per_day", rate(m.posts_per_day, lang)),
        ("stats_m_reach", reach),
        ("stats_m_err", percent(m.err, lang) if m.err is not None else None),
        ("stats_m_er", percent(m.er, lang) if m.er is not None else None),
        (
            "stats_m_subscribers",
            number(m.subscribers, lang) if m.subscribers is not None else None,
        ),
        ("stats_m_growth", growth_text(m, lang)),
        ("stats_m_best_hours", ", ".join(f"{h}:00" for h in m.best_hours[:3]) or None),
        ("stats_m_best_days", ", ".join(days[d] for d in m.best_weekdays[:3]) or None),
        ("stats_m_ads", ads),
    ]
    return [(plain(key, lang), _dash(value)) for key, value in rows]


@dataclass(frozen=True)
class Charts:
    """The album's PNGs, in the order they are sent (None: nothing to draw)."""

    growth: bytes | None
    heatmap: bytes | None
    table: bytes
    posts: bytes | None = None  # posts and median views per day, week or month

    def photos(self) -> list[tuple[str, bytes]]:
        named = (
            ("growth", self.growth),
            ("posts", self.posts),
            ("heatmap", self.heatmap),
            ("metrics", self.table),
        )
        return [(name, png) for name, png in named if png is not None]


def chart_jobs(
    m: ChannelMetrics, name: str, days: int, lang: str, tz: ZoneInfo
) -> dict[str, Callable[[], bytes]]:
    """The album's charts to draw, by Charts field: "growth" (none without a subscriber
    count), "posts" and "heatmap" (none without posts), "table". Each is CPU-bound (call via
    to_thread); each draws its own Figure, so they may run in threads at once."""
    period = _period_plain(days, lang)
    jobs: dict[str, Callable[[], bytes]] = {}
    if m.subscriber_series:
        points = [(in_zone(p.taken_at, tz), p.subscribers) for p in m.subscriber_series]
        jobs["growth"] = partial(
            growth_chart,
            f"{plain('stats_growth_title', lang)} · {shorten(name, 40)}",
            points,
            plain("stats_growth_axis", lang),
            note=" · ".join(x for x in (growth_text(m, lang), period) if x),
        )
    if m.posts and m.heatmap:
        best = [(d, h) for d in m.best_weekdays[:1] for h in m.best_hours[:3]]
        jobs["heatmap"] = partial(
            heatmap_chart,
            plain("stats_heatmap_title", lang),
            m.heatmap,
            weekday_names(lang),
            plain("stats_hour_axis", lang, zone=zone_label(tz)),
            best=best,
        )
    if m.chart:
        jobs["posts"] = partial(
            render_chart,
            name,
            [b.start for b in m.chart],
            [b.posts for b in m.chart],
            [b.median_views for b in m.chart],
            m.chart_unit,
            plain(_POSTS_LABEL[m.chart_unit], lang),
            plain("stats_views_label", lang),
        )
    jobs["table"] = partial(
        table_chart,
        plain("stats_table_title", lang, channel=shorten(name, 40), period=period),
        metric_rows(m, lang),
        footer=zone_label(tz),
    )
    return jobs


def draw_charts(m: ChannelMetrics, name: str, days: int, lang: str, tz: ZoneInfo) -> Charts:
    """The album's charts (CPU-bound: call via to_thread). No growth chart without a
    subscriber count, no heatmap without posts."""
    pngs = {k: job() for k, job in chart_jobs(m, name, days, lang, tz).items()}
    return Charts(pngs.get("growth"), pngs.get("heatmap"), pngs["table"], pngs.get("posts"))


async def draw_charts_at_once(
    m: ChannelMetrics, name: str, days: int, lang: str, tz: ZoneInfo
) -> Charts:
    """draw_charts with each chart in its own worker thread: matplotlib holds the GIL
    most of the time, but the PNG encoding (Pillow, zlib) does not."""
    jobs = chart_jobs(m, name, days, lang, tz)
    pngs = dict(
        zip(jobs, await asyncio.gather(*map(asyncio.to_thread, jobs.values())), strict=True)
    )
    return Charts(pngs.get("growth"), pngs.get("heatmap"), pngs["table"], pngs.get("posts"))


def _period_plain(days: int, lang: str) -> str:
    """ "30 days" / "30 дней" as plain text (a chart label)."""
    return str(tn("stats_period", days, lang))


def metrics_text(m: ChannelMetrics, name: str, days: int, lang: str, tz: ZoneInfo) -> Html:
    """The metrics and the top posts as one HTML message (at most 4,096 characters:
    five posts a list, their text cut to TOP_TEXT_WIDTH)."""
    period = tn("stats_period", days, lang)
    lines: list[str] = [t("stats_text_head", lang, channel=name, period=period)]
    lines += [t("stats_text_line", lang, label=lb, value=v) for lb, v in metric_rows(m, lang)]
    for head, posts in (
        ("stats_top_views_head", m.top_by_views),
        ("stats_top_er_head", m.top_by_er),
    ):
        if posts:
            lines += ["", t(head, lang)]
            lines += [_post_line(p, lang, tz) for p in posts[:5]]
    lines += ["", t("stats_text_defs", lang)]
    return html_join("\n", [Html(x) for x in lines])


def _post_line(p: RankedPost, lang: str, tz: ZoneInfo) -> Html:
    values = {
        "msg_id": p.msg_id,
        "date": show(p.date, tz, zone=False),
        "views": _dash(number(p.views, lang) if p.views is not None else None),
        "er": _dash(percent(p.er, lang) if p.er is not None else None),
        "text": shorten(p.text, TOP_TEXT_WIDTH) or "…",
    }
    if p.link:
        return t("stats_post_line", lang, link=p.link, **values)
    return t("stats_post_line_plain", lang, **values)


async def _channel_analytics(
    message: Message,
    channel: Channel,
    name: str,
    days: int,
    analytics: AnalyticsAPI,
    bot: Bot,
    lang: str,
    tz: ZoneInfo,
) -> None:
    """The album: subscriber growth, posts per day/week/month (with the median views),
    the weekday x hour heatmap, the metrics table; its caption the posts chart's (the
    period's posts as the table counts them, by what, the zone, the posts deleted since
    apart); then the metrics text."""
    async with ChatActionSender.upload_photo(bot=bot, chat_id=message.chat.id):
        m, charts = await prepare(channel, name, days, analytics, lang, tz)
    if charts is None:
        await message.answer(empty_text(name, days, lang))
        return
    await send_photos(message, charts.photos(), album_caption(m, name, days, lang, tz))
    await message.answer(metrics_text(m, name, days, lang, tz), disable_web_page_preview=True)


def album_caption(m: ChannelMetrics, name: str, days: int, lang: str, tz: ZoneInfo) -> Html:
    """ "Pics · @pics: 3 posts in 7 days, by day, Europe/Moscow (UTC+03:00)": the posts
    the metrics table counts; the period's posts deleted since, not counted, apart."""
    deleted = t("stats_deleted_apart", lang, n=m.deleted) if m.deleted else None
    return _period_caption(m.posts, m.chart_unit.value, deleted, name, days, lang, tz)


async def prepare(
    channel: Channel,
    name: str,
    days: int,
    analytics: AnalyticsAPI,
    lang: str,
    tz: ZoneInfo,
) -> tuple[ChannelMetrics, Charts | None]:
    """Everything /stats <channel> does before it sends (bench/bench_stats.py times it):
    ONE metrics query (the posts chart's data comes in it) and the album's charts, each
    drawn in its own worker thread (None: nothing to draw)."""
    # matplotlib's first import (~1 s) while the query runs, before any drawing thread.
    loaded = asyncio.ensure_future(asyncio.to_thread(load_charts))
    try:
        m = await analytics.metrics(channel, days, tz)
    finally:
        await loaded
    if not (m.posts or m.subscriber_series):
        return m, None
    return m, await draw_charts_at_once(m, name, days, lang, tz)


async def send_photos(message: Message, photos: Sequence[tuple[str, bytes]], caption: str) -> None:
    """One photo as a photo, 2-10 as one album (sendMediaGroup), the caption on the first."""
    if len(photos) == 1:
        name, png = photos[0]
        await message.answer_photo(BufferedInputFile(png, f"{name}.png"), caption=caption)
        return
    media = [
        InputMediaPhoto(
            media=BufferedInputFile(png, f"{name}.png"), caption=caption if i == 0 else None
        )
        for i, (name, png) in enumerate(photos[:10])
    ]
    await message.answer_media_group(media)  # type: ignore[arg-type]


def age_text(seconds: float, lang: str) -> str:
    """A configured age as the operator reads it: "45 min", "24 h" / "24 ч" (hours up
    to two days), "7 d" / "7 дн."."""
    whole = int(seconds)
    if whole % 86400 == 0 and whole >= 2 * 86400:
        return str(tn("stats_age_d", whole // 86400, lang))
    if whole % 3600 == 0:
        return plain("stats_age_h", lang, n=whole // 3600)
    return plain("stats_age_m", lang, n=whole // 60)


def draw_curve(curve: PostCurve, lang: str, tz: ZoneInfo) -> bytes | None:
    """The post's views curve (CPU-bound: call via to_thread); None without a read
    that gave views."""
    read = [p for p in curve.points if p.views is not None]
    if not read:
        return None
    points = [(in_zone(p.taken_at, tz), int(p.views or 0)) for p in read]
    marks = [
        (in_zone(p.taken_at, tz), int(p.views or 0), age_text(p.age_mark.total_seconds(), lang))
        for p in read
        if p.age_mark is not None
    ]
    return curve_chart(
        plain("stats_post_title", lang, msg_id=curve.msg_id),
        points,
        plain("stats_views_axis", lang),
        milestones=marks,
        posted=in_zone(curve.date, tz),
    )


def curve_caption(curve: PostCurve, name: str, link: str | None, lang: str, tz: ZoneInfo) -> Html:
    """Channel, post (linked), its date, its latest views and the views at each age."""
    views = [p.views for p in curve.points if p.views is not None]
    values = {
        "channel": name,
        "msg_id": curve.msg_id,
        "date": show(curve.date, tz),
        "views": number(views[-1], lang) if views else "—",
    }
    head = (
        t("stats_post_caption", lang, link=link, **values)
        if link
        else t("stats_post_caption_plain", lang, **values)
    )
    marks = [
        f"{age_text(p.age_mark.total_seconds(), lang)}: {number(p.views, lang)}"
        for p in curve.points
        if p.age_mark is not None and p.views is not None
    ][:_MARKS_SHOWN]
    if not marks:
        return head
    return html_join("\n", [head, t("stats_post_marks", lang, marks=", ".join(marks))])


async def _post_curve(
    message: Message,
    post: PostRef,
    archive: ArchiveAPI,
    analytics: AnalyticsAPI,
    bot: Bot,
    lang: str,
    tz: ZoneInfo,
) -> None:
    channel = await archive.find_channel(post.channel)
    if channel is None:
        await message.answer(t("channel_not_found", lang, ref=echo(post.channel)))
        return
    name = _name(channel, lang)
    async with ChatActionSender.upload_photo(bot=bot, chat_id=message.chat.id):
        curve = await analytics.post_curve(channel.id, post.msg_id)
        png = await asyncio.to_thread(draw_curve, curve, lang, tz) if curve else None
    if curve is None:
        ref = f"{post.channel.removeprefix('https://')} #{post.msg_id}"
        await message.answer(t("stats_post_unknown", lang, ref=echo(ref)))
        return
    if png is None:
        await message.answer(t("stats_post_no_reads", lang, channel=name, msg_id=curve.msg_id))
        return
    link = (
        post_link(channel.username, channel.tg_id, curve.msg_id)
        if channel.kind != "chat"
        else None
    )
    caption = curve_caption(curve, name, link, lang, tz)
    await message.answer_photo(BufferedInputFile(png, "views.png"), caption=caption)
