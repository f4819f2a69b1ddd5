"""One catalogue of texts in Russian and English.

Each feature keeps its entries in its own module (base, login, channels, export);
they are merged here into one table. `t(key, lang, **fmt)` picks by language.
"""

from __future__ import annotations

from bot.texts import base, channels, export, login, parse

LANGS = ("en", "ru")
DEFAULT_LANG = "en"

CATALOGUE: dict[str, dict[str, str]] = {}
for _module in (base, channels, export, login, parse):
    for _key, _value in _module.TEXTS.items():
        if _key in CATALOGUE:
            raise RuntimeError(f"duplicate text key {_key}")
        CATALOGUE[_key] = _value


def pick_lang(language_code: str | None, default: str = DEFAULT_LANG) -> str:
    code = (language_code or "").split("-")[0].lower()
    if code in LANGS:
        return code
    # Operators whose Telegram speaks a CIS language get Russian rather than English.
    if code in ("uk", "be", "kk", "uz", "ky", "tg", "hy", "az", "ka"):
        return "ru"
    return default


def t(key: str, lang: str, **fmt: object) -> str:
    entry = CATALOGUE[key]
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**fmt) if fmt else text
