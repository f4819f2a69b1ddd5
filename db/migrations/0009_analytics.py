"""Channel analytics (issue #17).

- `counter_snapshot`: a post's views, forwards, replies and reactions over time.
- `subscriber_snapshot`: a channel's subscriber count over time.
- `message_link`: the repost and mention graph's edges, one per message and target.
- `job_mark`: where background jobs over the archive stand (the links backfill).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tg_parser', '0008_media')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CounterSnapshot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='counter_snapshots', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.BigIntField()),
                ('taken_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('age_mark', fields.IntField(null=True)),
                ('views', fields.IntField(null=True)),
                ('forwards', fields.IntField(null=True)),
                ('replies', fields.IntField(null=True)),
                ('reactions', fields.IntField(null=True)),
            ],
            options={'table': 'counter_snapshot', 'app': 'tg_parser', 'indexes': [Index(fields=['channel_id', 'msg_id', 'taken_at'])], 'pk_attr': 'id', 'table_description': "A post's counters as read at `taken_at`: one row each time a read found them"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobMark',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'job_mark', 'app': 'tg_parser', 'pk_attr': 'name', 'table_description': 'Where a background job over the archive stands (`value`: its own meaning, for'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MessageLink',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.BigIntField()),
                ('date', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharField(max_length=8)),
                ('target', fields.CharField(max_length=72)),
                ('target_tg_id', fields.BigIntField(null=True)),
                ('target_username', fields.CharField(null=True, max_length=64)),
                ('target_title', fields.CharField(null=True, max_length=256)),
            ],
            options={'table': 'message_link', 'app': 'tg_parser', 'unique_together': (('channel', 'msg_id', 'kind', 'target'),), 'indexes': [Index(fields=['target', 'channel_id'])], 'pk_attr': 'id', 'table_description': 'An edge of the repost and mention graph: message (channel, msg_id) forwards from'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscriberSnapshot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='subscriber_snapshots', on_delete=OnDelete.CASCADE)),
                ('taken_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('subscribers', fields.BigIntField()),
            ],
            options={'table': 'subscriber_snapshot', 'app': 'tg_parser', 'indexes': [Index(fields=['channel_id', 'taken_at'])], 'pk_attr': 'id', 'table_description': "A channel's subscriber count (channels.getFullChannel `participants_count`) at"},
            bases=['Model'],
        ),
    ]
