"""Counter snapshots (table `counter_snapshot`) and subscriber counts
(`subscriber_snapshot`) of issue #17.

Written two ways:
- with the messages they belong to: `store_batch` (db/messages.py) calls
  `snapshot_sqlite` / `snapshot_pg` in its transaction, BEFORE the upsert (they compare
  the stored counters with the new ones). Of the messages of `rows` dated at or after
  `young_since` (None: none), comments, service messages and messages without any
  counter (a group's) excepted, `taken_at` being the batch's fetched_at:
  - one read at an age in [A, A's end) of an in-window age A (`HistoryMarks`: the
    SNAPSHOT_AGES shorter than the refresh window; A's end = min(2 A, the window))
    whose post has no snapshot with age_mark A yet gets a row with age_mark = A, even
    when its counters did not change (the largest such A when several apply);
  - any other gets a row with age_mark NULL when it is new, or when its views,
    forwards, replies or reactions total differ from the stored row's.
- by the counters job (services/counters/): `CounterRepository.record_age` (a snapshot
  at a configured age of at least the refresh window, read with
  messages.getMessagesViews and messages.getMessagesReactions) and
  `record_subscribers`.

The reactions total of a row is the sum of its reactions JSON's values (emoji -> count),
None when it has none.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.analytics import CounterPoint, PostCurve, SubscriberPoint
from core.parsing import COLUMNS, MSG_ID, Row
from db.models import Channel, CounterSnapshot, JobMark, Message, SubscriberSnapshot

_DATE = COLUMNS.index("date")
_VIEWS = COLUMNS.index("views")
_FORWARDS = COLUMNS.index("forwards")
_REPLIES = COLUMNS.index("replies")
_REACTIONS = COLUMNS.index("reactions")
_COMMENT_OF = COLUMNS.index("comment_of")
_ACTION = COLUMNS.index("action")

# What the counters job read of a post: (views, forwards, replies, reactions dict emoji
# or "custom:<doc id>" -> count; {} when it has none; None when not read).
Counts = tuple[int | None, int | None, int | None, dict[str, int] | None]

# (views, forwards, replies, reactions total)
_Counts = tuple[int | None, int | None, int | None, int | None]

_INSERT_SQLITE = (
    "INSERT INTO counter_snapshot"
    " (channel_id, msg_id, taken_at, age_mark, views, forwards, replies, reactions)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_STORED_SQLITE = (
    "SELECT msg_id, views, forwards, replies, reactions FROM message"
    " WHERE channel_id = ? AND msg_id IN (SELECT value FROM json_each(?))"
)
# By the counter_snapshot_due (channel_id, msg_id, age_mark) index (migration 0011),
# covering: a post has a few snapshots.
_MARKED_SQLITE = (
    "SELECT msg_id, age_mark FROM counter_snapshot"
    " WHERE channel_id = ? AND msg_id IN (SELECT value FROM json_each(?))"
    " AND age_mark IN (SELECT value FROM json_each(?))"
)
# The posts of some channels dated in (oldest, newest] without a snapshot of one age: the
# message (channel_id, date) index for the range, an anti-join answered from the covering
# counter_snapshot_due (channel_id, msg_id, age_mark) index (migration 0011).
_DUE_SQL = (
    "SELECT m.channel_id, m.msg_id, m.date FROM message m"
    " WHERE m.channel_id IN ({channels}) AND m.date > {oldest} AND m.date <= {newest}"
    " AND m.comment_of IS NULL AND m.deleted_at IS NULL AND m.action IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM counter_snapshot s WHERE s.channel_id = m.channel_id"
    " AND s.msg_id = m.msg_id AND s.age_mark = {mark})"
)
# Each channel's latest subscriber count: one descent of the (channel_id, taken_at) index
# per channel (a GROUP BY ... MAX reads every count ever taken on SQLite: 2 s at 1,000
# channels x a year of hourly counts; bench/bench_counters.py --due).
_LATEST_SUBSCRIBERS_SQL = (
    "SELECT c.id AS channel_id, (SELECT MAX(s.taken_at) FROM subscriber_snapshot s"
    " WHERE s.channel_id = c.id) AS last FROM channel c WHERE c.id IN ({channels})"
)
_STORED_PG = (
    "SELECT msg_id, views, forwards, replies, reactions::text AS reactions FROM message"
    " WHERE channel_id = $1 AND msg_id = ANY($2::bigint[])"
)
_MARKED_PG = (
    "SELECT msg_id, age_mark FROM counter_snapshot"
    " WHERE channel_id = $1 AND msg_id = ANY($2::bigint[]) AND age_mark = ANY($3::int[])"
)
_INSERT_PG = (
    "INSERT INTO counter_snapshot"
    " (channel_id, msg_id, taken_at, age_mark, views, forwards, replies, reactions)"
    " SELECT $1, u.msg_id, $2, u.age_mark, u.views, u.forwards, u.replies, u.reactions"
    " FROM unnest($3::bigint[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[])"
    " AS u(msg_id, age_mark, views, forwards, replies, reactions)"
)

# job_mark name of the end of the counters job's flood wait.
_RESUME = "counters_resume"

# (age A in seconds, the end of its span in seconds): a history read at an age in
# [A, end) may carry the mark A.
Span = tuple[int, int]


def split_ages(
    ages: Sequence[timedelta], window: timedelta
) -> tuple[tuple[timedelta, ...], tuple[timedelta, ...]]:
    """(the ages the history reads mark, the ages the counters job reads): the ages
    shorter than the refresh `window` come with the runs' reads of the window, the
    others from messages.getMessagesViews; every age goes to the job when the window is
    0. Both ascending."""
    ordered = sorted(ages)
    return (
        tuple(a for a in ordered if a < window),
        tuple(a for a in ordered if a >= window),
    )


def history_spans(ages: Sequence[timedelta], window: timedelta) -> tuple[Span, ...]:
    """The spans of the in-window ages (A < `window`): (A, min(2 A, window)) in whole
    seconds, largest A first (the order the hooks pick a mark in)."""
    history, _ = split_ages(ages, window)
    win = int(window.total_seconds())
    return tuple(
        (int(a.total_seconds()), min(2 * int(a.total_seconds()), win))
        for a in reversed(history)
    )


def reactions_total(value: Any) -> int | None:
    """The sum of a reactions JSON's counts (text or dict emoji -> count); None for
    NULL, an empty or unreadable value."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or not value:
        return None
    return sum(int(v) for v in value.values() if isinstance(v, int | float))


def _counts(row: Row) -> _Counts:
    return (row[_VIEWS], row[_FORWARDS], row[_REPLIES], reactions_total(row[_REACTIONS]))


def _followed(rows: list[Row], young_since: datetime | None) -> list[Row]:
    """The rows whose counters are kept: posts (no comments, no service messages) with
    some counter, dated at or after `young_since`."""
    if young_since is None:
        return []
    out = []
    for r in rows:
        if r[_COMMENT_OF] is not None or r[_ACTION] is not None:
            continue
        if r[_VIEWS] is None and r[_FORWARDS] is None and r[_REPLIES] is None:
            continue
        date = r[_DATE]
        if isinstance(date, datetime) and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        if date >= young_since:
            out.append(r)
    return out


def _candidates(
    rows: list[Row], taken_at: datetime, spans: Sequence[Span]
) -> dict[int, list[int]]:
    """msg_id -> the marks (seconds, largest first) whose span holds the row's age at
    `taken_at`; rows with none are left out."""
    out: dict[int, list[int]] = {}
    if not spans:
        return out
    for r in rows:
        age = (taken_at - _aware(_as_datetime(r[_DATE]))).total_seconds()
        marks = [a for a, end in spans if a <= age < end]
        if marks:
            out[int(r[MSG_ID])] = marks
    return out


def _snapshots(
    rows: list[Row],
    stored: Iterable[Any],
    candidates: dict[int, list[int]],
    marked: Iterable[Any],
) -> list[tuple[int, int | None, _Counts]]:
    """(msg_id, age_mark, counts) of the rows to snapshot: a row read within the span of
    a mark its post lacks (`marked`: its (msg_id, age_mark) snapshots) gets the largest
    such mark, changed or not; any other one when it is new or its counts differ from
    the stored row's (`stored`: (msg_id, views, forwards, replies, reactions JSON))."""
    old: dict[int, _Counts] = {
        int(s[0]): (s[1], s[2], s[3], reactions_total(s[4])) for s in stored
    }
    have = {(int(m), int(a)) for m, a in marked}
    out: list[tuple[int, int | None, _Counts]] = []
    for r in rows:
        msg_id, counts = int(r[MSG_ID]), _counts(r)
        mark = next((a for a in candidates.get(msg_id, ()) if (msg_id, a) not in have), None)
        if mark is not None or old.get(msg_id) != counts:
            out.append((msg_id, mark, counts))
    return out


def snapshot_sqlite(
    raw: sqlite3.Connection,
    channel_id: int,
    rows: list[Row],
    taken_at: datetime,
    young_since: datetime | None,
    spans: Sequence[Span] = (),
) -> None:
    """SQLite side of the contract above (inside the caller's transaction): one SELECT
    of the stored counters, one of the marks taken (only when a row is read within a
    span of `spans`, `history_spans`), one executemany of the new snapshot rows."""
    followed = _followed(rows, young_since)
    if not followed:
        return
    ids = json.dumps([int(r[MSG_ID]) for r in followed])
    stored = raw.execute(_STORED_SQLITE, (channel_id, ids)).fetchall()
    taken = _aware(_as_datetime(taken_at))
    candidates = _candidates(followed, taken, spans)
    marked: list[Any] = []
    if candidates:
        marks = json.dumps(sorted({a for c in candidates.values() for a in c}))
        marked = raw.execute(
            _MARKED_SQLITE, (channel_id, json.dumps(list(candidates)), marks)
        ).fetchall()
    new = _snapshots(followed, stored, candidates, marked)
    if new:
        raw.executemany(
            _INSERT_SQLITE,
            [(channel_id, msg_id, str(taken_at), mark, *c) for msg_id, mark, c in new],
        )


async def snapshot_pg(
    tx: Any,
    channel_id: int,
    rows: list[Row],
    taken_at: datetime,
    young_since: datetime | None,
    spans: Sequence[Span] = (),
) -> None:
    """PostgreSQL side of the contract above (inside the caller's transaction): one
    SELECT of the stored counters, one of the marks taken (only when a row is read
    within a span), one INSERT over arrays."""
    followed = _followed(rows, young_since)
    if not followed:
        return
    ids = [int(r[MSG_ID]) for r in followed]
    _, stored = await tx.execute_query(_STORED_PG, [channel_id, ids])
    candidates = _candidates(followed, _aware(taken_at), spans)
    marked: list[Any] = []
    if candidates:
        marks = sorted({a for c in candidates.values() for a in c})
        _, found = await tx.execute_query(_MARKED_PG, [channel_id, list(candidates), marks])
        marked = [(f["msg_id"], f["age_mark"]) for f in found]
    new = _snapshots(
        followed,
        ((s["msg_id"], s["views"], s["forwards"], s["replies"], s["reactions"]) for s in stored),
        candidates,
        marked,
    )
    if new:
        cols = list(zip(*(c for _, _, c in new), strict=True))
        await tx.execute_query(
            _INSERT_PG,
            [
                channel_id, taken_at, [m for m, _, _ in new], [a for _, a, _ in new],
                *(list(c) for c in cols),
            ],
        )


@dataclass(frozen=True)
class Followed:
    """A channel whose counters the job reads: row id, Telegram id, access hash, label."""

    id: int
    tg_id: int
    access_hash: int | None
    label: str
    account_id: int | None = None  # whose access hash it is (#18; None: not known)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The message rows' latest counters from a counters-job read: views and forwards as
# read, replies unless the read gave none, reactions when read (an empty dict: NULL).
_COUNTS_UPDATE = (
    "UPDATE message SET views = {0}, forwards = {1}, replies = COALESCE({2}, replies),"
    " reactions = CASE WHEN {3} THEN {4} ELSE reactions END"
    " WHERE channel_id = {5} AND msg_id = {6}"
)


def _counts_update_sql(conn: Any) -> str:
    if conn.capabilities.dialect == "sqlite":
        return _COUNTS_UPDATE.format(*("?" * 7))
    return _COUNTS_UPDATE.format(
        "$1", "$2", "$3", "$4::boolean", "$5::jsonb", "$6", "$7"
    )


def _counts_update_values(channel_id: int, counters: dict[int, Counts]) -> list[list[Any]]:
    """One parameter row of _COUNTS_UPDATE per post (reactions encoded as the model's
    JSONField stores them)."""
    field = Message._meta.fields_map["reactions"]
    return [
        [v, f, r, x is not None, field.to_db_value(x or None, Message), channel_id, msg_id]
        for msg_id, (v, f, r, x) in counters.items()
    ]


def due_window(age: timedelta) -> timedelta:
    """How long after a post reached `age` its age snapshot may still be taken:
    max(age / 4, 15 min); later it is skipped (the curve says it is missing)."""
    return max(age / 4, timedelta(minutes=15))


def hold(age: timedelta) -> timedelta:
    """How long the counters job may wait after a post reached `age` so that posts due
    close together go in one request: min(due_window / 2, 1 h) (7.5 min for 1 h,
    1 h for 24 h and more). A post due is read earlier when its channel is read anyway
    (another post past its hold, 100 due)."""
    return min(due_window(age) / 2, timedelta(hours=1))


class CounterRepository:
    """Reads and writes of the counter and subscriber series (services/counters/ and
    the analytics/export services)."""

    # -- the job's side ---------------------------------------------------------------

    async def followed_channels(self) -> list[Followed]:
        """Active broadcast channels (kind "channel") with an access hash, by row id."""
        rows = (
            await Channel.filter(status="active", kind="channel")
            .order_by("id")
            .values(
                "id", "tg_id", "access_hash", "username", "title", "hash_account_id",
                "account_id",
            )
        )
        return [
            Followed(
                int(r["id"]), int(r["tg_id"]), r["access_hash"],
                f"@{r['username']}" if r["username"] else (r["title"] or str(r["tg_id"])),
                r["hash_account_id"] or r["account_id"],
            )
            for r in rows
        ]

    async def due_posts(
        self, channel_ids: Sequence[int], age: timedelta, now: datetime
    ) -> dict[int, dict[int, datetime]]:
        """channel row id -> {msg_id: date} of its posts that reached `age` less than
        `due_window(age)` ago and have no snapshot for that age yet (not comments, not
        service messages, not deleted). One query: the (channel_id, date) index for the
        range, an anti-join (NOT EXISTS) answered from the covering counter_snapshot_due
        (channel_id, msg_id, age_mark) index (migration 0011) for the snapshots taken."""
        if not channel_ids:
            return {}
        newest = now - age
        oldest = newest - due_window(age)
        conn = connections.get("default")
        sqlite = conn.capabilities.dialect == "sqlite"

        def param(n: int) -> str:
            return f"?{n}" if sqlite else f"${n}"

        values: list[Any] = [_db_time(oldest, sqlite), _db_time(newest, sqlite),
                             int(age.total_seconds())]
        listed = ", ".join(param(4 + i) for i in range(len(channel_ids)))
        values.extend(int(c) for c in channel_ids)
        rows = await conn.execute_query_dict(
            _DUE_SQL.format(channels=listed, oldest=param(1), newest=param(2),
                            mark=param(3)),
            values,
        )
        out: dict[int, dict[int, datetime]] = {}
        for r in rows:
            out.setdefault(int(r["channel_id"]), {})[int(r["msg_id"])] = _aware(
                _as_datetime(r["date"])
            )
        return out

    async def record_age(
        self,
        channel_id: int,
        age: timedelta,
        taken_at: datetime,
        counters: dict[int, Counts],
    ) -> bool:
        """One snapshot per post read at configured `age` (age_mark = its seconds; the
        reactions total of `counters`' reactions dict, None when Telegram gave none),
        and the message rows' views, forwards, replies (and reactions JSON, when read)
        set to these latest values; one transaction. `counters`: msg_id -> (views,
        forwards, replies, reactions dict emoji or "custom:<doc id>" -> count, or None).
        False (nothing written) when the channel was removed meanwhile."""
        if not counters:
            return True
        mark = int(age.total_seconds())
        try:
            async with in_transaction("default") as tx:
                if not await Channel.exists(id=channel_id):
                    return False
                await CounterSnapshot.bulk_create(
                    [
                        CounterSnapshot(
                            channel_id=channel_id, msg_id=msg_id, taken_at=taken_at,
                            age_mark=mark, views=v, forwards=f, replies=r,
                            reactions=reactions_total(x) if x is not None else None,
                        )
                        for msg_id, (v, f, r, x) in counters.items()
                    ]
                )
                # ONE statement run for every post (a single hop to the database): an
                # UPDATE per post held the connection's lock for a loop round trip each,
                # so /status and /channels waited behind hundreds of them (#20 P2).
                await tx.execute_many(_counts_update_sql(tx), _counts_update_values(
                    channel_id, counters
                ))
        except IntegrityError:
            # Removed between the check and the insert (PostgreSQL: another connection).
            if await Channel.exists(id=channel_id):
                raise
            return False
        return True

    async def subscribers_due(
        self, channel_ids: Sequence[int], interval: timedelta, now: datetime
    ) -> tuple[list[int], datetime | None]:
        """(the channels (row ids) whose latest subscriber count is older than
        `interval`, or that have none: those with none first (in the given order), then
        the oldest count first; when the first of the others becomes due, None when
        there is no other). Each channel's latest count by a correlated MAX on the
        (channel_id, taken_at) index (_LATEST_SUBSCRIBERS_SQL)."""
        if not channel_ids:
            return [], None
        conn = connections.get("default")
        sqlite = conn.capabilities.dialect == "sqlite"
        listed = ", ".join(f"?{n}" if sqlite else f"${n}" for n in range(1, len(channel_ids) + 1))
        rows = await conn.execute_query_dict(
            _LATEST_SUBSCRIBERS_SQL.format(channels=listed), [int(c) for c in channel_ids]
        )
        latest = {int(r["channel_id"]): r["last"] for r in rows if r["last"] is not None}
        never, old = [], []
        soonest: datetime | None = None
        for cid in channel_ids:
            last = latest.get(cid)
            if last is None:
                never.append(cid)
            elif now - (when := _aware(_as_datetime(last))) >= interval:
                old.append((when, cid))
            elif soonest is None or when + interval < soonest:
                soonest = when + interval
        return never + [cid for _, cid in sorted(old)], soonest

    async def record_subscribers(self, channel_id: int, count: int, taken_at: datetime) -> bool:
        """One subscriber count; False (nothing written) when the channel was removed
        meanwhile."""
        try:
            async with in_transaction("default"):
                if not await Channel.exists(id=channel_id):
                    return False
                await SubscriberSnapshot.create(
                    channel_id=channel_id, taken_at=taken_at, subscribers=count
                )
        except IntegrityError:
            if await Channel.exists(id=channel_id):
                raise
            return False
        return True

    async def resume_at(self) -> datetime | None:
        """When a flood wait Telegram asked of the counters job ends (job_mark
        "counters_resume", unix seconds); None when none was stored."""
        mark = await JobMark.filter(name=_RESUME).first()
        return datetime.fromtimestamp(mark.value, UTC) if mark and mark.value else None

    async def set_resume_at(self, when: datetime) -> None:
        """Store the end of a flood wait (whole seconds, rounded up) so that a restart
        keeps it."""
        value = int(when.timestamp()) + (1 if when.microsecond else 0)
        await JobMark.update_or_create(defaults={"value": value}, name=_RESUME)

    # -- readers (analytics, export) ----------------------------------------------------

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None:
        """The post's snapshots oldest first (points may be empty: a post stored before
        its series began); None when the archive has no such post."""
        msg = (
            await Message.filter(channel_id=channel_id, msg_id=msg_id, comment_of=None)
            .first()
            .values("date", "text", "content_text")
        )
        if msg is None:
            return None
        snaps = (
            await CounterSnapshot.filter(channel_id=channel_id, msg_id=msg_id)
            .order_by("taken_at", "id")
            .values("taken_at", "views", "forwards", "replies", "reactions", "age_mark")
        )
        text = (msg["text"] or msg["content_text"] or "").strip()
        return PostCurve(
            channel_id=channel_id,
            msg_id=msg_id,
            date=_aware(msg["date"]),
            text=text[:100],
            points=tuple(_point(s) for s in snaps),
        )

    async def subscriber_series(
        self, channel_id: int, since: datetime, until: datetime
    ) -> list[SubscriberPoint]:
        """The channel's subscriber counts with since <= taken_at < until, oldest first."""
        return [p async for p in self.iter_subscriber_rows(channel_id, since, until)]

    async def iter_counter_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = 2000
    ) -> AsyncIterator[tuple[int, datetime | None, CounterPoint]]:
        """(msg_id, the post's date, point) of every counter snapshot of the channel
        with since <= taken_at < until, by row id (taken order), `batch` rows a query
        and one query for their posts' dates (None: the post is no longer archived)."""
        fields = ("msg_id", "taken_at", "views", "forwards", "replies", "reactions", "age_mark")
        page: list[dict[str, Any]] = []

        async def flush() -> AsyncIterator[tuple[int, datetime | None, CounterPoint]]:
            ids = {int(r["msg_id"]) for r in page}
            dates = dict(
                await Message.filter(channel_id=channel_id, msg_id__in=ids, comment_of=None)
                .values_list("msg_id", "date")
            )
            for r in page:
                date = dates.get(r["msg_id"])
                yield int(r["msg_id"]), _aware(date) if date else None, _point(r)
            page.clear()

        async for r in _by_id(CounterSnapshot, channel_id, since, until, batch, fields):
            page.append(r)
            if len(page) >= batch:
                async for out in flush():
                    yield out
        if page:
            async for out in flush():
                yield out

    async def iter_subscriber_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = 2000
    ) -> AsyncIterator[SubscriberPoint]:
        """The channel's subscriber counts with since <= taken_at < until, oldest first."""
        fields = ("taken_at", "subscribers")
        async for r in _by_id(SubscriberSnapshot, channel_id, since, until, batch, fields):
            yield SubscriberPoint(_aware(r["taken_at"]), int(r["subscribers"]))


def _point(r: dict[str, Any]) -> CounterPoint:
    mark = r["age_mark"]
    return CounterPoint(
        taken_at=_aware(r["taken_at"]),
        views=r["views"],
        forwards=r["forwards"],
        replies=r["replies"],
        reactions=r["reactions"],
        age_mark=timedelta(seconds=int(mark)) if mark is not None else None,
    )


def _db_time(value: datetime, sqlite: bool) -> Any:
    """A bound for a date column: SQLite compares Tortoise's text form
    ("YYYY-MM-DD HH:MM:SS+00:00"; posts' dates are whole seconds, so the bound is
    truncated to its second), PostgreSQL the aware datetime."""
    value = value.astimezone(UTC)
    if sqlite:
        return str(value.replace(microsecond=0))
    return value


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def _by_id(
    model: type[CounterSnapshot] | type[SubscriberSnapshot],
    channel_id: int,
    since: datetime,
    until: datetime,
    batch: int,
    fields: Sequence[str],
) -> AsyncIterator[dict[str, Any]]:
    """The channel's rows of `model` with since <= taken_at < until as dicts of `fields`,
    by row id (taken order), `batch` rows a query (keyset pages: never all in memory)."""
    last = 0
    while True:
        rows = (
            await model.filter(
                channel_id=channel_id, taken_at__gte=since, taken_at__lt=until, id__gt=last
            )
            .order_by("id")
            .limit(batch)
            .values("id", *fields)
        )
        for r in rows:
            yield r
        if len(rows) < batch:
            return
        last = int(rows[-1]["id"])
