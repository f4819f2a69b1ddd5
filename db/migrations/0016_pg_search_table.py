"""PostgreSQL's search documents in a table of their own, indexed in the background.

Before: a GIN index over an expression of `message` (db.search.PG_DOCUMENT). The
index holds no positions or weights, so ranking (ts_rank) and phrase matching rebuilt
each candidate's tsvector from its text, ~35 us a row: a word found in 37,000 of 10M
messages took 3.7 s to rank, a short prefix more than 30 s. And every stored row paid
that tsvector on the ingest path.

Now:
- `message_search` (id -> message.id, dropped with it; doc: the row's tsvector,
  db.search.PG_DOCUMENT) with a GIN index over `doc`: ranking and phrases read the
  stored tsvector, and only a page's rows are read from `message`;
- `search_pending` (id): messages whose document is missing or stale. Statement-level
  triggers over transition tables queue the ids of inserted rows and of updated rows
  whose text or content_text changed, in the writer's transaction (one INSERT ...
  SELECT a statement: no tsvector on the ingest path; ~2.8 us a row of the server's
  time. ON CONFLICT DO NOTHING costs 1.2 of them but is needed: a message deleted
  before its document was written leaves its id queued, and a row stored again with
  that id explicitly (an import, a restore) must not fail).
  db.search.fill_index takes queued ids newest first (FOR UPDATE SKIP LOCKED: several
  processes may fill at once) and writes their documents; the search-index component
  does it in the background and a search does a bounded part first, as on SQLite;
- every stored row is queued here (one INSERT ... SELECT of ids, ~2 s a million rows);
  their documents are computed after the start, with progress in /status;
- the expression index goes.

SQLite: nothing (its FTS5 table already holds its own documents, migration 0006).
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES_FORWARD = [
    "DROP INDEX IF EXISTS message_terms_fts_idx",
    """CREATE TABLE IF NOT EXISTS message_search (
        id BIGINT PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
        doc TSVECTOR NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS message_search_doc ON message_search USING GIN (doc)",
    "CREATE TABLE IF NOT EXISTS search_pending (id BIGINT PRIMARY KEY)",
    """CREATE OR REPLACE FUNCTION message_search_ins() RETURNS trigger AS $$
    BEGIN
        INSERT INTO search_pending (id) SELECT n.id FROM new_rows n ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION message_search_upd() RETURNS trigger AS $$
    BEGIN
        INSERT INTO search_pending (id)
        SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.text IS DISTINCT FROM o.text OR n.content_text IS DISTINCT FROM o.content_text
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS message_search_ins ON message",
    "CREATE TRIGGER message_search_ins AFTER INSERT ON message REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_search_ins()",
    "DROP TRIGGER IF EXISTS message_search_upd ON message",
    "CREATE TRIGGER message_search_upd AFTER UPDATE ON message"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_search_upd()",
    "INSERT INTO search_pending (id) SELECT id FROM message ON CONFLICT DO NOTHING",
]
# Back to 0015, whose search-index component builds its expression index again after
# the start (it finds it missing).
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_search_upd ON message",
    "DROP TRIGGER IF EXISTS message_search_ins ON message",
    "DROP FUNCTION IF EXISTS message_search_upd()",
    "DROP FUNCTION IF EXISTS message_search_ins()",
    "DROP TABLE IF EXISTS search_pending",
    "DROP TABLE IF EXISTS message_search",
]


async def _run(schema_editor: Any, postgres: list[str]) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        return
    for sql in postgres:
        # One statement per call: function bodies contain ';'.
        await client.execute_script(sql)


async def forward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, POSTGRES_FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0015_stats_rollup")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
