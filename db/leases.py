"""Lease rows on PostgreSQL (migration 0013): which process holds an account's client
or a channel's run, and the processes themselves (#18).

A lease is the row (kind, key) in `lease`, held by `holder` (a worker id) until
`expires_at`. It is taken in one transaction with `SELECT ... FOR UPDATE SKIP LOCKED`
(a row another process is taking right now is simply not offered), and every time is
the database's `now()`: the machines' clocks never decide who holds what. A holder that
stops renewing loses its leases at `expires_at`, to whoever asks next.

The store keeps its own connection (asyncpg, not the ORM's pool): a heartbeat must not
queue behind a big batch of messages being written.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.database import asyncpg_dsn

log = logging.getLogger(__name__)

# Kinds of lease (`lease.kind`); the key is the row id of that account or channel.
ACCOUNT, CHANNEL = "account", "channel"
# Worker rows whose heartbeat is older than this are deleted (a process killed long ago).
FORGET_WORKERS_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class HeldLease:
    kind: str
    key: str


@dataclass(frozen=True)
class WorkerRow:
    """One process as the `worker` table has it, with the leases it holds now.

    `heartbeat_age`: seconds since its last heartbeat by the database's clock; `alive`:
    it beat within the lease time (a dead one keeps its row until forgotten)."""

    id: str
    host: str
    pid: int
    role: str
    started_at: datetime
    heartbeat_age: float
    alive: bool
    accounts: tuple[str, ...]
    channels: tuple[str, ...]


class LeaseStore:
    """Takes, renews and gives back leases for one holder over one asyncpg connection.

    Every method may raise asyncpg's or OS errors (the database unreachable); the caller
    (services/leases.py LeaseKeeper) decides what a failure means. Methods are
    serialised: one statement at a time on the connection.
    """

    def __init__(self, database_url: str, holder: str, seconds: int) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self.holder = holder
        self.seconds = seconds
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            import asyncpg

            self._conn = await asyncpg.connect(self._dsn)
        return self._conn

    async def close(self) -> None:
        """Close the connection (a cancelled statement left it unusable: call this)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def register(self, host: str, pid: int, role: str) -> None:
        """Write this process's `worker` row (beating now)."""
        async with self._lock:
            conn = await self._connection()
            await conn.execute(
                "INSERT INTO worker (id, host, pid, role) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
                self.holder, host, pid, role,
            )

    async def take(self, kind: str, key: str) -> bool:
        """Take the lease (kind, key) for LEASE seconds: True when this holder has it now
        (free, expired, or already its own: renewed), False when another holder's live
        lease has it or another process is taking it at this moment (SKIP LOCKED), and,
        for an account, when this holder has its fair share of the accounts already
        (`excess_accounts`)."""
        async with self._lock:
            conn = await self._connection()
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT holder, expires_at > now() AS live FROM lease"
                    " WHERE kind = $1 AND key = $2 FOR UPDATE SKIP LOCKED",
                    kind, key,
                )
                # One already its own is renewed whatever the share (a session that
                # reconnects, through a new proxy say, must not stand by behind itself).
                ours = row is not None and row["live"] and row["holder"] == self.holder
                if kind == ACCOUNT and not ours and await self._excess(conn, taking=True) > 0:
                    return False
                if row is None:
                    # No row, or one locked by a taker right now: try to make it; a
                    # row made meanwhile by another is theirs (DO NOTHING, no row back).
                    made = await conn.fetchval(
                        "INSERT INTO lease (kind, key, holder, expires_at) VALUES"
                        " ($1, $2, $3, now() + make_interval(secs => $4))"
                        " ON CONFLICT (kind, key) DO NOTHING RETURNING holder",
                        kind, key, self.holder, float(self.seconds),
                    )
                    return made is not None
                if row["live"] and row["holder"] != self.holder:
                    return False
                await conn.execute(
                    "UPDATE lease SET holder = $3, heartbeat_at = now(),"
                    " expires_at = now() + make_interval(secs => $4)"
                    " WHERE kind = $1 AND key = $2",
                    kind, key, self.holder, float(self.seconds),
                )
                return True

    async def _excess(self, conn: Any, *, taking: bool = False) -> int:
        """How many account leases this holder has beyond its fair share (counting the
        one it is `taking`): the share is ceil(accounts / parser processes), accounts
        with a session, processes of role all or worker that beat within LEASE seconds.
        So N accounts spread over M workers instead of the first one to start taking
        them all; a worker's death raises the others' share once its row goes stale."""
        row = await conn.fetchrow(
            """SELECT
                 (SELECT count(*) FROM account
                   WHERE session_ciphertext IS NOT NULL AND status = 'active') AS accounts,
                 (SELECT count(*) FROM worker WHERE role <> 'bot'
                   AND heartbeat_at > now() - make_interval(secs => $2)) AS workers,
                 (SELECT count(*) FROM lease WHERE holder = $1 AND kind = 'account'
                   AND expires_at > now()) AS held""",
            self.holder, float(self.seconds),
        )
        share = -(-int(row["accounts"]) // max(1, int(row["workers"])))
        return int(row["held"]) + (1 if taking else 0) - max(1, share)

    async def excess_accounts(self) -> int:
        """Account leases this holder should give back (see `_excess`); 0 when none."""
        async with self._lock:
            conn = await self._connection()
            return max(0, await self._excess(conn))

    async def renew(self, leases: set[HeldLease]) -> set[HeldLease]:
        """Extend `leases` (this holder's) by LEASE seconds and beat its worker row;
        returns those renewed (one that expired meanwhile is not: it may be another
        holder's already). A lease of this holder not named stays as it is (expires)."""
        names = [f"{lease.kind}:{lease.key}" for lease in leases]
        async with self._lock:
            conn = await self._connection()
            async with conn.transaction():
                rows = await conn.fetch(
                    "UPDATE lease SET heartbeat_at = now(),"
                    " expires_at = now() + make_interval(secs => $2)"
                    " WHERE holder = $1 AND expires_at > now()"
                    " AND kind || ':' || key = ANY($3::text[]) RETURNING kind, key",
                    self.holder, float(self.seconds), names,
                )
                await conn.execute(
                    "UPDATE worker SET heartbeat_at = now() WHERE id = $1", self.holder
                )
                await conn.execute(
                    "DELETE FROM worker w WHERE heartbeat_at < now() - $1::interval"
                    " AND NOT EXISTS (SELECT 1 FROM lease l WHERE l.holder = w.id"
                    " AND l.expires_at > now())",
                    FORGET_WORKERS_AFTER,
                )
        return {HeldLease(r["kind"], r["key"]) for r in rows}

    async def release(self, kind: str, key: str) -> None:
        """Give the lease back (only if this holder has it)."""
        async with self._lock:
            conn = await self._connection()
            await conn.execute(
                "DELETE FROM lease WHERE kind = $1 AND key = $2 AND holder = $3",
                kind, key, self.holder,
            )

    async def release_all(self, *, forget_worker: bool = True) -> None:
        """Give back every lease of this holder and, by default, delete its worker row
        (a clean stop)."""
        async with self._lock:
            conn = await self._connection()
            async with conn.transaction():
                await conn.execute("DELETE FROM lease WHERE holder = $1", self.holder)
                if forget_worker:
                    await conn.execute("DELETE FROM worker WHERE id = $1", self.holder)

    async def holder_of(self, kind: str, key: str) -> str | None:
        """Who holds the live lease (kind, key), or None."""
        async with self._lock:
            conn = await self._connection()
            value = await conn.fetchval(
                "SELECT holder FROM lease WHERE kind = $1 AND key = $2 AND expires_at > now()",
                kind, key,
            )
        return str(value) if value is not None else None

    async def holders(self, kind: str) -> dict[str, str]:
        """Every live lease of `kind`: key -> holder."""
        async with self._lock:
            conn = await self._connection()
            rows = await conn.fetch(
                "SELECT key, holder FROM lease WHERE kind = $1 AND expires_at > now()", kind
            )
        return {str(r["key"]): str(r["holder"]) for r in rows}

    async def workers(self) -> list[WorkerRow]:
        """Every known process, the live ones first (then by host and pid), with the
        leases each holds now."""
        async with self._lock:
            conn = await self._connection()
            rows = await conn.fetch(
                """SELECT w.id, w.host, w.pid, w.role, w.started_at,
                       EXTRACT(EPOCH FROM now() - w.heartbeat_at)::float8 AS age,
                       COALESCE(array_agg(l.key ORDER BY l.key::bigint)
                           FILTER (WHERE l.kind = 'account'), '{}') AS accounts,
                       COALESCE(array_agg(l.key ORDER BY l.key::bigint)
                           FILTER (WHERE l.kind = 'channel'), '{}') AS channels
                FROM worker w
                LEFT JOIN lease l ON l.holder = w.id AND l.expires_at > now()
                GROUP BY w.id
                ORDER BY (now() - w.heartbeat_at) > make_interval(secs => $1), w.host, w.pid
                """,
                float(self.seconds),
            )
        return [
            WorkerRow(
                id=r["id"], host=r["host"], pid=r["pid"], role=r["role"],
                started_at=r["started_at"], heartbeat_age=max(0.0, r["age"]),
                alive=r["age"] <= self.seconds,
                accounts=tuple(r["accounts"]), channels=tuple(r["channels"]),
            )
            for r in rows
        ]
