"""Channel analytics end to end (#17): the app as a process parses a channel of the
MTProto double whose posts are dated in the past, so the configured ages (SNAPSHOT_AGES
default 1h,24h,7d,30d; REFRESH_WINDOW_HOURS 24) are reached without waiting: a post
1 h 08 min old gets its 1 h snapshot from the run's read (an age shorter than the
window: no request of its own; it has the reactions only a history read gives), a
day-old post its 24 h one from messages.getMessagesViews, a post 2 h 10 min old no
1 h snapshot (read past [1 h, 2 h)); every other young post has the snapshot of its
history read; the subscriber count read with channels.getFullChannel extends the
series the archive had. One stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.doubles.mtproto import World
from tests.e2e.harness import running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, seed, wait_until

pytestmark = pytest.mark.timeout(120)


def _sqlite_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


async def test_a_posts_curve_has_its_snapshots_at_the_right_ages_and_the_series_grows(
    tmp_path: Path,
) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    chan = world.add_channel(username="stats", title="Stats", participants_count=1000)
    now = datetime.now(UTC)
    ts = now.timestamp()
    day_old = chan.add_message("a day old", date=ts - 25 * 3600, views=300, forwards=4)
    late = chan.add_message("two hours old", date=ts - 2 * 3600 - 600, views=120)
    hour = chan.add_message("an hour old", date=ts - 4080, views=100, reactions={"👍": 5})
    fresh = chan.add_message("fresh", date=ts - 300, views=3)
    async with running_stack(tmp_path, world, start=False) as stack:
        row_id = (await seed(stack, [chan]))["stats"]
        with db(stack) as conn:  # the count an earlier run of the archive kept
            conn.execute(
                "INSERT INTO subscriber_snapshot (channel_id, taken_at, subscribers)"
                " VALUES (?, ?, 900)", (row_id, _sqlite_time(now - timedelta(hours=2))),
            )  # fmt: skip
        await stack.app.start()
        await wait_until(lambda: caught_up(stack, row_id, chan), "the channel parsed", stack)

        def snaps() -> list[tuple[int, int | None, int | None, int | None]]:
            with db(stack) as conn:
                return conn.execute(
                    "SELECT msg_id, age_mark, views, reactions FROM counter_snapshot"
                    " WHERE channel_id = ? ORDER BY id", (row_id,),
                ).fetchall()  # fmt: skip

        def subscribers() -> list[int]:
            with db(stack) as conn:
                return [r[0] for r in conn.execute(
                    "SELECT subscribers FROM subscriber_snapshot WHERE channel_id = ?"
                    " ORDER BY taken_at", (row_id,),
                )]  # fmt: skip

        def aged() -> set[tuple[int, int]]:
            return {(m, a) for m, a, _, _ in snaps() if a is not None}

        await wait_until(lambda: len(aged()) == 2, "the age snapshots", stack, timeout=30)
        await wait_until(lambda: len(subscribers()) == 2, "the subscriber count", stack, 30)
        assert aged() == {(hour.id, 3600), (day_old.id, 86400)}
        history = {m: (v, r) for m, a, v, r in snaps() if a is None}
        assert history == {day_old.id: (300, None), late.id: (120, None), fresh.id: (3, None)}
        age_rows = {m: (v, r) for m, a, v, r in snaps() if a is not None}
        # The 1 h one from the run's read (its reactions), the 24 h one from
        # getMessagesViews (none).
        assert age_rows == {hour.id: (100, 5), day_old.id: (300, None)}
        assert subscribers() == [900, 1000]
        # One request, for the day-old post alone.
        assert stack.mtproto.counters["messages.getMessagesViews"] == 1
