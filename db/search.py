"""Full-text search over stored messages by word stems (SQLite FTS5 or PostgreSQL).

SQLite: the FTS5 table `message_fts` indexes `message.terms` (core.words: the folded,
stemmed words of text + content_text; migration 0006). The ingest path writes terms
and indexes each batch in its own transaction (db.messages.INDEX_PENDING); rows
written by any other path, and the rows of an archive stored before 0006, get their
terms from `fill_terms` (run in the background by services.search_index, and for a
bounded number of rows before each search). PostgreSQL: an expression GIN index over
the tsvector of the same text in `tgp_search`, PostgreSQL's russian configuration
without stop words (migration 0006).

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
from db.export import ParentChannel, comment_parents, parse_time
from db.messages import INDEX_PENDING

__all__ = [
    "HL_END",
    "HL_START",
    "PG_DOCUMENT",
    "PG_INDEX",
    "RANK_LIMIT",
    "build_pg_index",
    "fill_terms",
    "index_pending",
    "pending_terms",
    "pg_index_progress",
    "search_messages",
    "stemmed_count",
]

# Above this many matches results come newest first instead of by relevance.
RANK_LIMIT = 10_000
# Rows without terms a search stems itself before it looks (more: the background
# rebuild's work; the page says how many are not searchable yet).
SEARCH_FILL = 500
SNIPPET_WIDTH = 160

# The GIN index's expression (`tgp_search`: PostgreSQL's russian configuration without
# stop words, migration 0006), over `m`. The index is built after the start, in the
# background, by `build_pg_index` (CREATE INDEX CONCURRENTLY): the migration only makes
# the configuration, so a large archive does not hold the start for minutes.
PG_CONFIG = "tgp_search"
PG_INDEX = "message_terms_fts_idx"
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


PG_INDEX_EXPR = _pg_document("text", "content_text")
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


async def pg_index_ready() -> bool | None:
    """None on SQLite; on PostgreSQL True when the search index exists and is valid
    (False: missing, or left invalid by an interrupted CREATE INDEX CONCURRENTLY)."""
    conn = connections.get("default")
    if _sqlite(conn):
        return None
    rows = await conn.execute_query_dict(
        "SELECT i.indisvalid AS ok FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
        " WHERE c.relname = $1",
        [PG_INDEX],
    )
    return bool(rows and rows[0]["ok"])


async def build_pg_index() -> bool:
    """PostgreSQL: build the search index (PG_INDEX over PG_INDEX_EXPR) when it is
    missing or invalid, with CREATE INDEX CONCURRENTLY outside any transaction: reads
    and writes of `message` go on meanwhile (searches scan the table until it is ready).
    Returns True when it built the index, False when there was nothing to do (or
    SQLite). Minutes over millions of rows; an interrupted build leaves an invalid
    index, dropped and built again by the next call."""
    conn = connections.get("default")
    if _sqlite(conn):
        return False
    ready = await pg_index_ready()
    if ready:
        return False
    # Each statement on its own, outside a transaction (CONCURRENTLY requires it).
    await conn.execute_script(f"DROP INDEX CONCURRENTLY IF EXISTS {PG_INDEX}")
    await conn.execute_script(
        f"CREATE INDEX CONCURRENTLY {PG_INDEX} ON message USING GIN ({PG_INDEX_EXPR})"
    )
    return True


async def pg_index_progress() -> tuple[int, int] | None:
    """PostgreSQL, while `build_pg_index` runs: (done, total) of the build's current
    phase (blocks of the table scanned, then tuples sorted and loaded;
    pg_stat_progress_create_index); None when no build of it is seen."""
    conn = connections.get("default")
    if _sqlite(conn):
        return None
    rows = await conn.execute_query_dict(
        "SELECT p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total"
        " FROM pg_stat_progress_create_index p WHERE p.relid = 'message'::regclass"
    )
    if not rows:
        return None
    r = rows[0]
    if r["blocks_total"]:
        return int(r["blocks_done"]), int(r["blocks_total"])
    return int(r["tuples_done"] or 0), int(r["tuples_total"] or 0)


async def pending_terms() -> int:
    """How many stored messages have no terms yet (not searchable); 0 on PostgreSQL."""
    conn = connections.get("default")
    if not _sqlite(conn):
        return 0
    rows = await conn.execute_query_dict(
        "SELECT count(*) AS n FROM message INDEXED BY message_terms_pending WHERE terms IS NULL"
    )
    return int(rows[0]["n"])


# Rows stemmed by fill_terms in this process, whoever asked (the rebuild or a search):
# the rebuild's progress counts the rows a search stemmed before it got to them.
_STEMMED = [0]


def stemmed_count() -> int:
    """How many rows `fill_terms` has stemmed in this process so far."""
    return _STEMMED[0]


async def fill_terms(limit: int) -> int:
    """Compute and store the terms of up to `limit` messages that have none, newest
    first, in ONE transaction (the triggers of migration 0006 index them). Returns how
    many were written (0: none left, or PostgreSQL, which needs no terms).

    The rows are read, stemmed and written in one hop to aiosqlite's thread under
    Tortoise's connection lock: no other write can change a row in between, and the
    event loop is free meanwhile (it gets the GIL back every switch interval).
    """
    conn = connections.get("default")
    if not _sqlite(conn) or limit <= 0:
        return 0

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
    _STEMMED[0] += n
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
    ts_rank), newer first among equals (SQLite: the later stored); newest first when more
    than RANK_LIMIT messages match (SQLite). `unindexed` on the page counts messages not
    searchable yet (SQLite, while the background rebuild of an older archive runs)."""
    q = query if isinstance(query, SearchQuery) else SearchQuery.parse(query)
    conn = connections.get("default")
    unindexed = 0
    if _sqlite(conn):
        if await fill_terms(SEARCH_FILL) == SEARCH_FILL:
            unindexed = await pending_terms()
        await index_pending()
        match = q.fts5()
        total_rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM message_fts WHERE message_fts MATCH ?", [match]
        )
        # bm25 scores every match before sorting: beyond RANK_LIMIT matches (a one- or
        # two-letter prefix over a large archive) newest first keeps the reply fast.
        broad = int(total_rows[0]["n"]) > RANK_LIMIT
        # Ranked inside the index alone, and only the page's rows read from `message`:
        # ordering by a column of `message` read the row of every match first, random
        # reads over the whole file (1.4 s for 8,000 matches of a 10M archive, cold).
        # Among equal scores the later stored row first (ids grow as rows are stored).
        score = "0" if broad else "bm25(message_fts)"
        rows = await conn.execute_query_dict(
            "SELECT m.id, m.msg_id, m.date, m.text, m.content_text, m.comment_of,"
            " c.tg_id, c.username, c.title, c.kind"
            f" FROM (SELECT rowid AS id, {score} AS score FROM message_fts"
            "  WHERE message_fts MATCH ? ORDER BY score, rowid DESC LIMIT ? OFFSET ?) AS top"
            " JOIN message m ON m.id = top.id JOIN channel c ON c.id = m.channel_id"
            " ORDER BY top.score, top.id DESC",
            [match, limit, offset],
        )
    else:
        ts = q.tsquery()
        total_rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM message m"
            f" WHERE {PG_DOCUMENT} @@ to_tsquery('{PG_CONFIG}', $1)",
            [ts],
        )
        rows = await conn.execute_query_dict(
            "SELECT m.id, m.msg_id, m.date, m.text, m.content_text, m.comment_of,"
            " c.tg_id, c.username, c.title, c.kind"
            " FROM message m JOIN channel c ON c.id = m.channel_id"
            f" WHERE {PG_DOCUMENT} @@ to_tsquery('{PG_CONFIG}', $1)"
            f" ORDER BY ts_rank({PG_DOCUMENT}, to_tsquery('{PG_CONFIG}', $1)) DESC,"
            " m.date DESC LIMIT $2 OFFSET $3",
            [ts, limit, offset],
        )
    # A comment links into its channel's thread, as exports do.
    parents = await comment_parents() if any(r["comment_of"] for r in rows) else {}
    return SearchPage(
        int(total_rows[0]["n"]), tuple(_hit(r, q, parents) for r in rows), unindexed=unindexed
    )


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
