"""The per-hour rollup of /stats (db/rollup.py, migration 0015): after each kind of
write (rows stored by the ingest path and by the ORM, an edit, a deletion marked, a
counters refresh, a row deleted, a re-read) the stored rollup is what a rebuild from
the raw rows writes, and the metrics read through it (posts, reach, ER, ads, heatmap,
tops, the chart's days and views, deleted) equal the metrics read from the raw rows,
over periods whose edges cut an hour (now at :37, the zone's midnight, the 24 h line).
tests/integration/test_analytics_postgres.py runs `check_writes` on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telethon.tl import custom, types
from tortoise import connections

from db import analytics as adb
from db import rollup
from db.counters import CounterRepository
from db.messages import MessageRepository
from db.models import Message
from parser.history import message_row
from services.analytics import period
from tests.unit.services.test_analytics import at, seed

UTC = dt.UTC
MSK = ZoneInfo("Europe/Moscow")
NOW = dt.datetime(2026, 3, 10, 12, 37, tzinfo=UTC)  # 15:37 MSK


def _norm(a: adb.PostsAggregate) -> dict[str, Any]:
    def post(p: adb.PostRow) -> tuple[Any, ...]:
        return (p.channel_id, p.msg_id, p.views, None if p.er is None else round(p.er, 12))

    return {
        "cells": {
            k: (c.posts, c.reached, c.views, c.rated, round(c.er_sum, 12))
            for k, c in sorted(a.cells.items())
        },
        "ads": a.ad_posts,
        "top_views": [post(p) for p in a.top_by_views],
        "top_er": [post(p) for p in a.top_by_er],
        "texts": [p.text for p in a.top_by_views + a.top_by_er],
        "day_posts": a.day_posts,
        "day_views": {d: sorted(v) for d, v in a.day_views.items()},
        "deleted": a.deleted,
    }


async def check_same(ch_id: int, now: dt.datetime = NOW) -> None:
    """Through the rollup = from the raw rows, for periods of 1, 2, 7 and 30 days in two
    zones; the stored rollup = a rebuild from scratch."""
    for tz in (MSK, UTC):
        for days in (1, 2, 7, 30):
            since, until = period(days, tz, now)
            fast = await adb.posts_aggregate([ch_id], since, until, now, tz)
            raw = await adb.posts_aggregate([ch_id], since, until, now, tz, use_rollup=False)
            assert _norm(fast) == _norm(raw), (tz, days)
    conn = connections.get("default")
    dialect = str(conn.capabilities.dialect)
    lo, hi = dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC)
    await rollup.refresh([ch_id])
    stored = await rollup.read(dialect, [ch_id], lo, hi)
    fresh = await adb._cells(dialect, 3600, [ch_id], lo, hi, rollup._LATER)

    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        out = []
        for r in sorted(rows, key=lambda r: str(r["b"])):
            vals = [rollup._value(c, r[c]) for c in rollup.COLUMNS]
            vals[rollup.COLUMNS.index("vs")] = sorted(str(r["vs"] or "").split(","))
            for c in ("er", "emax"):
                i = rollup.COLUMNS.index(c)
                vals[i] = None if vals[i] is None else round(vals[i], 12)
            out.append((str(r["b"]), *map(str, vals)))
        return out

    assert key(stored) == key(fresh)
    assert stored  # the check is not vacuous


def _tl(msg_id: int, when: dt.datetime, text: str, views: int) -> custom.Message:
    return custom.Message(
        id=msg_id, peer_id=types.PeerChannel(1234567), date=when, message=text, views=views
    )


async def check_writes() -> None:
    ch = await seed()  # ORM inserts (test_analytics' archive)
    # Across the MSK midnight (21:00 UTC), the 24 h line (12:37 UTC yesterday) and the
    # period's first hour: stored by the ingest path (store_batch, one transaction).
    repo = MessageRepository()
    fetched = NOW - dt.timedelta(minutes=1)
    rows = [
        message_row(ch.id, _tl(30, at(8, 20, 59), "before midnight", 70), fetched),
        message_row(ch.id, _tl(31, at(8, 21, 0), "after midnight #ad", 80), fetched),
        message_row(ch.id, _tl(32, at(9, 12, 20), "old, in the 24 h line's hour", 90), fetched),
        message_row(ch.id, _tl(33, at(9, 12, 50), "young, same hour", 95), fetched),
        message_row(ch.id, _tl(34, at(10, 12, 30), "this hour", 5), fetched),
    ]
    await repo.store_batch(ch.id, rows, cursor=34, new_rows=len(rows))
    await check_same(ch.id)
    # An edit (text into an ad, reactions), a deletion marked, a counters refresh.
    await Message.filter(channel_id=ch.id, msg_id=10).update(
        text="Hello #реклама", reactions={"👍": 15}
    )
    await check_same(ch.id)
    await repo.mark_deleted(ch.id, [11, 13], NOW)  # a single and an album's item
    await check_same(ch.id)
    counters = CounterRepository()
    await counters.record_age(
        ch.id, dt.timedelta(days=1), NOW, {20: (5000, 9, 1, {"👍": 40}), 30: (7, 0, 0, None)}
    )
    await check_same(ch.id)
    await Message.filter(channel_id=ch.id, msg_id=17).delete()
    await check_same(ch.id)
    # A re-read with new views (the upsert's update).
    again = [message_row(ch.id, _tl(31, at(8, 21, 0), "after midnight", 8000), NOW)]
    await repo.store_batch(ch.id, again, cursor=34, new_rows=0)
    await check_same(ch.id)


async def test_the_rollup_equals_the_raw_rows_after_every_write(db: Path) -> None:
    await check_writes()


async def test_a_zone_off_the_hour_reads_the_raw_rows(db: Path) -> None:
    ch = await seed()
    tz = ZoneInfo("Asia/Kolkata")  # +5:30: buckets of 10 minutes, no rollup
    since, until = period(7, tz, NOW)
    a = await adb.posts_aggregate([ch.id], since, until, NOW, tz)
    b = await adb.posts_aggregate([ch.id], since, until, NOW, tz, use_rollup=False)
    assert _norm(a) == _norm(b) and a.cells
    n = await connections.get("default").execute_query_dict("SELECT COUNT(*) AS n FROM stats_hour")
    assert n[0]["n"] == 0  # nothing rolled up: that path never read it


async def test_the_background_build_rolls_up_every_channel_then_stops(db: Path) -> None:
    """services/stats_rollup.py: what start-up used to build before the bot answered is
    built by the component, channel by channel, to the same rows; a stopped build stops
    between channels and leaves the rest dirty for the next start or /stats."""
    from services.stats_rollup import RollupBuild

    ch = await seed()
    conn = connections.get("default")
    assert await rollup.dirty_channels() == [ch.id]
    built = RollupBuild(pause=0)
    written = await built.build()
    assert written > 0
    assert await rollup.dirty_channels() == []
    stored = await conn.execute_query_dict("SELECT COUNT(*) AS n FROM stats_hour")
    assert stored[0]["n"] == written
    await check_same(ch.id)  # the same rows a rebuild from scratch writes
    # New rows after the build: marked and built by the next build; a stop before it
    # builds nothing.
    await MessageRepository().store_batch(
        ch.id, [message_row(ch.id, _tl(40, at(9, 3, 0), "later", 3), NOW)], 40, 1
    )
    await built.stop()
    assert await built.build() == 0
    assert await rollup.dirty_channels() == [ch.id]
