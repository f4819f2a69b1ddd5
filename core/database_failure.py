"""Whether a failure is the database out of reach (PostgreSQL stopped, its host gone):
the control bot's command replies and the supervisor's alerts say so instead of a
generic error or one crash alert per component."""

from __future__ import annotations

import errno
import socket

# Where a failure of the database connection surfaces from (PostgreSQL's driver, the
# ORM): an OSError raised through them is the database out of reach, not Telegram.
_DB_PACKAGES = ("/asyncpg/", "/tortoise/", "/aiosqlite/")
_UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN)
# asyncpg's errors of a connection lost, refused or not taken (by class name: asyncpg is
# only installed for PostgreSQL); db/database.py `unreachable` reads them at connect.
ASYNCPG_CONNECTION_ERRORS = (
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "TooManyConnectionsError",
)
# At run time also Tortoise's wrapper of a failed connect.
_NAMES = (*ASYNCPG_CONNECTION_ERRORS, "DBConnectionError")


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it, through __cause__ / __context__) is a
    connection to the database that failed: a ConnectionError (refused, reset),
    TimeoutError, name lookup failure or unreachable host raised through asyncpg,
    Tortoise or aiosqlite, or asyncpg's / Tortoise's own connection errors."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        through_db = False
        tb = cur.__traceback__
        while tb is not None and not through_db:
            through_db = any(p in tb.tb_frame.f_code.co_filename for p in _DB_PACKAGES)
            tb = tb.tb_next
        if through_db and (
            isinstance(cur, (ConnectionError, TimeoutError, socket.gaierror))
            or type(cur).__name__ in _NAMES
            or (isinstance(cur, OSError) and cur.errno in _UNREACHABLE)
        ):
            return True
        cur = cur.__cause__ or cur.__context__
    return False
