"""A Telethon message as a stored row (the paging itself: services/parsing/test_ingest.py)."""

from __future__ import annotations

import json

from core.parsing import COLUMNS
from parser.history import message_row
from tests.unit.message_fixtures import NOW, full_message


def test_message_row_keeps_every_field() -> None:
    m = full_message(5)
    row = dict(zip(COLUMNS, message_row(9, m, NOW), strict=True))
    assert row["channel_id"] == 9 and row["msg_id"] == 5 and row["text"] == "Bold link"
    assert json.loads(row["entities"]) == [["Bold", 0, 4], ["TextUrl", 5, 4, "https://x.y"]]
    assert (row["views"], row["forwards"], row["replies"]) == (42, 3, 7)
    assert json.loads(row["reactions"]) == {"👍": 3, "custom:99": 1}
    assert row["media_kind"] == "document"
    assert json.loads(row["media"]) == {
        "id": 11, "mime_type": "application/pdf", "size": 1234, "file_name": "a.pdf"
    }
    assert (row["grouped_id"], row["reply_to_id"], row["post_author"]) == (123, 4, "Ann")
    assert json.loads(row["fwd_from"])["from_name"] == "Someone"
    assert row["edit_date"] == NOW and row["comment_of"] is None
