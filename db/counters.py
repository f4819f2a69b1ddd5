"""Counter snapshots (table `counter_snapshot`) and subscriber counts
(`subscriber_snapshot`) of issue #17.

Written two ways:
- with the messages they belong to: `store_batch` (db/messages.py) calls
  `snapshot_sqlite` / `snapshot_pg` in its transaction, BEFORE the upsert (they compare
  the stored counters with the new ones). A row is written for each message of `rows`
  dated at or after `young_since` (None: none) that is new, or whose views, forwards,
  replies or reactions total differ from the stored row's; `taken_at` is the batch's
  fetched_at; `age_mark` NULL. Comments, service messages and messages without any
  counter (a group's) get none.
- by the counters job (services/counters/): `CounterRepository.record_age` (a snapshot
  at a configured age, read with messages.getMessagesViews: no reactions) and
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

from tortoise.functions import Max
from tortoise.transactions import in_transaction

from core.analytics import CounterPoint, PostCurve, SubscriberPoint
from core.parsing import COLUMNS, MSG_ID, Row
from db.models import Channel, CounterSnapshot, Message, SubscriberSnapshot

_DATE = COLUMNS.index("date")
_VIEWS = COLUMNS.index("views")
_FORWARDS = COLUMNS.index("forwards")
_REPLIES = COLUMNS.index("replies")
_REACTIONS = COLUMNS.index("reactions")
_COMMENT_OF = COLUMNS.index("comment_of")
_ACTION = COLUMNS.index("action")

# (views, forwards, replies, reactions total)
_Counts = tuple[int | None, int | None, int | None, int | None]

_INSERT_SQLITE = (
    "INSERT INTO counter_snapshot"
    " (channel_id, msg_id, taken_at, age_mark, views, forwards, replies, reactions)"
    " VALUES (?, ?, ?, NULL, ?, ?, ?, ?)"
)
_STORED_SQLITE = (
    "SELECT msg_id, views, forwards, replies, reactions FROM message"
    " WHERE channel_id = ? AND msg_id IN (SELECT value FROM json_each(?))"
)
_STORED_PG = (
    "SELECT msg_id, views, forwards, replies, reactions::text AS reactions FROM message"
    " WHERE channel_id = $1 AND msg_id = ANY($2::bigint[])"
)
_INSERT_PG = (
    "INSERT INTO counter_snapshot"
    " (channel_id, msg_id, taken_at, age_mark, views, forwards, replies, reactions)"
    " SELECT $1, u.msg_id, $2, NULL, u.views, u.forwards, u.replies, u.reactions"
    " FROM unnest($3::bigint[], $4::int[], $5::int[], $6::int[], $7::int[])"
    " AS u(msg_id, views, forwards, replies, reactions)"
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


def _changed(rows: list[Row], stored: Iterable[Any]) -> list[tuple[int, _Counts]]:
    """(msg_id, counts) of the rows that are new or whose counts differ from the stored
    row's (`stored`: (msg_id, views, forwards, replies, reactions JSON) rows)."""
    old: dict[int, _Counts] = {
        int(s[0]): (s[1], s[2], s[3], reactions_total(s[4])) for s in stored
    }
    out = []
    for r in rows:
        counts = _counts(r)
        if old.get(int(r[MSG_ID])) != counts:
            out.append((int(r[MSG_ID]), counts))
    return out


def snapshot_sqlite(
    raw: sqlite3.Connection,
    channel_id: int,
    rows: list[Row],
    taken_at: str,
    young_since: datetime | None,
) -> None:
    """SQLite side of the contract above (inside the caller's transaction): one SELECT
    of the stored counters, one executemany of the new snapshot rows."""
    followed = _followed(rows, young_since)
    if not followed:
        return
    ids = json.dumps([int(r[MSG_ID]) for r in followed])
    stored = raw.execute(_STORED_SQLITE, (channel_id, ids)).fetchall()
    changed = _changed(followed, stored)
    if changed:
        raw.executemany(
            _INSERT_SQLITE, [(channel_id, msg_id, taken_at, *c) for msg_id, c in changed]
        )


async def snapshot_pg(
    tx: Any, channel_id: int, rows: list[Row], taken_at: datetime, young_since: datetime | None
) -> None:
    """PostgreSQL side of the contract above (inside the caller's transaction): one
    SELECT, one INSERT over arrays."""
    followed = _followed(rows, young_since)
    if not followed:
        return
    ids = [int(r[MSG_ID]) for r in followed]
    _, stored = await tx.execute_query(_STORED_PG, [channel_id, ids])
    changed = _changed(
        followed,
        ((s["msg_id"], s["views"], s["forwards"], s["replies"], s["reactions"]) for s in stored),
    )
    if changed:
        cols = list(zip(*(c for _, c in changed), strict=True))
        await tx.execute_query(
            _INSERT_PG,
            [channel_id, taken_at, [m for m, _ in changed], *(list(c) for c in cols)],
        )


@dataclass(frozen=True)
class Followed:
    """A channel whose counters the job reads: row id, Telegram id, access hash, label."""

    id: int
    tg_id: int
    access_hash: int | None
    label: str


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
            .values("id", "tg_id", "access_hash", "username", "title")
        )
        return [
            Followed(
                int(r["id"]), int(r["tg_id"]), r["access_hash"],
                f"@{r['username']}" if r["username"] else (r["title"] or str(r["tg_id"])),
            )
            for r in rows
        ]

    async def due_posts(
        self, channel_ids: Sequence[int], age: timedelta, now: datetime
    ) -> dict[int, dict[int, datetime]]:
        """channel row id -> {msg_id: date} of its posts that reached `age` less than
        `due_window(age)` ago and have no snapshot for that age yet (not comments, not
        service messages, not deleted). Found by the (channel_id, date) index."""
        if not channel_ids:
            return {}
        newest = now - age
        oldest = newest - due_window(age)
        rows = await Message.filter(
            channel_id__in=list(channel_ids),
            date__gt=oldest,
            date__lte=newest,
            comment_of=None,
            deleted_at=None,
            action__isnull=True,
        ).values_list("channel_id", "msg_id", "date")
        if not rows:
            return {}
        mark = int(age.total_seconds())
        done = set(
            await CounterSnapshot.filter(
                channel_id__in=list({int(c) for c, _, _ in rows}),
                msg_id__in=list({int(m) for _, m, _ in rows}),
                age_mark=mark,
            ).values_list("channel_id", "msg_id")
        )
        out: dict[int, dict[int, datetime]] = {}
        for channel_id, msg_id, date in rows:
            if (channel_id, msg_id) not in done:
                out.setdefault(int(channel_id), {})[int(msg_id)] = _aware(_as_datetime(date))
        return out

    async def record_age(
        self,
        channel_id: int,
        age: timedelta,
        taken_at: datetime,
        counters: dict[int, tuple[int | None, int | None, int | None]],
    ) -> None:
        """One snapshot per post read at configured `age` (age_mark = its seconds,
        reactions NULL: getMessagesViews gives none), and the message rows' views,
        forwards and replies set to these latest values; one transaction."""
        if not counters:
            return
        mark = int(age.total_seconds())
        async with in_transaction("default"):
            await CounterSnapshot.bulk_create(
                [
                    CounterSnapshot(
                        channel_id=channel_id, msg_id=msg_id, taken_at=taken_at, age_mark=mark,
                        views=v, forwards=f, replies=r, reactions=None,
                    )
                    for msg_id, (v, f, r) in counters.items()
                ]
            )
            for msg_id, (v, f, r) in counters.items():
                fields: dict[str, Any] = {"views": v, "forwards": f}
                if r is not None:
                    fields["replies"] = r
                await Message.filter(channel_id=channel_id, msg_id=msg_id).update(**fields)

    async def subscribers_due(
        self, channel_ids: Sequence[int], interval: timedelta, now: datetime
    ) -> list[int]:
        """The channels (row ids, in the given order) whose latest subscriber count is
        older than `interval`, or that have none."""
        if not channel_ids:
            return []
        latest = dict(
            await SubscriberSnapshot.filter(channel_id__in=list(channel_ids))
            .group_by("channel_id")
            .annotate(last=Max("taken_at"))
            .values_list("channel_id", "last")
        )
        out = []
        for cid in channel_ids:
            last = latest.get(cid)
            if last is None or now - _aware(_as_datetime(last)) >= interval:
                out.append(cid)
        return out

    async def record_subscribers(self, channel_id: int, count: int, taken_at: datetime) -> None:
        await SubscriberSnapshot.create(
            channel_id=channel_id, taken_at=taken_at, subscribers=count
        )

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
    ) -> AsyncIterator[tuple[int, CounterPoint]]:
        """(msg_id, point) of every counter snapshot of the channel with
        since <= taken_at < until, by row id (taken order), `batch` rows a query."""
        last = 0
        while True:
            rows = (
                await CounterSnapshot.filter(
                    channel_id=channel_id, taken_at__gte=since, taken_at__lt=until, id__gt=last
                )
                .order_by("id")
                .limit(batch)
                .values(
                    "id", "msg_id", "taken_at", "views", "forwards", "replies", "reactions",
                    "age_mark",
                )
            )
            for r in rows:
                yield int(r["msg_id"]), _point(r)
            if len(rows) < batch:
                return
            last = int(rows[-1]["id"])

    async def iter_subscriber_rows(
        self, channel_id: int, since: datetime, until: datetime, *, batch: int = 2000
    ) -> AsyncIterator[SubscriberPoint]:
        """The channel's subscriber counts with since <= taken_at < until, oldest first."""
        last = 0
        while True:
            rows = (
                await SubscriberSnapshot.filter(
                    channel_id=channel_id, taken_at__gte=since, taken_at__lt=until, id__gt=last
                )
                .order_by("id")
                .limit(batch)
                .values("id", "taken_at", "subscribers")
            )
            for r in rows:
                yield SubscriberPoint(_aware(r["taken_at"]), int(r["subscribers"]))
            if len(rows) < batch:
                return
            last = int(rows[-1]["id"])


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


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
