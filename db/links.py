"""The repost and mention graph's edges (table `message_link`): written with the
messages they come from, aggregated for /graph, and filled in for the messages stored
before the table existed.

`store_batch` (db/messages.py) calls `links_sqlite` / `links_pg` in its transaction,
AFTER the upsert. Contract: one row per (message, kind, target) of `rows`
(core/links.py `extract_links`); a message among `changed` (its content was edited)
first loses its old rows; repeats of a row are harmless (the unique key). A batch
whose rows cannot link (core/links.py `may_link`: no forward, no '@' or '/' in the
text, no text_url entity) costs a loop of substring tests and no statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.analytics import GraphEdge, LinkKind
from core.links import RULES_VERSION, LinkCells, LinkOwner, cells_of, may_link, row_cells
from core.parsing import COLUMNS, MSG_ID, Row
from db.export import sql_time

_DATE = COLUMNS.index("date")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S+00:00"  # how db/messages.py stores times in SQLite
# Column sizes of message_link (db/models.py MessageLink).
_USERNAME_MAX, _TITLE_MAX = 64, 256

# JobMark names of the backfill: the highest message row id done, the highest row id
# it has to do (the archive's top when it started: rows above were written with their
# links by store_batch), and the link rules' version it started under (core/links.py
# RULES_VERSION; none stored: 1, the rules before the version was kept). A newer
# version starts it again from the first row, up to the archive's top then.
BACKFILL_MARK = "links_backfill"
BACKFILL_END = "links_backfill_end"
BACKFILL_RULES = "links_backfill_rules"



def _pick(i: int) -> str:
    # `->>` (SQLite 3.38+) is json_extract without its path parsing.
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"value ->> {i}"
    return f"json_extract(value, '$[{i}]')"


# One statement per batch over a JSON array of rows (see db/messages.py: an
# executemany steps once per row, each step giving the GIL back and forth).
_INSERT_SQLITE = (
    "INSERT INTO message_link (channel_id, msg_id, date, kind, target, target_tg_id,"
    " target_username, target_title)"
    # The date: a Unix time from store_batch's rows (json.dumps turns a datetime into
    # one in C), stored the way db/messages.py stores times; a text from the backfill,
    # which reads it as stored.
    f" SELECT ?1, {_pick(0)}, CASE typeof({_pick(1)}) WHEN 'text' THEN {_pick(1)}"
    f" ELSE strftime('{_SQLITE_TIME}', {_pick(1)}, 'unixepoch') END,"
    f" {', '.join(_pick(i) for i in range(2, 7))}"
    " FROM json_each(?2) WHERE true"
    " ON CONFLICT (channel_id, msg_id, kind, target) DO NOTHING"
)
_DELETE_SQLITE = (
    "DELETE FROM message_link WHERE channel_id = ? AND msg_id IN"
    " (SELECT value FROM json_each(?))"
)
_INSERT_PG = (
    "INSERT INTO message_link (channel_id, msg_id, date, kind, target, target_tg_id,"
    " target_username, target_title)"
    " SELECT u.channel_id, u.msg_id, u.date, u.kind, u.target, u.tg_id, u.username, u.title"
    " FROM unnest($1::int[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[],"
    " $6::bigint[], $7::text[], $8::text[])"
    " AS u(channel_id, msg_id, date, kind, target, tg_id, username, title)"
    " ON CONFLICT (channel_id, msg_id, kind, target) DO NOTHING"
)
_DELETE_PG = "DELETE FROM message_link WHERE channel_id = $1 AND msg_id = ANY($2::bigint[])"
# The channel's id and every username it has had (space-separated: usernames have none).
_OWNER = (
    "SELECT tg_id, username, (SELECT {agg}(username, ' ') FROM channel_alias"
    " WHERE channel_id = {p}) AS aliases FROM channel WHERE id = {p}"
)
_OWNER_SQLITE = _OWNER.format(agg="group_concat", p="?1")
_OWNER_PG = _OWNER.format(agg="string_agg", p="$1")


def _owner(found: Any) -> LinkOwner:
    """The LinkOwner of an _OWNER row (tg_id, username, aliases); None: no channel."""
    if found is None:
        return LinkOwner()
    tg_id, username, aliases = found
    names = [username, *(aliases or "").split()]
    return LinkOwner(
        int(tg_id) if tg_id is not None else None,
        frozenset(str(n).lower() for n in names if n),
    )


def _json(cells: list[tuple[Any, ...]]) -> str:
    return json.dumps(cells, ensure_ascii=False, default=datetime.timestamp)


def _cells(msg_id: int, date: Any, c: LinkCells) -> tuple[Any, ...]:
    kind, target, tg_id, username, title = c
    if username is not None and len(username) > _USERNAME_MAX:
        username = username[:_USERNAME_MAX]
    if title is not None and len(title) > _TITLE_MAX:
        title = title[:_TITLE_MAX]
    return (msg_id, date, kind, target, tg_id, username, title)


# -- the ingest hooks ----------------------------------------------------------------


def links_sqlite(
    raw: sqlite3.Connection, channel_id: int, rows: list[Row], changed: list[int]
) -> None:
    """SQLite side of the contract above (inside the caller's transaction)."""
    if changed:
        raw.execute(_DELETE_SQLITE, (channel_id, json.dumps(changed)))
    candidates = [r for r in rows if may_link(r)]
    if not candidates:
        return
    owner = _sqlite_owner(raw, channel_id)
    cells = [
        _cells(r[MSG_ID], r[_DATE], c)
        for r in candidates
        for c in row_cells(r, owner)
    ]
    if cells:
        raw.execute(_INSERT_SQLITE, (channel_id, _json(cells)))


async def links_pg(tx: Any, channel_id: int, rows: list[Row], changed: list[int]) -> None:
    """PostgreSQL side of the contract above (inside the caller's transaction)."""
    if changed:
        await tx.execute_query(_DELETE_PG, [channel_id, changed])
    candidates = [r for r in rows if may_link(r)]
    if not candidates:
        return
    owner = await _pg_owner(tx, channel_id)
    cells = [
        (channel_id, *_cells(r[MSG_ID], r[_DATE], c))
        for r in candidates
        for c in row_cells(r, owner)
    ]
    if cells:
        await tx.execute_query(_INSERT_PG, [list(c) for c in zip(*cells, strict=True)])


# -- the backfill ----------------------------------------------------------------------

# The rows that may link, by row id range (the primary key): the text tests are a
# prefilter, core/links.py decides.
_CANDIDATES = (
    "SELECT id, channel_id, msg_id, date, text, entities, fwd_from FROM message"
    " WHERE id > {a} AND id <= {b} AND comment_of IS NULL AND action IS NULL"
    " AND (fwd_from IS NOT NULL OR text LIKE '%@%' OR text LIKE '%/%'"
    " OR CAST(entities AS TEXT) LIKE '%TextUrl%')"
)


# The link rows of the posts of a row id range (the backfill compares them with what
# the rules find now): the message primary key for the range, message_link's unique
# key for each post.
_STORED = (
    "SELECT l.id, l.channel_id, l.msg_id, l.kind, l.target FROM message m"
    " JOIN message_link l ON l.channel_id = m.channel_id AND l.msg_id = m.msg_id"
    " WHERE m.id > {a} AND m.id <= {b} AND m.comment_of IS NULL"
)


@dataclass(frozen=True)
class BackfillStep:
    """One backfill transaction: the message row ids it covered (`done` is the new
    mark), the rows that linked, the link rows inserted (not those already stored) and
    those deleted (stored under older rules, which the current ones no longer find)."""

    done: int
    end: int
    messages: int
    links: int
    dropped: int = 0


def _stale(stored: list[tuple[Any, ...]], cells: list[tuple[Any, ...]]) -> list[int]:
    """The ids of `stored` link rows (id, channel_id, msg_id, kind, target) that are not
    among `cells` (channel_id, msg_id, date, kind, target, ...)."""
    found = {(c[0], c[1], c[3], c[4]) for c in cells}
    return [int(r[0]) for r in stored if (r[1], r[2], r[3], r[4]) not in found]


class LinkRepository:
    """The graph's queries: edges per channel and period, and the backfill."""

    # -- backfill

    async def backfill_bounds(self) -> tuple[int, int]:
        """(done, end): the highest message row id the backfill has done and the highest
        it has to do. The first call, and the first under newer link rules
        (RULES_VERSION), fix `end` at the archive's top row id and start from 0."""
        conn = connections.get("default")
        p = ("?", "?", "?") if _sqlite(conn) else ("$1", "$2", "$3")
        rows = await conn.execute_query_dict(
            f"SELECT name, value FROM job_mark WHERE name IN ({', '.join(p)})",
            [BACKFILL_MARK, BACKFILL_END, BACKFILL_RULES],
        )
        marks = {r["name"]: int(r["value"]) for r in rows}
        rules = marks.get(BACKFILL_RULES, 1 if BACKFILL_END in marks else 0)
        if BACKFILL_END not in marks or rules < RULES_VERSION:
            top = await conn.execute_query_dict("SELECT COALESCE(MAX(id), 0) AS top FROM message")
            marks[BACKFILL_END], marks[BACKFILL_MARK] = int(top[0]["top"]), 0
            async with in_transaction("default") as tx:
                for name in (BACKFILL_END, BACKFILL_MARK):
                    await _set_mark(tx, name, marks[name])
                await _set_mark(tx, BACKFILL_RULES, RULES_VERSION)
        return marks.get(BACKFILL_MARK, 0), marks[BACKFILL_END]

    async def backfill(self, done: int, end: int, span: int) -> BackfillStep:
        """Write the links of message rows `done` < id <= min(done + span, end), delete
        their link rows the rules no longer find (stored under older rules), and move
        the mark there, in ONE transaction (SQLite: one hop to its thread, under
        Tortoise's lock, so no ingest batch can change a row in between)."""
        upto = min(done + max(1, span), end)
        conn = connections.get("default")
        if _sqlite(conn):

            def work(raw: sqlite3.Connection) -> tuple[int, int, int]:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    found = raw.execute(_CANDIDATES.format(a="?", b="?"), (done, upto)).fetchall()
                    owners = _OwnerCache(lambda cid: _sqlite_owner(raw, cid))
                    cells = _backfill_cells(found, owners)
                    stored = raw.execute(_STORED.format(a="?", b="?"), (done, upto)).fetchall()
                    stale = _stale(stored, cells)
                    if stale:
                        raw.execute(
                            "DELETE FROM message_link WHERE id IN (SELECT value FROM"
                            " json_each(?))", (json.dumps(stale),),
                        )  # fmt: skip
                    by_channel: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
                    for c in cells:
                        by_channel[c[0]].append(c[1:])
                    written = 0  # rows inserted (those already stored are not)
                    for cid, items in by_channel.items():
                        written += raw.execute(_INSERT_SQLITE, (cid, _json(items))).rowcount
                    raw.execute(
                        "INSERT INTO job_mark (name, value) VALUES (?, ?) ON CONFLICT (name)"
                        " DO UPDATE SET value = excluded.value",
                        (BACKFILL_MARK, upto),
                    )
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
                raw.execute("COMMIT")
                return len(found), written, len(stale)

            async with conn.acquire_connection() as aconn:
                messages, links, dropped = await aconn._execute(work, aconn._conn)
            return BackfillStep(upto, end, messages, links, dropped)

        async with in_transaction("default") as tx:
            _, found = await tx.execute_query(_CANDIDATES.format(a="$1", b="$2"), [done, upto])
            cache: dict[int, LinkOwner] = {}
            for cid in {r["channel_id"] for r in found}:
                cache[cid] = await _pg_owner(tx, cid)
            cells = _backfill_cells(
                [tuple(r.values()) for r in found], _OwnerCache(cache.__getitem__)
            )
            _, stored = await tx.execute_query(_STORED.format(a="$1", b="$2"), [done, upto])
            stale = _stale([tuple(r.values()) for r in stored], cells)
            if stale:
                await tx.execute_query(
                    "DELETE FROM message_link WHERE id = ANY($1::bigint[])", [stale]
                )
            written = 0  # rows inserted (those already stored are not)
            if cells:
                # (execute_query's count of an INSERT is the status's oid field: 0)
                written = len(await tx.execute_query_dict(
                    _INSERT_PG + " RETURNING 1", [list(c) for c in zip(*cells, strict=True)]
                ))
            await tx.execute_query(
                "INSERT INTO job_mark (name, value) VALUES ($1, $2) ON CONFLICT (name)"
                " DO UPDATE SET value = excluded.value",
                [BACKFILL_MARK, upto],
            )
        return BackfillStep(upto, end, len(found), written, len(stale))

    # -- the graph

    async def edges(
        self, channel_id: int | None = None, since: datetime | None = None
    ) -> list[GraphEdge]:
        """The graph's edges from links dated at or after `since` (None: all), one per
        (source channel row, target, kind), weighted by posts (an album forwarded
        whole counts once); with `channel_id`, the edges from that channel and those
        of other archived channels to it.

        Targets are merged where the archive knows they are one channel: "@name" of an
        archived channel (any of its usernames) or of a channel a forward named with
        its id becomes "id:<its id>"; `target_channel_id` is the target's row when it
        is archived (its username and title then are the archive's)."""
        conn = connections.get("default")
        sqlite = _sqlite(conn)
        names = _Names()
        for r in await conn.execute_query_dict(
            "SELECT id, tg_id, username, title FROM channel"
        ):
            names.archived(int(r["id"]), int(r["tg_id"]), r["username"], r["title"])
        for r in await conn.execute_query_dict(
            "SELECT a.username, c.tg_id FROM channel_alias a JOIN channel c ON c.id = a.channel_id"
        ):
            names.alias(r["username"], int(r["tg_id"]))
        for r in await conn.execute_query_dict(
            "SELECT DISTINCT target_tg_id, target_username FROM message_link"
            " WHERE kind = 'forward' AND target_username IS NOT NULL"
        ):
            names.learned(r["target_username"], int(r["target_tg_id"]))

        where: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return "?" if sqlite else f"${len(params)}"

        if since is not None:
            where.append(f"l.date >= {param(sql_time('sqlite' if sqlite else 'postgres', since))}")
        if channel_id is not None:
            own = param(channel_id)  # placeholders in the order of the text (SQLite)
            marks = ", ".join(param(t) for t in names.targets_of(channel_id))
            where.append(
                f"(l.channel_id = {own} OR l.target IN ({marks}))"
                if marks
                else f"l.channel_id = {own}"
            )
        sql = (
            "SELECT l.channel_id AS source, l.target AS target, l.kind AS kind,"
            " COUNT(DISTINCT COALESCE(m.grouped_id, -l.msg_id)) AS weight,"
            " MIN(l.date) AS first, MAX(l.date) AS last, MAX(l.target_tg_id) AS tg_id,"
            " MAX(l.target_username) AS username, MAX(l.target_title) AS title"
            " FROM message_link l LEFT JOIN message m"
            " ON m.channel_id = l.channel_id AND m.msg_id = l.msg_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY l.channel_id, l.target, l.kind"
        )
        merged: dict[tuple[int, str, str], GraphEdge] = {}
        for r in await conn.execute_query_dict(sql, params):
            edge = names.edge(
                int(r["source"]), r["target"], LinkKind(r["kind"]), int(r["weight"]),
                _time(r["first"]), _time(r["last"]), r["tg_id"], r["username"], r["title"],
            )
            if edge.target_channel_id == edge.source_id:
                continue  # an old username of the channel itself
            key = (edge.source_id, edge.target, edge.kind.value)
            prev = merged.get(key)
            if prev is not None:
                edge = GraphEdge(
                    edge.source_id, edge.target, edge.kind, prev.weight + edge.weight,
                    min(prev.first, edge.first), max(prev.last, edge.last),
                    edge.target_channel_id, edge.username or prev.username,
                    edge.title or prev.title,
                )
            merged[key] = edge
        return sorted(merged.values(), key=lambda e: (e.source_id, -e.weight, e.target))

    async def archived(self) -> dict[int, tuple[int, str | None, str]]:
        """Every archived channel's row id -> (Telegram id, username, title)."""
        conn = connections.get("default")
        rows = await conn.execute_query_dict("SELECT id, tg_id, username, title FROM channel")
        return {int(r["id"]): (int(r["tg_id"]), r["username"], r["title"] or "") for r in rows}


class _Names:
    """What the archive knows of channel names: archived channels by Telegram id and by
    every username, and the usernames forwards gave with an id."""

    def __init__(self) -> None:
        self.by_tg: dict[int, tuple[int, str | None, str]] = {}
        self.rows: dict[int, int] = {}  # row id -> Telegram id
        self.by_name: dict[str, int] = {}  # lower username -> Telegram id

    def archived(self, row_id: int, tg_id: int, username: str | None, title: str) -> None:
        self.by_tg[tg_id] = (row_id, username, title or "")
        self.rows[row_id] = tg_id
        if username:
            self.by_name[username.lower()] = tg_id

    def alias(self, username: str, tg_id: int) -> None:
        self.by_name.setdefault(username.lower(), tg_id)

    def learned(self, username: str, tg_id: int) -> None:
        self.by_name.setdefault(username.lower(), tg_id)

    def targets_of(self, row_id: int) -> list[str]:
        """The targets that name archived channel `row_id`: its id and every username."""
        tg_id = self.rows.get(row_id)
        if tg_id is None:
            return []
        return [f"id:{tg_id}", *(f"@{n}" for n, i in self.by_name.items() if i == tg_id)]

    def edge(
        self, source: int, target: str, kind: LinkKind, weight: int, first: datetime,
        last: datetime, tg_id: Any, username: str | None, title: str | None,
    ) -> GraphEdge:
        known = int(tg_id) if tg_id is not None else None
        if known is None and target.startswith("@"):
            known = self.by_name.get(target[1:])
        if known is not None:
            target = f"id:{known}"
        row = self.by_tg.get(known) if known is not None else None
        if row is not None:
            return GraphEdge(source, target, kind, weight, first, last, row[0], row[1], row[2])
        if username is None and target.startswith("@"):
            username = target[1:]
        return GraphEdge(source, target, kind, weight, first, last, None, username, title)


class _OwnerCache:
    def __init__(self, load: Any) -> None:
        self._load = load
        self._seen: dict[int, LinkOwner] = {}

    def __call__(self, channel_id: int) -> LinkOwner:
        owner = self._seen.get(channel_id)
        if owner is None:
            owner = self._seen[channel_id] = self._load(channel_id)
        return owner


def _sqlite_owner(raw: sqlite3.Connection, channel_id: int) -> LinkOwner:
    return _owner(raw.execute(_OWNER_SQLITE, (channel_id,)).fetchone())


async def _pg_owner(tx: Any, channel_id: int) -> LinkOwner:
    _, found = await tx.execute_query(_OWNER_PG, [channel_id])
    return _owner(tuple(found[0].values()) if found else None)


def _backfill_cells(found: list[tuple[Any, ...]], owners: _OwnerCache) -> list[tuple[Any, ...]]:
    """(channel_id, msg_id, date, kind, target, tg_id, username, title) of the links of
    backfill rows (id, channel_id, msg_id, date, text, entities, fwd_from)."""
    cells = []
    for _, cid, msg_id, date, text, entities, fwd in found:
        for c in cells_of(text, entities, fwd, owners(cid)):
            cells.append((cid, *_cells(msg_id, date, c)))
    return cells


async def _set_mark(conn: Any, name: str, value: int) -> None:
    p1, p2 = ("?", "?") if _sqlite(conn) else ("$1", "$2")
    await conn.execute_query(
        f"INSERT INTO job_mark (name, value) VALUES ({p1}, {p2}) ON CONFLICT (name)"
        " DO UPDATE SET value = excluded.value",
        [name, value],
    )


def _sqlite(conn: Any) -> bool:
    return bool(conn.capabilities.dialect == "sqlite")


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
