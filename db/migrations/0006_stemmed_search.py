"""Search by word stems: the full-text index reads `message.terms`, not `message.text`.

SQLite: `message_fts` is rebuilt as an FTS5 external-content table over `terms` (the
folded and stemmed words of text + content_text, core.words.message_terms) with the
`ascii` tokenizer: terms are already folded and split, so the tokenizer only has to
cut them at spaces (every non-ASCII character is a token character for it). Terms are
computed in Python (Snowball via PyStemmer), so this migration cannot compute them for
an existing archive without blocking the start for minutes: rows stored before it keep
`terms` NULL and `services.search_index.TermsRebuild` fills them in the background, in
small transactions, with progress (/status and the log). The partial index
`message_terms_pending` finds those rows at no cost once there are none.

The index holds exactly the rows with id <= fts_state.indexed_to, with their current
terms (NULL: an empty document, found by nothing; FTS5's integrity-check holds at all
times):
- the ingest path writes terms with every row and indexes its batch (INDEX_PENDING);
- `message_fts_au`: a change of terms of a row below the mark re-indexes it (unless
  `fts_state.bulk` says the writer indexes its rows itself: FTS5 flushes its pending
  data at every statement of a trigger, ~200 us a row, against ~20 us a row for one
  INSERT ... SELECT over a whole chunk);
- `message_fts_ad`: a deleted row leaves the index;
- `message_terms_stale`: a change of text or content_text by any path that does not
  write terms with it (the ORM, a manual UPDATE) sets terms back to NULL, so the row
  leaves the index and the rebuild stems it again.

PostgreSQL: the 'simple' GIN index goes; a GIN index over
to_tsvector('tgp_search', translate(text || ' ' || content_text, 'ёЁ', 'еЕ')) replaces
it, built NOT here but after the start by services.search_index (db.search.build_pg_index
then: CREATE INDEX CONCURRENTLY, minutes over a million rows, the bot answering meanwhile
and searches scanning the table until it is ready; migration 0016 replaced it by stored
vectors). `tgp_search` is PostgreSQL's own `russian` configuration (Cyrillic words by the
Snowball russian stemmer, Latin words by the english one) with the same two Snowball
stemmers minus their stop-word lists: SQLite indexes every word, so "в Москве" is a
phrase and "в" a word on both databases, and the Python matcher of watches and export
filters agrees with either. `translate` folds ё as everywhere else. `terms` stays NULL
there.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE_FORWARD = [
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TABLE IF EXISTS message_fts",
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        terms, content='message', content_rowid='id', tokenize='ascii'
    )""",
    """CREATE TABLE IF NOT EXISTS fts_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_to INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO fts_state (id, indexed_to) VALUES (1, 0)",
    # 1 inside a transaction that indexes the rows it writes itself, in bulk (the
    # rebuild, db.search.fill_index): the per-row trigger stands aside.
    "ALTER TABLE fts_state ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0",
    # Every row goes in with the terms it has: none yet for an archive stored before
    # this migration (an empty document each, ~2 s for 1M rows, no tokenizing); the
    # rebuild's writes re-index them through the trigger below.
    "INSERT INTO message_fts(rowid, terms) SELECT id, terms FROM message",
    "UPDATE fts_state SET indexed_to = (SELECT COALESCE(MAX(id), 0) FROM message)",
    "CREATE INDEX IF NOT EXISTS message_terms_pending ON message (id) WHERE terms IS NULL",
    """CREATE TRIGGER message_fts_ad AFTER DELETE ON message
    WHEN old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1) BEGIN
        INSERT INTO message_fts(message_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
    END""",
    """CREATE TRIGGER message_fts_au AFTER UPDATE OF terms ON message
    WHEN new.terms IS NOT old.terms
        AND old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1)
        AND (SELECT bulk FROM fts_state WHERE id = 1) = 0 BEGIN
        INSERT INTO message_fts(message_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
        INSERT INTO message_fts(rowid, terms) VALUES (new.id, new.terms);
    END""",
    """CREATE TRIGGER message_terms_stale AFTER UPDATE OF text, content_text ON message
    WHEN (new.text IS NOT old.text OR new.content_text IS NOT old.content_text)
        AND new.terms IS old.terms AND new.terms IS NOT NULL BEGIN
        UPDATE message SET terms = NULL WHERE id = new.id;
    END""",
]
# Back to 0005: the text index of 0003/0004, rebuilt from the table.
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_terms_stale",
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP INDEX IF EXISTS message_terms_pending",
    "ALTER TABLE fts_state DROP COLUMN bulk",
    "DROP TABLE IF EXISTS message_fts",
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        text, content='message', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    "UPDATE fts_state SET indexed_to = (SELECT COALESCE(MAX(id), 0) FROM message)",
    """CREATE TRIGGER message_fts_ad AFTER DELETE ON message
    WHEN old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1) BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER message_fts_au AFTER UPDATE OF text ON message
    WHEN old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1) BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
]
POSTGRES_FORWARD = [
    "DROP INDEX IF EXISTS message_text_fts_idx",
    "CREATE TEXT SEARCH DICTIONARY tgp_russian_stem (TEMPLATE = snowball, Language = russian)",
    "CREATE TEXT SEARCH DICTIONARY tgp_english_stem (TEMPLATE = snowball, Language = english)",
    "CREATE TEXT SEARCH CONFIGURATION tgp_search (COPY = pg_catalog.russian)",
    "ALTER TEXT SEARCH CONFIGURATION tgp_search"
    " ALTER MAPPING REPLACE russian_stem WITH tgp_russian_stem",
    "ALTER TEXT SEARCH CONFIGURATION tgp_search"
    " ALTER MAPPING REPLACE english_stem WITH tgp_english_stem",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS message_terms_fts_idx",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS tgp_search",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS tgp_russian_stem",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS tgp_english_stem",
    "CREATE INDEX IF NOT EXISTS message_text_fts_idx ON message "
    "USING GIN (to_tsvector('simple', text))",
]


async def _run(schema_editor: Any, sqlite: list[str], postgres: list[str]) -> None:
    client = schema_editor.client
    statements = sqlite if client.capabilities.dialect == "sqlite" else postgres
    for sql in statements:
        # One statement per call: trigger bodies contain ';'.
        await client.execute_script(sql)


async def forward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, SQLITE_FORWARD, POSTGRES_FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, SQLITE_BACKWARD, POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0005_content")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
