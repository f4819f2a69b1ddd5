"""/search <query>: full-text search by word stems, with inline paging.

The query syntax is core.words.SearchQuery's (any form of a word, "phrases", -words,
prefix*); an unusable query raises BadQuery, which bot/errors.py renders with its
reason (`search_bad_<reason>`). Hit times are
shown in the operators' zone (bot/times.py). While the index of an older archive is
rebuilt in the background, the page says how many messages are not searchable yet and
/status shows the rebuild's progress (`status_section`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from babel.numbers import format_decimal

from bot.api.archive import ArchiveAPI
from bot.api.media import MediaFilesAPI
from bot.labels import echo
from bot.media_send import media_buttons
from bot.texts import Html, escape, plain, t, tn
from bot.times import show
from core.archive import HL_END, HL_START, SearchPage
from core.media import StoredMedia

PER_PAGE = 5


class SearchPager(CallbackData, prefix="srch"):
    """A /search page button: the search it belongs to (`nonce`) and its page (0-based).
    The query itself stays in the operator's FSM data."""

    nonce: str
    page: int


def build_router() -> Router:
    """/search and its page buttons."""
    router = Router(name="search")
    router.message.register(cmd_search, Command("search"))
    router.callback_query.register(on_search_page, SearchPager.filter())
    return router


def render_snippet(snippet: str) -> Html:
    return Html(escape(snippet).replace(HL_START, "<b>").replace(HL_END, "</b>"))


def render_page(
    q: str,
    page: SearchPage,
    page_no: int,
    nonce: str,
    lang: str,
    tz: ZoneInfo,
    media: Mapping[int, StoredMedia] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The page's text and buttons: 📎 N for each hit with media (`media`: message row
    id -> its media), then the pager."""
    pages = max(1, -(-page.total // PER_PAGE))
    total = format_decimal(page.total, locale=lang)  # as /status writes numbers
    # `capped`: more match than the count went to (PostgreSQL, db.search.RANK_LIMIT).
    key = "search_header_more" if page.capped else "search_header"
    lines = [tn(key, page.total, lang, n=total, q=echo(q), page=page_no + 1, pages=pages)]
    if page.unindexed:
        lines.append(_unindexed(page.unindexed, lang))
    for n, hit in enumerate(page.hits, page_no * PER_PAGE + 1):
        when = show(hit.date, tz) if hit.date else ""
        lines.append(
            t(
                "search_hit" if hit.link else "search_hit_plain",
                lang,
                n=n,
                channel=hit.channel,
                when=when,
                snippet=render_snippet(hit.snippet),
                link=hit.link,
            )
        )
    posts = [
        (n, m.channel_id, m.msg_id)
        for n, hit in enumerate(page.hits, page_no * PER_PAGE + 1)
        if (m := (media or {}).get(hit.message_id)) is not None
    ]
    rows = media_buttons(posts)
    buttons = []
    for key, target in (("btn_prev", page_no - 1), ("btn_next", page_no + 1)):
        if 0 <= target < pages:
            data = SearchPager(nonce=nonce, page=target).pack()
            buttons.append(InlineKeyboardButton(text=plain(key, lang), callback_data=data))
    if buttons:
        rows.append(buttons)
    markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return "\n".join(lines), markup


async def _media_of(page: SearchPage, media: MediaFilesAPI | None) -> Mapping[int, StoredMedia]:
    if media is None or not page.hits:
        return {}
    return await media.media_by_message([h.message_id for h in page.hits])


async def status_section(archive: ArchiveAPI, lang: str) -> str:
    """The /status line of the search index's rebuild ("" when none runs)."""
    progress = archive.index_progress()
    if progress is None:
        return ""
    return t(
        "status_search_index",
        lang,
        done=format_decimal(progress.done, locale=lang),
        total=format_decimal(progress.total, locale=lang),
        percent=progress.percent,
    )


def _unindexed(n: int, lang: str) -> Html:
    """The line saying `n` older messages are not searchable yet (index rebuilding)."""
    return tn("search_unindexed", n, lang, n=format_decimal(n, locale=lang))


async def cmd_search(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    archive: ArchiveAPI,
    lang: str,
    tz: ZoneInfo,
    media: MediaFilesAPI | None = None,
) -> None:
    q = (command.args or "").strip()
    if not q:
        await message.answer(t("search_usage", lang))
        return
    # An unusable query raises core.words.BadQuery: bot/errors.py says why.
    page = await archive.search(q, 0, PER_PAGE)
    if page.total == 0:
        lines = [t("search_none", lang, q=echo(q))]
        if page.unindexed:
            lines.append(_unindexed(page.unindexed, lang))
        await message.answer("\n".join(lines))
        return
    nonce = secrets.token_hex(4)
    # The query lives in the operator's FSM data (no state is set): callback data holds
    # only the nonce and the page, and stale buttons of an older search say so.
    await state.update_data(search_q=q, search_nonce=nonce)
    text, markup = render_page(q, page, 0, nonce, lang, tz, await _media_of(page, media))
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def on_search_page(
    query: CallbackQuery,
    callback_data: SearchPager,
    state: FSMContext,
    archive: ArchiveAPI,
    lang: str,
    tz: ZoneInfo,
    media: MediaFilesAPI | None = None,
) -> None:
    data = await state.get_data()
    if data.get("search_nonce") != callback_data.nonce or not isinstance(query.message, Message):
        await query.answer(t("search_expired", lang), show_alert=True)
        return
    q = data["search_q"]
    page_no = callback_data.page
    nonce = callback_data.nonce
    await query.answer()
    page = await archive.search(q, page_no, PER_PAGE)
    found = await _media_of(page, media)
    text, markup = render_page(q, page, page_no, nonce, lang, tz, found)
    await query.message.edit_text(text, reply_markup=markup, disable_web_page_preview=True)
