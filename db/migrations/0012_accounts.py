"""Several accounts (#18).

- `account.user_id` unique: a new login of the same Telegram user refreshes its row
  (NULLs, rows never logged in, do not collide: SQLite and PostgreSQL alike).
- `account.proxy_ciphertext`: the account's own proxy, encrypted (it holds a password).
- `account.flood_until`: the end of its flood wait, for the other processes.
- `channel.account_id`: the account that reads the channel; `channel.hash_account_id`:
  the account whose access hash is stored (access hashes are per account,
  https://core.telegram.org/api/peers). Existing channels go to the first account
  that has a session; their hash stays of unknown account (NULL): repaired on refusal.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

FORWARD = (
    "CREATE UNIQUE INDEX IF NOT EXISTS account_user_id_unique ON account (user_id);\n"
    "CREATE INDEX IF NOT EXISTS channel_account_id ON channel (account_id);\n"
    "UPDATE channel SET account_id = (SELECT MIN(id) FROM account"
    " WHERE session_ciphertext IS NOT NULL);"
)
BACKWARD = (
    "DROP INDEX IF EXISTS account_user_id_unique;\n"
    "DROP INDEX IF EXISTS channel_account_id;"
)


async def forward(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(FORWARD)


async def backward(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0011_due_index")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Account",
            name="proxy_ciphertext",
            field=fields.TextField(null=True),
        ),
        ops.AddField(
            model_name="Account",
            name="flood_until",
            field=fields.DatetimeField(null=True),
        ),
        ops.AddField(
            model_name="Channel",
            name="account_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="Channel",
            name="hash_account_id",
            field=fields.IntField(null=True),
        ),
        ops.RunPython(forward, backward),
    ]
