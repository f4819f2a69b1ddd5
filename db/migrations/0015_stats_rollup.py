"""The per-hour rollup of /stats (issue #17): a long period reads ~24 rows a day, not
every post's index entry (db/rollup.py says what the rows hold and how they are kept).

- `stats_hour` (channel_id, hour) -> the hour's sums (db.rollup.COLUMNS); the hour key
  is db.analytics.bucket_sql's: SQLite "YYYY-MM-DD HH", PostgreSQL the epoch hour;
  (dropped with its channel);
- `stats_dirty` (channel_id, hour): hours to rebuild before the next read (no foreign
  key: a channel's deletion marks its rows' hours as it goes);
- SQLite: `stats_state.rolled_to`, the highest message id whose hour is marked (rows
  above it are marked by the next read: no per-row insert trigger on the ingest path);
  triggers on UPDATE (of the columns the rollup reads, when one changed) and DELETE
  mark the row's old and new hour;
- PostgreSQL: statement-level triggers over transition tables on INSERT, UPDATE and
  DELETE mark the hours of the statement's rows (an UPDATE: those whose rollup columns
  changed), one INSERT ... SELECT DISTINCT per statement.

An existing archive's hours are all marked here (SQLite: `rolled_to` 0); db.database
`init_db` builds them right after the migrations (db.rollup.refresh: channel by channel,
classifying the rows not classified yet, core.ads.is_ad, in batches of their own; a
transaction per channel), not in the migration's one transaction.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# The columns a rollup row is computed from (not `ad` / `reactions_n`: derived from
# them, written by the rebuild itself).
WATCHED = (
    "channel_id",
    "date",
    "grouped_id",
    "views",
    "forwards",
    "replies",
    "reactions",
    "text",
    "entities",
    "action",
    "deleted_at",
)
PG_HOUR = "CAST(FLOOR(EXTRACT(EPOCH FROM {}.date) / 3600) AS BIGINT)"

# Not INSERT OR IGNORE: an outer statement's conflict clause (the ingest's upsert)
# overrides a trigger's.
SQLITE_MARK = (
    "INSERT INTO stats_dirty (channel_id, hour) SELECT {0}.channel_id, substr({0}.date, 1, 13)"
    " WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE channel_id = {0}.channel_id"
    " AND hour = substr({0}.date, 1, 13))"
)
SQLITE_CHANGED = " OR ".join(f"new.{c} IS NOT old.{c}" for c in WATCHED)
SQLITE_FORWARD = [
    """CREATE TABLE IF NOT EXISTS stats_hour (
        channel_id INTEGER NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
        hour TEXT NOT NULL,
        n INTEGER NOT NULL,
        reached INTEGER NOT NULL,
        views INTEGER NOT NULL,
        rated INTEGER NOT NULL,
        er REAL,
        ads INTEGER NOT NULL,
        vmax INTEGER,
        emax REAL,
        vs TEXT,
        dead INTEGER NOT NULL,
        PRIMARY KEY (channel_id, hour)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS stats_dirty (
        channel_id INTEGER NOT NULL,
        hour TEXT NOT NULL,
        PRIMARY KEY (channel_id, hour)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS stats_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        rolled_to INTEGER NOT NULL
    )""",
    # 0: every stored row is new to the rollup (built below).
    "INSERT OR IGNORE INTO stats_state (id, rolled_to) VALUES (1, 0)",
    f"""CREATE TRIGGER IF NOT EXISTS message_stats_au AFTER UPDATE OF {", ".join(WATCHED)}
    ON message
    WHEN old.id <= (SELECT rolled_to FROM stats_state WHERE id = 1) AND ({SQLITE_CHANGED})
    BEGIN
        {SQLITE_MARK.format("old")};
        {SQLITE_MARK.format("new")};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS message_stats_ad AFTER DELETE ON message
    WHEN old.id <= (SELECT rolled_to FROM stats_state WHERE id = 1)
    BEGIN
        {SQLITE_MARK.format("old")};
    END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_stats_ad",
    "DROP TRIGGER IF EXISTS message_stats_au",
    "DROP TABLE IF EXISTS stats_state",
    "DROP TABLE IF EXISTS stats_dirty",
    "DROP TABLE IF EXISTS stats_hour",
]

PG_CHANGED = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in WATCHED)
POSTGRES_FORWARD = [
    """CREATE TABLE IF NOT EXISTS stats_hour (
        channel_id INTEGER NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
        hour BIGINT NOT NULL,
        n INTEGER NOT NULL,
        reached INTEGER NOT NULL,
        views BIGINT NOT NULL,
        rated INTEGER NOT NULL,
        er DOUBLE PRECISION,
        ads INTEGER NOT NULL,
        vmax BIGINT,
        emax DOUBLE PRECISION,
        vs TEXT,
        dead INTEGER NOT NULL,
        PRIMARY KEY (channel_id, hour)
    )""",
    """CREATE TABLE IF NOT EXISTS stats_dirty (
        channel_id INTEGER NOT NULL,
        hour BIGINT NOT NULL,
        PRIMARY KEY (channel_id, hour)
    )""",
    f"""CREATE OR REPLACE FUNCTION message_stats_ins() RETURNS trigger AS $$
    BEGIN
        INSERT INTO stats_dirty (channel_id, hour)
        SELECT DISTINCT n.channel_id, {PG_HOUR.format("n")} FROM new_rows n
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION message_stats_upd() RETURNS trigger AS $$
    BEGIN
        INSERT INTO stats_dirty (channel_id, hour)
        SELECT o.channel_id, {PG_HOUR.format("o")} FROM old_rows o JOIN new_rows n
            ON n.id = o.id WHERE {PG_CHANGED}
        UNION
        SELECT n.channel_id, {PG_HOUR.format("n")} FROM old_rows o JOIN new_rows n
            ON n.id = o.id WHERE {PG_CHANGED}
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION message_stats_del() RETURNS trigger AS $$
    BEGIN
        INSERT INTO stats_dirty (channel_id, hour)
        SELECT DISTINCT o.channel_id, {PG_HOUR.format("o")} FROM old_rows o
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS message_stats_ins ON message",
    "CREATE TRIGGER message_stats_ins AFTER INSERT ON message REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_stats_ins()",
    "DROP TRIGGER IF EXISTS message_stats_upd ON message",
    "CREATE TRIGGER message_stats_upd AFTER UPDATE ON message"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_stats_upd()",
    "DROP TRIGGER IF EXISTS message_stats_del ON message",
    "CREATE TRIGGER message_stats_del AFTER DELETE ON message REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_stats_del()",
    # Every stored row is new to the rollup (built below).
    f"INSERT INTO stats_dirty (channel_id, hour) SELECT DISTINCT m.channel_id,"
    f" {PG_HOUR.format('m')} FROM message m ON CONFLICT DO NOTHING",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS message_stats_del ON message",
    "DROP TRIGGER IF EXISTS message_stats_upd ON message",
    "DROP TRIGGER IF EXISTS message_stats_ins ON message",
    "DROP FUNCTION IF EXISTS message_stats_del()",
    "DROP FUNCTION IF EXISTS message_stats_upd()",
    "DROP FUNCTION IF EXISTS message_stats_ins()",
    "DROP TABLE IF EXISTS stats_dirty",
    "DROP TABLE IF EXISTS stats_hour",
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
    dependencies = [("tg_parser", "0014_bus")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
