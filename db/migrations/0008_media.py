"""Media downloads (issue #16).

- `media_file`: each stored file once, by SHA-256, with its size, MIME type and the
  Telegram photo/document id it first came under.
- `media_download`: a message's media (channel, msg_id): where it is on Telegram,
  its place in the download queue, and the stored file once done.
- `channel.media_mode`, `media_kinds`, `media_max_mb`: what the channel keeps.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tg_parser', '0007_history')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MediaFile',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sha256', fields.CharField(unique=True, max_length=64)),
                ('size', fields.BigIntField()),
                ('mime_type', fields.CharField(null=True, max_length=128)),
                ('tg_media_id', fields.BigIntField(null=True, db_index=True)),
                ('key', fields.CharField(max_length=255)),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'media_file', 'app': 'tg_parser', 'pk_attr': 'id', 'table_description': 'A stored file, once per content: its SHA-256 names it (the storage key is'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MediaDownload',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', db_constraint=True, to_field='id', related_name='media_downloads', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.BigIntField()),
                ('from_discussion', fields.BooleanField(default=False)),
                ('kind', fields.CharField(max_length=16)),
                ('tg_media_id', fields.BigIntField(db_index=True)),
                ('access_hash', fields.BigIntField()),
                ('file_reference', fields.CharField(default='', max_length=512)),
                ('dc_id', fields.IntField()),
                ('thumb', fields.CharField(null=True, max_length=8)),
                ('size', fields.BigIntField(null=True)),
                ('mime_type', fields.CharField(null=True, max_length=128)),
                ('file_name', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharField(default='queued', max_length=12)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('next_try_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('bytes_done', fields.BigIntField(default=0)),
                ('file', fields.ForeignKeyField('tg_parser.MediaFile', source_field='file_id', null=True, db_constraint=True, to_field='id', related_name='downloads', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'media_download', 'app': 'tg_parser', 'unique_together': (('channel', 'msg_id'),), 'indexes': [Index(fields=['status', 'next_try_at'])], 'pk_attr': 'id', 'table_description': "A message's media file: the link from the message (channel, msg_id) to its"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Channel',
            name='media_kinds',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='Channel',
            name='media_max_mb',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Channel',
            name='media_mode',
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
