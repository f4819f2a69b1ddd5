"""Full-text search over message.text, kept in sync by the database itself.

SQLite: an FTS5 external-content table `message_fts` (rowid = message.id) with
triggers on insert/update/delete, so raw `INSERT ... ON CONFLICT DO UPDATE` batches
from the ingestion code stay indexed without any Python hook. The `unicode61
remove_diacritics 2` tokenizer folds case for Cyrillic and Latin alike.
PostgreSQL: an expression GIN index over to_tsvector('simple', text).
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5(
        text, content='message', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER IF NOT EXISTS message_fts_ai AFTER INSERT ON message BEGIN
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS message_fts_ad AFTER DELETE ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS message_fts_au AFTER UPDATE OF text ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TABLE IF EXISTS message_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX IF NOT EXISTS message_text_fts_idx ON message "
    "USING GIN (to_tsvector('simple', text))",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS message_text_fts_idx"]


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
    dependencies = [("tg_parser", "0002_watch")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
