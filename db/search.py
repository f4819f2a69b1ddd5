"""Full-text search over stored messages (SQLite FTS5 or PostgreSQL tsvector).

SQLite: new rows enter the FTS5 index in bulk (`INDEX_PENDING`, migration 0004): the
ingest path runs it inside each batch's transaction, and a search runs it first, so
rows written by any other path (ORM, raw upserts) are found too. Edits and deletes of
indexed rows are kept in sync by triggers. PostgreSQL: an expression GIN index.
"""

from __future__ import annotations

import re
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.archive import HL_END, HL_START, SearchHit, SearchPage
from core.channels import post_link
from db.export import parse_time
from db.messages import INDEX_PENDING

_WORD = re.compile(r"\w+", re.UNICODE)
# Above this many matches results come newest first instead of by relevance.
RANK_LIMIT = 20_000


_PENDING = (
    "SELECT COALESCE((SELECT MAX(id) FROM message), 0)"
    " > (SELECT indexed_to FROM fts_state WHERE id = 1) AS n"
)


async def index_pending() -> None:
    """Bring the SQLite full-text index up to date (a no-op when nothing is pending)."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "sqlite":
        return
    rows = await conn.execute_query_dict(_PENDING)
    if not rows or not rows[0]["n"]:
        return
    async with in_transaction("default") as tx:
        for sql in INDEX_PENDING:
            await tx.execute_query(sql)


def query_words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)][:16]


def fts5_query(words: list[str]) -> str:
    # Every word quoted (so "AND", "NEAR", '-' are plain words) and prefix-matched.
    return " ".join(f'"{w}"*' for w in words)


def tsquery(words: list[str]) -> str:
    return " & ".join(f"{w}:*" for w in words)


async def search_messages(text: str, offset: int = 0, limit: int = 5) -> SearchPage:
    """`limit` hits from `offset` for the words of `text` (each a prefix, all required):
    best matches first (bm25 / ts_rank), newer first among equals; newest first when
    more than RANK_LIMIT messages match (SQLite). No words: an empty page."""
    words = query_words(text)
    if not words:
        return SearchPage(0, ())
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        await index_pending()
        match = fts5_query(words)
        total_rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM message_fts WHERE message_fts MATCH ?", [match]
        )
        # bm25 scores every match before sorting: beyond RANK_LIMIT matches (a one- or
        # two-letter prefix over a large archive) newest first keeps the reply fast.
        broad = int(total_rows[0]["n"]) > RANK_LIMIT
        order = "message_fts.rowid DESC" if broad else "bm25(message_fts), m.date DESC"
        rows = await conn.execute_query_dict(
            "SELECT m.id, m.msg_id, m.date, c.tg_id, c.username, c.title,"
            f" snippet(message_fts, 0, '{HL_START}', '{HL_END}', '…', 16) AS snip"
            " FROM message_fts JOIN message m ON m.id = message_fts.rowid"
            " JOIN channel c ON c.id = m.channel_id"
            f" WHERE message_fts MATCH ? ORDER BY {order}"
            " LIMIT ? OFFSET ?",
            [match, limit, offset],
        )
    else:
        q = tsquery(words)
        total_rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM message"
            " WHERE to_tsvector('simple', text) @@ to_tsquery('simple', $1)",
            [q],
        )
        rows = await conn.execute_query_dict(
            "SELECT m.id, m.msg_id, m.date, c.tg_id, c.username, c.title,"
            " ts_headline('simple', m.text, to_tsquery('simple', $1),"
            f" 'StartSel={HL_START},StopSel={HL_END},MaxWords=24,MinWords=8') AS snip"
            " FROM message m JOIN channel c ON c.id = m.channel_id"
            " WHERE to_tsvector('simple', m.text) @@ to_tsquery('simple', $1)"
            " ORDER BY ts_rank(to_tsvector('simple', m.text), to_tsquery('simple', $1)) DESC,"
            " m.date DESC LIMIT $2 OFFSET $3",
            [q, limit, offset],
        )
    return SearchPage(int(total_rows[0]["n"]), tuple(_hit(r) for r in rows))


def _hit(r: dict[str, Any]) -> SearchHit:
    return SearchHit(
        message_id=r["id"],
        channel=r["username"] or r["title"] or str(r["tg_id"]),
        msg_id=r["msg_id"],
        date=parse_time(r["date"]),
        snippet=(r["snip"] or "").replace("\n", " "),
        link=post_link(r["username"], r["tg_id"], r["msg_id"]),
    )
