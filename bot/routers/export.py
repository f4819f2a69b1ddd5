"""/export: one channel or all, CSV (comma or semicolon) / JSONL / XLSX, optional period,
keyword, comments, time zone, and the posts' media (`media`: zip parts within the upload
limit and a list; `media:paths`: the list of where each file is on disk)."""

from __future__ import annotations

import difflib
import logging
import re
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message

from bot.api.analytics import SeriesExportAPI, SeriesKind
from bot.api.archive import ArchiveAPI
from bot.keyboards import button, pager_row, pages_of
from bot.labels import BUTTON_WIDTH, LIST_WIDTH, channel_name, echo
from bot.live import LiveMessage
from bot.texts import Html, html_join, plain, t, tn
from bot.times import day_end, read_day
from core.archive import ExportFormat, ExportResult, NoRoomForPart
from core.channels import Channel
from core.words import SearchQuery

log = logging.getLogger(__name__)

FORMATS = tuple(f.value for f in ExportFormat)
# Words an operator may take for a format: answered with the formats there are, never
# taken as a search filter. (`/export @ch csv pdf` searches for "pdf".)
NOT_FORMATS = frozenset(
    {"pdf", "txt", "text", "json", "xls", "doc", "docx", "html", "htm", "xml", "tsv", "md",
     "zip", "sql", "sqlite", "db", "odt", "ods", "rtf", "epub", "parquet", "excel", "word"}
)  # fmt: skip
# Option words: a channel's export with the comments of its discussion group.
COMMENT_WORDS = frozenset({"comments", "+comments", "комментарии", "комменты", "+комментарии"})
# "с комментариями" ("with comments"): "с" is otherwise the Russian "from" of a date.
WITH_COMMENT_WORDS = frozenset({"комментариями", "комментами"})
# Option words: each row also lists the post's earlier versions (edits kept).
VERSION_WORDS = frozenset({"versions", "+versions", "версии", "+версии"})
WITH_VERSION_WORDS = frozenset({"версиями", "versions"})
# Option words: the posts' media as zip parts (and their list), or only the list of
# where each file is on disk.
MEDIA_WORDS = frozenset({"media", "+media", "медиа", "+медиа"})
MEDIA_PATH_WORDS = frozenset({"media:paths", "медиа:пути"})
WITH_MEDIA_WORDS = frozenset({"медиа", "media"})
# Option words (#17): instead of messages, a channel's series: its posts' counters over
# time (counter snapshots) or its subscriber counts.
SERIES_WORDS = {
    "counters": SeriesKind.COUNTERS,
    "счётчики": SeriesKind.COUNTERS,
    "счетчики": SeriesKind.COUNTERS,
    "subscribers": SeriesKind.SUBSCRIBERS,
    "подписчики": SeriesKind.SUBSCRIBERS,
}
TZ_PREFIX = "tz:"
PERIODS = (0, 30, 7)  # days; 0 = all time
MENU_PAGE = 10


class ExportMenuPage(CallbackData, prefix="expp"):
    """A pager button of the /export channel menu: the page (0-based) it opens."""

    page: int


# pager_row() builds each button's data as this prefix + the page: ExportMenuPage packed.
MENU_PAGER_PREFIX = f"{ExportMenuPage.__prefix__}{ExportMenuPage.__separator__}"


class ExportChannel(CallbackData, prefix="expc"):
    """A channel of the /export menu (None: every channel)."""

    channel_id: int | None = None


class ExportPick(CallbackData, prefix="expf"):
    """A format and period button: export `channel_id` (None: all) of the last `days`
    days (0: all time) as `fmt`."""

    channel_id: int | None = None
    fmt: ExportFormat
    days: int


class ExportMediaPick(CallbackData, prefix="expm"):
    """Export `channel_id` (None: all) of all time as CSV with the posts' media:
    `media` "zip" (the files as zip parts and their list) or "paths" (the list)."""

    channel_id: int | None = None
    media: str


class ExportSeriesPick(CallbackData, prefix="exps"):
    """Export channel `channel_id`'s `kind` series of all time as `fmt` (#17)."""

    channel_id: int
    kind: SeriesKind
    fmt: ExportFormat


@dataclass(frozen=True)
class ExportArgs:
    channel: str | None  # None = all channels
    fmt: ExportFormat
    since: datetime | None
    until: datetime | None
    keyword: str | None
    comments: bool = False
    tz: ZoneInfo | None = None  # the `tz:` option (None: not given; tz:local = the bot's)
    versions: bool = False  # the `versions` option: earlier versions of edited posts
    media: str = ""  # "zip" (`media`), "paths" (`media:paths`), "" (none)
    series: SeriesKind | None = None  # `counters` / `subscribers`: a series, not messages


class BadZone(ValueError):
    """A `tz:` option that names no IANA time zone (`value` "" when `tz:` is bare);
    `near` the zone meant when only the letter case differs (`Europe/moscow`)."""

    def __init__(self, value: str, near: str | None = None) -> None:
        super().__init__(value)
        self.value = value
        self.near = near


class GarbledOption(ValueError):
    """An option word with stray punctuation (`csv,`, `xlsx.`): `fix` is the option."""

    def __init__(self, value: str, fix: str) -> None:
        super().__init__(value)
        self.value = value
        self.fix = fix


class BadMediaOption(ValueError):
    """A media option misspelt after its colon (`media:path`, `медиа:путь`, `media=paths`,
    `media:`): `value` as the operator wrote it; the bot names the two forms there are."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class TwiceGiven(ValueError):
    """One option given twice with different values (`csv xlsx`, `to X to Y`): `first`
    and `second` as the operator wrote them; nothing is guessed."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} / {second}")
        self.first = first
        self.second = second


class BadDate(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class ReversedDates(ValueError):
    """`from` names a later day than `to` (both as the operator wrote them)."""

    def __init__(self, since: str, until: str) -> None:
        super().__init__(f"{since} > {until}")
        self.since = since
        self.until = until


class BadFormat(ValueError):
    """A word that names a file format the export does not write (pdf, txt, ...)."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


def _format_word(token: str) -> str | None:
    """`token` as a format name (`xlsx`, `.xlsx`), or None if it is no format word."""
    low = token.lower().lstrip(".")
    return low if low in FORMATS or low in NOT_FORMATS else None


_UTC = ZoneInfo("UTC")


def _date(value: str, tz: ZoneInfo) -> datetime:
    """The first instant of day `value` (YYYY-MM-DD) in `tz`, as an aware UTC datetime."""
    try:
        return read_day(value, tz)
    except ValueError:
        raise BadDate(value) from None


def _zone(value: str, default: ZoneInfo) -> ZoneInfo:
    """`tz:` value: "local" is the bot's TIMEZONE (`default`), else an IANA name (any
    case of UTC)."""
    if value.lower() == "local":
        return default
    if value.upper() in ("UTC", "Z"):
        return _UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        # Zone names are case-sensitive (file names): say which one was meant, as the
        # TIMEZONE setting does.
        low = value.lower()
        near = sorted(z for z in available_timezones() if z.lower() == low)
        raise BadZone(value, near[0] if near else None) from None


# Punctuation a typo leaves on an option word: `csv,` `xlsx.` `(jsonl)`.
_STRAY = ",.:!?()[]{}<>'`«»"


def _garbled(token: str) -> str | None:
    """The option `token` garbles (`csv,` -> `csv`), or None when it is none."""
    bare = token.strip(_STRAY)
    if bare == token or not bare:
        return None
    low = bare.lower()
    if low.lstrip(".") in FORMATS or low in COMMENT_WORDS or low in VERSION_WORDS:
        return low.lstrip(".")
    if low in MEDIA_WORDS or low in MEDIA_PATH_WORDS or low in SERIES_WORDS:
        return low
    return None


def _series_near_miss(token: str) -> str | None:
    """The series word `token` misspells (`subscriber`, `подписчки`, `counter`), or
    None. Only words of 6 letters or more, that close (difflib ratio >= 0.88): "counts"
    or "подписка" stay search words."""
    low = token.lower()
    if len(low) < 6 or low in SERIES_WORDS:
        return None
    near = difflib.get_close_matches(low, SERIES_WORDS, n=1, cutoff=0.88)
    if near:
        return near[0]
    # Two neighbouring letters swapped (`countres`): difflib rates it lower (0.875).
    return next((w for w in SERIES_WORDS if _swapped(low, w)), None)


def _swapped(a: str, b: str) -> bool:
    """Whether `a` is `b` with one pair of neighbouring letters swapped."""
    if len(a) != len(b):
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) != 2 or diff[1] != diff[0] + 1:
        return False
    i, j = diff
    return a[i] == b[j] and a[j] == b[i]


# `media:` / `медиа=` followed by anything: meant as the media option. (A hyphen is not
# taken: "медиа-холдинг" is a word one searches for.)
_MEDIA_NEAR = re.compile(r"^\+?(?:media|медиа)[:=]")


def _media_near_miss(token: str) -> bool:
    """Whether `token` is a misspelt media option (`media:path`, `медиа:путь`, `media:`,
    `media=paths`); `media:paths,` is a garbled option instead (see `_garbled`)."""
    low = token.lower()
    return _MEDIA_NEAR.match(low) is not None and low.rstrip(_STRAY) not in MEDIA_PATH_WORDS


def parse_export_args(text: str, local: ZoneInfo = _UTC) -> ExportArgs:
    """`<channel|all> [csv|csv;|jsonl|xlsx] [comments] [versions] [tz:Zone]
    [from YYYY-MM-DD] [to YYYY-MM-DD] [words...]`.

    Options (a format word, comments, versions, tz:, from/to before a day, i.e. a word starting
    with a digit) are options wherever they stand, before or after the search words; a
    word inside "quotes" is always a search word (`"csv"` searches for csv). A first
    word that is an option means every channel.
    Raises BadFormat for a word naming another file format (pdf, txt, ...) before any
    search word; GarbledOption for an option with stray punctuation (`csv,`, `media,`);
    BadMediaOption for a misspelt media option (`media:path`, `медиа:путь`); a series
    word misspelt before any search word (`subscriber`) is a GarbledOption; TwiceGiven
    for two formats or two `from`/`to` days that differ; BadDate for a day that is no
    YYYY-MM-DD; ReversedDates when `from` is after `to`; BadZone for a `tz:` naming no
    zone (or nothing). Days are read in the `tz:` zone when given, else in `local` (the
    bot's TIMEZONE); `tz:local` is `local`.
    """
    tokens = text.split()
    channel = "all"
    if tokens and not _is_option(tokens[0]):
        channel = tokens.pop(0)
    fmt: ExportFormat | None = None
    fmt_word = ""
    comments = False
    versions = False
    media = ""
    series: SeriesKind | None = None
    series_word = ""
    zone: ZoneInfo | None = None
    dates: dict[str, str] = {}
    words: list[str] = []
    quoted = False  # inside a "phrase": every word is a search word
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if quoted or '"' in tok:
            quoted ^= tok.count('"') % 2 == 1
            words.append(tok)
            i += 1
            continue
        word = _format_word(tok)
        if word is not None and word not in FORMATS:
            if words or fmt is not None:  # `/export @ch csv pdf`: searches for "pdf"
                words.append(tok)
                i += 1
                continue
            raise BadFormat(tok)
        if word is None and tok == ";" and fmt is ExportFormat.CSV:  # "csv ;"
            fmt, fmt_word = ExportFormat.CSV_SEMICOLON, f"{fmt_word} ;"
        elif word is not None:
            if fmt is not None and ExportFormat(word) is not fmt:
                raise TwiceGiven(fmt_word, tok)
            fmt, fmt_word = ExportFormat(word), tok
        elif low in COMMENT_WORDS:
            comments = True
        elif low in VERSION_WORDS:
            versions = True
        elif low in MEDIA_WORDS:
            media = media or "zip"
        elif low in MEDIA_PATH_WORDS:
            media = "paths"
        elif low in SERIES_WORDS:
            if series is not None and SERIES_WORDS[low] is not series:
                raise TwiceGiven(series_word, tok)
            series, series_word = SERIES_WORDS[low], tok
        elif low in ("с", "with") and nxt in WITH_MEDIA_WORDS:
            media = media or "zip"
            i += 1
        elif low in ("с", "with") and nxt in WITH_COMMENT_WORDS | COMMENT_WORDS:
            comments = True
            i += 1
        elif low in ("с", "with") and nxt in WITH_VERSION_WORDS:
            versions = True
            i += 1
        elif low.startswith(TZ_PREFIX):
            zone = _zone(tok[len(TZ_PREFIX) :], local)
        elif low in _DATE_WORDS and nxt[:1].isdigit():
            # Only before a day: "how to cook", "выборы по Москве" are search words.
            key, day = _DATE_WORDS[low], tokens[i + 1]
            if key in dates and dates[key] != day:
                raise TwiceGiven(f"{dates[key]}", f"{day}")
            dates[key] = day
            i += 1
        elif _media_near_miss(tok):
            raise BadMediaOption(tok)
        elif (fix := _garbled(tok)) is not None:
            raise GarbledOption(tok, fix)
        elif not words and (near := _series_near_miss(tok)) is not None:
            raise GarbledOption(tok, near)
        else:
            words.append(tok)
        i += 1
    since, until = _period(dates.get("since"), dates.get("until"), zone or local)
    return ExportArgs(
        None if channel.lower() in ("all", "все") else channel,
        fmt or ExportFormat.CSV,
        since,
        until,
        " ".join(words) or None,
        comments,
        zone,
        versions,
        media,
        series,
    )


def _is_option(token: str) -> bool:
    """Whether `token` is an option word (then no channel was named before it)."""
    low = token.lower()
    return (
        _format_word(token) is not None
        or low in COMMENT_WORDS
        or low in VERSION_WORDS
        or low in MEDIA_WORDS
        or low in MEDIA_PATH_WORDS
        or low in SERIES_WORDS
        or low.startswith(TZ_PREFIX)
        or _garbled(token) is not None
        or _media_near_miss(token)
    )


_DATE_WORDS = {"from": "since", "с": "since", "since": "since"} | dict.fromkeys(
    ("to", "по", "until"), "until"
)


def _period(
    since: str | None, until: str | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """[since, until) in UTC from the days written in `tz`; `to` names the last day
    included (a DST day is 23 or 25 hours long)."""
    start = _date(since, tz) if since is not None else None
    end = day_end(_date(until, tz).astimezone(tz).date(), tz) if until is not None else None
    if start is not None and end is not None and start >= end:
        assert since is not None and until is not None
        raise ReversedDates(since, until)
    return start, end


def build_router() -> Router:
    """/export and its menu, channel, format and period buttons."""
    router = Router(name="export")
    router.message.register(cmd_export, Command("export"))
    router.callback_query.register(on_export_page, ExportMenuPage.filter())
    router.callback_query.register(on_export_channel, ExportChannel.filter())
    router.callback_query.register(on_export_format, ExportPick.filter())
    router.callback_query.register(on_export_media, ExportMediaPick.filter())
    router.callback_query.register(on_export_series, ExportSeriesPick.filter())
    return router


def export_name(channel: Channel, lang: str, width: int = LIST_WIDTH) -> str:
    """How a channel of the archive is named in /export texts and buttons."""
    return channel_name(
        channel.title,
        channel.username,
        lang,
        comments_of=channel.comments_of,
        width=width,
    )


async def _menu(archive: ArchiveAPI, page: int, lang: str) -> tuple[Html, InlineKeyboardMarkup]:
    """The channel menu of /export: "all channels", then one page of the archive."""
    found = await archive.channel_page(page, MENU_PAGE)
    channels, total = found.channels, found.total
    pages = pages_of(total, MENU_PAGE)
    if not channels and page > 0:  # channels removed since the menu was shown
        return await _menu(archive, pages - 1, lang)
    rows = [[button(plain("export_btn_all", lang), ExportChannel().pack())]]
    rows += [
        [button(export_name(c, lang, BUTTON_WIDTH), ExportChannel(channel_id=c.id).pack())]
        for c in channels
    ]
    nav = pager_row(MENU_PAGER_PREFIX, page, pages, lang)
    if nav:
        rows.append(nav)
    text = t("export_usage", lang)
    if pages > 1:
        text = Html(f"{text}\n{t('export_menu_page', lang, page=page + 1, pages=pages)}")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def cmd_export(
    message: Message,
    command: CommandObject,
    archive: ArchiveAPI,
    lang: str,
    tz: ZoneInfo = _UTC,
    series_export: SeriesExportAPI | None = None,
) -> None:
    """`/export ...` (see parse_export_args); `tz` is the bot's TIMEZONE, the zone the
    days are read in unless a `tz:` option names another."""
    if not command.args:
        text, kb = await _menu(archive, 0, lang)
        await message.answer(text, reply_markup=kb)
        return
    try:
        args = parse_export_args(command.args, tz)
    except BadDate as exc:
        await message.answer(t("export_bad_date", lang, value=echo(exc.value)))
        return
    except ReversedDates as exc:
        text = t("export_reversed_dates", lang, since=echo(exc.since), until=echo(exc.until))
        await message.answer(text)
        return
    except BadZone as exc:
        if not exc.value:
            await message.answer(t("export_tz_empty", lang))
        elif exc.near is not None:
            near = echo(exc.near)
            await message.answer(t("export_bad_tz_near", lang, value=echo(exc.value), near=near))
        else:
            await message.answer(t("export_bad_tz", lang, value=echo(exc.value)))
        return
    except GarbledOption as exc:
        await message.answer(t("export_garbled", lang, value=echo(exc.value), fix=echo(exc.fix)))
        return
    except BadMediaOption as exc:
        await message.answer(t("export_bad_media", lang, value=echo(exc.value)))
        return
    except TwiceGiven as exc:
        text = t("export_twice", lang, first=echo(exc.first), second=echo(exc.second))
        await message.answer(text)
        return
    except BadFormat as exc:
        formats = html_join(", ", FORMATS)
        await message.answer(t("export_bad_format", lang, value=echo(exc.value), formats=formats))
        return
    if args.series is not None:
        await _series_command(message, archive, series_export, args, lang)
        return
    if args.keyword:
        # The words have /search's syntax: an unusable query (only -exclusions, ...)
        # raises core.words.BadQuery here, before any work; bot/errors.py says why.
        SearchQuery.parse(args.keyword)
    channel = None
    if args.channel is not None:
        channel = await archive.find_channel(args.channel)
        if channel is None:
            await message.answer(t("channel_not_found", lang, ref=echo(args.channel)))
            return
    await _run_export(
        message,
        archive,
        lang,
        channel,
        args.fmt,
        args.since,
        args.until,
        args.keyword,
        comments=args.comments,
        tz=args.tz or _UTC,
        versions=args.versions,
        media=args.media,
    )


async def on_export_page(
    query: CallbackQuery, callback_data: ExportMenuPage, archive: ArchiveAPI, lang: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    text, kb = await _menu(archive, callback_data.page, lang)
    try:
        await query.message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest as exc:  # a second tap before the first edit arrived
        if "not modified" not in str(exc):
            raise


def _format_keyboard(
    channel_id: int | None, lang: str, series: bool = False
) -> InlineKeyboardMarkup:
    rows = []
    for fmt in ExportFormat:
        row = []
        for days in PERIODS:
            period = (
                plain("export_btn_period_all", lang)
                if days == 0
                else plain("export_btn_period_days", lang, n=days)
            )
            pick = ExportPick(channel_id=channel_id, fmt=fmt, days=days)
            row.append(button(f"{fmt.value.upper()} · {period}", pick.pack()))
        rows.append(row)
    rows.append([
        button(plain(f"export_btn_media_{media}", lang),
               ExportMediaPick(channel_id=channel_id, media=media).pack())
        for media in ("zip", "paths")
    ])
    if series and channel_id is not None:  # a channel's series (#17): all time
        for kind in SeriesKind:
            rows.append([
                button(plain(f"export_btn_series_{kind.value}", lang, fmt=fmt.value.upper()),
                       ExportSeriesPick(channel_id=channel_id, kind=kind, fmt=fmt).pack())
                for fmt in (ExportFormat.CSV, ExportFormat.XLSX)
            ])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_export_channel(
    query: CallbackQuery,
    callback_data: ExportChannel,
    archive: ArchiveAPI,
    lang: str,
    series_export: SeriesExportAPI | None = None,
) -> None:
    await query.answer()
    target = callback_data.channel_id
    if not isinstance(query.message, Message):
        return
    what: str = t("export_all_channels", lang)
    if target is not None:
        channel = await archive.get_channel(target)
        if channel is None:  # removed since the menu was shown
            await query.message.answer(t("export_channel_gone", lang))
            return
        what = export_name(channel, lang)
    kb = _format_keyboard(target, lang, series=series_export is not None)
    await query.message.answer(t("export_pick_format", lang, what=what), reply_markup=kb)


async def _picked_channel(
    message: Message, archive: ArchiveAPI, channel_id: int | None, lang: str
) -> Channel | Literal[False] | None:
    """The channel an export button names (None: all channels); False, with the
    operator told, when it has been removed since the buttons were sent."""
    if channel_id is None:
        return None
    channel = await archive.get_channel(channel_id)
    if channel is None:
        await message.answer(t("export_channel_gone", lang))
        return False
    return channel


async def on_export_format(
    query: CallbackQuery, callback_data: ExportPick, archive: ArchiveAPI, lang: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    picked = await _picked_channel(query.message, archive, callback_data.channel_id, lang)
    if picked is False:
        return
    channel = picked
    days = callback_data.days
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    fmt = callback_data.fmt
    await _run_export(query.message, archive, lang, channel, fmt, since, None, None)


async def on_export_media(
    query: CallbackQuery, callback_data: ExportMediaPick, archive: ArchiveAPI, lang: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message) or callback_data.media not in ("zip", "paths"):
        return
    picked = await _picked_channel(query.message, archive, callback_data.channel_id, lang)
    if picked is False:
        return
    channel = picked
    await _run_export(
        query.message, archive, lang, channel, ExportFormat.CSV, None, None, None,
        media=callback_data.media,
    )


async def _run_export(
    message: Message,
    archive: ArchiveAPI,
    lang: str,
    channel: Channel | None,
    fmt: ExportFormat,
    since: datetime | None,
    until: datetime | None,
    keyword: str | None,
    *,
    comments: bool = False,
    tz: ZoneInfo = _UTC,
    versions: bool = False,
    media: str = "",
) -> None:
    what = export_name(channel, lang) if channel else t("export_all_channels", lang)
    # One export at a time (the service's rule), its upload included.
    async with archive.export_slot() as free:
        if not free:
            await message.answer(t("export_busy", lang))
            return
        shown = fmt.value.upper()
        status = await message.answer(t("export_started", lang, what=what, fmt=shown))
        live = LiveMessage(status)

        async def progress(n: int) -> None:
            await live.show(t("export_progress", lang, what=what, fmt=shown, n=n))

        kwargs = {"media": media} if media else {}
        result = await archive.export(
            channel, fmt, since, until, keyword, progress, comments=comments, tz=tz,
            versions=versions, **kwargs,
        )
        no_room: NoRoomForPart | None = None
        try:
            total = len(result.files)
            for i, path in enumerate(result.files, 1):
                caption = t("export_part_caption", lang, i=i, total=total) if total > 1 else None
                await message.answer_document(
                    FSInputFile(path, filename=path.name), caption=caption
                )
            no_room = await _send_media_parts(message, archive, result, live, lang)
        finally:
            await archive.cleanup(result)
    # The final word comes once the lock is free: an operator who reads "done" and
    # asks for the next export at once is not told one is still running.
    done = [_done_text(result, lang), *_media_text(result, media, lang)]
    if no_room is not None:
        done.append(_no_room_text(no_room, lang))
    await live.finish(html_join("\n", done))


async def _send_media_parts(
    message: Message, archive: ArchiveAPI, result: ExportResult, live: LiveMessage, lang: str
) -> NoRoomForPart | None:
    """Upload the media zip parts as they are built, one at a time (each deleted once
    sent); the parts left when the disk has no room for the next are not sent (the
    rows and the list are, already): that refusal is returned."""
    total = result.media_parts
    try:
        async with aclosing(archive.media_parts(result)) as parts:
            i = 0
            async for path in parts:
                i += 1
                await live.show(t("export_media_uploading", lang, i=i, total=total))
                caption = t("export_media_part_caption", lang, i=i, total=total)
                await message.answer_document(
                    FSInputFile(path, filename=path.name), caption=caption
                )
    except NoRoomForPart as exc:
        log.warning("export: media part %d of %d not written: %s", exc.part, exc.parts, exc)
        return exc
    return None


def _no_room_text(exc: NoRoomForPart, lang: str) -> Html:
    return t(
        "export_media_no_room",
        lang,
        part=exc.part,
        parts=exc.parts,
        sent=exc.part - 1,
        folder=str(exc.folder),
        needed=_mb_up(exc.needed),
        free=exc.free // (1024 * 1024),
    )


def _mb_up(size: int) -> int:
    """Bytes as whole MB, rounded up (room one needs)."""
    return -(-size // (1024 * 1024))


def _media_text(result: ExportResult, media: str, lang: str) -> list[Html]:
    """What the export's media added (nothing when not asked for or no rows)."""
    if not media or result.rows == 0:
        return []
    if not result.media_listed:
        return [t("export_media_none", lang)]
    if media == "paths":
        return [t("export_media_listed", lang, listed=result.media_listed)]
    return [
        t(
            "export_media_zipped",
            lang,
            listed=result.media_listed,
            zipped=result.media_zipped,
            parts=result.media_parts,
            limit=result.limit_mb,
        )
    ]


def _done_text(result: ExportResult, lang: str) -> Html:
    if result.rows == 0:
        return t("export_empty", lang)
    if result.parts:
        n, parts = result.rows, len(result.files)
        return t("export_done_parts", lang, n=n, parts=parts, limit=result.limit_mb)
    return tn("export_done", result.rows, lang)


# ---------------------------------------------------------------- series (#17)


async def _series_command(
    message: Message,
    archive: ArchiveAPI,
    series_export: SeriesExportAPI | None,
    args: ExportArgs,
    lang: str,
) -> None:
    """`/export @channel counters|subscribers [format] [tz:] [from] [to]`."""
    assert args.series is not None
    if series_export is None:
        await message.answer(t("export_series_off", lang))
        return
    extra = [
        word
        for word, given in (
            (plain("export_word_comments", lang), args.comments),
            (plain("export_word_versions", lang), args.versions),
            (plain("export_word_media", lang), bool(args.media)),
            (args.keyword or "", bool(args.keyword)),
        )
        if given
    ]
    if extra:
        await message.answer(t("export_series_alone", lang, value=echo(extra[0])))
        return
    if args.channel is None:
        await message.answer(t("export_series_channel", lang))
        return
    channel = await archive.find_channel(args.channel)
    if channel is None:
        await message.answer(t("channel_not_found", lang, ref=echo(args.channel)))
        return
    await _run_series(
        message, archive, series_export, lang, channel, args.series, args.fmt,
        args.since, args.until, args.tz or _UTC,
    )  # fmt: skip


async def on_export_series(
    query: CallbackQuery,
    callback_data: ExportSeriesPick,
    archive: ArchiveAPI,
    lang: str,
    series_export: SeriesExportAPI | None = None,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if series_export is None:
        await query.message.answer(t("export_series_off", lang))
        return
    picked = await _picked_channel(query.message, archive, callback_data.channel_id, lang)
    if not picked:
        return
    await _run_series(
        query.message, archive, series_export, lang, picked, callback_data.kind,
        callback_data.fmt, None, None, _UTC,
    )  # fmt: skip


async def _run_series(
    message: Message,
    archive: ArchiveAPI,
    series_export: SeriesExportAPI,
    lang: str,
    channel: Channel,
    kind: SeriesKind,
    fmt: ExportFormat,
    since: datetime | None,
    until: datetime | None,
    tz: ZoneInfo,
) -> None:
    """Write and upload the series; one export at a time, as for messages."""
    what = export_name(channel, lang)
    series = t(f"export_series_{kind.value}", lang)
    async with archive.export_slot() as free:
        if not free:
            await message.answer(t("export_busy", lang))
            return
        status = await message.answer(
            t("export_series_started", lang, what=what, series=series, fmt=fmt.value.upper())
        )
        result = await series_export.export_series(channel, kind, fmt, since, until, tz)
        try:
            total = len(result.files)
            for i, path in enumerate(result.files, 1):
                caption = t("export_part_caption", lang, i=i, total=total) if total > 1 else None
                await message.answer_document(
                    FSInputFile(path, filename=path.name), caption=caption
                )
        finally:
            await series_export.cleanup(result)
    if result.rows == 0:
        done = t("export_series_empty", lang, series=series)
    elif result.parts:
        done = t("export_done_parts_rows", lang, n=result.rows, parts=len(result.files),
                 limit=result.limit_mb)  # fmt: skip
    else:
        done = tn("export_series_done", result.rows, lang)
    await LiveMessage(status).finish(done)
