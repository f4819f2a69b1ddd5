"""parser/resolver.py: parsing /add lines (every link format, history suffixes, garbage)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from parser.resolver import BadLine, ChannelRef, HistoryDepth, parse_line, parse_ref, split_lines


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("@news", "username", "news"),
        ("@News_Channel", "username", "News_Channel"),
        ("news_daily", "username", "news_daily"),
        ("t.me/news", "username", "news"),
        ("https://t.me/news", "username", "news"),
        ("http://t.me/news/", "username", "news"),
        ("HTTPS://T.ME/news", "username", "news"),
        ("telegram.me/news", "username", "news"),
        ("https://www.t.me/news", "username", "news"),
        ("t.me/s/news", "username", "news"),
        ("https://t.me/s/news/55", "username", "news"),
        ("https://t.me/news/123", "username", "news"),
        ("https://t.me/news?start=x", "username", "news"),
        ("<https://t.me/news>", "username", "news"),
        ("tg://resolve?domain=news", "username", "news"),
        ("t.me/+AbCdEf123456", "invite", "AbCdEf123456"),
        ("https://t.me/+AbC-dEf_1234", "invite", "AbC-dEf_1234"),
        ("https://t.me/joinchat/AbCdEf123456", "invite", "AbCdEf123456"),
        ("tg://join?invite=AbCdEf123456", "invite", "AbCdEf123456"),
        ("-1001234567890", "id", "1234567890"),
        ("https://t.me/c/1234567890/42", "id", "1234567890"),
    ],
)
def test_valid_refs(text: str, kind: str, value: str) -> None:
    assert parse_ref(text) == ChannelRef(kind, value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello world!",
        "@",
        "@ab",  # too short for a username
        "@1news",  # usernames start with a letter
        "@news!",
        "https://example.com/news",
        "https://t.me/",
        "t.me/joinchat",
        "t.me/joinchat/",
        "t.me/+",
        "t.me/+short",
        "t.me/addstickers/pack",
        "t.me/share/url?url=x",
        "t.me/proxy?server=1",
        "t.me/news/abc",
        "12345",  # a bare number is not a -100 id
        "-12345",
        "-100",
        "ftp://t.me/news",
        "news.com",
        "💩",
        "tg://resolve?domain=",
        "javascript:alert(1)",
    ],
)
def test_garbage(text: str) -> None:
    with pytest.raises(BadLine) as info:
        parse_ref(text)
    assert info.value.code == "garbage"


def test_line_with_history_suffixes() -> None:
    assert parse_line("@news").history is None
    assert parse_line("@news all").history == HistoryDepth()
    last = parse_line("t.me/news last:1000").history
    assert last == HistoryDepth("last", limit=1000)
    since = parse_line("@news since:2024-01-31").history
    assert since == HistoryDepth("since", since=datetime(2024, 1, 31, tzinfo=UTC))
    assert parse_line("  @news   LAST:5  ").ref == ChannelRef("username", "news")


@pytest.mark.parametrize(
    "line",
    ["@news last:", "@news last:abc", "@news since:2024-02-30", "@news since:yesterday",
     "@news fast", "@news all last:5", "@news last:0", "@news 1000"],
)  # fmt: skip
def test_bad_options(line: str) -> None:
    with pytest.raises(BadLine) as info:
        parse_line(line)
    assert info.value.code == "bad_option"


def test_history_default_setting_forms() -> None:
    assert HistoryDepth.parse("all") == HistoryDepth()
    assert HistoryDepth.parse("500") == HistoryDepth("last", limit=500)
    assert HistoryDepth.parse("2023-05-01").since == datetime(2023, 5, 1, tzinfo=UTC)
    with pytest.raises(BadLine):
        HistoryDepth.parse("soon")


def test_split_lines_keeps_each_line() -> None:
    text = "@a_news\n\n  t.me/b_news  \nnonsense here, @c_news\n"
    assert split_lines(text) == ["@a_news", "t.me/b_news", "nonsense here", "@c_news"]


def test_the_chats_of_a_join_answer_plain_or_wrapped() -> None:
    from datetime import datetime

    from telethon.tl import types

    from parser.resolver import _chats_of

    chat = types.Channel(1, "Hidden", None, datetime(2024, 1, 1), access_hash=5)
    updates = types.Updates([], [], [chat], datetime(2024, 1, 1), 0)
    assert _chats_of(updates) == [chat]
    assert _chats_of(types.messages.ChatInviteJoinResultOk(updates)) == [chat]
    assert _chats_of(types.UpdatesTooLong()) == []


def test_a_typed_day_is_read_in_the_operators_zone() -> None:
    moscow, new_york = ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York")
    since = parse_line("@news since:2026-09-01", moscow).history
    assert since is not None and since.since == datetime(2026, 8, 31, 21, tzinfo=UTC)
    # New York is UTC-4 in summer and UTC-5 in winter (DST)
    assert HistoryDepth.parse("2026-07-01", new_york).since == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert HistoryDepth.parse("2026-01-01", new_york).since == datetime(2026, 1, 1, 5, tzinfo=UTC)
    # Spring forward in New York (2026-03-08 02:00) leaves midnight alone: 05:00 UTC.
    assert HistoryDepth.parse("2026-03-08", new_york).since == datetime(2026, 3, 8, 5, tzinfo=UTC)
