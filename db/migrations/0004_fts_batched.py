"""SQLite full-text index written per batch instead of per row.

The per-row AFTER INSERT trigger of 0003 cost ~20 us for every stored message (an
FTS5 insert per row); indexing the same rows with one
`INSERT INTO message_fts SELECT ... WHERE id > indexed_to` per write transaction
costs ~1-2 us a row. `fts_state.indexed_to` is the highest message id in the index
(message ids are AUTOINCREMENT, so never reused); `db.search.INDEX_PENDING` brings
the index up to date, and the ingest path runs it inside each batch's transaction.
The update/delete triggers now touch only rows already indexed; an unindexed row is
indexed later with its current text.
PostgreSQL keeps its expression GIN index: nothing to do there.
"""

from importlib import import_module
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE_FORWARD = [
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_au",
    """CREATE TABLE IF NOT EXISTS fts_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_to INTEGER NOT NULL
    )""",
    # Everything stored so far was indexed by the 0003 insert trigger.
    "INSERT OR IGNORE INTO fts_state (id, indexed_to) "
    "SELECT 1, COALESCE(MAX(id), 0) FROM message",
    """CREATE TRIGGER IF NOT EXISTS message_fts_ad AFTER DELETE ON message
    WHEN old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1) BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS message_fts_au AFTER UPDATE OF text ON message
    WHEN old.id <= (SELECT indexed_to FROM fts_state WHERE id = 1) BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
]
# Back to 0003: its triggers again, and the index rebuilt from the table.
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TABLE IF EXISTS fts_state",
    *import_module("db.migrations.0003_search").SQLITE_FORWARD,
]


async def _run(schema_editor: Any, statements: list[str]) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        return
    for sql in statements:
        # One statement per call: trigger bodies contain ';'.
        await client.execute_script(sql)


async def forward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, SQLITE_FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0003_search")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
