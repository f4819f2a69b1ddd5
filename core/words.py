"""Words as the archive matches them: folded, stemmed, and the operator's search syntax.

Every place that matches text against an operator's words (full-text search, keyword
watches, export keyword filters) goes through this module, so "Москва" finds "Москве",
"ёлка" finds "елка", and a query means the same thing everywhere.

- `nfc(text)`: Unicode NFC (macOS writes й, ё as a letter and a combining mark).
- `fold(text)`: NFC, casefold, ё -> е.
- `terms(text)`: the folded words of `text` as stems, space-joined in text order:
  ASCII words by Snowball "english", other words of letters by Snowball "russian"
  (PyStemmer), words with digits as they are (PostgreSQL's rules: db.search). This
  string is what the SQLite
  full-text index holds (message.terms) and what `SearchQuery.matches` reads.
- `SearchQuery.parse(text)`: words (all required, any order), "quoted phrases" (the
  words in that order; «ёлочки» and “curly” quotes too; a hyphenated word such as
  Нью-Йорк is a phrase), `-word` / `-"phrase"` exclusions, and `word*` prefixes.
- `SearchQuery.spans(text)`: what to mark in the original text; one- and two-letter
  words are never marked alone (only inside a matched phrase).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import Stemmer

from core.errors import ProjectError

__all__ = [
    "MAX_QUERY_TERMS",
    "BadQuery",
    "Clause",
    "SearchQuery",
    "Term",
    "fold",
    "message_terms",
    "nfc",
    "snippet",
    "stem",
    "terms",
    "words",
]

# A word: letters and digits (no underscore, no punctuation).
_WORD = re.compile(r"[^\W_]+")
_YO = str.maketrans({"ё": "е", "Ё": "Е"})

_RU = Stemmer.Stemmer("russian")
_EN = Stemmer.Stemmer("english")

# Stems of words seen recently. Word frequencies are Zipfian: a few thousand words
# make most of any text, and a dict lookup costs a tenth of a Snowball call.
_CACHE: dict[str, str] = {}
_CACHE_MAX = 200_000

MAX_QUERY_TERMS = 32
SHORT = 2  # words this long or shorter are never highlighted alone


class BadQuery(ProjectError):
    """A search query or keyword pattern that cannot be used. `reason`: "no_words"
    (nothing to look for), "only_exclusions" (only -words), "too_many_words" (more
    than MAX_QUERY_TERMS words)."""

    code = "bad_query"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def nfc(text: str) -> str:
    """`text` in Unicode NFC: a letter and its combining mark (NFD, as macOS writes
    "й" and "ё") as one character, so the word is not cut at the mark."""
    # is_normalized is a quick check (no copy) for the common, already composed text.
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """`text` in NFC, casefolded with ё as е (the form every comparison uses)."""
    # casefold() has made Ё ё; replace() is C speed where translate() with a table
    # looks every character up in a dict (10x slower on a message).
    return nfc(text).casefold().replace("ё", "е")


def fold_yo(text: str) -> str:
    """`text` in NFC with ё/Ё as е/Е and nothing else changed (for regular expressions,
    where casefolding would change escapes such as \\D)."""
    return nfc(text).translate(_YO)


def _stem_new(word: str) -> str:
    # The rules of PostgreSQL's parser and `tgp_search` (db.search), so both databases
    # and the Python matcher agree: a word with a digit (123, covid19) is kept as it
    # is; an ASCII word goes to the english stemmer, any other word (Cyrillic, or with
    # letters such as é) to the russian one (which leaves non-Cyrillic letters alone).
    if word.isdigit():
        return word  # numbers are many and never stemmed: kept out of the cache
    s: str = word
    if not word.isalpha():
        pass
    elif word.isascii():
        s = _EN.stemWord(word)
    else:
        s = _RU.stemWord(word)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[word] = s
    return s


def stem(word: str) -> str:
    """The stem of one folded word (`fold` it first)."""
    return _CACHE.get(word) or _stem_new(word)


def words(text: str) -> list[str]:
    """The folded words of `text` in order."""
    return _WORD.findall(fold(text))


def terms(text: str) -> str:
    """The stems of the words of `text`, space-joined in text order ("" when none)."""
    # The ingest's hot path (every stored message). Most space-separated pieces are
    # one word already (str.isalnum: exactly the characters of _WORD), and a split is
    # far cheaper than the regex; only pieces with punctuation go through it.
    cache, new, find = _CACHE, _stem_new, _WORD.findall
    out: list[str] = []
    for piece in fold(text).split():
        if piece.isalnum():
            out.append(cache.get(piece) or new(piece))
        else:
            out.extend([cache.get(w) or new(w) for w in find(piece)])
    return " ".join(out)


def message_terms(text: str, content_text: str = "") -> str:
    """The terms of a stored message: its text, then the words of its content (a poll's
    options, a venue's address, ...). The same string search, watches and exports read."""
    if content_text:
        return terms(f"{text}\n{content_text}")
    return terms(text)


@dataclass(frozen=True)
class Term:
    """One query word: its stem; with `prefix`, any stem starting with the typed word's
    stem ("москва*" is москв...: Москве, Москвы, москвичи; PostgreSQL's ':*' means the
    same)."""

    stem: str
    prefix: bool = False
    short: bool = False  # the word as typed has at most SHORT letters

    def hit(self, term: str) -> bool:
        if self.prefix:
            return term.startswith(self.stem)
        return term == self.stem


# A clause is one word or a phrase: its terms, consecutive in the text.
Clause = tuple[Term, ...]

# A chunk: an optional '-', then a quoted phrase (an optional '*' after it makes its
# last word a prefix) or anything up to the next space.
_CHUNK = re.compile(r'(-?)(?:(["«“„])(.*?)(?:["»”“]|$)(\*?)|(\S+))', re.DOTALL)


def _chunk_body(m: re.Match[str]) -> str:
    if m.group(3) is not None:
        return m.group(3) + m.group(4)
    return m.group(5) or ""


def _clause(raw: str, prefix_allowed: bool = True) -> Clause:
    """The terms of one chunk: every word of it, the last one a prefix when the chunk
    ends with '*' (each '*'-ended word of a phrase is a prefix)."""
    out: list[Term] = []
    for m in re.finditer(r"([^\W_]+)(\*?)", raw):
        word, star = m.group(1), m.group(2)
        folded = fold(word)
        if star and prefix_allowed:
            out.append(Term(stem(folded), True, len(word) <= SHORT))
        else:
            out.append(Term(stem(folded), False, len(word) <= SHORT))
    return tuple(out)


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: every `include` clause must occur, no `exclude` clause may.

    Build it with `SearchQuery.parse`. `text` is the query as typed.
    """

    text: str
    include: tuple[Clause, ...]
    exclude: tuple[Clause, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SearchQuery:
        """Parse the operator's query. Raises BadQuery("no_words") when it has no words,
        BadQuery("only_exclusions") when every word is a -word, BadQuery("too_many_words")
        beyond MAX_QUERY_TERMS words."""
        text = nfc(text)
        include: list[Clause] = []
        exclude: list[Clause] = []
        for m in _CHUNK.finditer(text):
            minus = m.group(1)
            clause = _clause(_chunk_body(m))
            if not clause:
                continue
            (exclude if minus else include).append(clause)
        n = sum(len(c) for c in (*include, *exclude))
        if n == 0:
            raise BadQuery("no_words")
        if not include:
            raise BadQuery("only_exclusions")
        if n > MAX_QUERY_TERMS:
            raise BadQuery("too_many_words")
        # Duplicates add nothing but cost (a word typed twice).
        return cls(text, tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)))

    # -- matching in Python (watches, export filters, tests) ---------------------------

    def matches(self, terms: str) -> bool:
        """True when `terms` (a `terms()` string) holds every included clause and no
        excluded one."""
        seq = terms.split()
        have = set(seq)
        return all(_occurs(c, seq, have) for c in self.include) and not any(
            _occurs(c, seq, have) for c in self.exclude
        )

    def matches_text(self, text: str, content_text: str = "") -> bool:
        """`matches` on a message's text (and content words), stemmed here."""
        return self.matches(message_terms(text, content_text))

    # -- highlighting -------------------------------------------------------------------

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character ranges of `text` to mark, sorted and merged: every
        occurrence of an included clause. A one- or two-letter word (as typed in the
        query or as written in the text) is marked only as part of a phrase. `text` must
        be in NFC (`nfc`): the ranges are positions in it."""
        tokens = [(m.start(), m.end(), stem(fold(m.group()))) for m in _WORD.finditer(text)]
        seq = [t[2] for t in tokens]
        found: list[tuple[int, int]] = []
        for clause in self.include:
            k = len(clause)
            for i in _positions(clause, seq):
                if k == 1:
                    start, end, _ = tokens[i]
                    if clause[0].short or end - start <= SHORT:
                        continue
                found.append((tokens[i][0], tokens[i + k - 1][1]))
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    # -- database query languages -------------------------------------------------------

    def fts5(self) -> str:
        """The SQLite FTS5 MATCH expression over a `terms` column: every term quoted
        (so AND, NEAR, '-' are plain words), phrases joined with '+', prefixes with '*',
        exclusions with NOT."""
        expr = " AND ".join(_fts5_clause(c) for c in self.include)
        for c in self.exclude:
            expr = f"({expr}) NOT {_fts5_clause(c)}"
        return expr

    def tsquery(self) -> str:
        """The PostgreSQL to_tsquery text: the words folded but NOT stemmed (the server's
        configuration stems them with its own Snowball stemmers: Cyrillic by russian,
        Latin by english; db/migrations/0006), '<->' inside phrases, ':*' on prefixes,
        '!' on exclusions."""
        parts = [_ts_clause(c) for c in self._raw_clauses(include=True)]
        parts += [f"!{_ts_clause(c)}" for c in self._raw_clauses(include=False)]
        return " & ".join(parts)

    def _raw_clauses(self, include: bool) -> Iterator[list[tuple[str, bool]]]:
        # PostgreSQL stems with its own Snowball: hand it the folded words as typed.
        for m in _CHUNK.finditer(self.text):
            if bool(m.group(1)) == include:
                continue
            found = [
                (fold(w.group(1)), bool(w.group(2)))
                for w in re.finditer(r"([^\W_]+)(\*?)", _chunk_body(m))
            ]
            if found:
                yield found


def _occurs(clause: Clause, seq: list[str], have: set[str]) -> bool:
    if len(clause) == 1 and not clause[0].prefix:
        return clause[0].stem in have
    return next(_positions(clause, seq), None) is not None


def _positions(clause: Clause, seq: list[str]) -> Iterator[int]:
    k = len(clause)
    for i in range(len(seq) - k + 1):
        if all(clause[j].hit(seq[i + j]) for j in range(k)):
            yield i


def _fts5_clause(clause: Clause) -> str:
    return " + ".join(f'"{t.stem}"*' if t.prefix else f'"{t.stem}"' for t in clause)


def _ts_clause(words: list[tuple[str, bool]]) -> str:
    # Words are letters and digits only: safe inside single quotes.
    parts = [f"'{w}'" + (":*" if prefix else "") for w, prefix in words]
    return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"


def snippet(
    text: str,
    spans: Iterable[tuple[int, int]],
    start_mark: str,
    end_mark: str,
    width: int = 160,
) -> str:
    """Up to about `width` characters of `text` around its first span, every span in it
    wrapped in `start_mark`/`end_mark`, '…' where the text was cut. No spans: the start
    of the text."""
    spans = sorted(spans)
    if len(text) <= width:
        lo, hi = 0, len(text)
    else:
        first = spans[0][0] if spans else 0
        lo = max(0, first - width // 4)
        # Start at a word boundary.
        if lo > 0:
            space = text.rfind(" ", 0, lo)
            lo = space + 1 if space >= 0 and lo - space < 20 else lo
        hi = min(len(text), lo + width)
        if hi < len(text):
            space = text.rfind(" ", lo, hi)
            hi = space if space > lo + width // 2 else hi
    out: list[str] = ["…"] if lo > 0 else []
    pos = lo
    for s, e in spans:
        if e <= lo or s >= hi:
            continue
        s, e = max(s, lo), min(e, hi)
        out += [text[pos:s], start_mark, text[s:e], end_mark]
        pos = e
    out.append(text[pos:hi])
    if hi < len(text):
        out.append("…")
    return "".join(out)
