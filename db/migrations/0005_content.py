"""Every kind of post keeps its content: three new message columns.

- `content_text`: the words of a post's non-text content (a poll's question and
  options, a venue's title and address, a link preview's title and description, a
  service event's new title, ...), searched together with `text`; "" when none.
- `action`: a service message's event as JSON ({"type": "pin_message", ...});
  NULL for ordinary posts.
- `terms`: the folded and stemmed words of `text` and `content_text`, the full-text
  index's input on SQLite (core.words.terms); NULL until computed.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tg_parser", "0004_fts_batched")]

    initial = False

    operations = [
        ops.AddField("Message", "content_text", fields.TextField(default="", db_default="")),
        ops.AddField("Message", "action", fields.JSONField(null=True)),
        ops.AddField("Message", "terms", fields.TextField(null=True)),
    ]
