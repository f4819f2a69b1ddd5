"""What a message links to (core/links.py): channel forwards, @names and t.me links,
never invites, Telegram's own paths, bots, e-mail addresses or the channel itself."""

from __future__ import annotations

import json

import pytest

from core.analytics import LinkKind
from core.links import LinkOwner, links_of, may_link
from core.parsing import COLUMNS

OWNER = LinkOwner(777, frozenset({"news", "old_news"}))


def _targets(text: str, entities: object = None, fwd: object = None) -> list[str]:
    return [f"{link.kind.value}:{link.target}" for link in links_of(text, entities, fwd, OWNER)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read @Durov_Channel today", ["mention:@durov_channel"]),
        ("(@abcd), @abc too short, @1digit", ["mention:@abcd"]),
        ("mail me: ann@example.com, read medium.com/@some_author", []),
        ("t.me/telegram and https://t.me/telegram/123", ["mention:@telegram"]),
        ("https://telegram.me/s/some_chan/5 telegram.dog/other_chan", [
            "mention:@some_chan", "mention:@other_chan"]),
        ("HTTPS://T.ME/Upper_Case", ["mention:@upper_case"]),
        ("private https://t.me/c/1234567/89", ["mention:id:1234567"]),
        ("tg://resolve?domain=deep_link&post=4 tg://privatepost?channel=42&post=1", [
            "mention:@deep_link", "mention:id:42"]),
        ("t.me/joinchat/AAAA t.me/+AbCdEf t.me/addstickers/pack t.me/share/url?x", []),
        ("t.me/proxy?server=1 t.me/addlist/xyz t.me/boost", []),
        # A boost link names its channel, by name or (a private one) by id.
        ("https://t.me/boost/durov and t.me/boost?c=1234567", [
            "mention:@durov", "mention:id:1234567"]),
        ("ask @support_bot or t.me/NewsBot", []),
        # Telegram's own bots without the "bot" suffix.
        ("made with @BotFather, found via @wiki and @imdb, t.me/Stickers", []),
        # "t.me/" inside another URL's path names nothing; after a scheme it does.
        ("https://example.com/path/t.me/foo_bar and example.org/t.me/c/12345", []),
        ("https://example.com/go?u=https://t.me/real_one", ["mention:@real_one"]),
        ("bit.me/looks_alike not-t.me/fake_name", []),
        ("@news @Old_News t.me/news/1 t.me/c/777/1", []),
        ("no links here at all", []),
        ("a/b and 50/50", []),
        ("@" + "a" * 33, []),
    ],
)
def test_text_links(text: str, expected: list[str]) -> None:
    assert _targets(text) == expected


def test_one_target_once_and_text_url_entities() -> None:
    entities = json.dumps([["Bold", 0, 4], ["TextUrl", 5, 4, "https://t.me/hidden_one/7"]])
    assert _targets("@dupe_name t.me/dupe_name here", entities) == [
        "mention:@dupe_name", "mention:@hidden_one"]
    # The list form (read back from PostgreSQL's jsonb) as well.
    assert _targets("x", [["TextUrl", 0, 1, "tg://resolve?domain=listed"]]) == [
        "mention:@listed"]


def test_forwards_from_channels_only() -> None:
    fwd = {"from_type": "channel", "from_id": 555, "title": "Src", "username": "Src_Chan"}
    (link,) = links_of("", None, json.dumps(fwd), OWNER)
    assert (link.kind, link.target, link.tg_id, link.username, link.title) == (
        LinkKind.FORWARD, "id:555", 555, "Src_Chan", "Src")
    assert _targets("", None, {"from_type": "user", "from_id": 9}) == []
    assert _targets("", None, {"from_type": None, "from_name": "Hidden"}) == []
    assert _targets("", None, {"from_type": "channel", "from_id": 777}) == []  # itself
    both = _targets("via @Other_Chan", None, fwd)
    assert both == ["forward:id:555", "mention:@other_chan"]


def _row(**values: object) -> tuple[object, ...]:
    return tuple(values.get(c) for c in COLUMNS)


def test_may_link_is_false_for_plain_posts_comments_and_events() -> None:
    assert not may_link(_row(text="just words, 100% plain."))
    assert not may_link(_row(text="", entities='[["Bold",0,4]]'))
    assert may_link(_row(text="see @chan_name"))
    assert may_link(_row(text="", entities='[["TextUrl",0,4,"https://t.me/x"]]'))
    assert may_link(_row(text="", fwd_from='{"from_type":"channel"}'))
    assert not may_link(_row(text="@chan_name", comment_of=5))
    assert not may_link(_row(text="@chan_name", action='{"type":"title"}'))
