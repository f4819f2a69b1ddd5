"""The metric queries of /stats (issue #17), SQLite and PostgreSQL: SQL aggregates over a
channel's messages of a period, read from the covering index of migration 0010
(`message_metrics`); Python sees one row per UTC hour with posts, not one per post.

Posts as /stats counts them (README "Times and statistics"): an album (one grouped_id)
is ONE post, its views, forwards, replies and reactions the largest of its items'
(Telegram repeats an album's views on every item); service events (rows with an
`action`) and posts found deleted since are no posts. A supergroup upgraded from a
basic group counts the old group's rows too (`channel_ids`).

The reactions of a row: the sum of the counts of its reactions JSON ({emoji: count}),
0 when NULL.
"""

from __future__ import annotations

import heapq
import json
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from tortoise import connections

from core.ads import is_ad
from core.analytics import SubscriberPoint
from db.export import sql_time

# Posts younger than this are not "reached" yet: no reach, ER or best hours from them.
MATURE = timedelta(hours=24)
TOP = 5
CLASSIFY_BATCH = 2000


@dataclass(frozen=True)
class PostRow:
    """One post of a top list (album folded): `channel_id` the row it is stored under."""

    channel_id: int
    msg_id: int
    date: datetime
    views: int | None
    er: float | None
    text: str = ""


@dataclass
class Cell:
    """One (weekday, hour) of the operators' zone: posts published then; of those older
    than 24 h with views: their count and views sum; of those with views > 0: the count
    and the sum of their ER."""

    posts: int = 0
    reached: int = 0
    views: int = 0
    rated: int = 0
    er_sum: float = 0.0


@dataclass
class PostsAggregate:
    """The period's posts: `cells[(weekday, hour)]` (Monday 0; hours in the zone asked),
    `ad_posts` (core.ads.is_ad; an album is an ad when one of its items is), the top
    posts by views (any age, views > 0) and by ER (older than 24 h, views > 0)."""

    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    ad_posts: int = 0
    top_by_views: list[PostRow] = field(default_factory=list)
    top_by_er: list[PostRow] = field(default_factory=list)
    # The posts chart's data: posts per day of the zone asked and the views of that
    # day's posts that have views (for the medians); posts of the period found deleted
    # since (no posts: not counted anywhere else).
    day_posts: dict[date, int] = field(default_factory=dict)
    day_views: dict[date, list[int]] = field(default_factory=dict)
    deleted: int = 0


@dataclass(frozen=True)
class SubscriberSummary:
    """Subscriber snapshots of a period: `mean` over the period's snapshots, else the
    latest count before it (None without any); `first` / `last` in the period."""

    mean: float | None
    first: SubscriberPoint | None
    last: SubscriberPoint | None


def _dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


class Params:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        if isinstance(value, datetime):
            # SQLite compares as text: the very text Tortoise writes (microseconds kept).
            value = sql_time(self.dialect, value)
        self.values.append(value)
        # Numbered both ways (SQLite's ?NNN): a value may be used anywhere, and again.
        return f"?{len(self.values)}" if self.dialect == "sqlite" else f"${len(self.values)}"


def parse_time(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def offset_spans(tz: tzinfo, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets over [since, until): (from when, offset seconds), the first
    from `since`; a new item at each change (daylight saving), found to the minute."""

    def off(t: datetime) -> int:
        delta = t.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    spans = [(since, off(since))]
    t = since
    step = timedelta(hours=6)
    while t < until:
        nxt = min(t + step, until)
        if off(nxt) != spans[-1][1]:
            lo, hi = t, nxt  # off(lo) == current, off(hi) changed
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if off(mid) == spans[-1][1]:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(second=0, microsecond=0)
            spans.append((hi, off(hi)))
        t = nxt
    return spans


def in_list(p: Params, ids: list[int]) -> str:
    return ", ".join(p(i) for i in ids)


def _reactions_total(value: Any) -> int:
    """The sum of a reactions JSON's counts ({emoji: count}, text or decoded); 0 for None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return 0
    if not isinstance(value, dict):
        return 0
    return sum(v for v in value.values() if isinstance(v, int) and not isinstance(v, bool))


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


async def classify(
    channel_ids: list[int], since: datetime, until: datetime, *, conn: Any = None
) -> int:
    """Fill `ad` and `reactions_n` (migration 0010) of the rows of `channel_ids` dated in
    [since, until) that have none yet (new rows, rows changed since): `ad` by
    core.ads.is_ad, -1 for a service event or a post deleted since. Returns how many
    rows it classified. Batches of CLASSIFY_BATCH rows, each its own transaction (`conn`:
    one given, a transaction: all in it)."""
    conn = conn if conn is not None else connections.get("default")
    dialect = str(conn.capabilities.dialect)
    done = 0
    while True:
        p = Params(dialect)
        rows = await conn.execute_query_dict(
            "SELECT id, text, entities, reactions, action, deleted_at FROM message"
            # The partial index of the unclassified rows: empty once they are done
            # (planners misjudge how many there are, and PostgreSQL needs the ORDER BY
            # to keep off a sequential scan).
            f"{' INDEXED BY message_unrated' if dialect == 'sqlite' else ''}"
            f" WHERE channel_id IN ({in_list(p, channel_ids)}) AND date >= {p(since)}"
            f" AND date < {p(until)} AND ad IS NULL"
            f" ORDER BY channel_id, date LIMIT {CLASSIFY_BATCH}",
            p.values,
        )
        if not rows:
            return done
        values = [
            [
                -1
                if r["action"] is not None or r["deleted_at"] is not None
                else int(is_ad(r["text"], _json_value(r["entities"]))),
                _reactions_total(r["reactions"]),
                int(r["id"]),
            ]
            for r in rows
        ]
        if dialect == "sqlite":
            await conn.execute_many(
                "UPDATE message SET ad = ?, reactions_n = ? WHERE id = ?", values
            )
        else:
            # One statement for the batch: the rollup's statement trigger (migration
            # 0015) then runs once per batch, not once per row.
            await conn.execute_query(
                "UPDATE message m SET ad = v.ad, reactions_n = v.r FROM unnest("
                "$1::smallint[], $2::integer[], $3::bigint[]) AS v(ad, r, id) WHERE m.id = v.id",
                [list(col) for col in zip(*values, strict=True)],
            )
        done += len(rows)
        if len(rows) < CLASSIFY_BATCH:
            return done


def bucket_seconds(spans: list[tuple[datetime, int]]) -> int:
    """The widest UTC bucket (an hour, 10 or 1 minute) whose bounds are local hour
    bounds for every offset of `spans` (India's +5:30 needs 10 minutes, Nepal's +5:45
    one)."""
    for width in (3600, 600, 60):
        if all(offset % width == 0 for _, offset in spans):
            return width
    return 60


def bucket_sql(dialect: str, width: int, column: str) -> str:
    if dialect == "sqlite":
        # "YYYY-MM-DD HH" / "YYYY-MM-DD HH:M" / "YYYY-MM-DD HH:MM" of the stored text.
        return f"substr({column}, 1, {dict([(3600, 13), (600, 15), (60, 16)])[width]})"
    # FLOOR: a CAST of the numeric epoch would round 12:59:59.6 into the next bucket.
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / {width}) AS BIGINT)"


def bucket_start(dialect: str, width: int, key: Any) -> datetime:
    if dialect == "sqlite":
        text = str(key)
        text += {13: ":00", 15: "0", 16: ""}[len(text)]
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(key) * width, UTC)


async def posts_aggregate(
    channel_ids: list[int],
    since: datetime,
    until: datetime,
    now: datetime,
    tz: tzinfo,
    *,
    use_rollup: bool = True,
) -> PostsAggregate:
    """The posts of rows `channel_ids` dated in [since, until), aggregated by weekday and
    hour in `tz`, their ads, and the top posts; "older than 24 h" is as of `now`.

    Classifies the period's unclassified rows first (`classify`). Then ONE statement
    reads the covering index `message_metrics`: singles as they are, albums folded by
    grouped_id; the posts go into UTC buckets (an hour, or 10 / 1 minute for zones off
    the hour), which Python turns into the zone's (weekday, hour), daylight saving
    included; the two tops come in the same answer.

    In a zone whose offsets are whole hours, the whole hours of the period older than
    24 h come from the per-hour rollup (db/rollup.py, its dirty hours rebuilt first):
    ~24 rows a day instead of every post; the rest (the part of the period younger
    than 24 h, an edge that cuts an hour) from the raw rows as above. `use_rollup`
    False: all from the raw rows (the bench and the tests compare the two)."""
    from db import rollup  # db.rollup builds on this module

    dialect = _dialect()
    spans = offset_spans(tz, since, until)
    width = bucket_seconds(spans)
    raw = [(since, until)]
    cells: list[dict[str, Any]] = []
    if width == 3600 and use_rollup:
        lo, hi = rollup.ceil_hour(since), rollup.floor_hour(min(until, now - MATURE))
        if lo < hi:
            await rollup.refresh(channel_ids)
            cells = await rollup.read(dialect, channel_ids, lo, hi)
            raw = [(a, b) for a, b in ((since, lo), (hi, until)) if a < b]
    for a, b in raw:
        await classify(channel_ids, a, b)
        cells += await _cells(dialect, width, channel_ids, a, b, now)
    out = PostsAggregate()
    # The zone's offset at a bucket's start, from `spans` (no tz lookup per row).
    starts = [t for t, _ in spans]
    offsets = [timedelta(seconds=o) for _, o in spans]
    views: dict[date, list[str]] = {}
    for r in cells:
        utc = bucket_start(dialect, width, r["b"])
        local = utc.replace(tzinfo=None) + offsets[max(0, bisect_right(starts, utc) - 1)]
        out.deleted += int(r["dead"] or 0)
        n = int(r["n"] or 0)
        if not n:  # deleted posts alone
            continue
        day = local.date()
        out.day_posts[day] = out.day_posts.get(day, 0) + n
        if r["vs"]:
            views.setdefault(day, []).append(str(r["vs"]))
        cell = out.cells.setdefault((local.weekday(), local.hour), Cell())
        cell.posts += n
        cell.reached += int(r["reached"] or 0)
        cell.views += int(r["views"] or 0)
        cell.rated += int(r["rated"] or 0)
        cell.er_sum += float(r["er"] or 0.0)
        out.ad_posts += int(r["ads"] or 0)
    out.day_views = {day: list(map(int, ",".join(v).split(","))) for day, v in views.items()}
    # The top posts are in the buckets with the largest maxima: read those buckets'
    # posts alone (a few rows each) instead of ranking every post of the period.
    chosen: set[Any] = set()
    for key in ("vmax", "emax"):
        ranked = heapq.nlargest(TOP, (float(r[key]) for r in cells if r[key] is not None))
        if ranked:
            floor = ranked[-1]
            chosen |= {r["b"] for r in cells if r[key] is not None and float(r[key]) >= floor}
    posts: list[PostRow] = []
    for b in sorted(chosen, key=str):
        start = bucket_start(dialect, width, b)
        lo, hi = max(since, start), min(until, start + timedelta(seconds=width))
        posts += await _posts(dialect, channel_ids, lo, hi, now)
    by_views = [x for x in posts if x.views]
    by_views.sort(key=lambda x: (x.views or 0, x.msg_id), reverse=True)
    by_er = [x for x in posts if x.er is not None]
    by_er.sort(key=lambda x: (x.er or 0.0, x.views or 0, x.msg_id), reverse=True)
    out.top_by_views, out.top_by_er = by_views[:TOP], by_er[:TOP]
    texts = await post_texts({(x.channel_id, x.msg_id) for x in out.top_by_views + out.top_by_er})
    out.top_by_views = [_with_text(x, texts) for x in out.top_by_views]
    out.top_by_er = [_with_text(x, texts) for x in out.top_by_er]
    return out


def _rated_sql(
    dialect: str,
    p: Params,
    channel_ids: list[int],
    since: datetime,
    until: datetime,
    now: datetime,
    width: int,
) -> str:
    """The posts of the period (singles as they are, albums folded), with their UTC
    bucket `b` and `old` (1: older than 24 h with views), from `message_metrics`."""
    where = (
        f"m.channel_id IN ({in_list(p, channel_ids)}) AND m.date >= {p(since)}"
        f" AND m.date < {p(until)} AND m.ad >= 0"
    )
    mature = p(now - MATURE)
    hint = " INDEXED BY message_metrics" if dialect == "sqlite" else ""
    acts = (
        "COALESCE({f}m.forwards{e}, 0) + COALESCE({f}m.replies{e}, 0)"
        " + COALESCE({f}m.reactions_n{e}, 0)"
    )
    return f"""
  SELECT m.channel_id AS ch, m.msg_id AS msg, m.date AS date, m.views AS views,
         {acts.format(f="", e="")} AS acts, m.ad AS ad,
         {bucket_sql(dialect, width, "m.date")} AS b,
         CASE WHEN m.date < {mature} AND m.views IS NOT NULL THEN 1 ELSE 0 END AS old
  FROM message m{hint} WHERE {where} AND m.grouped_id IS NULL
  UNION ALL
  SELECT m.channel_id, MIN(m.msg_id), MIN(m.date), MAX(m.views),
         {acts.format(f="MAX(", e=")")}, MAX(m.ad),
         {bucket_sql(dialect, width, "MIN(m.date)")},
         CASE WHEN MIN(m.date) < {mature} AND MAX(m.views) IS NOT NULL THEN 1 ELSE 0 END
  FROM message m{hint} WHERE {where} AND m.grouped_id IS NOT NULL
  GROUP BY m.channel_id, m.grouped_id
"""


async def _cells(
    dialect: str,
    width: int,
    channel_ids: list[int],
    since: datetime,
    until: datetime,
    now: datetime,
    conn: Any = None,
) -> list[dict[str, Any]]:
    """One row per UTC bucket with posts: n (posts), reached, views (sum over reached),
    rated, er (sum), ads, vmax (the largest views), emax (the largest ER of a rated
    post), vs (the views of its posts that have views, "12,40,7": the posts chart's
    medians), dead (posts found deleted since: no posts, counted apart).

    ONE statement over the covering index: each part sums per bucket as it reads the
    index (singles older than 24 h, younger singles, deleted singles, albums folded),
    then the parts' rows (a few per bucket) are summed. Splitting the singles at
    now - 24 h keeps "older than 24 h" out of the per-row expressions; a deleted
    single's `action` (not in the index) is read for `ad = -1` rows alone."""
    p = Params(dialect)
    ids = in_list(p, channel_ids)
    lo, hi = p(since), p(until)
    mature = now - MATURE
    cut = p(min(max(mature, since), until))  # singles before it are older than 24 h
    old_at = p(mature)
    hint = " INDEXED BY message_metrics" if dialect == "sqlite" else ""
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    text = "" if dialect == "sqlite" else "::text"

    def concat(col: str) -> str:
        return f"group_concat({col})" if dialect == "sqlite" else f"string_agg({col}{text}, ',')"

    acts = "COALESCE(forwards, 0) + COALESCE(replies, 0) + COALESCE(reactions_n, 0)"
    er = f"CAST({acts} AS {real}) / NULLIF(views, 0)"
    where = f"FROM message{hint} WHERE channel_id IN ({ids})"
    b = bucket_sql(dialect, width, "date")
    positive = "SUM(CASE WHEN views > 0 THEN 1 ELSE 0 END)"
    # Deleted posts: `ad = -1` rows (from the index) that are no service event (`action`,
    # from the table: for those rows alone). SQLite reads `action` lazily, row by row;
    # PostgreSQL would read the whole period's table rows for it (a bitmap heap scan),
    # so there the `ad = -1` rows are taken from the index first, then looked up.
    dead_cte = ""
    if dialect == "sqlite":

        def dead_where(cond: str) -> str:
            return (
                f"{where} AND date >= {lo} AND date < {hi} AND ad = -1 AND {cond}"
                " AND action IS NULL"
            )

    else:
        dead_cte = f"""WITH gone AS MATERIALIZED (
  SELECT channel_id, msg_id, grouped_id, date
  {where} AND date >= {lo} AND date < {hi} AND ad = -1),
dead AS (SELECT g.channel_id, g.grouped_id, g.date FROM gone g JOIN message x
  ON x.channel_id = g.channel_id AND x.msg_id = g.msg_id WHERE x.action IS NULL)"""

        def dead_where(cond: str) -> str:
            return f"FROM dead WHERE {cond}"

    singles = f"""
  SELECT {b} AS b, COUNT(*) AS n, COUNT(views) AS reached, SUM(views) AS views,
         {positive} AS rated, SUM({er}) AS er, SUM(ad) AS ads,
         NULLIF(MAX(views), 0) AS vmax, MAX({er}) AS emax, {concat("views")} AS vs, 0 AS dead
  {where} AND date >= {lo} AND date < {cut} AND ad >= 0 AND grouped_id IS NULL GROUP BY {b}
  UNION ALL
  SELECT {b}, COUNT(*), 0, 0, 0, NULL, SUM(ad), NULLIF(MAX(views), 0), NULL,
         {concat("views")}, 0
  {where} AND date >= {cut} AND date < {hi} AND ad >= 0 AND grouped_id IS NULL GROUP BY {b}
  UNION ALL
  SELECT {b}, 0, 0, 0, 0, NULL, 0, NULL, NULL, NULL, COUNT(*)
  {dead_where("grouped_id IS NULL")} GROUP BY {b}"""
    # An album: its items' largest counters, each (the living items': an item deleted alone
    # leaves the album a post); deleted when no item is living (`ad` -1 for all).
    live = "CASE WHEN ad >= 0 THEN {} END"
    counters = ("forwards", "replies", "reactions_n")
    items = f"""SELECT channel_id, grouped_id, date, ad, views, {", ".join(counters)}
      {where} AND date >= {lo} AND date < {hi} AND grouped_id IS NOT NULL AND ad >= 0
      UNION ALL
      SELECT channel_id, grouped_id, date, -1, NULL, NULL, NULL, NULL
      {dead_where("grouped_id IS NOT NULL")}"""
    album = f"""
    SELECT {bucket_sql(dialect, width, "MIN(date)")} AS b, MIN(date) AS d, MAX(ad) AS ad,
           MAX({live.format("views")}) AS views,
           {" + ".join(f"COALESCE(MAX({live.format(c)}), 0)" for c in counters)} AS acts
    FROM ({items}) i GROUP BY channel_id, grouped_id"""
    old = f"(ad >= 0 AND d < {old_at} AND views IS NOT NULL)"
    a_er = f"CASE WHEN {old} AND views > 0 THEN CAST(acts AS {real}) / views END"
    albums = f"""
  SELECT b, SUM(CASE WHEN ad >= 0 THEN 1 ELSE 0 END), SUM(CASE WHEN {old} THEN 1 ELSE 0 END),
         SUM(CASE WHEN {old} THEN views ELSE 0 END),
         SUM(CASE WHEN {old} AND views > 0 THEN 1 ELSE 0 END), SUM({a_er}),
         SUM(CASE WHEN ad = 1 THEN 1 ELSE 0 END), NULLIF(MAX(views), 0), MAX({a_er}),
         {concat("views")}, SUM(CASE WHEN ad = -1 THEN 1 ELSE 0 END)
  FROM ({album}) a GROUP BY b"""
    sql = f"""{dead_cte}
SELECT CAST(b AS TEXT) AS b, SUM(n) AS n, SUM(reached) AS reached, SUM(views) AS views,
       SUM(rated) AS rated, SUM(er) AS er, SUM(ads) AS ads, MAX(vmax) AS vmax,
       MAX(emax) AS emax, {concat("vs") if dialect == "sqlite" else "string_agg(vs, ',')"} AS vs,
       SUM(dead) AS dead
FROM ({singles}
  UNION ALL{albums}) parts GROUP BY b
"""
    conn = conn if conn is not None else connections.get("default")
    return list(await conn.execute_query_dict(sql, p.values))


async def _posts(
    dialect: str, channel_ids: list[int], since: datetime, until: datetime, now: datetime
) -> list[PostRow]:
    """The posts of a short span (one bucket) with their views and ER (None unless
    older than 24 h with views > 0)."""
    p = Params(dialect)
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    sql = f"""
SELECT ch, msg, date, views,
       CASE WHEN old = 1 AND views > 0 THEN CAST(acts AS {real}) / views END AS er
FROM ({_rated_sql(dialect, p, channel_ids, since, until, now, 3600)}) rated
"""
    rows = await connections.get("default").execute_query_dict(sql, p.values)
    return [
        PostRow(
            int(r["ch"]),
            int(r["msg"]),
            parse_time(r["date"]),
            None if r["views"] is None else int(r["views"]),
            None if r["er"] is None else float(r["er"]),
        )
        for r in rows
    ]


def _with_text(post: PostRow, texts: dict[tuple[int, int], str]) -> PostRow:
    return PostRow(
        post.channel_id,
        post.msg_id,
        post.date,
        post.views,
        post.er,
        texts.get((post.channel_id, post.msg_id), ""),
    )


async def post_texts(keys: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The caption of each post (channel row, first msg_id): its own text, else (an
    album) the first item's text that is not empty (album items have close ids)."""
    out: dict[tuple[int, int], str] = {}
    conn = connections.get("default")
    dialect = _dialect()
    for ch, msg in keys:
        p = Params(dialect)
        rows = await conn.execute_query_dict(
            f"SELECT msg_id, grouped_id, text FROM message WHERE channel_id = {p(ch)}"
            f" AND msg_id >= {p(msg)} AND msg_id <= {p(msg + 20)} ORDER BY msg_id",
            p.values,
        )
        if not rows:
            continue
        group = rows[0]["grouped_id"]
        items = [rows[0]] if group is None else [r for r in rows if r["grouped_id"] == group]
        out[ch, msg] = next((str(r["text"]) for r in items if r["text"]), "")
    return out


async def subscriber_summary(
    channel_id: int, since: datetime, until: datetime
) -> SubscriberSummary:
    """Mean, first and last subscriber counts of channel row `channel_id` taken in
    [since, until); without any there, the latest count before `since` is the mean."""
    dialect = _dialect()
    conn = connections.get("default")
    p = Params(dialect)
    ch, lo, hi = p(channel_id), p(since), p(until)
    agg = await conn.execute_query_dict(
        f"SELECT AVG(CAST(subscribers AS {'REAL' if dialect == 'sqlite' else 'DOUBLE PRECISION'}))"
        f" AS mean, COUNT(*) AS n FROM subscriber_snapshot"
        f" WHERE channel_id = {ch} AND taken_at >= {lo} AND taken_at < {hi}",
        p.values,
    )
    if not agg or not agg[0]["n"]:
        before = await subscriber_before(channel_id, since)
        return SubscriberSummary(float(before.subscribers) if before else None, None, None)
    ends = []
    for order in ("ASC", "DESC"):
        p = Params(dialect)
        r = await conn.execute_query_dict(
            f"SELECT taken_at, subscribers FROM subscriber_snapshot"
            f" WHERE channel_id = {p(channel_id)} AND taken_at >= {p(since)}"
            f" AND taken_at < {p(until)} ORDER BY taken_at {order} LIMIT 1",
            p.values,
        )
        ends.append(SubscriberPoint(parse_time(r[0]["taken_at"]), int(r[0]["subscribers"])))
    return SubscriberSummary(float(agg[0]["mean"]), ends[0], ends[1])


async def subscriber_before(channel_id: int, since: datetime) -> SubscriberPoint | None:
    """The latest subscriber count of channel row `channel_id` taken before `since`."""
    p = Params(_dialect())
    rows = await connections.get("default").execute_query_dict(
        f"SELECT taken_at, subscribers FROM subscriber_snapshot WHERE channel_id = {p(channel_id)}"
        f" AND taken_at < {p(since)} ORDER BY taken_at DESC LIMIT 1",
        p.values,
    )
    return (
        SubscriberPoint(parse_time(rows[0]["taken_at"]), int(rows[0]["subscribers"]))
        if rows
        else None
    )


async def subscriber_series(
    channel_id: int, since: datetime, until: datetime, points: int | None = 1000
) -> list[SubscriberPoint]:
    """The subscriber counts of channel row `channel_id` taken in [since, until), oldest
    first; more than `points` of them are thinned evenly to about `points` (the first and
    the last kept). None: all."""
    dialect = _dialect()
    p = Params(dialect)
    rows = await connections.get("default").execute_query_dict(
        f"SELECT taken_at, subscribers FROM subscriber_snapshot WHERE channel_id = {p(channel_id)}"
        f" AND taken_at >= {p(since)} AND taken_at < {p(until)} ORDER BY taken_at",
        p.values,
    )
    series = [SubscriberPoint(parse_time(r["taken_at"]), int(r["subscribers"])) for r in rows]
    if points is None or len(series) <= points:
        return series
    step = len(series) / (points - 1)
    picked = [series[min(len(series) - 1, int(i * step))] for i in range(points - 1)]
    return [*picked, series[-1]]
