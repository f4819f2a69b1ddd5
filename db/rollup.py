"""The per-hour rollup of /stats (issue #17, migration 0015): one `stats_hour` row per
(channel row, UTC hour with posts), the very row db.analytics._cells computes for that
hour with every post counted as older than 24 h, so that a long period reads ~24 rows
a day instead of every post's index entry.

Columns (db.analytics._cells): n posts, reached (with views), views (their sum), rated
(views > 0), er (the sum of their ER), ads, vmax / emax (the largest views / ER: where
the top posts are), vs (the views of the hour's posts that have views, "12,40,7": the
exact medians of the posts chart), dead (posts found deleted since). The hour key is
db.analytics.bucket_sql's: SQLite "YYYY-MM-DD HH" of the stored UTC text, PostgreSQL
the epoch hour (a BIGINT).

Kept fresh by marking hours dirty (`stats_dirty`) and rebuilding them from the raw rows
before a read (`refresh`), each run of hours in one transaction:
- new rows: SQLite: the rows above `stats_state.rolled_to` (message ids are
  AUTOINCREMENT and SQLite has one writer; no per-row insert trigger on the ingest path,
  as with the full-text index); PostgreSQL: a statement-level trigger over the inserted
  rows (a transition table: one INSERT ... SELECT DISTINCT per statement);
- changed rows (edits, deletions marked, counters refreshed, rows deleted): triggers mark
  the old and the new hour of a row whose date, grouped_id, counters, text, entities,
  action or deleted_at changed (not `ad` / `reactions_n`: the classification this
  module's rebuild writes itself).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from db import analytics as adb

HOUR = timedelta(hours=1)
# Dirty hours of a channel closer than this are rebuilt as one run (one statement).
MERGE_GAP = timedelta(hours=6)
# "Now" for the rollup: every post is older than 24 h (only hours older than that are
# read from it).
_LATER = datetime(2200, 1, 1, tzinfo=UTC)
# pg_advisory_xact_lock(LOCK_ID, channel row): one rebuild of a channel at a time.
LOCK_ID = 0x7374_6174  # "stat"
COLUMNS = ("n", "reached", "views", "rated", "er", "ads", "vmax", "emax", "vs", "dead")


def hour_key(dialect: str, when: datetime) -> Any:
    """The rollup key of the hour holding `when` (aware)."""
    utc = when.astimezone(UTC)
    if dialect == "sqlite":
        return str(utc.replace(minute=0, second=0, microsecond=0))[:13]
    return int(utc.timestamp()) // 3600


def floor_hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(when: datetime) -> datetime:
    start = floor_hour(when)
    return start if start == when else start + HOUR


async def mark_new(conn: Any, dialect: str) -> None:
    """SQLite: mark the hours of the rows stored since the last call (ids above
    `stats_state.rolled_to`) and move the mark. PostgreSQL: nothing (a trigger does)."""
    if dialect != "sqlite":
        return
    rows = await conn.execute_query_dict("SELECT rolled_to FROM stats_state WHERE id = 1")
    upto = await conn.execute_query_dict("SELECT MAX(id) AS m FROM message")
    top = int(upto[0]["m"] or 0)
    done = int(rows[0]["rolled_to"]) if rows else 0
    if top <= done:
        return
    await conn.execute_query(
        "INSERT OR IGNORE INTO stats_dirty (channel_id, hour)"
        f" SELECT DISTINCT channel_id, {adb.bucket_sql(dialect, 3600, 'date')} FROM message"
        " WHERE id > ? AND id <= ?",
        [done, top],
    )
    await conn.execute_query("UPDATE stats_state SET rolled_to = ? WHERE id = 1", [top])


def _runs(starts: list[datetime], gap: timedelta | None) -> list[tuple[datetime, datetime]]:
    """Sorted hour starts as [lo, hi) runs; hours closer than `gap` join (None: one run)."""
    out: list[tuple[datetime, datetime]] = []
    for s in sorted(starts):
        if out and (gap is None or s - out[-1][1] <= gap):
            out[-1] = (out[-1][0], max(out[-1][1], s + HOUR))
        else:
            out.append((s, s + HOUR))
    return out


async def rebuild(conn: Any, dialect: str, channel_id: int, lo: datetime, hi: datetime) -> int:
    """Rebuild the rollup rows of `channel_id` for the hours [lo, hi) from its raw rows
    (classifying what is not yet) and drop those hours' dirty marks; in the caller's
    transaction `conn` (PostgreSQL: the channel's rebuilds one at a time, an advisory
    lock). Returns the rows written."""
    if dialect != "sqlite":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_ID, channel_id])
    # A row changed since the caller's classify (its `ad` NULL again) is classified here,
    # in the transaction that drops the mark its change left.
    await adb.classify([channel_id], lo, hi, conn=conn)
    p = adb.Params(dialect)
    ch, klo, khi = p(channel_id), p(hour_key(dialect, lo)), p(hour_key(dialect, hi))
    span = f"channel_id = {ch} AND hour >= {klo} AND hour < {khi}"
    await conn.execute_query(f"DELETE FROM stats_dirty WHERE {span}", p.values)
    await conn.execute_query(f"DELETE FROM stats_hour WHERE {span}", p.values)
    cells = await adb._cells(dialect, 3600, [channel_id], lo, hi, _LATER, conn=conn)
    if not cells:
        return 0
    marks = ", ".join(
        ("?" if dialect == "sqlite" else f"${i + 1}") for i in range(len(COLUMNS) + 2)
    )
    await conn.execute_many(
        f"INSERT INTO stats_hour (channel_id, hour, {', '.join(COLUMNS)}) VALUES ({marks})",
        [
            [
                channel_id,
                str(c["b"]) if dialect == "sqlite" else int(c["b"]),
                *(_value(name, c[name]) for name in COLUMNS),
            ]
            for c in cells
        ],
    )
    return len(cells)


def _value(name: str, value: Any) -> Any:
    if value is None:
        return 0 if name in ("n", "reached", "views", "rated", "ads", "dead") else None
    if name in ("er", "emax"):
        return float(value)
    if name == "vs":
        return str(value)
    return int(value)


async def refresh(
    channel_ids: list[int] | None = None, *, conn: Any = None, gap: timedelta | None = MERGE_GAP
) -> int:
    """Rebuild the dirty hours of `channel_ids` (None: every channel), each run of hours
    (dirty hours closer than `gap` join; None: one run per channel) in a transaction of
    its own unless `conn` (a transaction already: the migration) is given. Returns the
    rollup rows written."""
    own = conn is None
    base = connections.get("default") if own else conn
    dialect = str(base.capabilities.dialect)
    if own and dialect == "sqlite":
        async with in_transaction("default") as tx:
            await mark_new(tx, dialect)
    else:
        await mark_new(base, dialect)
    p = adb.Params(dialect)
    where = f" WHERE channel_id IN ({adb.in_list(p, channel_ids)})" if channel_ids else ""
    dirty = await base.execute_query_dict(
        f"SELECT channel_id, CAST(hour AS TEXT) AS hour FROM stats_dirty{where}", p.values
    )
    hours: dict[int, list[datetime]] = {}
    for r in dirty:
        hours.setdefault(int(r["channel_id"]), []).append(
            adb.bucket_start(dialect, 3600, r["hour"])
        )
    written = 0
    for ch, starts in sorted(hours.items()):
        for lo, hi in _runs(starts, gap):
            if own:
                # The bulk of the classifying in batches of their own (a big archive's
                # first build), then the run in one transaction.
                await adb.classify([ch], lo, hi)
                async with in_transaction("default") as tx:
                    written += await rebuild(tx, dialect, ch, lo, hi)
            else:
                written += await rebuild(base, dialect, ch, lo, hi)
    return written


async def dirty_channels() -> list[int]:
    """The channel rows with hours to rebuild (SQLite: the rows stored since the last
    call marked first), ascending."""
    conn = connections.get("default")
    dialect = str(conn.capabilities.dialect)
    if dialect == "sqlite":
        async with in_transaction("default") as tx:
            await mark_new(tx, dialect)
    rows = await conn.execute_query_dict(
        "SELECT DISTINCT channel_id FROM stats_dirty ORDER BY channel_id"
    )
    return [int(r["channel_id"]) for r in rows]


async def read(
    dialect: str, channel_ids: list[int], lo: datetime, hi: datetime
) -> list[dict[str, Any]]:
    """The rollup rows of `channel_ids` for the hours [lo, hi), as db.analytics._cells
    rows (`b` the hour key as text)."""
    p = adb.Params(dialect)
    rows = await connections.get("default").execute_query_dict(
        f"SELECT CAST(hour AS TEXT) AS b, {', '.join(COLUMNS)} FROM stats_hour"
        f" WHERE channel_id IN ({adb.in_list(p, channel_ids)})"
        f" AND hour >= {p(hour_key(dialect, lo))} AND hour < {p(hour_key(dialect, hi))}",
        p.values,
    )
    return list(rows)
