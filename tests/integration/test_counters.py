"""Counters over time (#17) on a migrated SQLite archive with the real Telethon against
the MTProto double: the history-read snapshot hooks of store_batch (changed counters;
the ages shorter than the refresh window marked on a read within [A, 2 A)), the
counters job's age snapshots (messages.getMessagesViews, 100 ids a request, the due
window), the subscriber series, a flood wait deferring the job, and the repository's
readers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telethon.crypto import rsa

from core.parsing import COLUMNS, Row
from db.channels import ChannelStateRepository
from db.counters import CounterRepository, split_ages
from db.database import close_db, init_db
from db.messages import MessageRepository
from db.models import Channel, CounterSnapshot, Message
from services.counters import CountersService
from services.parsing.ingest import ChannelFetcher
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World, signed_in_client
from tests.doubles.mtproto.world import Channel as WorldChannel
from tests.doubles.sessions import FakeSession as Session

pytestmark = pytest.mark.timeout(60)

PHONE, CODE = "+15550000001", "12345"
HOUR = timedelta(hours=1)
rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)



def row(channel_id: int, msg_id: int, date: datetime, fetched_at: datetime, *,
        views: int | None = 0, forwards: int | None = 0, replies: int | None = None,
        reactions: dict[str, int] | None = None, comment_of: int | None = None,
        action: str | None = None) -> Row:
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(
        channel_id=channel_id, msg_id=msg_id, date=date, text=f"post {msg_id}",
        views=views, forwards=forwards, replies=replies,
        reactions=json.dumps(reactions) if reactions else None, comment_of=comment_of,
        content_text="", action=action, fetched_at=fetched_at,
    )
    return tuple(values[c] for c in COLUMNS)


def rows_of(channel_id: int, chan: WorldChannel, fetched_at: datetime) -> list[Row]:
    out = []
    for i in chan.ids:
        m = chan.message(i)
        out.append(row(channel_id, i, datetime.fromtimestamp(m.date, UTC), fetched_at,
                       views=m.views or 0, forwards=m.forwards or 0, reactions=m.reactions))
    return out


@pytest.fixture
async def archive(tmp_path: Path) -> AsyncIterator[None]:
    await init_db(f"sqlite://{tmp_path / 'tg.sqlite3'}")
    try:
        yield
    finally:
        await close_db()


async def snapshots(channel_id: int, msg_id: int | None = None) -> list[tuple[Any, ...]]:
    q = CounterSnapshot.filter(channel_id=channel_id)
    if msg_id is not None:
        q = q.filter(msg_id=msg_id)
    return list(
        await q.order_by("id").values_list("msg_id", "age_mark", "views", "forwards",
                                           "replies", "reactions")
    )


async def test_history_reads_keep_a_snapshot_when_counters_change(archive: None) -> None:
    ch = await Channel.create(tg_id=1, access_hash=1, username="news", title="News")
    now = datetime.now(UTC).replace(microsecond=0)
    repo = MessageRepository(snapshot_horizon=timedelta(days=2))
    young, old = now - HOUR, now - timedelta(days=3)
    first = [
        row(ch.id, 1, old, now, views=5),
        row(ch.id, 2, young, now, views=10, reactions={"👍": 2, "🔥": 1}),
        row(ch.id, 3, young, now, views=None, forwards=None),  # no counters (a group's)
        row(ch.id, 4, young, now, action='{"type":"pin"}'),  # a service message
        row(ch.id, 5, young, now, views=7, comment_of=2),  # a comment
    ]
    await repo.store_batch(ch.id, first, 5, 5)
    assert await snapshots(ch.id) == [(2, None, 10, 0, None, 3)]
    # Read again unchanged: nothing; views or reactions changed: one row each.
    later = now + timedelta(minutes=5)
    await repo.store_batch(ch.id, [row(ch.id, 2, young, later, views=10,
                                       reactions={"👍": 2, "🔥": 1})], 5, 0)
    assert len(await snapshots(ch.id)) == 1
    await repo.store_batch(ch.id, [row(ch.id, 2, young, later, views=12,
                                       reactions={"👍": 2, "🔥": 1})], 5, 0)
    await repo.store_batch(ch.id, [row(ch.id, 2, young, later, views=12,
                                       reactions={"👍": 3, "🔥": 1})], 5, 0)
    assert [s[2:] for s in await snapshots(ch.id)] == [
        (10, 0, None, 3), (12, 0, None, 3), (12, 0, None, 4)
    ]
    # No horizon: no series.
    await MessageRepository().store_batch(ch.id, [row(ch.id, 2, young, later, views=99)], 5, 0)
    assert len(await snapshots(ch.id)) == 3
    curve = await CounterRepository().post_curve(ch.id, 2)
    assert curve is not None and curve.text == "post 2" and curve.date == young
    assert [p.views for p in curve.points] == [10, 12, 12]
    assert await CounterRepository().post_curve(ch.id, 404) is None


async def test_history_reads_mark_the_ages_shorter_than_the_window(archive: None) -> None:
    ch = await Channel.create(tg_id=1, access_hash=1, username="news", title="News")
    t = datetime.now(UTC).replace(microsecond=0)
    minutes = [65, 150, 210, 45]  # ages at the first read
    dates = {i: t - timedelta(minutes=m) for i, m in enumerate(minutes, 1)}
    # Ages 1 h and 3 h are in the 4 h window (spans [1 h, 2 h) and [3 h, 4 h)); 8 h is not.
    repo = MessageRepository(snapshot_horizon=timedelta(hours=12),
                             history_ages=(HOUR, 3 * HOUR, 8 * HOUR), refresh_window=4 * HOUR)

    async def read(at: datetime, views: dict[int, int], new: int = 0) -> None:
        await repo.store_batch(ch.id, [row(ch.id, i, dates[i], at, views=v)
                                       for i, v in sorted(views.items())], 4, new)

    await read(t, {1: 10, 2: 20, 3: 30, 4: 40}, new=4)
    # First reads: at 65 min the 1 h mark, at 210 min the 3 h one; 150 min (past
    # [1 h, 2 h), below 3 h) and 45 min: a plain row.
    assert [s[:3] for s in await snapshots(ch.id)] == [
        (1, 3600, 10), (2, None, 20), (3, 10800, 30), (4, None, 40)
    ]
    # 20 min on, nothing changed: post 4 (now 65 min old) gets its 1 h mark; post 1 has
    # it, post 2 (170 min) is in no span, post 3 (230 min) past the window: nothing.
    await read(t + timedelta(minutes=20), {1: 10, 2: 20, 3: 30, 4: 40})
    assert [s[:3] for s in (await snapshots(ch.id))[4:]] == [(4, 3600, 40)]
    # A change within a span already marked: a plain row, as outside any span.
    await read(t + timedelta(minutes=30), {1: 11, 4: 41})
    assert [s[:3] for s in (await snapshots(ch.id))[5:]] == [(1, None, 11), (4, None, 41)]
    # The largest age when several spans hold the read (1 h: [1 h, 2 h), 90 min:
    # [90 min, 3 h)).
    both = MessageRepository(snapshot_horizon=timedelta(hours=12),
                             history_ages=(HOUR, 90 * timedelta(minutes=1)),
                             refresh_window=4 * HOUR)
    when = t - timedelta(minutes=100)
    await both.store_batch(ch.id, [row(ch.id, 5, when, t, views=5)], 5, 1)
    assert [s[:3] for s in await snapshots(ch.id, 5)] == [(5, 5400, 5)]
    # Which ages go where: shorter than the window to the history reads, the others to
    # the counters job (all of them without a window).
    ages = (HOUR, 24 * HOUR, 7 * 24 * HOUR)
    assert split_ages(ages, 24 * HOUR) == ((HOUR,), (24 * HOUR, 7 * 24 * HOUR))
    assert split_ages(ages, timedelta(0)) == ((), ages)


async def test_the_1h_mark_comes_with_a_run_the_24h_one_from_getmessagesviews(
    archive: None,
) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News", participants_count=500)
    ts = datetime.now(UTC).timestamp()
    day_old = news.add_message("a day old", date=ts - 25 * 3600, views=300)
    late = news.add_message("two hours ten", date=ts - 2 * 3600 - 600, views=50)
    hour = news.add_message("an hour old", date=ts - 3900, views=100, reactions={"👍": 5})
    fresh = news.add_message("fresh", date=ts - 300, views=3)
    window = 24 * HOUR
    history, job = split_ages((HOUR, 24 * HOUR), window)
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (client, _me):
        state = ChannelStateRepository()
        row_ = await Channel.create(tg_id=news.id, access_hash=news.access_hash,
                                    username="news", title="News")
        fetcher = ChannelFetcher(
            MessageRepository(snapshot_horizon=window + 24 * HOUR, history_ages=history,
                              refresh_window=window),
            state, refresh_window_hours=24,
        )
        ch = await state.channel(row_.id)
        assert ch is not None
        server.counters.clear()
        await fetcher.run(client, ch)
        # The run's read of the post 65 min old is its 1 h mark (with its reactions:
        # a history read has them); no getMessagesViews.
        assert server.counters["messages.getMessagesViews"] == 0
        assert [s for s in await snapshots(row_.id) if s[1] is not None] == [
            (hour.id, 3600, 100, 0, None, 5)
        ]
        plain = {s[0] for s in await snapshots(row_.id) if s[1] is None}
        assert plain == {day_old.id, late.id, fresh.id}
        # The job reads the 24 h age only: one getMessagesViews for the day-old post.
        service = CountersService(CounterRepository(), Session(client), ages=job,
                                  subscribers_interval=None)
        await service.tick()
        assert server.counters["messages.getMessagesViews"] == 1
        marks = {(s[0], s[1]) for s in await snapshots(row_.id) if s[1] is not None}
        assert marks == {(hour.id, 3600), (day_old.id, 86400)}
        # The next run re-reads the window: unchanged, nothing marked twice.
        ch = await state.channel(row_.id)
        assert ch is not None
        before = len(await snapshots(row_.id))
        await fetcher.run(client, ch)
        assert len(await snapshots(row_.id)) == before


async def test_age_snapshots_subscribers_and_a_flood_wait(archive: None) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news: WorldChannel = world.add_channel(username="news", title="News", participants_count=500)
    t0 = datetime.now(UTC).replace(microsecond=0)
    ts = t0.timestamp()
    day_old = news.add_message("a day old", date=ts - 25 * 3600, views=300)
    missed = news.add_message("two hours old", date=ts - 2 * 3600, views=50)
    # 150 posts that reached 1 h a minute ago: two getMessagesViews requests.
    batch = news.add_messages(150, start_date=ts - 3660, interval=0.1, views=20)
    deleted = news.add_message("deleted later", date=ts - 3650, views=1)
    fresh = news.add_message("fresh", date=ts - 60, views=2)
    # A lone post 2 min past 1 h waits for its hold (7.5 min) to share a request.
    quiet: WorldChannel = world.add_channel(username="quiet", title="Quiet")
    lone = quiet.add_message("lone", date=ts - 3720, views=8)
    ch = await Channel.create(tg_id=news.id, access_hash=news.access_hash, username="news",
                              title="News")
    q = await Channel.create(tg_id=quiet.id, access_hash=quiet.access_hash, username="quiet",
                             title="Quiet")
    await MessageRepository().store_batch(ch.id, rows_of(ch.id, news, t0), news.last_id,
                                          len(news))
    await MessageRepository().store_batch(q.id, rows_of(q.id, quiet, t0), quiet.last_id, 1)
    news.delete_message(deleted.id)
    for i in batch:
        world.set_counters(news, i, views=40, forwards=3)
    world.set_counters(news, day_old.id, views=900, forwards=12, replies=4)

    clock = [t0]
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (
        client, _me
    ):
        repo = CounterRepository()
        service = CountersService(
            repo, Session(client), ages=(HOUR, 24 * HOUR), subscribers_interval=HOUR,
            clock=lambda: clock[0],
        )
        server.counters.clear()
        await service.tick()
        # Due at 1 h: the 150 + the deleted one; at 24 h: one post. All ages of a channel
        # go together: 152 ids in 2 requests; and 1 getFullChannel.
        assert server.counters["messages.getMessagesViews"] == 2
        assert server.counters["channels.getFullChannel"] == 2  # news and quiet
        # Read now: none due, the first due again an interval on.
        assert await repo.subscribers_due([ch.id, q.id], HOUR, t0) == ([], t0 + HOUR)
        assert await repo.subscribers_due([ch.id, q.id], HOUR, t0 + HOUR) == ([ch.id, q.id], None)
        assert await snapshots(q.id) == []  # the lone post waits
        hour = {s[0]: s for s in await snapshots(ch.id) if s[1] == 3600}
        assert sorted(hour) == batch  # not the missed one, not the deleted one, not fresh
        assert hour[batch[0]][2:] == (40, 3, None, None)
        day = [s for s in await snapshots(ch.id) if s[1] == 86400]
        assert day == [(day_old.id, 86400, 900, 12, 4, None)]
        stored = await Message.get(channel_id=ch.id, msg_id=day_old.id)
        assert (stored.views, stored.forwards, stored.replies) == (900, 12, 4)
        assert missed.id not in hour and fresh.id not in hour

        # Nothing ripe: no request at all (the deleted post is not asked again).
        server.counters.clear()
        await service.tick()
        assert sum(server.counters.values()) == 0
        clock[0] = t0 + timedelta(minutes=6)  # the lone post 8 min past 1 h
        await service.tick()
        assert server.counters["messages.getMessagesViews"] == 1
        assert await snapshots(q.id) == [(lone.id, 3600, 8, 0, None, None)]

        # An hour on: the subscriber count is read again; the series grows.
        news.subscribers = 520
        clock[0] = t0 + HOUR + timedelta(seconds=1)
        await service.tick()
        series = await repo.subscriber_series(ch.id, t0 - HOUR, clock[0] + HOUR)
        assert [p.subscribers for p in series] == [500, 520]
        assert server.counters["channels.getFullChannel"] == 2  # news and quiet again
        assert series[0].taken_at == t0

        # A flood wait defers the whole job: no request until it is over.
        news.subscribers = 530
        clock[0] += HOUR
        server.faults.add("channels.getFullChannel", "FLOOD_WAIT_30")
        server.counters.clear()
        await service.tick()
        await service.tick()
        assert server.counters["channels.getFullChannel"] == 1
        assert len(await repo.subscriber_series(ch.id, t0 - HOUR, clock[0] + HOUR)) == 2

        # The export's iterators (one post's row removed: no longer archived).
        gone = batch[1]
        await Message.filter(channel_id=ch.id, msg_id=gone).delete()
        assert not await Message.exists(channel_id=ch.id, msg_id=gone)
        points = [p async for p in repo.iter_counter_rows(ch.id, t0 - HOUR, t0 + HOUR,
                                                          batch=40)]
        assert len(points) == 151 and points[0][2].age_mark == HOUR
        # With each post's date (for its age at the read); a post no longer archived: None.
        posted = {i: d for i, d, _ in points}
        assert posted[day_old.id] == datetime.fromtimestamp(int(ts) - 25 * 3600, UTC)
        assert posted[batch[0]] == datetime.fromtimestamp(int(ts - 3660), UTC)
        assert gone in posted and posted[gone] is None


async def test_a_refused_channel_is_skipped_and_a_dead_session_reported(archive: None) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    t0 = datetime.now(UTC).replace(microsecond=0)
    chans: dict[str, tuple[WorldChannel, int]] = {}
    for name in ("closed", "open"):
        chan = world.add_channel(username=name, title=name, participants_count=10)
        chan.add_message("a day old", date=t0.timestamp() - 25 * 3600, views=5)
        row_ = await Channel.create(tg_id=chan.id, access_hash=chan.access_hash, username=name,
                                    title=name)
        await MessageRepository().store_batch(row_.id, rows_of(row_.id, chan, t0), 1, 1)
        chans[name] = (chan, row_.id)
    closed, closed_id = chans["closed"]
    closed.username, closed.private = None, True  # now private; the account is no member
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (client, _me):
        session = Session(client)
        service = CountersService(CounterRepository(), session, ages=(24 * HOUR,),
                                  subscribers_interval=HOUR, clock=lambda: t0)
        await service.tick()
        # CHANNEL_PRIVATE: the closed channel is skipped this round (its subscriber
        # count too); the open one is read.
        assert await snapshots(closed_id) == []
        assert [s[:3] for s in await snapshots(chans["open"][1])] == [(1, 86400, 5)]
        assert server.counters["channels.getFullChannel"] == 1
        # A revoked session: reported to the userbot, nothing recorded.
        world.revoke_sessions(PHONE)
        await service.tick()
        assert session.dead == ["AuthKeyUnregistered"]
        assert await snapshots(closed_id) == []


async def test_reactions_at_the_jobs_ages_and_a_flood_wait_on_a_later_chunk(
    archive: None,
) -> None:
    """getMessagesReactions next to getMessagesViews (per 100 ids): the age snapshot has
    the reactions total, the message row the reactions JSON (emoji or "custom:<doc id>"
    -> count, as the history reads write it). A flood wait on the second chunk keeps
    the first chunk's reads (recorded, not asked again), and the hold survives a
    restart (job_mark)."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News", participants_count=500)
    t0 = datetime.now(UTC).replace(microsecond=0)
    ts = t0.timestamp()
    posts = news.add_messages(150, start_date=ts - 25 * 3600, interval=0.1, views=10)
    ch = await Channel.create(tg_id=news.id, access_hash=news.access_hash, username="news",
                              title="News")
    await MessageRepository().store_batch(ch.id, rows_of(ch.id, news, t0), news.last_id,
                                          len(news))
    world.set_counters(news, posts[0], views=900, reactions={"👍": 7, "custom:5123": 2})
    world.set_counters(news, posts[120], views=800, reactions={"🔥": 1})
    clock = [t0]
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (client, _me):
        repo = CounterRepository()

        def service() -> CountersService:
            return CountersService(repo, Session(client), ages=(24 * HOUR,),
                                   subscribers_interval=None, clock=lambda: clock[0])

        first = service()
        server.counters.clear()
        # The second chunk's views answer FLOOD_WAIT_60.
        server.faults.add("messages.getMessagesViews", "FLOOD_WAIT_60",
                          when=lambda req: posts[120] in req.id)
        await first.tick()
        assert server.counters["messages.getMessagesViews"] == 2
        assert server.counters["messages.getMessagesReactions"] == 1
        day = {s[0]: s for s in await snapshots(ch.id) if s[1] == 86400}
        assert sorted(day) == posts[:100]  # the first chunk, recorded
        assert day[posts[0]][2:] == (900, 0, None, 9)
        assert day[posts[1]][2:] == (10, 0, None, None)
        stored = await Message.get(channel_id=ch.id, msg_id=posts[0])
        assert (stored.views, stored.reactions) == (900, {"👍": 7, "custom:5123": 2})
        # Held: this process, and a restarted one, ask nothing before the wait is over.
        server.counters.clear()
        await first.tick()
        await service().tick()
        assert sum(server.counters.values()) == 0
        # Over: only the second chunk is asked.
        clock[0] = t0 + timedelta(seconds=61)
        await service().tick()
        assert server.counters["messages.getMessagesViews"] == 1
        assert server.counters["messages.getMessagesReactions"] == 1
        day = {s[0]: s for s in await snapshots(ch.id) if s[1] == 86400}
        assert sorted(day) == posts
        assert day[posts[120]][2:] == (800, 0, None, 1)
        assert len(await snapshots(ch.id)) == 150  # nothing twice


async def test_only_active_broadcast_channels_posts_are_read(archive: None) -> None:
    """Paused and disabled channels, a megagroup (a discussion group archived as its own
    chat) and the comments of a channel's discussion group are not read by the job,
    though all have posts due."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    t0 = datetime.now(UTC).replace(microsecond=0)
    day_ago = t0 - timedelta(hours=25)
    read: dict[str, int] = {}
    for name, kind, status in (("live", "channel", "active"), ("paused", "channel", "paused"),
                               ("off", "channel", "disabled"), ("chat", "megagroup", "active"),
                               ("talk", "megagroup", "active")):
        chan = world.add_channel(username=name, title=name, participants_count=10,
                                 megagroup=kind == "megagroup")
        chan.add_message("post", date=day_ago.timestamp(), views=5)
        row_ = await Channel.create(tg_id=chan.id, access_hash=chan.access_hash,
                                    username=name, title=name, kind=kind, status=status)
        await MessageRepository().store_batch(
            row_.id, [row(row_.id, 1, day_ago, t0, views=5)], 1, 1
        )
        read[name] = row_.id
    # The live channel's comments (read through its discussion group): not posts.
    await MessageRepository().store_batch(read["live"], [
        row(read["live"], 50, day_ago, t0, views=None, comment_of=1)
    ], 50, 1)
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (client, _me):
        server.counters.clear()
        service = CountersService(CounterRepository(), Session(client), ages=(24 * HOUR,),
                                  subscribers_interval=HOUR, clock=lambda: t0)
        await service.tick()
        assert server.counters["messages.getMessagesViews"] == 1
        assert server.counters["messages.getMessagesReactions"] == 1
        assert server.counters["channels.getFullChannel"] == 1
        assert await snapshots(read["live"]) == [(1, 86400, 5, 0, None, None)]
        for name in ("paused", "off", "chat", "talk"):
            assert await snapshots(read[name]) == []


async def test_a_channel_removed_during_a_round_is_left_out(archive: None) -> None:
    """/remove while the job reads the channel: nothing recorded for it, no error (the
    component goes on); the other channel is recorded."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    t0 = datetime.now(UTC).replace(microsecond=0)
    day_ago = t0 - timedelta(hours=25)
    ids = {}
    for name in ("gone", "kept"):
        chan = world.add_channel(username=name, title=name, participants_count=10)
        chan.add_message("post", date=day_ago.timestamp(), views=5)
        row_ = await Channel.create(tg_id=chan.id, access_hash=chan.access_hash,
                                    username=name, title=name)
        await MessageRepository().store_batch(row_.id, [row(row_.id, 1, day_ago, t0)], 1, 1)
        ids[name] = row_.id

    class Removing(CounterRepository):
        """Removes "gone" once the round has listed the channels (as /remove would)."""

        async def followed_channels(self) -> Any:
            found = await super().followed_channels()
            await Channel.filter(id=ids["gone"]).delete()
            return found

    async with MTProtoServer(world) as server, signed_in_client(
        server.port, PHONE, CODE, flood_sleep_threshold=0
    ) as (client, _me):
        service = CountersService(Removing(), Session(client), ages=(24 * HOUR,),
                                  subscribers_interval=HOUR, clock=lambda: t0)
        await service.tick()
        assert server.counters["channels.getFullChannel"] == 2
    assert await CounterSnapshot.filter(channel_id=ids["gone"]).count() == 0
    assert [s[:2] for s in await snapshots(ids["kept"])] == [(1, 86400)]
    assert await CounterRepository().subscriber_series(
        ids["kept"], t0 - HOUR, t0 + HOUR
    ) != []
    # Directly: the writes of a removed channel answer False.
    repo = CounterRepository()
    assert await repo.record_age(ids["gone"], 24 * HOUR, t0, {1: (5, 0, None, None)}) is False
    assert await repo.record_subscribers(ids["gone"], 10, t0) is False


async def test_the_due_scan_reads_an_index_only(archive: None) -> None:
    """Migration 0011: the due scan's NOT EXISTS is answered from counter_snapshot_due
    (channel_id, msg_id, age_mark), no snapshot row read (PostgreSQL: with sequential
    scans off, as its planner picks them on a near empty table)."""
    from tortoise.transactions import in_transaction

    from db.counters import _DUE_SQL

    async with in_transaction("default") as tx:
        sqlite = tx.capabilities.dialect == "sqlite"
        p = (lambda n: f"?{n}") if sqlite else (lambda n: f"${n}")
        sql = _DUE_SQL.format(channels=p(4), oldest=p(1), newest=p(2), mark=p(3))
        t = datetime(2026, 1, 1, tzinfo=UTC)
        values: list[Any] = [str(t) if sqlite else t, str(t) if sqlite else t, 86400, 1]
        if sqlite:
            plan = [r["detail"] for r in
                    await tx.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)]
            assert any("COVERING INDEX counter_snapshot_due" in d for d in plan), plan
        else:
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            await tx.execute_script("SET LOCAL enable_hashjoin = off")
            plan = [r["QUERY PLAN"] for r in await tx.execute_query_dict("EXPLAIN " + sql, values)]
            assert any("Index Only Scan using counter_snapshot_due" in d for d in plan), plan


async def test_an_age_read_updates_every_post_in_one_statement(archive: None) -> None:
    """record_age: the message rows take the read's counters (replies kept when the read
    has none, reactions kept when not read, an empty reactions read clears them), all
    posts with one statement: the database thread is asked a few times whatever the
    number of posts, not once per post (each hop held the connection's lock, which
    /status and /channels queue on, for a loop round trip: #20 P2). The hops are
    counted on SQLite (aiosqlite); PostgreSQL checks the values."""
    import aiosqlite.core
    from tortoise import connections

    t0 = datetime.now(UTC).replace(microsecond=0)
    ch = await Channel.create(tg_id=77, access_hash=1, username="many", title="many")
    posts = 300
    await MessageRepository().store_batch(
        ch.id,
        [row(ch.id, i, t0 - timedelta(hours=25), t0, views=1, replies=3,
             reactions={"👍": 1}) for i in range(1, posts + 1)],
        posts, posts,
    )
    sqlite = connections.get("default").capabilities.dialect == "sqlite"
    hops: list[int] = []
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(1)
        return await original(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
    try:
        repo = CounterRepository()
        await repo.record_age(ch.id, 24 * HOUR, t0, {1: (10, 2, None, None)})
        one = len(hops)
        first = await Message.get(channel_id=ch.id, msg_id=1)
        # Replies and reactions kept (not read).
        assert (first.views, first.forwards, first.replies, first.reactions) == (
            10, 2, 3, {"👍": 1}
        )
        hops.clear()
        counts: dict[int, Any] = {i: (100 + i, 5, 7, {"🔥": i}) for i in range(1, posts + 1)}
        counts[2] = (50, 1, None, {})  # no replies read; reactions read: none left
        counts[3] = (60, 1, 8, None)  # reactions not read
        await repo.record_age(ch.id, 7 * 24 * HOUR, t0, counts)
        many = len(hops)
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
    if sqlite:
        assert 0 < many == one <= 8, (one, many)
    got = {
        m.msg_id: (m.views, m.forwards, m.replies, m.reactions)
        for m in await Message.filter(channel_id=ch.id, msg_id__in=[1, 2, 3, 4, 300])
    }
    assert got[1] == (101, 5, 7, {"🔥": 1})
    assert got[2] == (50, 1, 3, None)
    assert got[3] == (60, 1, 8, {"👍": 1})
    assert got[4] == (104, 5, 7, {"🔥": 4})
    assert got[300] == (400, 5, 7, {"🔥": 300})
    assert await CounterSnapshot.filter(channel_id=ch.id).count() == 1 + posts
