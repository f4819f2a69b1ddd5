"""db/albums.py: the posts of the album a message belongs to (📎 of an album post, #16)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from db.albums import album_posts
from db.models import Message
from tests.unit.export_fixtures import make_channel

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def test_the_album_of_a_message(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    other = await make_channel(2, "other", "Other")
    for k in range(10):
        await Message.create(channel_id=ch.id, msg_id=10 + k, date=AT, grouped_id=77)
    await Message.create(channel_id=ch.id, msg_id=20, date=AT, text="single")
    await Message.create(channel_id=ch.id, msg_id=21, date=AT, grouped_id=78)
    await Message.create(channel_id=ch.id, msg_id=22, date=AT, grouped_id=78)
    # The same grouped_id in another channel is another album.
    await Message.create(channel_id=other.id, msg_id=12, date=AT, grouped_id=77)
    assert await album_posts(ch.id, 13) == list(range(10, 20))
    assert await album_posts(ch.id, 22) == [21, 22]
    assert await album_posts(ch.id, 20) == [20]
    assert await album_posts(other.id, 12) == [12]
    assert await album_posts(ch.id, 999) == []
