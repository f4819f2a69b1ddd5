"""parser/errors.py: the one translation of Telethon's errors, login's included."""

from __future__ import annotations

from telethon import errors as te

from core.errors import ChannelUnavailable, LoginFailed, RateLimited, SessionDead, TransportError
from core.login import LoginCode
from parser.errors import login_error, translate


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
