"""Edits and deletions seen by the refresh window (issue #15, Must 7 and 8), with the
request cost: a run with nothing new is one history request, plus one
channels.getMessages per 100 posts missing from it (none when none is)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from telethon.tl import types

from db.channels import ChannelStateRepository
from db.messages import MessageRepository
from db.models import Channel, Message, MessageVersion
from services.events import EventBus, PostsDeleted
from services.parsing.ingest import ChannelFetcher, RunBook
from tests.unit.parser.history_fakes import FakeClient

STATE = ChannelStateRepository()


def recent(n: int) -> list[Any]:
    """Posts 1..n, the newest a minute ago, one a minute (inside a 24 h window)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        types.Message(
            id=i, peer_id=types.PeerChannel(777), date=now - timedelta(minutes=n - i + 1),
            message=f"post {i}", views=i,
        )
        for i in range(1, n + 1)
    ]


async def _run(fetcher: ChannelFetcher, client: FakeClient, row_id: int) -> Any:
    ch = await STATE.channel(row_id)
    assert ch is not None
    return await fetcher.run(client, ch)  # type: ignore[arg-type]


async def test_edits_and_deletions_in_the_window(repo: MessageRepository) -> None:
    row = await Channel.create(tg_id=777, access_hash=1, username="news")
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=24)
    msgs = recent(50)
    first = FakeClient(msgs)
    await _run(fetcher, first, row.id)
    assert await Message.filter(channel_id=row.id).count() == 50

    # Nothing changed: one history request (a short page reaching the cursor ends it),
    # no getMessages.
    quiet = FakeClient(msgs)
    result = await _run(fetcher, quiet, row.id)
    assert len(quiet.requests) == 1 and quiet.by_id == [] and result.deleted == 0
    assert result.fetched == 50 and await MessageVersion.all().count() == 0

    # 5 and 50 (the newest) deleted, 7 edited, 8 more views only.
    edited = [m for m in msgs if m.id not in (5, 50)]
    edited[5] = types.Message(
        id=7, peer_id=types.PeerChannel(777), date=msgs[6].date, message="post 7 fixed",
        edit_date=datetime.now(UTC), views=7,
    )
    assert edited[5].id == 7
    edited[6].views = 800
    changed = FakeClient(edited)
    result = await _run(fetcher, changed, row.id)
    assert changed.by_id == [[5, 50]] and result.deleted == 2 and result.deleted_ids == (5, 50)
    gone = await Message.filter(channel_id=row.id, deleted_at__isnull=False).values_list(
        "msg_id", flat=True
    )
    assert sorted(gone) == [5, 50]
    assert await Message.filter(channel_id=row.id).count() == 50  # rows stay
    assert await MessageVersion.filter(msg_id=7).values_list("text", flat=True) == ["post 7"]
    assert await MessageVersion.all().count() == 1

    # Marked once: the next run asks for nothing again.
    again = FakeClient(edited)
    result = await _run(fetcher, again, row.id)
    assert again.by_id == [] and result.deleted == 0
    assert len(again.requests) == 1  # ends at the newest post not deleted
    assert await MessageVersion.all().count() == 1


async def test_one_get_messages_per_100_missing(repo: MessageRepository) -> None:
    row = await Channel.create(tg_id=777, access_hash=1, username="news")
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=24)
    msgs = recent(260)
    await _run(fetcher, FakeClient(msgs), row.id)
    kept = [m for m in msgs if m.id % 2 or m.id > 240]  # 120 of the older ones gone
    client = FakeClient(kept)
    result = await _run(fetcher, client, row.id)
    assert [len(ids) for ids in client.by_id] == [100, 20]
    assert result.deleted == 120 and len(result.deleted_ids) == 5

    bus, got = EventBus(), []

    async def on_deleted(event: PostsDeleted) -> None:
        got.append(event)

    bus.subscribe(on_deleted, PostsDeleted)
    runs = _Runs()
    book = RunBook(runs, STATE, bus)  # type: ignore[arg-type]
    ch = await STATE.channel(row.id)
    assert ch is not None
    await book.succeeded(ch, 1, result, None)
    assert got == [PostsDeleted(row.id, (2, 4, 6, 8, 10), 120)]


class _Runs:
    async def end(self, *args: Any) -> None:
        pass
