"""parser/errors.py: the one translation of Telethon's errors, login's included."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from telethon import errors as te
from telethon.errors import rpc_message_to_error
from telethon.tl.types import RpcError

from core.errors import (
    ChannelUnavailable,
    LocalError,
    LoginFailed,
    RateLimited,
    ServerTrouble,
    SessionDead,
    TransportError,
    UnknownTelegramError,
    error_text,
    local_error,
)
from core.login import LoginCode
from parser.errors import login_error, reraise, translate


def test_the_general_table() -> None:
    flood = translate(te.FloodWaitError(request=None, capture=42))
    assert isinstance(flood, RateLimited) and flood.seconds == 42
    dead = translate(te.SessionRevokedError(request=None))
    assert isinstance(dead, SessionDead) and dead.reason == "SessionRevoked"
    private = translate(te.ChannelPrivateError(request=None))
    assert isinstance(private, ChannelUnavailable) and private.reason == "private"
    assert isinstance(translate(ConnectionError()), TransportError)
    assert translate(ValueError()) is None


def test_login_errors_carry_typed_fields() -> None:
    assert login_error(te.PhoneCodeExpiredError(request=None)).code == LoginCode.CODE_EXPIRED
    assert login_error(te.PhoneNumberUnoccupiedError(request=None)).login_code.wrong_number
    flood = login_error(te.FloodWaitError(request=None, capture=600))
    assert flood.login_code is LoginCode.FLOOD_WAIT and flood.retry_in == 600
    assert login_error(TimeoutError()).code == "network"
    dead = login_error(te.AuthKeyUnregisteredError(request=None))
    assert dead.login_code is LoginCode.SESSION_DEAD and dead.login_code.ends_flow
    unknown = login_error(KeyError("x"))
    assert unknown.code == "unknown" and unknown.detail == "KeyError"
    same = LoginFailed(LoginCode.BUSY, name="Adam")
    assert login_error(same) is same


@pytest.mark.parametrize(
    ("code", "message", "name"),
    [(500, "INTERNAL", "INTERNAL"), (500, "RPC_CALL_FAIL", "RPC_CALL_FAIL"),
     (-500, "No workers running", "No workers running"), (-503, "Timeout", "Timeout")],
)
def test_telegram_s_server_errors_are_transport_failures(
    code: int, message: str, name: str
) -> None:
    """500s and -503 are Telegram's trouble, not the request's
    (https://core.telegram.org/api/errors#500-internal): the breaker counts them."""
    err = translate(rpc_message_to_error(RpcError(code, message), None))
    assert isinstance(err, ServerTrouble) and isinstance(err, TransportError)
    assert err.name == name and err.detail.endswith("(caused by NoneType)")


def test_telethon_s_exhausted_retries_are_server_trouble() -> None:
    """Telethon retries a 500/-503 `request_retries` times, then raises a plain
    ValueError: that is Telegram's server trouble, not a bug."""
    err = translate(ValueError("Request was unsuccessful 3 time(s)"))
    assert isinstance(err, ServerTrouble) and err.name == "retries_exhausted"
    assert err.detail == "ValueError: Request was unsuccessful 3 time(s)"
    assert translate(ValueError("invalid literal for int()")) is None


def test_an_unknown_rpc_error_keeps_telegram_s_name() -> None:
    exc = rpc_message_to_error(RpcError(400, "SOME_NEW_ERROR"), None)
    err = translate(exc)
    assert isinstance(err, UnknownTelegramError)
    assert (err.name, err.status) == ("SOME_NEW_ERROR", 400)
    with pytest.raises(UnknownTelegramError) as raised:
        reraise(exc)
    assert raised.value.__cause__ is exc


def test_a_full_disk_is_this_machine_s_trouble_not_the_network_s() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert translate(full) is None
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert isinstance(translate(unreachable), TransportError)
    local = local_error(full, "/data")
    assert isinstance(local, LocalError) and (local.cause, local.where) == ("disk_full", "/data")
    assert local.detail == "OSError: [Errno 28] No space left on device"


@pytest.mark.parametrize(
    ("exc", "cause"),
    [(sqlite3.OperationalError("database or disk is full"), "disk_full"),
     (sqlite3.OperationalError("database is locked"), "db_locked"),
     (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk_full")],
)
def test_database_troubles_are_local(exc: BaseException, cause: str) -> None:
    local = local_error(exc)
    assert local is not None and local.cause == cause
    wrapped = RuntimeError("write failed")
    wrapped.__cause__ = exc
    assert local_error(wrapped) is not None
    assert local_error(ValueError("no")) is None


def test_error_text_names_the_error_and_masks_tokens() -> None:
    assert error_text(KeyError("x")) == "KeyError: 'x'"
    assert error_text(RuntimeError()) == "RuntimeError"
    token = "123456789:" + "A" * 35
    assert token not in error_text(RuntimeError(f"GET /bot{token}/getMe"))
    assert len(error_text(RuntimeError("x" * 900))) == 500


def _rpc(code: int, name: str) -> BaseException:
    return rpc_message_to_error(RpcError(code, name), request=None)


def test_media_errors() -> None:
    from core.errors import FileReferenceExpired, MediaUnavailable
    from parser.errors import media_error

    for name in ("FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_EMPTY", "FILEREF_UPGRADE_NEEDED"):
        err = media_error(_rpc(400, name))
        assert isinstance(err, FileReferenceExpired), name
    for code, name in ((400, "FILE_ID_INVALID"), (400, "LOCATION_INVALID"),
                       (400, "SOME_NEW_FILE_ERROR"), (403, "CHANNEL_PRIVATE")):
        gone = media_error(_rpc(code, name))
        assert isinstance(gone, MediaUnavailable) and gone.reason == name
    assert isinstance(media_error(_rpc(420, "FLOOD_WAIT_30")), RateLimited)
    assert isinstance(media_error(_rpc(500, "INTERNAL")), ServerTrouble)
    assert isinstance(media_error(ConnectionResetError()), TransportError)
    assert media_error(OSError(errno.ENOSPC, "No space left on device")) is None
    assert media_error(KeyError("bug")) is None
