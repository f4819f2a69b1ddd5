"""How channels are named in lists, buttons and captions.

A channel is shown by its title, with its @username when it has one; a discussion group
read for comments is shown as the comments of its channel, never as a bare id. Every
name is cut to a width that keeps a page of them within Telegram's limits, and a
right-to-left title is isolated so it does not reorder the rest of the line.
"""

from __future__ import annotations

import re

from bot.texts import Html, html_join, plain, t, tn

LIST_WIDTH = 60  # a line of /channels or /watches
BUTTON_WIDTH = 48  # an inline button (Telegram shows about 30-40 characters anyway)
SHORT_WIDTH = 40  # a name in a comma-separated list
ECHO_WIDTH = 64  # what the operator typed, quoted back (a search, a channel, a date)

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_FSI, _PDI = "\u2068", "\u2069"


def shorten(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters (an ellipsis marks a cut)."""
    one_line = " ".join(text.split())
    if len(one_line) <= width:
        return one_line
    return one_line[: width - 1].rstrip() + "…"


def echo(text: str) -> str:
    """What the operator typed, as a reply quotes it: one line of at most ECHO_WIDTH
    characters, so a 4,000-character argument never pushes a reply past 4,096."""
    return shorten(text, ECHO_WIDTH)


def isolate(text: str) -> str:
    """A right-to-left title in Unicode isolates, so the text after it keeps its order."""
    return f"{_FSI}{text}{_PDI}" if _RTL.search(text) else text


def channel_name(
    title: str | None,
    username: str | None,
    lang: str,
    *,
    comments_of: str | None = None,
    is_comments: bool = False,
    width: int = LIST_WIDTH,
) -> str:
    """`Title · @username`, `Title`, `@username`, or `💬 Comments: <channel>` for a
    discussion group (`is_comments`: one whose channel is gone). A plain string:
    `t()` escapes it, a button shows it as it is."""
    if comments_of is not None or is_comments:
        if comments_of:
            return plain("comments_of", lang, channel=isolate(shorten(comments_of, width - 14)))
        return plain("comments_of_removed", lang)
    handle = f"@{username}" if username else ""
    name = shorten(title, max(width - len(handle) - 3, width // 2)) if title else ""
    if name and handle:
        return f"{isolate(name)} · {handle}"
    return isolate(name) if name else handle or plain("channel_untitled", lang)


# The units of a duration in words, largest first.
_UNITS = ("login_dur_hours", "login_dur_minutes", "login_dur_seconds")


def duration(seconds: float | None, lang: str, *, words: bool = False) -> str:
    """A wait or an elapsed time, the one helper for every reply that shows one.

    Short (progress lines, /status, /add results): `20 s`, `5 min`, `1 h 1 min`
    (seconds to one decimal below 10 s; `?` when unknown). `words` (the login and error
    texts, where a wait is part of a sentence): the two largest units in words, zeros
    left out, `1 минута 5 секунд`, `2 hours 3 minutes` (`0 seconds` only for nothing).
    """
    if words:
        return _in_words(int(seconds or 0), lang)
    if seconds is None:
        return "?"
    if seconds < 10:
        return t("unit_seconds", lang, n=round(seconds, 1))
    s = int(seconds)
    if s < 120:
        return t("unit_seconds", lang, n=s)
    if s < 3600:
        return t("unit_minutes", lang, n=s // 60)
    return t("unit_hours", lang, h=s // 3600, m=(s % 3600) // 60)


def _in_words(seconds: int, lang: str) -> Html:
    left = max(0, seconds)
    amounts = (left // 3600, left % 3600 // 60, left % 60)
    first = next((i for i, n in enumerate(amounts) if n), len(amounts) - 1)
    shown = [i for i in (first, first + 1) if i < len(amounts) and (amounts[i] or i == first)]
    return html_join(" ", (tn(_UNITS[i], amounts[i], lang) for i in shown))
