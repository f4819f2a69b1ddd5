"""Channels followed as they change (issue #15).

- `channel_alias`: every username a channel has had (found by any of them).
- `channel.alert_deletions`, `history_before`, `migrated_from_chat_id`,
  `migrated_from_max_id`, `migrated_missing`, `migrated_error`: the per-channel
  deletion alert, completeness, and the basic group a supergroup was upgraded from.
- `message.deleted_at`: when a post was found deleted (the row stays).
- `message_version`: earlier versions of edited messages.
"""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_ENCODE = functools.partial(dumps, separators=(',', ':'))


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0006_stemmed_search")]

    initial = False

    operations = [
        ops.AddField("Channel", "alert_deletions", fields.BooleanField(default=False, db_default=False)),
        ops.AddField("Channel", "history_before", fields.BooleanField(null=True)),
        ops.AddField("Channel", "migrated_from_chat_id", fields.BigIntField(null=True)),
        ops.AddField("Channel", "migrated_from_max_id", fields.BigIntField(null=True)),
        ops.AddField("Channel", "migrated_missing", fields.IntField(null=True)),
        ops.AddField("Channel", "migrated_error", fields.TextField(null=True, unique=False)),
        ops.AddField("Message", "deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ops.CreateModel(
            name='ChannelAlias',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='aliases', on_delete=OnDelete.CASCADE)),
                ('username', fields.CharField(max_length=64, db_index=True)),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'channel_alias', 'app': 'tg_parser', 'unique_together': (('channel', 'username'),), 'pk_attr': 'id', 'table_description': 'A username a channel has had.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MessageVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.BigIntField()),
                ('text', fields.TextField(default='', unique=False)),
                ('entities', fields.JSONField(null=True, encoder=_ENCODE, decoder=loads)),
                ('media_kind', fields.CharField(null=True, max_length=32)),
                ('media', fields.JSONField(null=True, encoder=_ENCODE, decoder=loads)),
                ('content_text', fields.TextField(default='', unique=False)),
                ('edit_date', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('replaced_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'message_version', 'app': 'tg_parser', 'indexes': [Index(fields=['channel_id', 'msg_id'])], 'pk_attr': 'id', 'table_description': 'An earlier version of an edited message.'},
            bases=['Model'],
        ),
    ]
