"""Channel analytics end to end (#17): the app as a process parses a channel of the
MTProto double (SNAPSHOT_AGES default 1h,24h,7d,30d; REFRESH_WINDOW_HOURS 24) and keeps
one post's curve across its marks while its counters change in between: the first
history read (50 min old: a plain snapshot), the 1 h mark from a run's read at 65 min
(an age shorter than the window: no request of its own, with the reactions a history
read gives), the 24 h mark from the counters job's messages.getMessagesViews and
messages.getMessagesReactions (the post is past the window: no run reads it again).
The subscriber series grows between two job rounds (channels.getFullChannel).

Time is moved forward for the post, not waited for: the post's date is set back in the
double and in the archive alike (as if the minutes had passed), the latest subscriber
count's taken_at likewise; a /parse run that stores a new post wakes the job
(RunCompleted). One stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, Stack, running_stack
from tests.e2e.seeded import (
    CODE,
    PHONE,
    caught_up,
    db,
    parse,
    seed,
    subscriber_counts,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)


def _sqlite_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def _age_by(stack: Stack, chan: Channel, row_id: int, msg_id: int, by: timedelta) -> None:
    """`by` passes for the post: its date set back in the double, then in the archive."""
    msg = chan.message(msg_id)
    msg.date -= int(by.total_seconds())
    msg.raw = None
    with db(stack) as conn:
        conn.execute(
            "UPDATE message SET date = ? WHERE channel_id = ? AND msg_id = ?",
            (_sqlite_time(datetime.fromtimestamp(msg.date, UTC)), row_id, msg_id),
        )


async def test_a_posts_curve_across_its_marks_and_a_growing_series(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    chan = world.add_channel(username="stats", title="Stats", participants_count=1000)
    ts = datetime.now(UTC).timestamp()
    post = chan.add_message("the curve", date=ts - 3000, views=100, reactions={"👍": 5})
    fresh = chan.add_message("fresh", date=ts - 300, views=3)
    async with running_stack(tmp_path, world, start=False) as stack:
        row_id = (await seed(stack, [chan]))["stats"]
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, row_id, chan), "the channel parsed", stack)

        def curve() -> list[tuple[int | None, int | None, int | None]]:
            with db(stack) as conn:
                return conn.execute(
                    "SELECT age_mark, views, reactions FROM counter_snapshot"
                    " WHERE channel_id = ? AND msg_id = ? ORDER BY id", (row_id, post.id),
                ).fetchall()  # fmt: skip

        def subscribers() -> list[int]:
            return subscriber_counts(stack, row_id)

        await wait_until(lambda: subscribers() == [1000], "the subscriber count", stack, 30)
        # The first read, 50 min old: no mark yet.
        assert curve() == [(None, 100, 5)]

        # 15 minutes on, 50 more views: the run's read at 65 min is the 1 h mark.
        world.set_counters(chan, post.id, views=150)
        _age_by(stack, chan, row_id, post.id, timedelta(minutes=15))
        await parse(stack, "@stats")
        assert curve() == [(None, 100, 5), (3600, 150, 5)]

        # A day on (25 h 05 min old, past the window and the 24 h mark's hold): more
        # views and reactions, and more subscribers; the job reads them.
        world.set_counters(chan, post.id, views=400, reactions={"👍": 9, "🔥": 2})
        chan.subscribers = 1200
        _age_by(stack, chan, row_id, post.id, timedelta(hours=24))
        with db(stack) as conn:  # the latest count an hour older
            conn.execute(
                "UPDATE subscriber_snapshot SET taken_at = ? WHERE channel_id = ?",
                (_sqlite_time(datetime.now(UTC) - timedelta(hours=1)), row_id),
            )
        chan.add_message("a new post", date=datetime.now(UTC).timestamp(), views=1)
        stack.mtproto.counters.clear()
        await parse(stack, "@stats")  # its RunCompleted (a new post) wakes the job
        await wait_until(lambda: len(curve()) == 3, "the 24 h mark", stack, timeout=30)
        await wait_until(lambda: len(subscribers()) == 2, "the second count", stack, 30)
        assert curve() == [(None, 100, 5), (3600, 150, 5), (86400, 400, 11)]
        assert subscribers() == [1000, 1200]
        with db(stack) as conn:
            views, reactions = conn.execute(
                "SELECT views, reactions FROM message WHERE channel_id = ? AND msg_id = ?",
                (row_id, post.id),
            ).fetchone()
        assert (views, json.loads(reactions)) == (400, {"👍": 9, "🔥": 2})
        # One request of each for the one post due; the fresh post has no mark.
        assert stack.mtproto.counters["messages.getMessagesViews"] == 1
        assert stack.mtproto.counters["messages.getMessagesReactions"] == 1
        with db(stack) as conn:
            assert conn.execute(
                "SELECT COUNT(*) FROM counter_snapshot WHERE msg_id = ? AND age_mark"
                " IS NOT NULL", (fresh.id,),
            ).fetchone() == (0,)  # fmt: skip
        # /status shows the job: its last round and when the next count is read.
        api = stack.botapi
        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Counters over time: last round")
        assert "Subscribers: " in status.text and "next count" in status.text
