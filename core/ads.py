"""Advertising posts (issue #17, the "ad share" metric): a post is an ad when it carries
an `erid` token or an ad label.

- `erid`: the token Russian law (38-FZ art. 18.1, since 2022-09) requires in marked
  advertising, written in the text (`erid: 2VtzqwXyZ1`, `Erid 2Vtzq...`) or in a link's
  query (`https://example.com/?erid=2Vtzq...`, in the text or behind a text_url entity).
- a label: «Реклама» / «Advertisement» / «Sponsored» / «На правах рекламы» /
  «Партнёрский материал» as a line of its own or at a line's start followed by
  punctuation (`Реклама. ООО «Ромашка», ИНН 7700000000`), or a hashtag #реклама, #ad,
  #ads, #advertisement, #sponsored, #промо, #партнерство, #spon.

A word inside a sentence is no label: «Реклама на ТВ подорожала» and "ad revenue" are
news about advertising, not advertising.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# erid=..., erid: ..., erid ... (the token: Latin letters and digits, 5+ characters).
_ERID = re.compile(r"(?<![0-9a-zа-яё_])erid\s*[:=]?\s*[0-9a-z]{5,}", re.IGNORECASE)
_HASHTAG = re.compile(
    r"(?<![\w#])#(?:реклама|рекламa|ad|ads|advert|advertisement|advertising|sponsored|spon"
    r"|промо|партнерство|партнёрство)(?![\w])",
    re.IGNORECASE,
)
# A label line: the label alone, or followed by punctuation and more (the advertiser).
_LABEL_LINE = re.compile(
    r"^\s*[*_~|«\"'(\[]*\s*(?:реклама|на\s+правах\s+рекламы|рекламный\s+пост"
    r"|партн[её]рский\s+(?:материал|пост)|advertisement|sponsored|paid\s+partnership)"
    r"\s*[*_~»\"')\]]*\s*(?:$|[.,:;|/—–-])",
    re.IGNORECASE,
)


def _urls(entities: Any) -> Iterable[str]:
    """The URLs behind text_url entities (the row's entities JSON: lists
    [type, offset, length, extra])."""
    if not isinstance(entities, Sequence) or isinstance(entities, str):
        return
    for e in entities:
        if isinstance(e, Sequence) and len(e) >= 4 and isinstance(e[3], str):
            yield e[3]


def is_ad(text: str | None, entities: Any = None) -> bool:
    """Whether a post is marked as advertising: an erid token in `text` or in a link of
    `entities` (the stored JSON, a list of [type, offset, length, url?]), or an ad label
    (see the module docstring). Case-insensitive; Russian and English."""
    text = text or ""
    if _ERID.search(text) or _HASHTAG.search(text):
        return True
    if any(_LABEL_LINE.match(line) for line in text.splitlines()):
        return True
    return any("erid" in url.lower() and _ERID.search(url) for url in _urls(entities))
