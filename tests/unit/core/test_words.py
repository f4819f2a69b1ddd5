"""core.words: folding, stems, the query syntax, matching and highlighting.

The corpus uses real word forms (nominative, prepositional, genitive, plural) and ё/е
pairs; the FTS5 expression is checked against SQLite itself so the database and the
Python matcher (watches, export filters) agree on every query.
"""

from __future__ import annotations

import sqlite3

import pytest

from core.words import (
    BadQuery,
    SearchQuery,
    fold,
    message_terms,
    snippet,
    terms,
    words,
)

CORPUS = {
    1: "Москва готовится к выборам",
    2: "В Москве прошли выборы мэра",
    3: "Жители Москвы выбирают депутатов",
    4: "Результаты выборов объявят завтра",
    5: "На выборах в Думу был один выбор",
    6: "Ёлка зелёная стоит на площади",
    7: "Елка уже стоит, новогодняя",
    8: "Самолёт из Нью-Йорка прилетел в Москву",
    9: "The elections were held; voters elected a new mayor",
    10: "Running late: the runner runs every election day",
    11: "Москвичи и гости столицы",
    12: "в и на к",
}


def _ids(query: str) -> list[int]:
    q = SearchQuery.parse(query)
    return [i for i, text in CORPUS.items() if q.matches(terms(text))]


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(terms, tokenize='ascii')")
    db.executemany(
        "INSERT INTO f(rowid, terms) VALUES (?, ?)", [(i, terms(t)) for i, t in CORPUS.items()]
    )
    return db


def _fts_ids(db: sqlite3.Connection, query: str) -> list[int]:
    rows = db.execute(
        "SELECT rowid FROM f WHERE f MATCH ? ORDER BY rowid", (SearchQuery.parse(query).fts5(),)
    )
    return [r[0] for r in rows]


def test_fold_casefolds_and_folds_yo() -> None:
    assert fold("ЁЛКА Ёж ёж Straße") == "елка еж еж strasse"


def test_words_are_letters_and_digits() -> None:
    assert words("Нью-Йорк, covid_19 и 2026!") == ["нью", "йорк", "covid", "19", "и", "2026"]


def test_terms_stem_both_languages_in_text_order() -> None:
    assert terms("Москве выборах") == terms("москва выборы")
    assert terms("Ёлки") == terms("елка")
    assert terms("elections running 2026") == "elect run 2026"
    assert terms("!!!") == ""


@pytest.mark.parametrize(
    "text",
    [
        "snake_case, under_score_ and 3_000",
        "Нью-Йорк—Москва…«ёлка»!?",
        "e\u0301clair cafe\u0301 naïve",  # combining accents split a word, as _WORD does
        "tab\tnew\nline\u00a0nbsp\u2009thin",
        "½ ² ٣ 五 x²",
        "",
    ],
)
def test_terms_fast_path_splits_exactly_like_the_word_pattern(text: str) -> None:
    assert terms(text).split() == [terms(w) for w in words(text)]


def test_message_terms_include_content_words() -> None:
    assert message_terms("Опрос", "Кто победит на выборах?").split()[-1] == terms("выборы")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Every case of "Москва" finds every case; a different word (москвичи) does not.
        ("Москва", [1, 2, 3, 8]),
        ("Москве", [1, 2, 3, 8]),
        ("москвы", [1, 2, 3, 8]),
        # "выборы" finds exactly what "выбор" and "выборах" find.
        ("выборы", [1, 2, 4, 5]),
        ("выбор", [1, 2, 4, 5]),
        ("выборах", [1, 2, 4, 5]),
        # ё and е are one letter in the query and in the text.
        ("ёлка", [6, 7]),
        ("елка", [6, 7]),
        ("зеленая", [6]),
        ("самолет", [8]),
        # English forms.
        ("election", [9, 10]),
        ("elections", [9, 10]),
        ("run", [10]),
        ("elected", [9, 10]),
        # All words required, any order.
        ("выборы Москва", [1, 2]),
        ("москва мэр", [2]),
        # Phrases: the words next to each other, in order.
        ('"в Москве"', [2, 8]),
        ('"Москве в"', []),
        ("«прошли выборы»", [2]),
        # A hyphenated word is a phrase.
        ("Нью-Йорк", [8]),
        # Exclusions, of a word and of a phrase.
        ("выборы -Москва", [4, 5]),
        ('елка -"зеленая ёлка"', [6, 7]),
        ('елка -"ёлка зелёная"', [7]),
        # Prefixes.
        ("моск*", [1, 2, 3, 8, 11]),
        # The typed word's stem is the prefix (as PostgreSQL's ':*'): москв...
        ("москва*", [1, 2, 3, 8, 11]),
        ("москвич*", [11]),
        ("выбо*", [1, 2, 3, 4, 5]),  # stem выб: выбирают too
        ("happy*", []),
        ("elect*", [9, 10]),
        ('"в Москв"*', [2, 8]),
    ],
)
def test_query_semantics_in_python_and_in_fts5(
    fts: sqlite3.Connection, query: str, expected: list[int]
) -> None:
    assert _ids(query) == expected
    assert _fts_ids(fts, query) == expected


def test_fts5_words_are_quoted() -> None:
    q = SearchQuery.parse('AND NEAR or "x y"* -not')
    assert q.fts5() == '("and" AND "near" AND "or" AND "x" + "y"*) NOT "not"'
    assert SearchQuery.parse("москва*").fts5() == '"москв"*'


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "no_words"), ("!!! ...", "no_words"), ("-москва -выборы", "only_exclusions")],
)
def test_unusable_queries(query: str, reason: str) -> None:
    with pytest.raises(BadQuery) as exc:
        SearchQuery.parse(query)
    assert exc.value.reason == reason


def test_too_many_words() -> None:
    with pytest.raises(BadQuery) as exc:
        SearchQuery.parse(" ".join(f"w{i}" for i in range(40)))
    assert exc.value.reason == "too_many_words"


def test_tsquery_leaves_stemming_to_postgres() -> None:
    q = SearchQuery.parse('Москве "Нью-Йорк" выб* -ёлка')
    assert q.tsquery() == "'москве' & ('нью' <-> 'йорк') & 'выб':* & !'елка'"


def test_spans_mark_every_form_in_the_original_text() -> None:
    text = "В Москве прошли выборы, а москвичи — нет. МОСКВА!"
    q = SearchQuery.parse("москва выборах")
    assert [text[s:e] for s, e in q.spans(text)] == ["Москве", "выборы", "МОСКВА"]


def test_spans_with_yo() -> None:
    text = "Ёлка и елка"
    assert [text[s:e] for s, e in SearchQuery.parse("елки").spans(text)] == ["Ёлка", "елка"]


def test_short_words_are_not_highlighted_alone() -> None:
    text = "в Москве и в Питере"
    assert SearchQuery.parse("в").spans(text) == []
    assert SearchQuery.parse("в*").spans(text) == []
    # ... but they are inside a phrase, which is highlighted whole.
    assert [text[s:e] for s, e in SearchQuery.parse('"в Москве"').spans(text)] == ["в Москве"]
    # A short query word still matches (it just is not marked).
    assert SearchQuery.parse("в Питере").matches(terms(text))


def test_snippet_marks_spans_and_cuts_around_the_first() -> None:
    text = "начало " + "слово " * 60 + "Москве конец"
    q = SearchQuery.parse("москва")
    out = snippet(text, q.spans(text), "[", "]", width=60)
    assert out.startswith("…") and "[Москве]" in out
    assert len(out) <= 64
    assert snippet("коротко", [], "[", "]") == "коротко"


def test_nfd_text_is_composed_before_it_is_split() -> None:
    # macOS writes й and ё as a letter and a combining mark (NFD).
    import unicodedata

    text = unicodedata.normalize("NFD", "Йошкар-Ола и ёжик")
    assert text != unicodedata.normalize("NFC", text)
    assert terms(text) == terms("Йошкар-Ола и ежик") == "йошкар ол и ежик"
    q = SearchQuery.parse(unicodedata.normalize("NFD", "ёжик йошкар"))
    assert q.matches(terms("Йошкар-Ола и ёжик")) and q.matches(terms(text))
    assert fold(unicodedata.normalize("NFD", "Ё")) == "е"
