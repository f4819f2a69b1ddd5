"""Every text of the catalogue, in both languages, is valid Telegram HTML within limits.

The texts are rendered with hostile arguments (markup characters, quotes, 200-character
titles, right-to-left script, emoji) and parsed by the Bot API double's HTML parser,
which refuses what Telegram refuses.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.texts import LANGS, TRANSLATIONS, Html, escape, is_plural, keys, plain, t, tn
from tests.doubles.botapi.formatting import EntityParseError, parse_text, utf16_len

MESSAGE_LIMIT = 4096  # https://core.telegram.org/bots/api#sendmessage
CAPTION_LIMIT = 1024  # https://core.telegram.org/bots/api#senddocument
BOT_ROOT = Path(__file__).resolve().parents[3] / "bot"

HOSTILE = '<b>&amp; "Q" \'q\' </i> שלום 🎉 ' + "Канал «Новости» " * 12
HOSTILE = HOSTILE[:200]
NUMERIC = re.compile(
    r"^(n|count|total|fetched|new|reread|left|channels|page|pages|parts|i|id|msg_id|views|"
    r"reactions|days|posts|ok|deferred|disabled|paused|failing|restarts|limit|ttl|h|m|s|"
    r"more|seconds|rate|attempts|shown|pos|done)$"
)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _args(template: str) -> dict[str, object]:
    return {
        name: (123456 if NUMERIC.match(name) else HOSTILE) for name in _fields(template)
    }


def _templates(key: str, lang: str) -> list[str]:
    catalog = TRANSLATIONS[lang]._catalog  # type: ignore[attr-defined]
    if is_plural(key):
        return [v for k, v in catalog.items() if isinstance(k, tuple) and k[0] == key]
    return [catalog[key]]


def _plain_keys() -> set[str]:
    """Keys the code renders with plain() (buttons, command lists, chart labels)."""
    found: set[str] = set()
    for path in BOT_ROOT.rglob("*.py"):
        found |= set(re.findall(r'plain\(\s*f?"([a-z0-9_{}]+)"', path.read_text()))
    out = set()
    for key in found:
        if "{" in key:  # plain(f"cmd_{c}") : every key with that prefix
            prefix = key.split("{")[0]
            out |= {k for k in keys() if k.startswith(prefix)}
        else:
            out.add(key)
    return out


def test_both_languages_have_every_key_and_the_same_fields() -> None:
    en = keys()
    for lang in LANGS:
        catalog = TRANSLATIONS[lang]._catalog  # type: ignore[attr-defined]
        lang_keys = {k if isinstance(k, str) else k[0] for k in catalog if k != ""}
        assert lang_keys == en, (lang, lang_keys ^ en)
        for key in en:
            assert all(_templates(key, lang)), (lang, key, "empty translation")
            fields = {f for tpl in _templates(key, "en") for f in _fields(tpl)}
            lang_fields = {f for tpl in _templates(key, lang) for f in _fields(tpl)}
            if is_plural(key):
                fields.discard("n"), lang_fields.discard("n")
            assert lang_fields == fields, (lang, key)


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_is_valid_telegram_html_within_limits(lang: str) -> None:
    plain_keys = _plain_keys()
    for key in sorted(keys()):
        if key in plain_keys:
            continue
        templates = _templates(key, lang)
        args = _args(" ".join(templates))
        if is_plural(key):
            rendered = [tn(key, n, lang, **args) for n in (1, 2, 5, 11, 21, 1000)]
        else:
            rendered = [t(key, lang, **args)]
        for text in rendered:
            try:
                shown, _ = parse_text(text, "HTML")
            except EntityParseError as exc:
                pytest.fail(f"{lang}/{key}: Telegram refuses it: {exc}\n{text}")
            limit = CAPTION_LIMIT if "caption" in key else MESSAGE_LIMIT
            assert utf16_len(shown) <= limit, (lang, key, utf16_len(shown))
            # Values are escaped exactly once: the hostile title reads back as sent.
            outside_links = re.sub(r'href="\{\w+\}"', "", " ".join(templates))
            if any(v == HOSTILE for k, v in args.items() if "{" + k + "}" in outside_links):
                assert HOSTILE in shown, (lang, key, shown)


@pytest.mark.parametrize("lang", LANGS)
def test_plain_texts_hold_no_markup(lang: str) -> None:
    keys_ = _plain_keys()
    assert {"btn_next", "login_qr_button", "cmd_help"} <= keys_
    for key in keys_:
        for tpl in _templates(key, lang):
            assert not re.search(r"<|&\w+;", tpl), (lang, key, tpl)
            assert 1 <= len(plain(key, lang, **_args(tpl))), key
        if key.startswith("cmd_"):
            assert len(plain(key, lang)) <= 256  # BotCommand.description


def test_escaping_happens_once_in_t() -> None:
    text = t("parse_not_found", "en", target="<&>")
    assert "&lt;&amp;&gt;" in text and "&amp;amp;" not in text
    inner = t("parse_not_found", "en", target="<x>")
    nested = t("status_component_error", "en", error=inner)
    assert nested.count("&lt;x&gt;") == 1
    assert escape(Html("<b>x</b>")) == "<b>x</b>"


def test_russian_plurals_follow_cldr() -> None:
    key = next(k for k in sorted(keys()) if is_plural(k))
    args = _args(" ".join(_templates(key, "ru")))
    args.pop("n", None)
    forms = {n: re.sub(r"\d+", "N", tn(key, n, "ru", **args)) for n in (1, 2, 5, 11, 21, 22, 25)}
    assert forms[1] == forms[21] and forms[2] == forms[22] and forms[5] == forms[25]
    assert len({forms[1], forms[2], forms[5]}) == 3
    assert forms[11] == forms[5]


@pytest.mark.parametrize("lang", LANGS)
def test_every_reason_the_parser_gives_reads_in_the_operators_language(lang: str) -> None:
    from bot.texts import reason_text
    from parser import errors

    codes = set(errors._CHANNEL.values())
    codes |= {cls.__name__.removesuffix("Error") for cls in errors._DEAD}
    codes.add("not authorized")
    for code in codes:
        text = reason_text(code, lang)
        assert text and text != code, (lang, code)
        if lang == "ru":
            assert not re.search(r"[A-Za-z]{3,}", text.replace("Telegram", "")), text
    assert reason_text("ValueError: <x>", lang) == "ValueError: &lt;x&gt;"
