"""Leases of work between processes on PostgreSQL (#18): `worker` and `lease`.

Several processes share one PostgreSQL database (`tg-parser run`, `run --no-parser`,
`tg-parser worker` on other machines). An account's Telegram client and a channel's run
must each be held by one process at a time: a session open in two processes gets its
key killed by Telegram (AUTH_KEY_DUPLICATED), a channel read twice at once wastes its
flood budget. db/leases.py takes and renews these rows:

- `worker`: one row per running process (`id` host:pid:random, `host`, `pid`, `role`
  all | worker | bot, `started_at`, `heartbeat_at`); what it holds are its live
  `lease` rows.
- `lease`: (`kind` account | channel, `key` the account's or channel's row id) held by
  `holder` (a worker id) until `expires_at`, renewed at `heartbeat_at`. Times come from
  the database's clock (now()), never a machine's.

SQLite keeps one process per file (app/instance_lock.py): the tables are made there too
(empty, unused) so both schemas stay alike.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES_FORWARD = [
    """CREATE TABLE IF NOT EXISTS worker (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        role TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS lease (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, key)
    )""",
    "CREATE INDEX IF NOT EXISTS lease_holder ON lease (holder)",
]
SQLITE_FORWARD = [
    """CREATE TABLE IF NOT EXISTS worker (
        id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, role TEXT NOT NULL,
        started_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        heartbeat_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS lease (
        kind TEXT NOT NULL, key TEXT NOT NULL, holder TEXT NOT NULL,
        expires_at TIMESTAMP NOT NULL,
        heartbeat_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (kind, key)
    )""",
    "CREATE INDEX IF NOT EXISTS lease_holder ON lease (holder)",
]
BACKWARD = ["DROP TABLE IF EXISTS lease", "DROP TABLE IF EXISTS worker"]


def _postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.client.capabilities.dialect == "postgres")


async def forward(apps: Any, schema_editor: Any) -> None:
    for sql in POSTGRES_FORWARD if _postgres(schema_editor) else SQLITE_FORWARD:
        await schema_editor.client.execute_script(sql)


async def backward(apps: Any, schema_editor: Any) -> None:
    for sql in BACKWARD:
        await schema_editor.client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0012_accounts")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
