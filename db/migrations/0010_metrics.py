"""The metrics of /stats (issue #17) read from an index, not from the table.

A channel's rows of a period are spread over the whole table (the archive stores every
channel's new posts as they come): reading them from the table costs a page per row,
~5 us a row on SQLite, seconds for a big channel's year. The metrics read one covering
index instead, in (channel, date) order:

- `message.reactions_n`: the sum of the counts of the row's reactions JSON (0 when NULL);
- `message.ad`: 1 an advertising post (core.ads.is_ad on text and entities), 0 a post
  that is none, -1 no post (a service event: a row with an `action`; a post found
  deleted since); NULL not classified yet.

Both are NOT Model fields: only db/analytics.py reads and writes them. Rows come in
with `ad` NULL (the ingest path does not know these columns); db/analytics.py
classifies the rows of the period a metric reads (through `message_unrated`, a partial
index of the unclassified rows, empty once they are done) and writes both columns. A
change of text, entities, reactions, action or deleted_at sets `ad` back to NULL (a trigger), so
the next metric classifies that row again. An archive stored before this migration is
classified the same way, period by period, the first /stats of each channel doing it
(about 2 s per 100,000 posts on SQLite).

- `message_metrics`: (channel_id, date, grouped_id, msg_id, views, forwards, replies,
  reactions_n, ad) on SQLite (a covering index); on PostgreSQL (channel_id, date)
  INCLUDE (the others) for index-only scans.
- `message_unrated`: (channel_id, date) WHERE ad IS NULL.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE_FORWARD = [
    "ALTER TABLE message ADD COLUMN reactions_n INTEGER",
    "ALTER TABLE message ADD COLUMN ad SMALLINT",
    "CREATE INDEX IF NOT EXISTS message_metrics ON message (channel_id, date, grouped_id,"
    " msg_id, views, forwards, replies, reactions_n, ad)",
    "CREATE INDEX IF NOT EXISTS message_unrated ON message (channel_id, date) WHERE ad IS NULL",
    """CREATE TRIGGER message_ad_stale AFTER UPDATE OF text, entities, reactions, action,
    deleted_at ON message
    WHEN new.ad IS NOT NULL AND new.ad IS old.ad AND (new.text IS NOT old.text
        OR new.entities IS NOT old.entities OR new.reactions IS NOT old.reactions
        OR new.action IS NOT old.action OR new.deleted_at IS NOT old.deleted_at) BEGIN
        UPDATE message SET ad = NULL WHERE id = new.id;
    END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_ad_stale",
    "DROP INDEX IF EXISTS message_unrated",
    "DROP INDEX IF EXISTS message_metrics",
    "ALTER TABLE message DROP COLUMN ad",
    "ALTER TABLE message DROP COLUMN reactions_n",
]
POSTGRES_FORWARD = [
    "ALTER TABLE message ADD COLUMN IF NOT EXISTS reactions_n INTEGER",
    "ALTER TABLE message ADD COLUMN IF NOT EXISTS ad SMALLINT",
    "CREATE INDEX IF NOT EXISTS message_metrics ON message (channel_id, date)"
    " INCLUDE (grouped_id, msg_id, views, forwards, replies, reactions_n, ad)",
    "CREATE INDEX IF NOT EXISTS message_unrated ON message (channel_id, date) WHERE ad IS NULL",
    """CREATE OR REPLACE FUNCTION message_ad_stale() RETURNS trigger AS $$
    BEGIN
        IF NEW.ad IS NOT NULL AND NEW.ad IS NOT DISTINCT FROM OLD.ad AND (
            NEW.text IS DISTINCT FROM OLD.text OR NEW.entities IS DISTINCT FROM OLD.entities
            OR NEW.reactions IS DISTINCT FROM OLD.reactions
            OR NEW.action IS DISTINCT FROM OLD.action
            OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at) THEN
            NEW.ad := NULL;
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS message_ad_stale ON message",
    "CREATE TRIGGER message_ad_stale BEFORE UPDATE OF text, entities, reactions, action, deleted_at"
    " ON message"
    " FOR EACH ROW EXECUTE FUNCTION message_ad_stale()",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_ad_stale ON message",
    "DROP FUNCTION IF EXISTS message_ad_stale()",
    "DROP INDEX IF EXISTS message_unrated",
    "DROP INDEX IF EXISTS message_metrics",
    "ALTER TABLE message DROP COLUMN IF EXISTS ad",
    "ALTER TABLE message DROP COLUMN IF EXISTS reactions_n",
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
    dependencies = [("tg_parser", "0009_analytics")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
