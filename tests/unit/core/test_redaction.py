"""Secrets never reach the log, not even inside tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from app.logging_setup import setup_logging
from core.redaction import REDACTOR, RedactingFilter

BOT_TOKEN = "7123456789:AAHk3bX-9_yLqR2mZp0TnVwUe4sDc8fGh1j"
API_HASH = "0123456789abcdef0123456789abcdef"
SESSION = "1BVtsOHgBu7dVhYvC3cFq0xKpWz9sLmNoPqRsTuVwXyZ"
FERNET_KEY = "q3Yk1v9Y1s5oQ3C7yJx6mN0bP2rT4uV8wZ-aBcDeFgH="


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter([API_HASH, SESSION, FERNET_KEY]))
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)


def _assert_clean(text: str) -> None:
    for secret in (BOT_TOKEN, API_HASH, SESSION, FERNET_KEY):
        assert secret not in text
    # Not even a recognisable half of one.
    assert "AAHk3bX" not in text
    assert SESSION[:20] not in text


def test_message_and_args_are_masked(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    log.info("session %s with hash %s", SESSION, API_HASH)
    log.warning("GET https://api.telegram.org/bot%s/getMe failed", BOT_TOKEN)
    log.info("keys=%r", [FERNET_KEY])
    out = stream.getvalue()
    _assert_clean(out)
    assert out.count("***") >= 4
    assert "https://api.telegram.org/bot***/getMe failed" in out


def test_tracebacks_are_masked(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger

    def inner(session: str) -> None:
        raise ValueError(f"cannot decode session {session}")

    try:
        try:
            inner(SESSION)
        except ValueError as exc:
            raise RuntimeError(f"request to /bot{BOT_TOKEN}/sendMessage failed") from exc
    except RuntimeError:
        log.exception("while using hash %s", API_HASH)
    out = stream.getvalue()
    assert "Traceback" in out
    assert "ValueError: cannot decode session ***" in out
    assert "RuntimeError: request to /bot***/sendMessage failed" in out
    _assert_clean(out)


def test_exc_info_on_warning_is_masked(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    try:
        raise ConnectionError(f"proxy with key {FERNET_KEY} refused")
    except ConnectionError as exc:
        log.warning("retrying", exc_info=exc)
    out = stream.getvalue()
    assert "ConnectionError: proxy with key *** refused" in out
    _assert_clean(out)


def test_added_and_discarded_secrets() -> None:
    redactor = RedactingFilter()
    redactor.add("12345-login-code")
    redactor.add("ab")  # too short to mask without destroying every log line
    assert redactor.redact("code 12345-login-code ab") == "code *** ab"
    redactor.discard("12345-login-code")
    assert redactor.redact("code 12345-login-code") == "code 12345-login-code"


def test_setup_logging_masks_and_quiets_sql_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("DEBUG", [API_HASH])
        logging.getLogger("app.test").debug("hash %s token %s", API_HASH, BOT_TOKEN)
        # tortoise.db_client logs query parameters at DEBUG: it must stay at INFO.
        logging.getLogger("tortoise.db_client").debug("INSERT ... %s", SESSION)
        err = capsys.readouterr().err
        assert "hash *** token ***" in err
        _assert_clean(err)
        assert "INSERT" not in err
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        REDACTOR.discard(API_HASH)


def test_stack_info_is_masked(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger

    def holding_a_secret(api_hash: str) -> None:
        log.info("here", stack_info=True)

    # The stack shows source lines: this one carries the secret as a literal.
    holding_a_secret("0123456789abcdef0123456789abcdef")
    out = stream.getvalue()
    assert "Stack (most recent call last)" in out
    assert 'holding_a_secret("***")' in out
    _assert_clean(out)


def test_a_malformed_log_call_neither_raises_nor_leaks(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    log.info("count %d", SESSION)  # wrong type: formatting fails
    out = stream.getvalue()
    assert "could not be formatted" in out
    _assert_clean(out)
