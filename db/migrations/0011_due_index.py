"""The counters job's due scan (#17) reads an index only.

db/counters.py `due_posts` asks, for every post of the range, whether it has a snapshot
of the age (NOT EXISTS ... age_mark = ?). Over counter_snapshot's (channel_id, msg_id,
taken_at) index that is a row read per snapshot of the post (SQLite), or a hash of every
snapshot of that age (PostgreSQL, which then scans the whole table, a cost that grows
with the series). `counter_snapshot_due` (channel_id, msg_id, age_mark) answers from the
index alone (bench/bench_counters.py --scan: README "Analytics", bench/RESULTS.md).
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

FORWARD = (
    "CREATE INDEX IF NOT EXISTS counter_snapshot_due ON counter_snapshot"
    " (channel_id, msg_id, age_mark)"
)
BACKWARD = "DROP INDEX IF EXISTS counter_snapshot_due"


async def forward(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0010_metrics")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
