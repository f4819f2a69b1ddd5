import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('user_id', fields.BigIntField(null=True)),
                ('display_name', fields.CharField(null=True, max_length=256)),
                ('username', fields.CharField(null=True, max_length=64)),
                ('session_ciphertext', fields.TextField(null=True, unique=False)),
                ('status', fields.CharField(default='logged_out', max_length=16)),
                ('status_reason', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'account', 'app': 'tg_parser', 'pk_attr': 'id', 'table_description': 'The Telegram user account the userbot runs as, with its encrypted session.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Channel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tg_id', fields.BigIntField(unique=True)),
                ('access_hash', fields.BigIntField(null=True)),
                ('username', fields.CharField(null=True, max_length=64)),
                ('title', fields.CharField(default='', max_length=256)),
                ('kind', fields.CharField(default='channel', max_length=16)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('disabled_reason', fields.TextField(null=True, unique=False)),
                ('cursor', fields.BigIntField(default=0)),
                ('history_mode', fields.CharField(default='all', max_length=8)),
                ('history_limit', fields.IntField(null=True)),
                ('history_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('backfill_done', fields.BooleanField(default=False)),
                ('top_message_id', fields.BigIntField(null=True)),
                ('interval_minutes', fields.IntField(null=True)),
                ('comments_enabled', fields.BooleanField(default=False)),
                ('linked_chat_id', fields.BigIntField(null=True)),
                ('linked_access_hash', fields.BigIntField(null=True)),
                ('messages_count', fields.BigIntField(default=0)),
                ('last_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deferred_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'channel', 'app': 'tg_parser', 'pk_attr': 'id', 'table_description': 'A watched channel or group, resolved once (id + access hash).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.BigIntField()),
                ('date', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('text', fields.TextField(default='', unique=False)),
                ('entities', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sender_id', fields.BigIntField(null=True)),
                ('post_author', fields.CharField(null=True, max_length=256)),
                ('views', fields.IntField(null=True)),
                ('forwards', fields.IntField(null=True)),
                ('replies', fields.IntField(null=True)),
                ('reactions', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('edit_date', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('media_kind', fields.CharField(null=True, max_length=32)),
                ('media', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('grouped_id', fields.BigIntField(null=True)),
                ('reply_to_id', fields.BigIntField(null=True)),
                ('fwd_from', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('comment_of', fields.BigIntField(null=True)),
                ('fetched_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'message', 'app': 'tg_parser', 'unique_together': (('channel', 'msg_id'),), 'indexes': [Index(fields=['channel_id', 'date'])], 'pk_attr': 'id', 'table_description': 'One stored message. (channel, msg_id) is the natural key, so repeats are harmless.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ParseRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', null=True, db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.SET_NULL)),
                ('trigger', fields.CharField(default='schedule', max_length=16)),
                ('status', fields.CharField(default='running', max_length=16)),
                ('fetched', fields.IntField(default=0)),
                ('error', fields.TextField(null=True, unique=False)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'parse_run', 'app': 'tg_parser', 'pk_attr': 'id', 'table_description': 'One fetch of one channel: what happened and how much came in.'},
            bases=['Model'],
        ),
    ]
