from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tg_parser', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Watch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pattern', fields.TextField(unique=False)),
                ('is_regex', fields.BooleanField(default=False)),
                ('channel', fields.ForeignKeyField('tg_parser.Channel', source_field='channel_id', null=True, db_constraint=True, to_field='id', related_name='watches', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'watch', 'app': 'tg_parser', 'pk_attr': 'id', 'table_description': 'A keyword alert: a pattern matched against newly stored messages.'},
            bases=['Model'],
        ),
    ]
