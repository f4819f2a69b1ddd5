"""A handler that fails because the database is out of reach (PostgreSQL stopped) tells
the operator so, not "something went wrong, try again" (#18 faults)."""

from __future__ import annotations

import pytest

from bot.errors import unexpected_text


def _raised_in(filename: str, exc: BaseException) -> BaseException:
    """`exc` with a traceback through a frame of `filename` (a library's module)."""
    code = compile("raise exc", filename, "exec")
    try:
        exec(code, {"exc": exc})
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_database_out_of_reach_is_said_so(lang: str) -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    exc = _raised_in("/venv/site-packages/asyncpg/connect_utils.py", refused)
    text = unexpected_text(exc, lang)
    assert ("cannot be reached" if lang == "en" else "недоступна") in text
    assert "ConnectionRefusedError" in text


def test_other_failures_stay_generic_even_a_refused_connection_elsewhere() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed")
    assert unexpected_text(refused, "en").startswith("Something went wrong")
    disk_full = _raised_in("/venv/site-packages/tortoise/models.py", OSError(28, "No space"))
    assert unexpected_text(disk_full, "en").startswith("Something went wrong")
