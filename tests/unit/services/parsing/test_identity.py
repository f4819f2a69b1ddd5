"""Identity over time through the real fetcher, real Telethon and the MTProto double
(in this process, no app): names refreshed from the history answer, former usernames
as aliases, a username taken over, and access hashes of another account repaired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.channels import AddCode
from core.errors import ChannelUnavailable, RateLimited, ResolveFlood
from db.channels import ChannelRepository, ChannelStateRepository, aliases, find_channel
from db.messages import MessageRepository
from db.models import Channel as ChannelRow
from db.models import Message
from services.channels import ChannelService
from services.parsing.identity import ChannelIdentity
from services.parsing.ingest import ChannelFetcher, RunFailed
from tests.doubles.mtproto import MTProtoServer, World
from tests.doubles.mtproto.client import signed_in_client
from tests.doubles.mtproto.world import Channel as WorldChannel
from tests.unit.services.test_channels import Hooks

pytestmark = pytest.mark.timeout(60)

ANN, BOB = ("+15550000001", "11111"), ("+15550000002", "22222")


@dataclass
class Env:
    world: World
    server: MTProtoServer
    ann: Any  # Telethon clients signed in as Ann and as Bob
    bob: Any


@pytest.fixture
async def env(db: Path) -> AsyncIterator[Env]:
    world = World()
    world.add_account(*ANN, first_name="Ann")
    world.add_account(*BOB, first_name="Bob")
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(MTProtoServer(world, port=0))
        ann, _ = await stack.enter_async_context(signed_in_client(server.port, *ANN))
        bob, _ = await stack.enter_async_context(signed_in_client(server.port, *BOB))
        yield Env(world, server, ann, bob)


STATE = ChannelStateRepository()


def fetcher(identity: bool = True) -> ChannelFetcher:
    return ChannelFetcher(
        MessageRepository(), STATE, refresh_window_hours=0,
        identity=ChannelIdentity(STATE) if identity else None,
    )  # fmt: skip


async def store(ch: WorldChannel, **kw: Any) -> int:
    """The channel stored as Ann's /add stored it (Ann's access hash)."""
    row, created = await ChannelRepository().add(
        tg_id=ch.id, access_hash=ch.access_hash, title=ch.title, username=ch.username,
        kind="channel", linked_chat_id=None, history_mode="all", history_limit=None,
        history_since=None,
    )  # fmt: skip
    assert created and ch.access_hash == ch.access_hash_for(ch.world.first_account())
    if kw:
        await ChannelRow.filter(id=row.id).update(**kw)
    return row.id


async def run(client: Any, row_id: int, f: ChannelFetcher | None = None) -> Any:
    ch = await STATE.channel(row_id)
    assert ch is not None
    return await (f or fetcher()).run(client, ch)


async def msg_ids(row_id: int) -> list[int]:
    return list(
        await Message.filter(channel_id=row_id).order_by("msg_id").values_list("msg_id", flat=True)
    )


async def row(row_id: int) -> ChannelRow:
    return await ChannelRow.get(id=row_id)


@pytest.mark.parametrize("error", ["CHANNEL_INVALID", "PEER_ID_INVALID"])
async def test_another_accounts_hash_is_repaired_once_and_the_run_goes_on(
    env: Env, error: str
) -> None:
    env.world.stale_hash_error = error
    news = env.world.add_channel(username="newsroom", title="Newsroom")
    news.add_messages(150)
    row_id = await store(news)
    assert (await run(env.ann, row_id)).fetched == 150
    news.add_messages(30)
    env.server.counters.clear()

    # Bob's session, Ann's stored hash: refused, resolved again, stored, read on.
    result = await run(env.bob, row_id)
    assert (result.status, result.fetched, result.new) == ("ok", 30, 30)
    assert await msg_ids(row_id) == list(range(1, 181))  # exact, no duplicates
    stored = await row(row_id)
    assert stored.access_hash == news.access_hash_for(env.world.account(BOB[0]))
    assert (stored.messages_count, stored.cursor, stored.status) == (180, 180, "active")
    c = env.server.counters
    # Not among Bob's dialogs: resolved by name; no comments, so no getFullChannel.
    assert (c["messages.getDialogs"], c["contacts.resolveUsername"]) == (1, 1)
    assert c["channels.getFullChannel"] == 0
    assert c["messages.getHistory"] == 1 + 2  # the refused one, then the new page and the end
    env.server.counters.clear()
    assert (await run(env.bob, row_id)).fetched == 0  # the next run needs no repair
    assert env.server.counters["contacts.resolveUsername"] == 0


async def test_without_identity_the_stale_hash_fails_the_run(env: Env) -> None:
    news = env.world.add_channel(username="newsroom", title="Newsroom")
    news.add_messages(5)
    row_id = await store(news)
    with pytest.raises(RunFailed) as failed:
        await run(env.bob, row_id, fetcher(identity=False))
    assert isinstance(failed.value.error, ChannelUnavailable)
    assert failed.value.error.reason == "invalid"


async def test_private_channels_are_found_again_in_the_dialogs_read_once(env: Env) -> None:
    bob = env.world.account(BOB[0])
    assert bob is not None
    rows = []
    for i in range(2):
        secret = env.world.add_channel(
            title=f"Secret {i}", private=True, invite_hash=f"inv{i}xyzw"
        )
        env.world.join(env.world.account(ANN[0]), secret)  # type: ignore[arg-type]
        env.world.join(bob, secret)
        secret.add_messages(10 + i)
        rows.append((await store(secret), secret))
    gone = env.world.add_channel(title="Not Bob's", private=True, invite_hash="inv9xyzw")
    env.world.join(env.world.account(ANN[0]), gone)  # type: ignore[arg-type]
    gone.add_messages(3)
    gone_row = await store(gone)
    f = fetcher()
    env.server.counters.clear()
    for row_id, secret in rows:
        result = await run(env.bob, row_id, f)
        assert result.fetched == len(secret) and await msg_ids(row_id) == secret.ids
        assert (await row(row_id)).access_hash == secret.access_hash_for(bob)
    # One dialogs walk served both channels; no username to resolve.
    assert env.server.counters["messages.getDialogs"] == 1
    assert env.server.counters["contacts.resolveUsername"] == 0
    # Not among Bob's channels: the run fails with the reason the worker disables it by.
    with pytest.raises(RunFailed) as failed:
        await run(env.bob, gone_row, f)
    assert isinstance(failed.value.error, ChannelUnavailable)
    assert failed.value.error.reason == "private"
    assert await msg_ids(gone_row) == []
    assert (await row(gone_row)).access_hash == gone.access_hash_for(env.world.account(ANN[0]))


async def test_a_renamed_public_channel_not_in_the_dialogs_is_not_found(env: Env) -> None:
    news = env.world.add_channel(username="oldnews", title="News")
    news.add_messages(4)
    row_id = await store(news)
    news.set_username("newnews")  # the stored name leads nowhere now
    with pytest.raises(RunFailed) as failed:
        await run(env.bob, row_id)
    assert failed.value.error.reason == "not_found"  # type: ignore[attr-defined]
    env.world.join(env.world.account(BOB[0]), news)  # type: ignore[arg-type]
    f = fetcher()
    result = await run(env.bob, row_id, f)  # now Bob's dialogs know it
    assert result.fetched == 4
    assert (await row(row_id)).username == "newnews"
    assert await aliases(row_id) == ["oldnews", "newnews"]


async def test_a_rename_is_seen_in_the_next_run_at_no_extra_request(env: Env) -> None:
    news = env.world.add_channel(username="daily_news", title="Daily News")
    news.add_messages(20)
    row_id = await store(news)
    await run(env.ann, row_id)
    env.server.counters.clear()
    news.rename("Morning News")  # a service message too
    news.set_username("morning_news")
    result = await run(env.ann, row_id)
    assert (result.fetched, result.channel) == (1, "@morning_news")
    assert sum(env.server.counters.values()) == env.server.counters["messages.getHistory"] == 2
    stored = await row(row_id)
    assert (stored.title, stored.username) == ("Morning News", "morning_news")
    assert await aliases(row_id) == ["daily_news", "morning_news"]
    for ref in ("@daily_news", "t.me/daily_news/3", "morning_news", "Morning News"):
        found = await find_channel(ref)
        assert found is not None and found.id == row_id, ref
    # An unchanged name writes nothing: the alias rows stay as they are.
    before = await ChannelRow.get(id=row_id)
    await run(env.ann, row_id)
    assert (await ChannelRow.get(id=row_id)).title == before.title
    assert await aliases(row_id) == ["daily_news", "morning_news"]


async def test_a_username_taken_over_by_another_channel(env: Env) -> None:
    first = env.world.add_channel(username="citynews", title="City News")
    first.add_messages(5)
    second = env.world.add_channel(username="othernews", title="Other")
    second.add_messages(7)
    first_row, second_row = await store(first), await store(second)
    # City News becomes @citynews_old; Other takes @citynews.
    first.set_username("citynews_old")
    env.world.take_username("citynews", second)
    # The second channel's run comes first: the stored row of the first loses the name.
    await run(env.ann, second_row)
    a, b = await row(first_row), await row(second_row)
    assert (a.username, b.username) == (None, "citynews")
    assert await aliases(first_row) == ["citynews"]
    assert await aliases(second_row) == ["othernews", "citynews"]
    found = await find_channel("@citynews")
    assert found is not None and found.id == second_row  # the current holder wins
    found = await find_channel("othernews")
    assert found is not None and found.id == second_row  # its own former name
    await run(env.ann, first_row)
    assert (await row(first_row)).username == "citynews_old"
    assert await ChannelRow.filter(username__iexact="citynews").count() == 1
    assert await msg_ids(first_row) == first.ids and await msg_ids(second_row) == second.ids


class Ready:
    state = "ready"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def wait_ready(self, timeout: float | None = None) -> Any:
        return self.client


async def test_add_of_a_known_channel_renews_its_hash_and_enables_it(env: Env) -> None:
    news = env.world.add_channel(username="newsroom", title="Newsroom")
    group = env.world.add_channel(title="Newsroom chat", megagroup=True)
    env.world.link_discussion(news, group)
    bob = env.world.account(BOB[0])
    hooks = Hooks()
    as_ann = ChannelService(Ready(env.ann), ChannelRepository(), hooks)
    (added,) = await as_ann.add_lines("@newsroom all")
    assert added.code is AddCode.ADDED and added.channel_id is not None
    row_id = added.channel_id
    await ChannelRow.create(
        tg_id=group.id, access_hash=group.access_hash, status="linked", title=group.title
    )
    (again,) = await as_ann.add_lines("@newsroom")
    assert again.code is AddCode.ALREADY  # same account, same hash
    await STATE.disable(row_id, "invalid")
    news.rename("Newsroom 2", service=False)
    hooks.calls.clear()
    as_bob = ChannelService(Ready(env.bob), ChannelRepository(), hooks)
    (renewed,) = await as_bob.add_lines("t.me/newsroom")
    assert renewed.code is AddCode.REENABLED and renewed.channel_id == row_id
    assert hooks.calls == [("add", row_id)]  # its first run is now
    stored = await row(row_id)
    assert (stored.status, stored.disabled_reason, stored.last_error) == ("active", None, None)
    assert stored.access_hash == news.access_hash_for(bob)
    assert stored.linked_access_hash == group.access_hash_for(bob)
    assert (await ChannelRow.get(tg_id=group.id)).access_hash == group.access_hash_for(bob)
    assert stored.title == "Newsroom 2"
    # A known, active channel whose hash was Ann's: renewed, nothing scheduled.
    hooks.calls.clear()
    (renewed,) = await as_ann.add_lines("@newsroom")
    assert renewed.code is AddCode.REFRESHED and hooks.calls == []
    assert (await row(row_id)).access_hash == news.access_hash_for(env.world.account(ANN[0]))
    assert await ChannelRow.all().count() == 2


async def test_a_flood_wait_while_resolving_again_defers_and_keeps_the_hash(env: Env) -> None:
    news = env.world.add_channel(username="newsroom", title="Newsroom")
    news.add_messages(3)
    row_id = await store(news)
    env.server.faults.add("contacts.resolveUsername", "FLOOD_WAIT_300", times=1)
    with pytest.raises(RunFailed) as failed:
        await run(env.bob, row_id)
    assert isinstance(failed.value.error, RateLimited) and failed.value.error.seconds == 300
    assert (await row(row_id)).access_hash == news.access_hash  # Ann's, untouched
    assert await msg_ids(row_id) == []
    assert (await run(env.bob, row_id)).fetched == 3  # the next run repairs it


async def test_a_refusal_after_the_channel_answered_is_not_repaired(env: Env) -> None:
    """Access hashes do not go stale mid-run: CHANNEL_INVALID after a history answer is
    about something else (another peer), so nothing is resolved again."""
    news = env.world.add_channel(username="newsroom", title="Newsroom")
    news.add_messages(150)
    row_id = await store(news)
    env.server.faults.add(
        "messages.getHistory", "CHANNEL_INVALID", times=1, when=lambda req: req.offset_id > 1
    )
    with pytest.raises(RunFailed) as failed:
        await run(env.ann, row_id)
    assert failed.value.answered and failed.value.progress.fetched == 100
    assert env.server.counters["contacts.resolveUsername"] == 0
    assert await msg_ids(row_id) == list(range(1, 101))


async def test_a_flood_wait_on_resolving_holds_every_further_resolve(env: Env) -> None:
    """FLOOD_WAIT on contacts.resolveUsername is the account's limit on that method: the
    channels after it are deferred without asking again, spread out after the wait."""
    chans = [env.world.add_channel(username=f"chan{i}_news", title=f"C{i}") for i in range(5)]
    rows = []
    for ch in chans:
        ch.add_messages(2)
        rows.append(await store(ch))
    f = fetcher()
    assert (await run(env.bob, rows[0], f)).fetched == 2
    env.server.faults.add("contacts.resolveUsername", "FLOOD_WAIT_600", times=1)
    env.server.counters.clear()
    waits = []
    for row_id in rows[1:]:
        with pytest.raises(RunFailed) as failed:
            await run(env.bob, row_id, f)
        error = failed.value.error
        assert isinstance(error, ResolveFlood), error
        assert 598 <= error.wait <= 600
        waits.append(error.seconds)
    # One call met the flood; the others did not ask at all.
    assert env.server.counters["contacts.resolveUsername"] == 1
    assert waits[0] == 600 and waits == sorted(set(waits))
    assert waits[-1] - waits[0] >= 3 * 2  # not all due in the same second
    for row_id, ch in zip(rows[1:], chans[1:], strict=True):
        assert (await row(row_id)).access_hash == ch.access_hash  # Ann's, untouched


async def test_channels_in_the_dialogs_are_repaired_from_them_alone(env: Env) -> None:
    """A re-login: the channels the account is a member of come from one dialogs read
    (their access hash is in its chats); contacts.resolveUsername only for the others;
    channels.getFullChannel only for a channel with comments (its discussion group)."""
    bob = env.world.account(BOB[0])
    assert bob is not None
    members = [env.world.add_channel(username=f"member{i}_ch", title=f"M{i}") for i in range(4)]
    group = env.world.add_channel(title="M0 chat", megagroup=True)
    env.world.link_discussion(members[0], group)
    other = env.world.add_channel(username="not_joined", title="Other")
    for ch in members:
        env.world.join(bob, ch)
    rows = []
    for ch in [*members, other]:
        ch.add_messages(3)
        rows.append(await store(ch))
    await ChannelRow.filter(id=rows[0]).update(comments_enabled=True)
    f = fetcher()
    env.server.counters.clear()
    for row_id, ch in zip(rows, [*members, other], strict=True):
        assert (await run(env.bob, row_id, f)).fetched == 3
        assert (await row(row_id)).access_hash == ch.access_hash_for(bob)
    assert (await row(rows[0])).linked_access_hash == group.access_hash_for(bob)
    c = env.server.counters
    assert c["messages.getDialogs"] == 1
    assert c["contacts.resolveUsername"] == 1  # the one Bob is not a member of
    assert c["channels.getFullChannel"] == 1  # the one with comments


async def test_channels_that_swapped_usernames_during_a_relogin_are_both_repaired(
    env: Env,
) -> None:
    """@alpha leads to the stored Beta now: that answer repairs Beta's row, and Alpha is
    found under the name Beta's row had (not disabled as 'no channel has this name')."""
    bob = env.world.account(BOB[0])
    assert bob is not None
    alpha = env.world.add_channel(username="alpha_ch", title="Alpha")
    beta = env.world.add_channel(username="beta_ch", title="Beta")
    alpha.add_messages(3)
    beta.add_messages(5)
    a_row, b_row = await store(alpha), await store(beta)
    alpha.set_username("tmp_name_x")
    env.world.take_username("alpha_ch", beta)
    env.world.take_username("beta_ch", alpha)
    f = fetcher()
    env.server.counters.clear()
    assert (await run(env.bob, a_row, f)).fetched == 3
    a, b = await row(a_row), await row(b_row)
    assert (a.access_hash, a.username) == (alpha.access_hash_for(bob), "beta_ch")
    assert (b.access_hash, b.username) == (beta.access_hash_for(bob), "alpha_ch")
    assert (await run(env.bob, b_row, f)).fetched == 5  # no repair left to do
    assert env.server.counters["contacts.resolveUsername"] == 2
    assert await msg_ids(a_row) == alpha.ids and await msg_ids(b_row) == beta.ids
    assert await aliases(a_row) == ["alpha_ch", "beta_ch"]
