"""Full-text search over stored messages by word stems (SQLite FTS5 or PostgreSQL).

SQLite: the FTS5 table `message_fts` indexes `message.terms` (core.words: the folded,
stemmed words of text + content_text; migration 0006). The ingest path writes terms
and indexes each batch in its own transaction (db.messages.INDEX_PENDING); rows
written by any other path, and the rows of an archive stored before 0006, get their
terms from `fill_index` (run in the background by services.search_index, and for a
bounded number of rows before each search). PostgreSQL: the tsvector of the same text
in `tgp_search` (PostgreSQL's russian configuration without stop words, migration 0006)
is stored in `message_search`, GIN-indexed (migration 0016); triggers queue new and
changed rows in `search_pending` and `fill_index` writes their documents, in the
background and before each search, as on SQLite.

Either way the query means what core.words.SearchQuery says, and snippets are cut and
highlighted in Python from the stored text (the index holds stems, not words).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.archive import HL_END, HL_START, SearchHit, SearchPage
from core.channels import comment_link, post_link
from core.words import SearchQuery, message_terms, nfc, snippet
from db.database import placeholders
from db.export import ParentChannel, comment_parents, parse_time
from db.messages import INDEX_PENDING

__all__ = [
    "HL_END",
    "HL_START",
    "PG_DOCUMENT",
    "PG_INDEX",
    "RANK_LIMIT",
    "fill_index",
    "index_pending",
    "indexed_count",
    "pending_index",
    "search_messages",
]

# Above this many matches results come newest first instead of by relevance.
RANK_LIMIT = 10_000
# Rows not searchable yet a search indexes itself before it looks (more: the
# background rebuild's work; the page says how many are not searchable yet).
SEARCH_FILL = 500
SNIPPET_WIDTH = 160

# PostgreSQL's search document of a message (`tgp_search`: PostgreSQL's russian
# configuration without stop words, migration 0006), stored in `message_search` with a
# GIN index over it (migration 0016) by `fill_index`: for the rows `search_pending`
# lists (queued by triggers as rows are stored or their text changes).
PG_CONFIG = "tgp_search"
PG_INDEX = "message_search_doc"
# What is not a word character for core.words (str.isalnum): ASCII punctuation and
# symbols, the other non-alphanumerics of Latin, Greek and Cyrillic, general
# punctuation, symbols and arrows, CJK and fullwidth punctuation, emoji. Every run of
# them becomes a space before PostgreSQL's parser sees the text, so it never keeps
# x.org, user@mail.ru, COVID-19 or 3.14 as one token: its words are core.words' words.
# (A literal, not computed at import: the index expression must not change with the
# Python version's Unicode tables.) Each backslash reaches the regex engine as is.
PG_NON_WORD = (
    r"["
    r"\u0001-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u00a9\u00ab-\u00b1\u00b4"
    r"\u00b6-\u00b8\u00bb\u00bf\u00d7\u00f7\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02eb"
    r"\u02ed\u02ef-\u036f\u0375\u0378-\u0379\u037e\u0380-\u0385\u0387\u038b\u038d"
    r"\u03a2\u03f6\u0482-\u0489\u2000-\u206f\u2072-\u2073\u207a-\u207e"
    r"\u208a-\u208f\u209d-\u2101\u2103-\u2106\u2108-\u2109\u2114\u2116-\u2118"
    r"\u211e-\u2123\u2125\u2127\u2129\u212e\u213a-\u213b\u2140-\u2144\u214a-\u214d"
    r"\u214f\u218a-\u245f\u249c-\u24e9\u2500-\u2775\u2794-\u2bff\u3000-\u3004"
    r"\u3008-\u3020\u302a-\u3030\u3036-\u3037\u303d-\u303f\ufe00-\ufe6f"
    r"\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\U0001f000-\U0001f0ff"
    r"\U0001f10d-\U0001faff"
    r"]+"
)


def _pg_document(text: str, content: str) -> str:
    # NFC as core.words.nfc, ё as е, non-word runs as one space, then the parser.
    return (
        f"to_tsvector('{PG_CONFIG}', regexp_replace(translate(normalize("
        f"{text} || ' ' || {content}, NFC), 'ёЁ', 'еЕ'), '{PG_NON_WORD}', ' ', 'g'))"
    )


PG_DOCUMENT = _pg_document("m.text", "m.content_text")

_PENDING = (
    "SELECT COALESCE((SELECT MAX(id) FROM message), 0)"
    " > (SELECT indexed_to FROM fts_state WHERE id = 1) AS n"
)


def _sqlite(conn: Any) -> bool:
    return bool(conn.capabilities.dialect == "sqlite")


async def index_pending() -> None:
    """Bring the SQLite full-text index up to date with the rows above its mark (a no-op
    when nothing is pending; rows without terms join the index when they get them)."""
    conn = connections.get("default")
    if not _sqlite(conn):
        return
    rows = await conn.execute_query_dict(_PENDING)
    if not rows or not rows[0]["n"]:
        return
    async with in_transaction("default") as tx:
        for sql in INDEX_PENDING:
            await tx.execute_query(sql)


async def pending_index() -> int:
    """How many stored messages are not searchable yet: SQLite, those without terms;
    PostgreSQL, those queued in `search_pending` (new or changed, document not written
    yet)."""
    conn = connections.get("default")
    sql = (
        "SELECT count(*) AS n FROM message INDEXED BY message_terms_pending WHERE terms IS NULL"
        if _sqlite(conn)
        else "SELECT count(*) AS n FROM search_pending"
    )
    rows = await conn.execute_query_dict(sql)
    return int(rows[0]["n"])


# Rows indexed by fill_index in this process, whoever asked (the rebuild or a search):
# the rebuild's progress counts the rows a search indexed before it got to them.
_INDEXED = [0]


def indexed_count() -> int:
    """How many rows `fill_index` has indexed in this process so far."""
    return _INDEXED[0]


# PostgreSQL: up to $1 queued messages, newest first, their documents written (or
# rewritten: an edit) and their queue entries gone, in one statement. SKIP LOCKED:
# processes filling at once take different rows. A queued row deleted meanwhile leaves
# the queue and writes nothing. The count is of queue entries taken.
_PG_FILL = (
    "WITH q AS (DELETE FROM search_pending WHERE id IN (SELECT id FROM search_pending"
    "  ORDER BY id DESC LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id),"
    " ins AS (INSERT INTO message_search (id, doc)"
    f"  SELECT m.id, {PG_DOCUMENT} FROM message m JOIN q ON q.id = m.id"
    "  ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc RETURNING 1)"
    " SELECT count(*) AS n FROM q"
)


async def fill_index(limit: int) -> int:
    """Make up to `limit` messages that are not searchable yet searchable, newest first,
    in ONE transaction. Returns how many were done (0: none left). SQLite: their terms
    (core.words.message_terms, computed here; the triggers of migration 0006 index
    them). PostgreSQL: their documents in `message_search` (migration 0016), computed by
    the server.

    SQLite: the rows are read, stemmed and written in one hop to aiosqlite's thread
    under Tortoise's connection lock: no other write can change a row in between, and
    the event loop is free meanwhile (it gets the GIL back every switch interval).
    """
    conn = connections.get("default")
    if limit <= 0:
        return 0
    if not _sqlite(conn):
        rows = await conn.execute_query_dict(_PG_FILL, [limit])
        n = int(rows[0]["n"])
        _INDEXED[0] += n
        return n

    def work(raw: sqlite3.Connection) -> int:
        raw.execute("BEGIN IMMEDIATE")
        try:
            rows = raw.execute(
                "SELECT id, text, content_text FROM message INDEXED BY message_terms_pending"
                " WHERE terms IS NULL ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            if rows:
                _write_terms(raw, rows)
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return len(rows)

    async with conn.acquire_connection() as aconn:
        n = int(await aconn._execute(work, aconn._conn))
    _INDEXED[0] += n
    return n


def _write_terms(raw: sqlite3.Connection, rows: list[tuple[int, str, str]]) -> None:
    """Store the terms of `rows` (id, text, content_text; terms NULL now) and index
    them, inside the caller's transaction.

    Rows at or below the index mark are in the index as empty documents: they are
    deleted and inserted again with their terms by two INSERT ... SELECT statements
    over the whole chunk (the per-row trigger stands aside while `fts_state.bulk` is 1:
    FTS5 flushes its pending data at each trigger statement, ~10x slower). Rows above
    the mark are indexed by the next INDEX_PENDING like any new row. Ascending ids:
    FTS5 also flushes when a rowid is not above the previous one.
    """
    stemmed = sorted((i, message_terms(text or "", content or "")) for i, text, content in rows)
    raw.execute("UPDATE fts_state SET bulk = 1 WHERE id = 1")
    if sqlite3.sqlite_version_info >= (3, 33):  # UPDATE ... FROM
        raw.execute(
            "UPDATE message SET terms = json_extract(j.value, '$[1]') FROM json_each(?) AS j"
            " WHERE message.id = json_extract(j.value, '$[0]')",
            (json.dumps(stemmed, ensure_ascii=False, separators=(",", ":")),),
        )
    else:
        raw.executemany("UPDATE message SET terms = ? WHERE id = ?", [(t, i) for i, t in stemmed])
    mark = "(SELECT indexed_to FROM fts_state WHERE id = 1)"
    ids = ",".join(str(i) for i, _ in stemmed)  # integers from the database
    raw.execute(
        "INSERT INTO message_fts(message_fts, rowid, terms)"
        f" SELECT 'delete', id, NULL FROM message WHERE id IN ({ids}) AND id <= {mark}"
        " ORDER BY id"
    )
    raw.execute(
        "INSERT INTO message_fts(rowid, terms)"
        f" SELECT id, terms FROM message WHERE id IN ({ids}) AND id <= {mark} ORDER BY id"
    )
    raw.execute("UPDATE fts_state SET bulk = 0 WHERE id = 1")


async def search_messages(query: SearchQuery | str, offset: int = 0, limit: int = 5) -> SearchPage:
    """`limit` hits from `offset` for `query` (a SearchQuery, or text parsed as one:
    raises core.words.BadQuery when it is not usable): best matches first (bm25 /
    ts_rank), the later stored first among equals; the later stored first when more
    than RANK_LIMIT messages match. `unindexed` on the page counts messages not
    searchable yet (while the background rebuild of an older archive runs, or a
    backfill outpaces PostgreSQL's indexing)."""
    q = query if isinstance(query, SearchQuery) else SearchQuery.parse(query)
    conn = connections.get("default")
    unindexed = 0
    if await fill_index(SEARCH_FILL) == SEARCH_FILL:
        unindexed = await pending_index()
    if _sqlite(conn):
        await index_pending()
        match = q.fts5()
        total_rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM message_fts WHERE message_fts MATCH ?", [match]
        )
        total = int(total_rows[0]["n"])
        # bm25 scores every match before sorting: beyond RANK_LIMIT matches (a one- or
        # two-letter prefix over a large archive) newest first keeps the reply fast.
        broad = total > RANK_LIMIT
        # Ranked inside the index alone, and only the page's rows read from `message`:
        # ordering by a column of `message` read the row of every match first, random
        # reads over the whole file (1.4 s for 8,000 matches of a 10M archive, cold).
        # Among equal scores the later stored row first (ids grow as rows are stored).
        score = "0" if broad else "bm25(message_fts)"
        top = await conn.execute_query_dict(
            f"SELECT rowid AS id, {score} AS score FROM message_fts"
            " WHERE message_fts MATCH ? ORDER BY score, rowid DESC LIMIT ? OFFSET ?",
            [match, limit, offset],
        )
        capped = False
    else:
        top, total, capped = await _pg_top(q.tsquery(), offset, limit)
    ids = [int(r["id"]) for r in top]
    rows = await _page_rows(conn, ids)
    # A comment links into its channel's thread, as exports do.
    parents = await comment_parents() if any(r["comment_of"] for r in rows) else {}
    return SearchPage(
        total, tuple(_hit(r, q, parents) for r in rows), unindexed=unindexed, capped=capped
    )


async def _page_rows(conn: Any, ids: list[int]) -> list[dict[str, Any]]:
    """The rows a page shows, in the order of `ids` (message ids)."""
    if not ids:
        return []
    marks = placeholders(conn.capabilities.dialect, 1, len(ids))
    rows = await conn.execute_query_dict(
        "SELECT m.id, m.msg_id, m.date, m.text, m.content_text, m.comment_of,"
        " c.tg_id, c.username, c.title, c.kind"
        f" FROM message m JOIN channel c ON c.id = m.channel_id WHERE m.id IN ({marks})",
        ids,
    )
    by_id = {int(r["id"]): r for r in rows}
    return [by_id[i] for i in ids if i in by_id]


async def _pg_top(tsquery: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int, bool]:
    """PostgreSQL: the page's (id, score) over the stored vectors (migration 0016), how
    many match, and whether that count is only a floor.

    Counting every match is not affordable there: a word in 5% of a 10M archive is
    500,000 heap rows to visit (1.5 s), however the plan goes. So at most RANK_LIMIT + 1
    matches are taken (a scan that stops there), their count is the total, and when
    they are all the matches they are ranked right away (ts_rank over the stored
    vectors, negated so that both databases order ascending), in the same statement:
    one pass over them. Beyond RANK_LIMIT the page is the newest matches (the primary
    key read backwards, matches filtered on the way) and the total RANK_LIMIT, capped.
    """
    conn = connections.get("default")
    tsq = f"to_tsquery('{PG_CONFIG}', $1)"
    rows = await conn.execute_query_dict(
        f"WITH h AS MATERIALIZED (SELECT id, doc FROM message_search WHERE doc @@ {tsq}"
        f"  LIMIT {RANK_LIMIT + 1})"
        " SELECT n.n, t.id, t.score FROM (SELECT count(*) AS n FROM h) AS n"
        f" LEFT JOIN LATERAL (SELECT id, -ts_rank(doc, {tsq}) AS score FROM h"
        f"  WHERE n.n <= {RANK_LIMIT} ORDER BY score, id DESC LIMIT $2 OFFSET $3) AS t"
        " ON true ORDER BY t.score, t.id DESC",
        [tsquery, limit, offset],
    )
    total = int(rows[0]["n"])
    if total <= RANK_LIMIT:
        return [r for r in rows if r["id"] is not None], total, False
    top = await conn.execute_query_dict(
        f"SELECT id, 0 AS score FROM message_search WHERE doc @@ {tsq}"
        " ORDER BY id DESC LIMIT $2 OFFSET $3",
        [tsquery, limit, offset],
    )
    return top, RANK_LIMIT, True


def hit_snippet(q: SearchQuery, text: str, content_text: str) -> str:
    """Plain text around the first match, matched words between HL_START and HL_END:
    from the text, or from the content words (a poll's options, ...) when the match is
    there; the start of the text when no word can be marked (short words only). Cut from
    the NFC form of the text (the form the spans are positions in)."""
    text, content_text = nfc(text), nfc(content_text)
    for source in (text, content_text):
        spans = q.spans(source)
        if spans:
            return snippet(source, spans, HL_START, HL_END, SNIPPET_WIDTH)
    return snippet(text or content_text, [], HL_START, HL_END, SNIPPET_WIDTH)


def _hit(r: dict[str, Any], q: SearchQuery, parents: dict[int, ParentChannel]) -> SearchHit:
    parent = parents.get(r["tg_id"]) if r["comment_of"] is not None else None
    link = (
        comment_link(parent.username, parent.tg_id, r["comment_of"], r["msg_id"])
        if parent
        else post_link(r["username"], r["tg_id"], r["msg_id"])
    )
    if r.get("kind") == "chat":  # a basic group (one a supergroup was upgraded from)
        link = ""
    return SearchHit(
        message_id=r["id"],
        channel=r["username"] or r["title"] or str(r["tg_id"]),
        msg_id=r["msg_id"],
        date=parse_time(r["date"]),
        snippet=hit_snippet(q, r["text"] or "", r["content_text"] or "").replace("\n", " "),
        link=link,
    )
