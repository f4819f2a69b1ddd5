"""The bot's texts: gettext catalogues in Russian and English, read with Babel.

The catalogues are `bot/locales/<lang>/LC_MESSAGES/<feature>.po`, one file per feature
(base, login, channels, parse, export, ...). Message ids are symbolic keys
(`parse_usage`), the English catalogue holds the English text. Babel reads the `.po`
files at import (no compiled `.mo` in the repository) and supplies the plural rules
(CLDR: Russian has three forms, `1 сообщение`, `2 сообщения`, `5 сообщений`).

Every text is Telegram HTML (https://core.telegram.org/bots/api#html-style). `t()` is
the one place where interpolated values are escaped: a plain `str` value is escaped,
an `Html` value (the result of another `t()`, or markup built with `html_join`) is
inserted as it is. Numbers are plain; floats get the language's decimal separator.
"""

from __future__ import annotations

import functools
import gettext
import html
import io
import re
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGS = ("en", "ru")
DEFAULT_LANG = "en"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"

# Operators whose Telegram speaks a CIS language get Russian rather than English.
_RUSSIAN_READERS = frozenset({"uk", "be", "kk", "uz", "ky", "tg", "hy", "az", "ka"})


class Html(str):
    """A string that is already valid Telegram HTML: `t()` inserts it unescaped."""

    __slots__ = ()


def escape(value: object) -> Html:
    """`value` as Telegram HTML text (`<`, `>`, `&` and quotes escaped)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value)))


def html_join(sep: str, parts: Iterable[object]) -> Html:
    """Join texts and values into one `Html`, escaping the parts that are plain."""
    return Html(escape(sep).join(escape(p) for p in parts))


def _load(lang: str) -> gettext.GNUTranslations:
    """Every `<feature>.po` of `lang` compiled in memory into one translations object."""
    merged: gettext.GNUTranslations | None = None
    for po_path in sorted((LOCALES_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=po_path.stem)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        translations = gettext.GNUTranslations(buf)
        if merged is None:
            merged = translations
            continue
        duplicate = set(translations._catalog) & set(merged._catalog) - {""}  # type: ignore[attr-defined]
        if duplicate:
            raise RuntimeError(f"{po_path}: text keys defined twice: {sorted(duplicate)}")
        merged._catalog.update(translations._catalog)  # type: ignore[attr-defined]
    if merged is None:
        raise RuntimeError(f"no catalogue for {lang!r} under {LOCALES_DIR}")
    return merged


TRANSLATIONS: dict[str, gettext.GNUTranslations] = {lang: _load(lang) for lang in LANGS}


@functools.cache
def keys() -> frozenset[str]:
    """Every text key of the catalogue (the English one is the reference); the
    catalogues are read once at import, so this is computed once."""
    catalog = TRANSLATIONS[DEFAULT_LANG]._catalog  # type: ignore[attr-defined]
    return frozenset(k if isinstance(k, str) else k[0] for k in catalog if k != "")


def is_plural(key: str) -> bool:
    return (key, 0) in TRANSLATIONS[DEFAULT_LANG]._catalog  # type: ignore[attr-defined]


def pick_lang(language_code: str | None, default: str = DEFAULT_LANG) -> str:
    """The bot's language for a Telegram `language_code` (`ru`, `en-US`, ...)."""
    code = (language_code or "").split("-")[0].lower()
    if code in LANGS:
        return code
    if code in _RUSSIAN_READERS:
        return "ru"
    return default


def _value(value: object, lang: str) -> str:
    if isinstance(value, Html):
        return value
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_decimal(value, format="0.#", locale=lang)
    return html.escape(str(value))


def t(key: str, lang: str, /, **fmt: object) -> Html:
    """The text `key` in `lang` with `fmt` filled in (escaped), as Telegram HTML.

    Raises KeyError for an unknown key and ValueError for a plural key (use `tn`).
    """
    translations = TRANSLATIONS.get(lang) or TRANSLATIONS[DEFAULT_LANG]
    catalog = translations._catalog  # type: ignore[attr-defined]
    if key not in catalog:
        if (key, 0) in catalog:
            raise ValueError(f"text {key!r} has plural forms: use tn()")
        raise KeyError(key)
    template: str = catalog[key]
    return Html(template.format(**{k: _value(v, lang) for k, v in fmt.items()}))


def tn(key: str, n: int, lang: str, /, **fmt: object) -> Html:
    """The plural text `key` for the number `n` (also available as `{n}`)."""
    translations = TRANSLATIONS.get(lang) or TRANSLATIONS[DEFAULT_LANG]
    if (key, 0) not in translations._catalog:  # type: ignore[attr-defined]
        raise KeyError(key)
    template = translations.ngettext(key, key, n)
    fmt.setdefault("n", n)
    return Html(template.format(**{k: _value(v, lang) for k, v in fmt.items()}))


def plain(key: str, lang: str, /, **fmt: object) -> str:
    """The text `key` for a place Telegram shows as it is (buttons, command lists,
    chart labels): values are not escaped, and the text itself holds no markup."""
    translations = TRANSLATIONS.get(lang) or TRANSLATIONS[DEFAULT_LANG]
    template: str = translations._catalog[key]  # type: ignore[attr-defined]
    return template.format(**fmt) if fmt else template


def reason_text(reason: str | None, lang: str) -> Html:
    """Why something failed, in the operator's language.

    Reasons come from the parser as short codes (`private`, `not_found`) or Telegram
    error names (`AuthKeyUnregistered`, `SessionRevoked`); a known one has a text
    `reason_<snake_case>`, anything else is shown as it is (escaped). A known code
    with the raw error after it (`server: ValueError: Request was unsuccessful 4
    time(s)`) is the code's text, then ` — ` and the raw error.
    """
    if not reason:
        return Html("")
    key = _reason_key(reason)
    if key in keys():
        return t(key, lang)
    code, sep, detail = reason.partition(": ")
    if sep and detail.strip() and _reason_key(code) in keys():
        return Html(f"{t(_reason_key(code), lang)} — {escape(detail.strip())}")
    return escape(reason)


def _reason_key(reason: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", reason.strip()).lower()
    return "reason_" + re.sub(r"[^a-z0-9]+", "_", snake).strip("_")
