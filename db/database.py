"""Database lifecycle: connect, apply migrations, close."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import TypeVar

from tortoise import Tortoise, connections
from tortoise.backends.base import executor as _executor
from tortoise.migrations.api import migrate as migrate_api

from core.database_failure import ASYNCPG_CONNECTION_ERRORS
from core.errors import ProjectError
from db.config import tortoise_config
from db.sqlite_engine import interrupt_running

log = logging.getLogger(__name__)

T = TypeVar("T")


def _progress(event: str, app_label: str, name: str) -> None:
    if event == "apply_start":
        log.info("database: applying migration %s (a big archive can take a while)", name)


# pg_advisory_lock id that serialises migrations of processes starting together.
MIGRATION_LOCK_ID = 0x7470_6D67  # "tpmg"


class DatabaseUnreachable(ProjectError):
    """PostgreSQL refused or could not be reached at start. `str()` is one line for the
    operator: the server as `host:port/db` (never the password), what went wrong and
    the fix. `config`: the fix is in DATABASE_URL or on the server (no such database,
    user or password: restarting will not help); False: the server is down or out of
    reach (it may come up: worth starting again)."""

    code = "database_unreachable"

    def __init__(self, message: str, *, config: bool) -> None:
        super().__init__(message)
        self.config = config


# SQLSTATEs of a connection PostgreSQL refuses for a reason DATABASE_URL must fix
# (https://www.postgresql.org/docs/current/errcodes-appendix.html): 3D000 no such
# database, 28000 / 28P01 the user or its password refused.
_REFUSED = {
    "3D000": "has no such database: create it (`createdb`) or fix the name in DATABASE_URL",
    "28000": "refuses this user: fix the user in DATABASE_URL (or the server's pg_hba.conf)",
    "28P01": "refuses this user's password: fix the password in DATABASE_URL",
}


def postgres_where(database_url: str) -> str:
    """`host:port/db` of a postgres:// DATABASE_URL: what may be shown of it."""
    from urllib.parse import urlsplit

    parts = urlsplit(asyncpg_dsn(database_url))
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return f"{parts.hostname or 'localhost'}:{port}{parts.path}"


def unreachable(database_url: str, exc: BaseException) -> DatabaseUnreachable | None:
    """The DatabaseUnreachable a failed PostgreSQL connect `exc` stands for, or None
    when it is another kind of failure (a bug, a broken migration)."""
    where = postgres_where(database_url)
    state = getattr(exc, "sqlstate", None)
    if state in _REFUSED:
        return DatabaseUnreachable(f"the PostgreSQL server {where} {_REFUSED[state]}", config=True)
    if isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in ASYNCPG_CONNECTION_ERRORS:
        if isinstance(exc, TimeoutError):
            why = "timed out"
        elif isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
            why = os.strerror(exc.errno).lower()  # asyncpg's own text repeats the address
        elif isinstance(exc, OSError) and exc.strerror:
            why = exc.strerror.lower()  # getaddrinfo's: "name or service not known"
        else:
            why = type(exc).__name__
        return DatabaseUnreachable(
            f"cannot connect to the PostgreSQL server {where} ({why}): start it, or check "
            "the host and port in DATABASE_URL and that this machine can reach them",
            config=False,
        )
    return None


def asyncpg_dsn(database_url: str) -> str:
    """A postgres:// (postgresql://, asyncpg://) DATABASE_URL as asyncpg's DSN."""
    return "postgresql://" + database_url.split("://", 1)[1]


async def apply_migrations(database_url: str) -> None:
    """Apply every pending migration (Tortoise's built-in migrations).

    On PostgreSQL several processes may start together (the bot and its workers): the
    first to take the advisory lock MIGRATION_LOCK_ID migrates, the others wait for it
    and then find nothing left to do.
    """
    if database_url.startswith("sqlite://"):
        await migrate_api(config=tortoise_config(database_url), progress=_progress)
        return
    import asyncpg

    lock = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        await migrate_api(config=tortoise_config(database_url), progress=_progress)
    finally:
        # Closing the session releases its advisory locks, even after a failure.
        await lock.close()


def placeholders(dialect: str, start: int, n: int) -> str:
    """`n` comma-separated bind parameters of a statement for `dialect`: "?, ?" on
    SQLite, "$start, $start+1, ..." on PostgreSQL (asyncpg numbers them)."""
    if dialect == "sqlite":
        return ", ".join("?" * n)
    return ", ".join(f"${i}" for i in range(start, start + n))


async def ping() -> None:
    """`SELECT 1` on the default connection: raises (asyncpg's / Tortoise's connection
    errors, OSError) while the database is out of reach."""
    await connections.get("default").execute_query("SELECT 1")


def shown_where(database_url: str) -> str:
    """The database of `database_url` as it may be shown to operators: `host:port/db`
    of PostgreSQL (never the password), the file of SQLite."""
    if database_url.startswith("sqlite://"):
        return database_url.split("://", 1)[1]
    return postgres_where(database_url)


def password_of(database_url: str) -> str:
    """The password in `database_url` ("" when none): cut out of errors shown."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(database_url).password or ""
    except ValueError:
        return ""


async def init_db(database_url: str, *, migrate: bool = True) -> None:
    """Connect Tortoise (migrating first unless told not to).

    Cancelled half-way (a signal during start-up), it closes what it opened: an open
    aiosqlite connection keeps a non-daemon thread that holds the process at exit.
    Raises DatabaseUnreachable when PostgreSQL is down, out of reach or refuses the
    database, user or password of `database_url`.
    """
    # Tortoise caches each model's INSERT SQL by connection name, not by dialect: after
    # a SQLite database, a PostgreSQL one in the same process got `?` placeholders.
    _executor.EXECUTOR_CACHE.clear()
    try:
        if migrate:
            await apply_migrations(database_url)
            await Tortoise.close_connections()
        await Tortoise.init(config=tortoise_config(database_url))
    except asyncio.CancelledError:
        interrupt_running()  # a statement still running would hold up the close
        await Tortoise.close_connections()
        raise
    except Exception as exc:
        found = None if database_url.startswith("sqlite://") else unreachable(database_url, exc)
        if found is None:
            raise
        await Tortoise.close_connections()
        raise found from exc
    # tortoise.db_client logs query parameters at DEBUG: keep it quiet (secrets).
    logging.getLogger("tortoise").setLevel(max(logging.INFO, logging.getLogger().level))
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")


async def close_db() -> None:
    await Tortoise.close_connections()


async def shielded_write(write: Awaitable[T]) -> T:
    """Run a database write to its end even if the caller is cancelled meanwhile.

    A write interrupted half-way is what corrupts Tortoise's SQLite connection
    (tortoise-orm#1757); at shutdown the batch in flight should rather land. The
    caller's cancellation is re-raised once the write has finished.
    """
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue
            except Exception:
                break
        if not task.cancelled() and task.exception() is not None:
            log.error("a write finished with an error after cancellation: %r", task.exception())
        raise
