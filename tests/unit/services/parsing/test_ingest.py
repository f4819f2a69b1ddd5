"""The ingest pipeline's history paging against a fake client that pages like Telegram.

The fake answers `messages.getHistory` by Telegram's rules (offset_id, else
offset_date, shifted by add_offset, newest first) over a channel with id gaps and a
service message, so the requests the fetcher sends are checked
against what Telegram would return, not against a script of expected calls.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.errors import TransportError
from db.channels import ChannelStateRepository
from db.messages import MessageRepository
from db.models import Channel, Message
from parser import history as history_module
from services.parsing.ingest import ChannelFetcher, RunFailed
from tests.unit.parser.history_fakes import T0, FakeClient, history


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    """Counts message_row calls into the client under test."""
    clients: list[FakeClient] = []
    real = history_module.message_row

    def message_row(*args: Any, **kw: Any) -> Any:
        for c in clients:
            c.converted += 1
        return real(*args, **kw)

    monkeypatch.setattr(history_module, "message_row", message_row)
    return clients


STATE = ChannelStateRepository()


def fetcher_of(repo: MessageRepository, **kw: Any) -> ChannelFetcher:
    return ChannelFetcher(repo, STATE, refresh_window_hours=0, **kw)


async def channel(repo: MessageRepository, **kw: Any) -> Any:
    row = await Channel.create(tg_id=777, access_hash=1, username="news", **kw)
    ch = await STATE.channel(row.id)
    assert ch is not None
    return ch


async def stored_ids(channel_id: int) -> list[int]:
    return sorted(await Message.filter(channel_id=channel_id).values_list("msg_id", flat=True))


async def test_backfill_pages_like_iter_messages_and_asks_ahead(
    repo: MessageRepository, counting: list[FakeClient]
) -> None:
    msgs = history(350)
    client = FakeClient(msgs)
    counting.append(client)
    ch = await channel(repo)
    result = await fetcher_of(repo).run(client, ch)  # type: ignore[arg-type]

    # Every message is stored, the service one (a pin, id 10) as an event.
    content = [m.id for m in msgs]
    assert 10 in content and await stored_ids(ch.id) == content
    pin = await Message.get(channel_id=ch.id, msg_id=10)
    assert pin.action == {"type": "pin_message", "message_id": None} and pin.text == ""
    assert result.status == "ok" and result.fetched == len(content)
    assert result.top_id == 349 and result.total == len(msgs)
    # iter_messages(reverse=True)'s requests: from id 1, then one past each page's
    # newest (with its date), ending on the empty page.
    pages = [msgs[i:i + 100] for i in range(0, len(msgs), 100)]
    expected = [(1, None)] + [(p[-1].id + 1, p[-1].date) for p in pages]
    assert [(o, d) for o, d, _ in client.requests] == expected
    # Each next request left before the page before it was turned into rows.
    rows = [len(p) for p in pages]
    converted_before = [0] + [sum(rows[:k]) for k in range(len(pages))]
    assert [c for _, _, c in client.requests] == converted_before
    row = await STATE.channel(ch.id)
    assert row is not None and row.cursor == 349


async def test_incremental_run_asks_once_when_nothing_is_new(
    repo: MessageRepository,
) -> None:
    msgs = history(150)
    ch = await channel(repo)
    fetcher = fetcher_of(repo)
    await fetcher.run(FakeClient(msgs), ch)  # type: ignore[arg-type]

    quiet = FakeClient(msgs)
    ch = await STATE.channel(ch.id)
    assert ch is not None and ch.cursor == 150
    result = await fetcher.run(quiet, ch)  # type: ignore[arg-type]
    assert quiet.requests == [(151, None, 0)] and result.fetched == 0

    grown = FakeClient(history(260))
    result = await fetcher.run(grown, ch)  # type: ignore[arg-type]
    assert grown.requests[0][:2] == (151, None)
    assert result.new == result.fetched == len([i for i in range(151, 261) if i % 7])
    assert await stored_ids(ch.id) == [m.id for m in history(260)]


async def test_history_since_a_date_starts_at_that_date(
    repo: MessageRepository,
) -> None:
    msgs = history(300)
    since = T0 + timedelta(minutes=120, seconds=30)
    ch = await channel(repo, history_mode="since", history_since=since)
    client = FakeClient(msgs)
    await fetcher_of(repo).run(client, ch)  # type: ignore[arg-type]
    # One message: the newest sent before the date; then pages above its id.
    before = max(m.id for m in msgs if m.date < since)
    assert client.requests[0][:2] == (0, since) and client.limits[0] == (1, 0)
    assert client.requests[1][:2] == (before + 1, None)
    assert await stored_ids(ch.id) == [
        m.id for m in msgs if m.date >= since
    ]
    row = await STATE.channel(ch.id)
    assert row is not None and row.history_before is True


async def test_since_after_the_last_post_stores_nothing_now_and_every_newer_post_later(
    repo: MessageRepository,
) -> None:
    msgs = history(300)  # ids 1..300 without multiples of 7: the newest is 300
    ch = await channel(repo, history_mode="since", history_since=T0 + timedelta(days=30))
    fetcher = fetcher_of(repo)
    result = await fetcher.run(FakeClient(msgs), ch)  # type: ignore[arg-type]
    assert result.status == "ok" and result.fetched == 0 and await stored_ids(ch.id) == []
    await STATE.finish_run(ch.id, top_id=None, next_run_at=None)
    row = await STATE.channel(ch.id)
    # The cursor means "after the newest existing post", never 0 with the backfill done.
    assert row is not None and row.cursor == 300 and row.backfill_done
    assert row.history_before is True

    grown = history(320)  # 301..320 minus 308 and 315: the new posts
    quiet = FakeClient(grown)
    result = await fetcher.run(quiet, row)  # type: ignore[arg-type]
    new = [m.id for m in grown if m.id > 300]
    assert await stored_ids(ch.id) == new and result.new == result.fetched == len(new)
    assert quiet.requests[0][:2] == (301, None) and quiet.limits[0] == (100, -100)


@pytest.mark.parametrize("n", [1, 5, 100, 101, 250, 258])
async def test_last_n_with_id_gaps_stores_exactly_n(repo: MessageRepository, n: int) -> None:
    msgs = history(300)  # 258 messages over ids 1..300 (multiples of 7 deleted)
    assert len(msgs) == 258
    ch = await channel(repo, history_mode="last", history_limit=n)
    client = FakeClient(msgs)
    result = await fetcher_of(repo).run(client, ch)  # type: ignore[arg-type]
    assert await stored_ids(ch.id) == [m.id for m in msgs][-n:]
    assert result.fetched == n and client.limits[0] == (1, n)
    row = await STATE.channel(ch.id)
    assert row is not None and row.history_before is (n < len(msgs))


async def test_last_n_beyond_the_history_stores_it_all(repo: MessageRepository) -> None:
    msgs = history(30)
    ch = await channel(repo, history_mode="last", history_limit=1000)
    result = await fetcher_of(repo).run(FakeClient(msgs), ch)  # type: ignore[arg-type]
    assert await stored_ids(ch.id) == [m.id for m in msgs] and result.fetched == len(msgs)
    row = await STATE.channel(ch.id)
    assert row is not None and row.history_before is False


async def test_an_old_archive_learns_history_before_with_one_request(
    repo: MessageRepository,
) -> None:
    msgs = history(200)
    ch = await channel(repo, history_mode="last", history_limit=50)
    fetcher = fetcher_of(repo)
    await fetcher.run(FakeClient(msgs), ch)  # type: ignore[arg-type]
    await Channel.filter(id=ch.id).update(history_before=None, backfill_done=True)
    row = await STATE.channel(ch.id)
    assert row is not None
    client = FakeClient(msgs)
    await fetcher.run(client, row)  # type: ignore[arg-type]
    oldest = min(await stored_ids(ch.id))
    assert client.requests[-1][:2] == (oldest, None) and client.limits[-1] == (1, 0)
    row = await STATE.channel(ch.id)
    assert row is not None and row.history_before is True
    again = FakeClient(msgs)
    await fetcher.run(again, row)  # type: ignore[arg-type]
    assert len(again.requests) == 1  # known now: one history request


async def test_stop_sends_no_request_after_the_page_in_hand(
    repo: MessageRepository,
) -> None:
    client = FakeClient(history(1000))
    ch = await channel(repo)
    fetcher = fetcher_of(repo)

    async def stop_after_first(progress: Any) -> None:
        fetcher.request_stop()

    result = await fetcher.run(client, ch, on_progress=stop_after_first)  # type: ignore[arg-type]
    assert result.status == "interrupted"
    sent = len(client.requests)
    assert sent < 11  # 1,000 messages: 10 pages and the empty one
    for _ in range(20):  # nothing left running sends another request
        await asyncio.sleep(0)
    assert len(client.requests) == sent
    row = await STATE.channel(ch.id)
    assert row is not None and row.cursor == max(await stored_ids(ch.id))


async def test_a_disconnect_mid_run_fails_the_run_instead_of_hanging(
    repo: MessageRepository,
) -> None:
    """Telethon's disconnect() (a /logout, a re-login) cancels the pending request: the
    run must end with a transport error and keep what it stored, not wait forever."""
    ch = await channel(repo)
    client = FakeClient(history(1000), disconnect_at=4)
    fetcher = fetcher_of(repo)
    with pytest.raises(RunFailed) as failed:
        await asyncio.wait_for(fetcher.run(client, ch), 10)  # type: ignore[arg-type]
    assert isinstance(failed.value.error, TransportError)
    ids = await stored_ids(ch.id)
    assert len(ids) == failed.value.progress.fetched > 0
    row = await STATE.channel(ch.id)
    assert row is not None and row.cursor == max(ids)
