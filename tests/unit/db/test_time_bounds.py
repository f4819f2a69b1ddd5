"""Time bounds of raw-SQL queries against stored datetimes (SQLite keeps them as text)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.archive import ExportQuery
from db import analytics
from db.export import iter_records, sql_time
from db.models import Message, SubscriberSnapshot
from tests.unit.export_fixtures import make_channel

AT = dt.datetime(2026, 3, 1, 12, 0, 5, 500_000, tzinfo=dt.UTC)  # half past a second


def test_sqlite_bounds_sort_as_the_instants_do() -> None:
    whole = AT.replace(microsecond=0)
    stored = [str(whole - dt.timedelta(microseconds=1)), str(whole), str(AT)]
    assert stored == sorted(stored)
    # The bound is the very text Tortoise writes, so equality and order both hold.
    assert sql_time("sqlite", AT) == str(AT)
    assert sql_time("sqlite", whole) < str(AT) < sql_time("sqlite", AT + dt.timedelta(0, 0, 1))


async def test_a_bound_inside_a_second_keeps_the_rows_before_it(db: Path) -> None:
    channel = await make_channel(-1001, "chan", "Chan")
    await Message.create(channel=channel, msg_id=1, date=AT, text="in")
    await Message.create(channel=channel, msg_id=2, date=AT + dt.timedelta(seconds=1), text="out")

    async def found(since: dt.datetime, until: dt.datetime) -> list[int]:
        query = ExportQuery(channel_id=channel.id, since=since, until=until)
        return [r["msg_id"] async for batch in iter_records(query) for r in batch]

    # A bound cut to the second (12:00:05) dropped the 12:00:05.5 message.
    assert await found(AT - dt.timedelta(seconds=1), AT + dt.timedelta(milliseconds=100)) == [1]
    assert await found(AT, AT + dt.timedelta(seconds=1)) == [1]  # since is inclusive
    assert await found(AT + dt.timedelta(microseconds=1), AT + dt.timedelta(seconds=2)) == [2]


async def test_analytics_bounds_keep_the_rows_of_their_own_second(db: Path) -> None:
    # /stats: a count taken in the same second as `until` (before it) is in the period.
    channel = await make_channel(-1002, "subs", "Subs")
    whole = AT.replace(microsecond=0)
    for n, at in enumerate(
        (whole - dt.timedelta(microseconds=1), whole, AT, AT + dt.timedelta(seconds=1))
    ):
        await SubscriberSnapshot.create(channel=channel, taken_at=at, subscribers=n)

    async def series(since: dt.datetime, until: dt.datetime) -> list[int]:
        return [p.subscribers for p in await analytics.subscriber_series(channel.id, since, until)]

    assert await series(whole, AT + dt.timedelta(milliseconds=10)) == [1, 2]
    assert await series(AT + dt.timedelta(microseconds=1), AT + dt.timedelta(seconds=2)) == [3]
    summary = await analytics.subscriber_summary(
        channel.id, whole - dt.timedelta(days=1), AT + dt.timedelta(microseconds=1)
    )
    assert summary.last is not None and summary.last.subscribers == 2
