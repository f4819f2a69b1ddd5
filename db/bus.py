"""The bus's storage on PostgreSQL (#18): the `bus_message` and `bus_consumer` tables of
migration 0014 and the LISTEN connection. services/bus.py drives them.

Every time is the database's (`now()`), never a machine's clock: workers on several
machines agree on what is stale. Statements are single and autocommit: a connection
killed mid-statement (pg_terminate_backend, a restart) either did the whole change or
none of it, and the caller simply sends it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections

log = logging.getLogger(__name__)

CHANNEL = "tg_parser_bus"  # the NOTIFY channel the migration's triggers signal on

# Recipients: one worker claims it; every worker reads it; the bot process claims it.
WORKER, WORKERS, BOT = "worker", "workers", "bot"


def account_recipient(account_id: int) -> str:
    """The recipient of a request for whichever worker has account `account_id`'s client
    open (its lease): that worker claims it, another one once the account moves."""
    return f"account:{account_id}"


@dataclass(frozen=True)
class Message:
    """One bus row: `payload` and `answer` are JSON values; `progress` the newest report."""

    id: int
    kind: str
    payload: Any
    claimed_by: str | None = None
    progress: Any = None
    answer: Any = None
    answered: bool = False


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _message(row: Any) -> Message:
    get = row.get if hasattr(row, "get") else row.__getitem__
    return Message(
        id=int(get("id")),
        kind=str(get("kind")),
        payload=_json(get("payload")),
        claimed_by=get("claimed_by"),
        progress=_json(get("progress")),
        answer=_json(get("answer")),
        answered=get("answered_at") is not None,
    )


def asyncpg_url(database_url: str) -> str:
    """`postgres://...` as asyncpg takes it (`postgresql://...`)."""
    return "postgresql://" + database_url.split("://", 1)[1]


class BusStore:
    """The bus's statements (each one autocommit) on the app's PostgreSQL connection."""

    async def _rows(self, sql: str, *values: Any) -> list[dict[str, Any]]:
        # execute_query_dict: execute_query drops the rows of INSERT/UPDATE ... RETURNING.
        return await connections.get("default").execute_query_dict(sql, list(values))

    async def post(self, recipient: str, kind: str, payload: Any, token: str) -> int:
        """Insert a message under the sender's unique `token`; its id. Sent again with
        the same token (the connection died before the reply), the row stored the first
        time is returned, not a second one. The trigger notifies the recipients."""
        rows = await self._rows(
            "INSERT INTO bus_message (token, recipient, kind, payload)"
            " VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT (token) DO UPDATE SET token = EXCLUDED.token RETURNING id",
            token, recipient, kind, json.dumps(payload),
        )  # fmt: skip
        return int(rows[0]["id"])

    async def claim(
        self, holder: str, recipients: Sequence[str], kinds: Sequence[str],
        lease_seconds: float,
    ) -> Message | None:
        """Take the oldest open message of `kinds` for one of `recipients`: unclaimed, or
        claimed by a holder whose heartbeat is older than `lease_seconds` (it died). Rows
        another transaction is claiming are skipped (FOR UPDATE SKIP LOCKED): one holder
        each."""
        rows = await self._rows(
            """UPDATE bus_message SET claimed_by = $1, claimed_at = now(), heartbeat_at = now()
            WHERE id = (
                SELECT id FROM bus_message
                WHERE recipient = ANY($2::text[]) AND answered_at IS NULL
                  AND kind = ANY($3::text[])
                  AND (claimed_by IS NULL
                       OR heartbeat_at < now() - make_interval(secs => $4))
                ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, payload, claimed_by, progress, answer, answered_at""",
            holder, list(recipients), list(kinds), float(lease_seconds),
        )  # fmt: skip
        return _message(rows[0]) if rows else None

    async def unclaim(self, holder: str, message_id: int) -> None:
        """Give back a claim `holder` cannot serve after all (its worker stopped being
        ready): unclaimed again, for another worker or the sender's give-up."""
        await self._rows(
            "UPDATE bus_message SET claimed_by = NULL, heartbeat_at = NULL"
            " WHERE id = $1 AND claimed_by = $2 AND answered_at IS NULL RETURNING id",
            message_id, holder,
        )  # fmt: skip

    async def readdress(self, message_id: int, old: str, new: str) -> bool:
        """Send a message nobody claimed yet to `new` instead of `old` (a request for an
        account's worker goes to any worker); False when it was claimed or answered."""
        # The trigger of migration 0014 notifies no change of recipient: said here.
        rows = await self._rows(
            """WITH moved AS (
                UPDATE bus_message SET recipient = $3 WHERE id = $1 AND recipient = $2
                AND claimed_by IS NULL AND answered_at IS NULL RETURNING id)
            SELECT id, pg_notify($4, 'new:' || $3 || ':' || id) FROM moved""",
            message_id, old, new, CHANNEL,
        )  # fmt: skip
        return bool(rows)

    async def heartbeat(self, holder: str, ids: Sequence[int]) -> set[int]:
        """Keep `holder`'s claims alive; the ids it still holds (another took the rest)."""
        if not ids:
            return set()
        rows = await self._rows(
            "UPDATE bus_message SET heartbeat_at = now() WHERE id = ANY($1::bigint[])"
            " AND claimed_by = $2 RETURNING id",
            list(ids), holder,
        )  # fmt: skip
        return {int(r["id"]) for r in rows}

    async def report(self, holder: str, message_id: int, progress: Any) -> bool:
        """Store the newest progress of a claimed message (a heartbeat too); False when
        `holder` no longer holds it."""
        rows = await self._rows(
            "UPDATE bus_message SET progress = $3::jsonb, heartbeat_at = now()"
            " WHERE id = $1 AND claimed_by = $2 AND answered_at IS NULL RETURNING id",
            message_id, holder, json.dumps(progress),
        )  # fmt: skip
        return bool(rows)

    async def answer(self, holder: str, message_id: int, answer: Any) -> bool:
        """Answer a claimed message, once: False when it was answered already (by
        `holder` itself: a retry after the connection died under the first attempt, or
        by the sender giving up) or `holder` lost it to another."""
        rows = await self._rows(
            "UPDATE bus_message SET answer = $3::jsonb, answered_at = now()"
            " WHERE id = $1 AND claimed_by = $2 AND answered_at IS NULL RETURNING id",
            message_id, holder, json.dumps(answer),
        )  # fmt: skip
        return bool(rows)

    async def take(self, holder: str, recipient: str, limit: int = 50) -> list[Message]:
        """Claim and close at once up to `limit` open messages for `recipient` (alerts
        for the bot: nothing to answer), oldest first."""
        rows = await self._rows(
            """UPDATE bus_message SET claimed_by = $1, claimed_at = now(), answered_at = now()
            WHERE id IN (
                SELECT id FROM bus_message WHERE recipient = $2 AND answered_at IS NULL
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, payload, claimed_by, progress, answer, answered_at""",
            holder, recipient, limit,
        )  # fmt: skip
        return sorted((_message(r) for r in rows), key=lambda m: m.id)

    async def get(self, message_id: int) -> Message | None:
        rows = await self._rows(
            "SELECT id, kind, payload, claimed_by, progress, answer, answered_at"
            " FROM bus_message WHERE id = $1",
            message_id,
        )
        return _message(rows[0]) if rows else None

    async def give_up(
        self, message_id: int, answer: Any, claim_seconds: float, lease_seconds: float
    ) -> bool:
        """Answer `answer` for the sender when no live worker holds the message: never
        claimed within `claim_seconds` of being sent, or its holder's heartbeat older than
        `lease_seconds` and nobody took it over for `claim_seconds` more. False when a
        worker holds it (or it is answered)."""
        rows = await self._rows(
            """UPDATE bus_message SET answer = $2::jsonb, answered_at = now()
            WHERE id = $1 AND answered_at IS NULL AND (
                (claimed_by IS NULL AND created_at < now() - make_interval(secs => $3))
                OR heartbeat_at < now() - make_interval(secs => $4::float8 + $3::float8))
            RETURNING id""",
            message_id, json.dumps(answer), float(claim_seconds), float(lease_seconds),
        )  # fmt: skip
        return bool(rows)

    async def last_id(self) -> int:
        rows = await self._rows("SELECT coalesce(max(id), 0) AS id FROM bus_message")
        return int(rows[0]["id"])

    async def broadcasts(self, after: int, limit: int = 100) -> list[Message]:
        """The broadcasts (recipient `workers`) after id `after`, oldest first."""
        rows = await self._rows(
            "SELECT id, kind, payload, claimed_by, progress, answer, answered_at"
            " FROM bus_message WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3",
            WORKERS, after, limit,
        )  # fmt: skip
        return [_message(r) for r in rows]

    async def seen(self, name: str, role: str, position: int | None = None) -> None:
        """`name` is alive (its heartbeat), and has applied the broadcasts up to `position`."""
        await self._rows(
            """INSERT INTO bus_consumer (name, role, position, seen_at)
            VALUES ($1, $2, coalesce($3, 0), now())
            ON CONFLICT (name) DO UPDATE SET seen_at = now(), role = $2,
                position = coalesce($3, bus_consumer.position)""",
            name, role, position,
        )  # fmt: skip

    async def release(self, name: str) -> None:
        """`name` stops: its unanswered claims go back to the queue (another worker takes
        them at once) and nobody waits for it to apply broadcasts."""
        await self._rows(
            "UPDATE bus_message SET claimed_by = NULL, heartbeat_at = NULL"
            " WHERE claimed_by = $1 AND answered_at IS NULL",
            name,
        )
        await self._rows("DELETE FROM bus_consumer WHERE name = $1", name)

    async def behind(self, message_id: int, role: str, lease_seconds: float) -> list[str]:
        """The live consumers of `role` (seen within `lease_seconds`) that have not applied
        broadcast `message_id` yet."""
        rows = await self._rows(
            "SELECT name FROM bus_consumer WHERE role = $1 AND position < $2"
            " AND seen_at >= now() - make_interval(secs => $3) ORDER BY name",
            role, message_id, float(lease_seconds),
        )  # fmt: skip
        return [str(r["name"]) for r in rows]

    async def live(self, role: str, lease_seconds: float) -> int:
        """How many consumers of `role` were seen within `lease_seconds`."""
        rows = await self._rows(
            "SELECT count(*) AS n FROM bus_consumer WHERE role = $1"
            " AND seen_at >= now() - make_interval(secs => $2)",
            role, float(lease_seconds),
        )  # fmt: skip
        return int(rows[0]["n"])

    async def prune(self, keep_seconds: float) -> int:
        """Delete the messages older than `keep_seconds` but those a live worker still
        holds (a long run the bot waits for), and the consumers not seen for as long; how many
        messages went. A request whose sender died unanswered goes too: no worker starts
        it hours late."""
        rows = await self._rows(
            """DELETE FROM bus_message WHERE created_at < now() - make_interval(secs => $1)
            AND (answered_at IS NOT NULL OR claimed_by IS NULL
                 OR heartbeat_at < now() - make_interval(secs => $1)) RETURNING id""",
            float(keep_seconds),
        )  # fmt: skip
        await self._rows(
            "DELETE FROM bus_consumer WHERE seen_at < now() - make_interval(secs => $1)",
            float(keep_seconds),
        )
        return len(rows)


class BusListener:
    """One dedicated asyncpg connection LISTENing on CHANNEL.

    `on_notify(payload)` is called for each notification; `on_lost()` once when the
    connection ends (killed, server gone). `connect()` raises what asyncpg raises when
    the server cannot be reached (OSError, asyncpg's errors).
    """

    def __init__(
        self,
        database_url: str,
        on_notify: Callable[[str], None],
        on_lost: Callable[[], None],
        *,
        timeout: float = 10.0,
    ) -> None:
        self._url = asyncpg_url(database_url)
        self._on_notify = on_notify
        self._on_lost = on_lost
        self._timeout = timeout
        self._conn: Any = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self._url, timeout=self._timeout)
        try:
            conn.add_termination_listener(self._terminated)
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    def _terminated(self, conn: Any) -> None:
        if conn is self._conn:
            self._conn = None
            self._on_lost()

    async def backend_pid(self) -> int | None:
        """The server process of the LISTEN connection (tests kill it)."""
        return int(self._conn.get_server_pid()) if self.connected else None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()
