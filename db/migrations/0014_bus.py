"""The bus between the bot process and the worker processes (#18): one table, PostgreSQL only.

`bus_message` holds what one side asks of the other (services/bus.py), each row under
the sender's `token`, so a post sent again after its connection died is not stored twice:
- recipient `worker`: a request exactly one worker claims (`claimed_by`, with `FOR UPDATE
  SKIP LOCKED`), keeps alive (`heartbeat_at`), reports on (`progress`) and answers
  (`answer`, `answered_at`); a claim whose heartbeat is older than the lease is taken
  over by another worker, and a request nobody claims in time is answered by its sender;
- recipient `workers`: a broadcast every worker applies (schedule changes), read in id
  order; `bus_consumer` keeps each live process's place in them and its heartbeat;
- recipient `bot`: what the workers tell the bot process (alerts), claimed by it.

A trigger NOTIFYs channel `tg_parser_bus` on every insert and on a claim, progress or
answer (not on a bare heartbeat), and on a consumer's place moving, so the other side
wakes at once; each side also polls, so a lost notification only costs a poll.
SQLite has no bus (one process does everything): nothing is created there.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES_FORWARD = [
    """CREATE TABLE IF NOT EXISTS bus_message (
        id BIGSERIAL PRIMARY KEY,
        token VARCHAR(64) NOT NULL UNIQUE,
        recipient VARCHAR(16) NOT NULL,
        kind VARCHAR(32) NOT NULL,
        payload JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        claimed_by VARCHAR(128),
        claimed_at TIMESTAMPTZ,
        heartbeat_at TIMESTAMPTZ,
        progress JSONB,
        answer JSONB,
        answered_at TIMESTAMPTZ
    )""",
    "CREATE INDEX IF NOT EXISTS bus_message_open ON bus_message (recipient, id)"
    " WHERE answered_at IS NULL",
    "CREATE INDEX IF NOT EXISTS bus_message_created ON bus_message (created_at)",
    """CREATE TABLE IF NOT EXISTS bus_consumer (
        name VARCHAR(128) PRIMARY KEY,
        role VARCHAR(16) NOT NULL,
        position BIGINT NOT NULL DEFAULT 0,
        seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    """CREATE OR REPLACE FUNCTION bus_message_notify() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM pg_notify('tg_parser_bus', 'new:' || NEW.recipient || ':' || NEW.id);
        ELSIF NEW.answered_at IS DISTINCT FROM OLD.answered_at
            OR NEW.progress IS DISTINCT FROM OLD.progress
            OR NEW.claimed_by IS DISTINCT FROM OLD.claimed_by THEN
            PERFORM pg_notify('tg_parser_bus', 'update:' || NEW.recipient || ':' || NEW.id);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS bus_message_notify ON bus_message",
    "CREATE TRIGGER bus_message_notify AFTER INSERT OR UPDATE ON bus_message"
    " FOR EACH ROW EXECUTE FUNCTION bus_message_notify()",
    """CREATE OR REPLACE FUNCTION bus_consumer_notify() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' OR NEW.position IS DISTINCT FROM OLD.position THEN
            PERFORM pg_notify('tg_parser_bus', 'position:' || NEW.name);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS bus_consumer_notify ON bus_consumer",
    "CREATE TRIGGER bus_consumer_notify AFTER INSERT OR UPDATE ON bus_consumer"
    " FOR EACH ROW EXECUTE FUNCTION bus_consumer_notify()",
]
POSTGRES_BACKWARD = [
    "DROP TABLE IF EXISTS bus_consumer",
    "DROP TABLE IF EXISTS bus_message",
    "DROP FUNCTION IF EXISTS bus_consumer_notify()",
    "DROP FUNCTION IF EXISTS bus_message_notify()",
]


async def _run(schema_editor: Any, statements: list[str]) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        return
    for sql in statements:
        # One statement per call: function bodies contain ';'.
        await client.execute_script(sql)


async def forward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, POSTGRES_FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await _run(schema_editor, POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0013_leases")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
