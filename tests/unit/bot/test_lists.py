"""Lists at any size stay within Telegram's limits: the /add report, the invite and
history keyboards, the pager, channel names; /export and /watch input in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.add_report import ORDER, history_keyboard, invites_message, render_add_report
from bot.errors import bad_pattern_text
from bot.keyboards import pager_row, pages_of
from bot.labels import BUTTON_WIDTH, LIST_WIDTH, channel_name, shorten
from bot.routers.export import BadFormat, parse_export_args
from core.archive import BadPattern
from core.channels import PendingInvite
from services.watches import compile_pattern
from tests.doubles.botapi.formatting import parse_text, utf16_len

HOSTILE = ('<b>&amp; "Q" </i> שלום 🎉 ' + "Канал «Новости» " * 14)[:200]


@dataclass
class Result:
    line: str
    code: str
    label: str = ""
    seconds: int = 0


def _shown(html: str) -> str:
    text, _ = parse_text(html, "HTML")  # raises what Telegram would refuse
    return text


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_thousand_lines_of_every_outcome_fit_one_message(lang: str) -> None:
    results = [
        Result(f"{HOSTILE} {i}", ORDER[i % len(ORDER)], f"{HOSTILE} {i}" if i % 2 else "", 300)
        for i in range(1000)
    ]
    shown = _shown(render_add_report(results, lang))
    assert utf16_len(shown) <= 4096
    lines = shown.splitlines()
    assert len(lines) == 1 + len(ORDER)  # a title, then one line per outcome
    counts = [int(m.group(0)) for line in lines[1:] if (m := re.search(r"\d+", line))]
    assert sum(counts) == 1000
    assert re.search(r"(…and|и ещё) \d+", lines[1])
    assert ("<b>&amp;" in shown) and HOSTILE[:20] in shown  # names escaped once


def test_a_few_names_per_outcome_and_how_many_more() -> None:
    results = [Result(f"@ch{i:02d}", "added", f"@ch{i:02d}") for i in range(12)]
    results += [Result("!!!", "garbage")]
    shown = _shown(render_add_report(results, "ru"))
    assert shown.splitlines() == [
        "Проверено 13 строк:",
        "✅ Добавлено 12 каналов: @ch00, @ch01, @ch02, @ch03, @ch04 … и ещё 7",
        "❓ 1 строка — не ссылка на канал: !!!",
    ]
    one = _shown(render_add_report([Result("@news", "already", "@news")], "en"))
    assert one == "☑️ 1 was already added: @news"


def test_the_invite_question_is_bounded_at_any_number_of_invites() -> None:
    pending = [PendingInvite(f"tok{i:05d}", f"{HOSTILE} {i}") for i in range(150)]
    text, kb = invites_message("batch123", pending, "en")
    _shown(text)
    buttons = [b for row in kb.inline_keyboard for b in row]
    assert len(buttons) == 12  # ten invites, "join all", "skip"
    assert all(1 <= len((b.callback_data or "").encode()) <= 64 for b in buttons)
    assert buttons[-2].text == "Join all (150)" and buttons[-2].callback_data == "ch:ja:batch123"
    assert "140 more" in text
    _, single = invites_message("b", pending[:1], "ru")
    assert [b.text for b in single.inline_keyboard[-1]] == ["Пропустить"]


def test_history_buttons_fit_callback_data() -> None:
    kb = history_keyboard("Ab-_9xYz", "последние 1000", "ru", ZoneInfo("UTC"))
    datas = [b.callback_data or "" for row in kb.inline_keyboard for b in row]
    assert datas[0] == "ch:h:Ab-_9xYz:default:"
    assert all(len(d.encode()) <= 64 for d in datas)
    assert kb.inline_keyboard[0][0].text == "✓ последние 1000"


def test_the_since_button_offers_the_operators_day_30_days_back() -> None:
    # 22:30 UTC on 1 March is already 2 March in Moscow (and still 1 March in New York).
    now = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    for zone, day in (("UTC", "2026-01-30"), ("Europe/Moscow", "2026-01-31")):
        kb = history_keyboard("b", "all", "en", ZoneInfo(zone), now)
        since = kb.inline_keyboard[-1][0]
        assert since.callback_data == f"ch:h:b:since:{day}", zone
        assert day in since.text


def test_pager_reaches_every_page() -> None:
    assert pages_of(0, 10) == 1 and pages_of(1000, 10) == 100 and pages_of(1001, 10) == 101
    assert pager_row("ch:p:", 0, 1, "en") == []
    first = [(b.text, b.callback_data) for b in pager_row("ch:p:", 0, 100, "en")]
    assert first == [("Next »", "ch:p:1"), ("100 ⏭", "ch:p:99")]
    middle = [b.callback_data for b in pager_row("ch:p:", 50, 100, "en")]
    assert middle == ["ch:p:0", "ch:p:49", "ch:p:51", "ch:p:99"]
    last = [(b.text, b.callback_data) for b in pager_row("ch:p:", 99, 100, "ru")]
    assert last == [("⏮ 1", "ch:p:0"), ("« Назад", "ch:p:98")]
    assert [b.callback_data for b in pager_row("ch:p:", 98, 100, "en")] == [
        "ch:p:0",
        "ch:p:97",
        "ch:p:99",
    ]


def test_channel_names() -> None:
    assert channel_name("News", "news", "en") == "News · @news"
    assert channel_name("News", None, "en") == "News"
    assert channel_name("", "news", "en") == "@news"
    long = channel_name(HOSTILE, "some_long_username_here", "en")
    assert len(long) <= LIST_WIDTH + 2 and long.endswith("· @some_long_username_here")
    assert "…" in long and "\n" not in channel_name("a\nb", None, "en")
    rtl = channel_name("חדשות", "hadashot", "en")
    assert rtl == "\u2068חדשות\u2069 · @hadashot"  # the handle keeps its place
    assert channel_name("", None, "ru", comments_of="Новости") == "💬 Комментарии: Новости"
    assert channel_name("", None, "en", comments_of="") == "💬 Comments of a removed channel"
    assert len(channel_name(HOSTILE, None, "en", width=BUTTON_WIDTH)) <= BUTTON_WIDTH + 2
    assert shorten("abc", 3) == "abc" and shorten("abcd", 3) == "ab…"


def test_a_file_format_that_is_not_one_is_named_not_searched() -> None:
    with pytest.raises(BadFormat) as exc:
        parse_export_args("@news pdf")
    assert exc.value.value == "pdf"
    with pytest.raises(BadFormat):
        parse_export_args("@news .TXT from 2026-01-01")
    with pytest.raises(BadFormat):
        parse_export_args("pdf")
    named_first = parse_export_args("@news csv pdf")  # a format first: "pdf" is a keyword
    assert (named_first.fmt, named_first.keyword) == ("csv", "pdf")
    searched = parse_export_args("@news report pdf")
    assert (searched.fmt, searched.keyword) == ("csv", "report pdf")
    everything = parse_export_args("xlsx")
    assert (everything.channel, everything.fmt) == (None, "xlsx")
    dated = parse_export_args("@news from 2026-01-01 jsonl")
    assert (dated.fmt, dated.keyword) == ("jsonl", None)


@pytest.mark.parametrize(
    ("pattern", "ru"),
    [
        ("(oops", "скобка не закрыта или не открыта (символ 1)"),
        ("oops)", "скобка не закрыта или не открыта (символ 5)"),
        ("[a-", "набор символов в [ ] не закрыт"),
        ("*a", "*, + или ? стоит там, где нечего повторять (символ 1)"),
        (r"a\q", "неизвестная последовательность с обратной косой чертой"),
        ("(?<=a+)b", "просмотр назад (?<=…) должен иметь фиксированную длину"),
        ("(?P<1>x)", "неверное имя группы"),
    ],
)
def test_a_bad_regex_is_explained_in_russian(pattern: str, ru: str) -> None:
    with pytest.raises(BadPattern) as exc:
        compile_pattern(pattern, True)
    shown = _shown(bad_pattern_text(exc.value, "ru"))
    assert shown.startswith("Ошибка в шаблоне: ") and ru in shown, shown
    assert shown.endswith(". Ничего не сохранено.")
    assert "missing" not in shown and "position" not in shown


def test_other_pattern_refusals_in_words() -> None:
    with pytest.raises(BadPattern) as exc:
        compile_pattern("x" * 201, False)
    assert _shown(bad_pattern_text(exc.value, "en")) == (
        "Bad pattern: it is longer than 200 characters. Nothing was saved."
    )
    with pytest.raises(BadPattern) as exc:
        compile_pattern("!!!", False)
    assert "в нём нет ни одного слова" in _shown(bad_pattern_text(exc.value, "ru"))
