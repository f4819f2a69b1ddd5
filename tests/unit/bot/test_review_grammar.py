"""Review: numbers in texts agree with their nouns in both languages."""

from __future__ import annotations

import pytest

from bot.routers.stats import empty_text


@pytest.mark.parametrize(
    ("days", "lang", "expected"),
    [
        (1, "ru", "@c: за 1 день сохранённых постов нет."),
        (21, "ru", "@c: за 21 день сохранённых постов нет."),
        (3, "ru", "@c: за 3 дня сохранённых постов нет."),
        (30, "ru", "@c: за 30 дней сохранённых постов нет."),
        (1, "en", "@c: no stored posts in the last 1 day."),
        (7, "en", "@c: no stored posts in the last 7 days."),
    ],
)
def test_review_stats_empty_agrees_with_the_number_of_days(
    days: int, lang: str, expected: str
) -> None:
    # Was "за последние 1 дн." / "in the last 1 days".
    assert empty_text("@c", days, lang) == expected


def test_review_search_header_names_what_was_found() -> None:
    from zoneinfo import ZoneInfo

    from bot.routers.search import render_page
    from core.archive import SearchPage

    utc = ZoneInfo("UTC")
    text, _ = render_page("телег", SearchPage(1, ()), 0, "n", "ru", utc)
    # Now "Найдено 1 по запросу «телег» — …": a number with no noun.
    assert text.startswith("Найдено 1 сообщение по запросу")
    page = SearchPage(22, ())
    assert render_page("x", page, 0, "n", "ru", utc)[0].startswith("Найдено 22 сообщения")
    assert render_page("x", page, 0, "n", "en", utc)[0].startswith("Found 22 messages")


@pytest.mark.parametrize(
    ("n", "lang", "expected"),
    [
        (1, "en", "Keyword alerts: 1 new matching post"),
        (2, "en", "Keyword alerts: 2 new matching posts"),
        (1, "ru", "Оповещения по ключевым словам: 1 новый подходящий пост"),
        (3, "ru", "Оповещения по ключевым словам: 3 новых подходящих поста"),
        (11, "ru", "Оповещения по ключевым словам: 11 новых подходящих постов"),
        (21, "ru", "Оповещения по ключевым словам: 21 новый подходящий пост"),
    ],
)
def test_review7_r10_watch_alert_title_agrees_with_its_count(
    n: int, lang: str, expected: str
) -> None:
    # Was "Keyword alerts: 1 new matching posts": an alert's count takes the plural form.
    from bot.delivery import render_alert
    from core.alerts import AlertText

    assert render_alert(AlertText("watch_alert_title", n=n), lang) == expected


# A count placeholder right before a noun ("{fetched} messages", "{total} сообщений")
# reads wrong for 1 (or 21, 2…4 in Russian) unless the text has plural forms; texts
# without them put the noun first ("messages saved: {fetched}").
_COUNTED_NOUN = {
    "en": r"\{(\w+)\}\s+(?:new\s+|matching\s+)*(messages?|posts?|channels?|views?|reactions?"
    r"|days?|lines?|links?|chats?|seconds?|minutes?|hours?|parts?|characters?|attempts?"
    r"|words?|versions?|comments?|ids?|alerts?)\b",
    "ru": r"\{(\w+)\}\s+(?:нов\w+\s+|подходящ\w+\s+)*(сообщени|пост|канал|просмотр|реакци|дн|"
    r"день|строк|ссыл|чат|секунд|минут|час|част|символ|попыт|слов|верси|коммент|оповещени)",
}
# A fixed number, never 1: MAX_PATTERN (200) characters; the export buttons' 30 and 7 days.
_FIXED_COUNTS = {("watch_bad_too_long", "limit"), ("export_btn_period_days", "n")}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_review7_r10_every_counted_noun_has_plural_forms(lang: str) -> None:
    import re

    from bot.texts import TRANSLATIONS, is_plural, keys

    catalog = TRANSLATIONS[lang]._catalog  # type: ignore[attr-defined]
    wrong = []
    for key in sorted(keys()):
        if is_plural(key):
            continue
        for m in re.finditer(_COUNTED_NOUN[lang], catalog[key]):
            if (key, m.group(1)) not in _FIXED_COUNTS:
                wrong.append((key, m.group(0)))
    assert wrong == []


def test_review_h4_an_account_name_is_never_declined() -> None:
    # Was "Пришлите прокси для Вера", "У Вера больше нет своего прокси": a name cannot
    # take the genitive, the word «аккаунт» before it does.
    from bot.texts import t

    assert "для аккаунта Вера " in t("proxy_ask", "ru", name="Вера", current="")
    assert t("proxy_cleared", "ru", name="Вера").startswith("✅ У аккаунта Вера ")
    assert t("proxy_set", "ru", name="Вера", kind="SOCKS5", address="h:1").startswith(
        "✅ Аккаунт Вера "
    )


def test_review_h4_vo_before_two_consonants() -> None:
    # Was "аккаунт-участник в флуд-ожидании".
    from bot.texts import TRANSLATIONS

    catalog = TRANSLATIONS["ru"]._catalog  # type: ignore[attr-defined]
    assert not [k for k, v in catalog.items() if " в флуд" in v]
