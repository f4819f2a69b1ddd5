"""PostgreSQL down, out of reach or refusing DATABASE_URL at start: one line naming the
server (never the password) and the fix, not a traceback; `config` tells a fix in
DATABASE_URL (exit 2: no restart) from a server that may come up (exit 1)."""

from __future__ import annotations

import socket

import pytest

from app.instance_lock import InstanceLock
from db.database import DatabaseUnreachable, init_db, postgres_where, unreachable

pytest.importorskip("asyncpg")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_server_that_is_down_is_one_line_without_the_password() -> None:
    url = f"postgres://tg:s3cr3t-pw@127.0.0.1:{_closed_port()}/archive"
    with pytest.raises(DatabaseUnreachable) as migrating:
        await init_db(url)
    with pytest.raises(DatabaseUnreachable) as locking:
        await InstanceLock(url, None).acquire()
    for exc in (migrating.value, locking.value):
        assert not exc.config  # it may come up: worth starting again
        text = str(exc)
        assert "cannot connect to the PostgreSQL server 127.0.0.1:" in text
        assert "/archive (connection refused)" in text
        assert "s3cr3t" not in text and "\n" not in text


class _Refused(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "says"),
    [
        ("3D000", "has no such database"),
        ("28000", "refuses this user"),
        ("28P01", "refuses this user's password"),
    ],
)
def test_a_refused_database_user_or_password_is_a_configuration_error(
    sqlstate: str, says: str
) -> None:
    found = unreachable("postgresql://u:pw@db.lan/tg", _Refused(sqlstate))
    assert found is not None and found.config
    assert str(found).startswith(f"the PostgreSQL server db.lan:5432/tg {says}")


def test_other_failures_are_left_as_they_are() -> None:
    assert unreachable("postgres://u:pw@h/db", ValueError("a bug")) is None
    assert unreachable("postgres://u:pw@h/db", _Refused("42P01")) is None  # no such table
    assert postgres_where("postgres://u:p%40w@[::1]:6543/x") == "::1:6543/x"
