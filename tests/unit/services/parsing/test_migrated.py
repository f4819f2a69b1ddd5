"""A supergroup upgraded from a basic group: the fetcher reads the old group (a
different peer, another id space) into a row of its own, once; or, when the account
cannot read it, keeps how many messages are missing and why. Real Telethon against the
MTProto double, the real repositories on a migrated SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from db.channels import ChannelRepository, ChannelStateRepository, get_channel, migrated_row_id
from db.messages import MessageRepository
from db.models import Channel, Message
from services.parsing.ingest import ChannelFetcher
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client

PHONE, CODE = "+15550000001", "12345"
STATE = ChannelStateRepository()

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def world() -> World:
    w = World()
    w.add_account(phone=PHONE, code=CODE)
    return w


@pytest.fixture
async def client(world: World) -> AsyncIterator[Any]:
    async with MTProtoServer(world) as server:
        async with signed_in_client(server.port, PHONE, CODE) as (c, _me):
            c.server = server
            yield c


def upgraded(world: World, *, member: bool = True, old_posts: int = 230) -> Any:
    old = world.add_chat("Old chat", members=[PHONE] if member else [])
    ids = [i * 3 for i in range(1, old_posts + 1)]  # the shared counter: gaps
    for mid in ids:
        old.add_message(f"old {mid}", msg_id=mid, from_id=world.account(PHONE))
    group = world.migrate(old, username="upgraded", title="Upgraded")
    if not member:
        world.join(PHONE, group)
    group.add_messages(40)
    return old, group


async def added(group: Any, client: Any) -> Any:
    entity = await client.get_input_entity("upgraded")
    row = await Channel.create(
        tg_id=group.id, access_hash=entity.access_hash, username="upgraded",
        title="Upgraded", kind="megagroup",
    )
    ch = await STATE.channel(row.id)
    assert ch is not None
    return ch


async def ids_of(row_id: int) -> list[int]:
    return sorted(await Message.filter(channel_id=row_id).values_list("msg_id", flat=True))


async def test_the_old_group_is_read_once_into_its_own_row(
    repo: MessageRepository, world: World, client: Any
) -> None:
    old, group = upgraded(world)
    ch = await added(group, client)
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=0)
    result = await fetcher.run(client, ch)
    assert result.status == "ok"
    assert await ids_of(ch.id) == group.ids and len(group.ids) == 41
    old_row = await migrated_row_id(ch.id)
    assert old_row is not None
    assert await ids_of(old_row) == old.ids and len(old.ids) == 231  # + chatMigrateTo
    assert (result.migrated, result.fetched, result.new) == (231, 272, 41)
    assert result.reread == 0 and result.migrated_missing is None
    stored = await Channel.get(id=old_row)
    assert (stored.tg_id, stored.kind, stored.status) == (-old.id, "chat", "linked")
    assert stored.title == "Old chat"  # its own name, no "comments of" label
    snap = await get_channel(old_row)
    assert snap is not None and snap.comments_of is None
    assert stored.messages_count == 231 and stored.cursor == old.last_id
    row = await STATE.channel(ch.id)
    assert row is not None
    assert (row.migrated_from_chat_id, row.migrated_from_max_id) == (old.id, old.last_id)
    first = await Message.get(channel_id=ch.id, msg_id=1)
    assert first.action["type"] == "channel_migrate_from"

    # A later run with no new posts: one history request, nothing more (the old group
    # no longer changes); new posts come in as usual.
    server = client.server
    server.counters.clear()
    again = await fetcher.run(client, row)
    assert (again.new, again.migrated) == (0, 0)
    assert dict(server.counters) == {"messages.getHistory": 1}
    group.add_messages(3)
    row = await STATE.channel(ch.id)
    assert row is not None
    again = await fetcher.run(client, row)
    assert (again.new, again.migrated) == (3, 0)
    assert await Message.filter(channel_id=old_row).count() == 231

    # Removing the channel removes the old group's rows too.
    assert await ChannelRepository().remove(ch.id)
    assert not await Channel.filter(id=old_row).exists()
    assert await Message.filter(channel_id=old_row).count() == 0


@pytest.mark.parametrize("error", ["PEER_ID_INVALID", "CHAT_ID_INVALID", "CHANNEL_PRIVATE"])
async def test_an_unreadable_old_group_is_counted_and_named(
    repo: MessageRepository, world: World, client: Any, error: str
) -> None:
    old, group = upgraded(world, member=False, old_posts=12)
    old.denied_error = error
    ch = await added(group, client)
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=0)
    result = await fetcher.run(client, ch)
    assert result.status == "ok" and result.new == 41 and result.migrated == 0
    assert (result.migrated_missing, result.migrated_error) == (old.last_id, error)
    row = await STATE.channel(ch.id)
    assert row is not None
    assert (row.migrated_missing, row.migrated_error) == (old.last_id, error)
    old_row = await migrated_row_id(ch.id)
    assert old_row is not None and await ids_of(old_row) == []

    server = client.server
    server.counters.clear()
    again = await fetcher.run(client, row)  # told, not asked again
    assert dict(server.counters) == {"messages.getHistory": 1}
    assert (again.migrated_missing, again.migrated_error) == (old.last_id, error)

    # Resolved anew (/add again, or another account after a new login): asked again.
    world.join(PHONE, old)
    await STATE.store_access(
        ch.id, access_hash=ch.access_hash or 0, title="Upgraded", username="upgraded",
        linked_chat_id=None, linked_access_hash=None,
    )
    row = await STATE.channel(ch.id)
    assert row is not None and row.migrated_from_chat_id is None
    again = await fetcher.run(client, row)
    assert again.migrated == len(old.ids) and again.migrated_missing is None
    row = await STATE.channel(ch.id)
    assert row is not None and (row.migrated_missing, row.migrated_error) == (None, None)
    assert await ids_of(old_row) == old.ids


async def test_a_supergroup_never_upgraded_costs_one_request_once(
    repo: MessageRepository, world: World, client: Any
) -> None:
    group = world.add_channel(username="upgraded", title="Plain", megagroup=True)
    group.add_messages(5)
    ch = await added(group, client)
    fetcher = ChannelFetcher(repo, STATE, refresh_window_hours=0)
    server = client.server
    server.counters.clear()
    await fetcher.run(client, ch)
    assert server.counters["channels.getFullChannel"] == 1
    row = await STATE.channel(ch.id)
    assert row is not None and row.migrated_from_chat_id == 0
    server.counters.clear()
    await fetcher.run(client, row)
    assert dict(server.counters) == {"messages.getHistory": 1}
    assert await migrated_row_id(ch.id) is None
