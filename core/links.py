"""The repost and mention graph's edges of one message (issue #17): which channels a
message forwards from or points at. Plain Python on stored values; db/links.py writes
what this finds, in the ingest transaction, so the common case (no forward, no '@',
no '/') must cost next to nothing.

What counts, and why:
- a forward whose source is a channel (the row's `fwd_from` JSON, parser/content.py
  `describe_fwd`: `from_type` "channel"): target "id:<its id>", its username and
  title as the message named them. Forwards from users, hidden users and basic groups
  are not channel edges.
- an @name in the text (not inside an e-mail address; 4-32 characters, a letter
  first: Telegram's username rule, 4 for the auctioned short names), and the links
  t.me/<name>[/post], t.me/s/<name>, telegram.me / telegram.dog, tg://resolve?domain=
  and t.me/boost/<name> (a channel's boost link) in the text or in a text_url entity:
  target "@<name>" in lower case;
- t.me/c/<id>/<post>, t.me/boost?c=<id> and tg://privatepost?channel=<id> (a private
  channel by id): target "id:<id>".
Not: invites (t.me/joinchat/..., t.me/+...: they name no channel), Telegram's own
paths (addstickers, share, proxy, ...: `RESERVED`), names ending in "bot" (only bots
may take those: https://core.telegram.org/bots/features#botfather) and Telegram's own
bots without that suffix (@BotFather, the inline bots @gif, @wiki, ...: `KNOWN_BOTS`),
a "t.me/" inside another URL's path (example.com/t.me/name), the channel itself (its
id or any of its usernames), comments and service messages. An @name may still name a
user: Telegram's text does not say which (the bot's Add says so when asked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.analytics import Link, LinkKind
from core.parsing import COLUMNS, Row

# The rules' version: bump it when a change of the rules above changes what a stored
# message links to. The links backfill (db/links.py) then goes through the whole
# archive again, adding what the rules now find and deleting what they no longer do.
# 2: names ending in "bot", Telegram's own bots and paths, names inside other URLs and
# the channel's old usernames are no links (session 9).
RULES_VERSION = 2

_TEXT = COLUMNS.index("text")
_ENTITIES = COLUMNS.index("entities")
_FWD = COLUMNS.index("fwd_from")
_COMMENT_OF = COLUMNS.index("comment_of")
_ACTION = COLUMNS.index("action")

# Path words t.me uses for itself (https://core.telegram.org/api/links): never a channel.
RESERVED = frozenset(
    {
        "joinchat", "addstickers", "addemoji", "addtheme", "addlist", "share", "proxy",
        "socks", "setlanguage", "login", "confirmphone", "invoice", "contact",
        "giftcode", "boost", "premium_offer", "premium_multigift", "msg", "msg_url",
        "nft", "stars", "stars_topup", "iv", "bg", "m", "s", "c", "a", "k", "z",
    }
)
# Telegram's own bots whose names do not end in "bot" (@BotFather and the inline bots
# of https://telegram.org/blog/inline-bots and later): mentioned often, never channels.
# The 3-letter ones (@gif, @vid, @pic) are below `_NAME`'s 4 and listed for the record.
KNOWN_BOTS = frozenset(
    {
        "botfather", "gif", "vid", "pic", "bing", "wiki", "imdb", "bold", "vote", "like",
        "sticker", "stickers", "youtube", "foursquare", "gamee", "telegraph", "wallet",
    }
)
_NAME = r"[A-Za-z][A-Za-z0-9_]{3,31}(?![A-Za-z0-9_])"
_MENTION = re.compile(rf"(?<![\w@./+-])@({_NAME})")  # not in an e-mail or URL path
# Anchored on the "t" of t.me / telegram.me (the regex engine then skips to each "t"
# or "T" instead of trying every position): not inside a longer host (bit.me), nor
# after a single "/" (another URL's path: example.com/t.me/name), but after "www.", a
# scheme's "//" or a space.
_URL = re.compile(
    r"t(?:(?<=www\.t)|(?<![\w.@-]t)(?<![^/]/t))(?:elegram)?\.(?:me|dog)/"
    # The id form first: t.me/boost?c=<id> would otherwise match the name "boost".
    rf"(?:(?:c/|boost\?c=)([0-9]{{1,19}})(?![0-9])|(?:s/|boost/)?({_NAME}))",
    re.IGNORECASE,
)
_TG = re.compile(
    rf"tg://(?:resolve\?(?:[^ #]*&)?domain=({_NAME})"
    r"|privatepost\?(?:[^ #]*&)?channel=([0-9]{1,19})(?![0-9]))",
    re.IGNORECASE,
)
_FORWARD, _MENTION_KIND = LinkKind.FORWARD.value, LinkKind.MENTION.value

# A link as the hot path keeps it: (kind, target, tg_id, username, title).
LinkCells = tuple[str, str, int | None, str | None, str | None]


@dataclass(frozen=True)
class LinkOwner:
    """The channel a message belongs to, so it never links to itself: its Telegram id
    and its usernames (current and earlier ones, lower case)."""

    tg_id: int | None = None
    usernames: frozenset[str] = field(default_factory=frozenset)


NO_OWNER = LinkOwner()


def may_link(row: Row) -> bool:
    """Whether `row` can have links at all: the cheap test run on every ingested row
    (a few C-level substring checks; False for a plain post without a forward)."""
    if row[_FWD] is not None:
        return row[_COMMENT_OF] is None
    text = row[_TEXT]
    if text and ("@" in text or "/" in text):
        return row[_COMMENT_OF] is None and row[_ACTION] is None
    ents = row[_ENTITIES]
    return bool(ents) and "TextUrl" in ents and row[_COMMENT_OF] is None


def extract_links(row: Row, owner: LinkOwner = NO_OWNER) -> list[Link]:
    """The links of a stored message row (`core.parsing.COLUMNS` order), each target once
    per kind, in the order found; [] for comments and service messages."""
    return [_link(c) for c in row_cells(row, owner)]


def row_cells(row: Row, owner: LinkOwner = NO_OWNER) -> list[LinkCells]:
    """`extract_links` as plain tuples (kind, target, tg_id, username, title): what
    the ingest hook writes, without an object per link."""
    if row[_COMMENT_OF] is not None or row[_ACTION] is not None or not may_link(row):
        return []
    return cells_of(row[_TEXT], row[_ENTITIES], row[_FWD], owner)


def links_of(
    text: str | None, entities: Any, fwd_from: Any, owner: LinkOwner = NO_OWNER
) -> list[Link]:
    """The links of a message's text, entities (JSON text or its list:
    [[type, offset, length, url?], ...]) and forward header (JSON text or dict)."""
    return [_link(c) for c in cells_of(text, entities, fwd_from, owner)]


def _link(c: LinkCells) -> Link:
    return Link(LinkKind(c[0]), c[1], c[2], c[3], c[4])


def cells_of(
    text: str | None, entities: Any, fwd_from: Any, owner: LinkOwner = NO_OWNER
) -> list[LinkCells]:
    """`links_of` as plain tuples (see `row_cells`)."""
    found: dict[tuple[str, str], LinkCells] = {}
    if fwd_from is not None:
        fwd = json.loads(fwd_from) if isinstance(fwd_from, str) else fwd_from
        cells = _forward(fwd, owner)
        if cells is not None:
            found[(_FORWARD, cells[1])] = cells
    if text and ("@" in text or "/" in text):
        _scan(text, owner, found)
    if entities and (not isinstance(entities, str) or "TextUrl" in entities):
        for url in _text_urls(entities):
            _scan(url, owner, found)
    return list(found.values())


def _forward(fwd: Any, owner: LinkOwner) -> LinkCells | None:
    if not isinstance(fwd, dict) or fwd.get("from_type") != "channel":
        return None
    tg_id = fwd.get("from_id")
    if not isinstance(tg_id, int) or tg_id == owner.tg_id:
        return None
    username = fwd.get("username") or None
    if username is not None and username.lower() in owner.usernames:
        return None
    return (_FORWARD, f"id:{tg_id}", tg_id, username, fwd.get("title") or None)


def _text_urls(entities: Any) -> Iterable[str]:
    items = json.loads(entities) if isinstance(entities, str) else entities
    for e in items or ():
        if isinstance(e, list) and len(e) > 3 and e[0] == "TextUrl" and isinstance(e[3], str):
            yield e[3]


def _scan(text: str, owner: LinkOwner, found: dict[tuple[str, str], LinkCells]) -> None:
    names: list[str] = []
    ids: list[str] = []
    if "@" in text:
        names.extend(_MENTION.findall(text))
    if "/" in text:
        for cid, name in _URL.findall(text):
            if name:
                names.append(name)
            else:
                ids.append(cid)
        if "://" in text:
            for name, cid in _TG.findall(text):
                if name:
                    names.append(name)
                else:
                    ids.append(cid)
    for name in names:
        key = name.lower()
        if (
            key in RESERVED
            or key.endswith("bot")
            or key in KNOWN_BOTS
            or key in owner.usernames
        ):
            continue
        target = "@" + key
        if (_MENTION_KIND, target) not in found:
            found[(_MENTION_KIND, target)] = (_MENTION_KIND, target, None, name, None)
    for digits in ids:
        tg_id = int(digits)
        if tg_id == owner.tg_id or tg_id == 0:
            continue
        target = "id:" + digits.lstrip("0")
        if (_MENTION_KIND, target) not in found:
            found[(_MENTION_KIND, target)] = (_MENTION_KIND, target, tg_id, None, None)


@dataclass(frozen=True)
class GraphTarget:
    """A channel the archive's channels point at, summed over them: `target` as in
    `Link` ("id:<id>" or "@name"), how many of their posts forward from it and
    mention it, and how many archived channels do (`sources`)."""

    target: str
    username: str | None
    title: str | None
    tg_id: int | None
    forwards: int
    mentions: int
    sources: int

    @property
    def weight(self) -> int:
        return self.forwards + self.mentions


@dataclass(frozen=True)
class GraphExport:
    """/graph's files (`gexf` for Gephi, `csv` the edge list; remove them with
    GraphAPI.cleanup), the graph's size, the period's start (None: the whole archive)
    and the most linked targets that are not archived, most linked first."""

    gexf: Path
    csv: Path
    nodes: int
    edges: int
    since: datetime | None
    top: tuple[GraphTarget, ...] = ()
