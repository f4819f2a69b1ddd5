"""Telethon's exceptions become project errors (core/errors.py) here and nowhere else.

`translate` is the general table (flood waits, dead sessions, unavailable channels,
network trouble); `login_error` adds the login steps' own errors; `reraise` is what the
resolver and the fetcher do with an exception they cannot handle. The error names and
their meaning are Telegram's: https://core.telegram.org/api/errors and the errors
listed on each method's page (auth.signIn, auth.sendCode, channels.getFullChannel...).
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from telethon import errors as te

from core.errors import (
    BadLine,
    ChannelUnavailable,
    ClockSkew,
    LoginFailed,
    NoAnswer,
    NotAChannel,
    RateLimited,
    SessionDead,
    TelegramError,
    TransportError,
)
from core.login import LoginCode

__all__ = [
    "BadLine",
    "ChannelUnavailable",
    "ClockSkew",
    "LoginFailed",
    "NoAnswer",
    "NotAChannel",
    "RateLimited",
    "SessionDead",
    "TelegramError",
    "TransportError",
    "login_error",
    "reraise",
    "translate",
]


# 401/406: the session can never be used again (https://core.telegram.org/api/errors#401-unauthorized).
_DEAD = (
    te.AuthKeyUnregisteredError,
    te.SessionRevokedError,
    te.AuthKeyDuplicatedError,
    te.UserDeactivatedBanError,
    te.UserDeactivatedError,
    te.SessionExpiredError,
    te.AuthKeyInvalidError,
)

# One channel is out of reach; the value is ChannelUnavailable.reason.
_CHANNEL = {
    te.ChannelPrivateError: "private",
    te.ChannelInvalidError: "invalid",
    te.ChannelBannedError: "banned",
    te.UsernameNotOccupiedError: "not_found",
    te.UsernameInvalidError: "not_found",
    te.ChatForbiddenError: "private",
    te.ChatAdminRequiredError: "private",
    te.InviteHashExpiredError: "invite_expired",
    te.InviteHashInvalidError: "invite_invalid",
    te.ChannelsTooMuchError: "too_many_channels",
    te.UserBannedInChannelError: "banned",
}

# The login steps' own errors (auth.sendCode, auth.signIn, auth.checkPassword).
_LOGIN: tuple[tuple[type[BaseException], LoginCode], ...] = (
    (te.PhoneNumberInvalidError, LoginCode.PHONE_INVALID),
    (te.PhoneNumberBannedError, LoginCode.PHONE_BANNED),
    (te.PhoneNumberUnoccupiedError, LoginCode.PHONE_UNOCCUPIED),
    (te.PhoneCodeInvalidError, LoginCode.CODE_INVALID),
    (te.PhoneCodeEmptyError, LoginCode.CODE_INVALID),
    (te.PhoneCodeExpiredError, LoginCode.CODE_EXPIRED),
    (te.PasswordHashInvalidError, LoginCode.PASSWORD_INVALID),
    (te.SrpIdInvalidError, LoginCode.PASSWORD_RETRY),
)


def translate(exc: BaseException) -> TelegramError | None:
    """The project error for a Telethon or network exception, or None if unknown.

    A TelegramError is returned as it is. FLOOD_WAIT_X, SLOWMODE_WAIT_X and
    FLOOD_PREMIUM_WAIT_X -> RateLimited(X seconds); 401 session errors -> SessionDead;
    channel errors -> ChannelUnavailable(reason); OSError, ConnectionError, TimeoutError
    and Telegram's 500s -> TransportError.
    """
    if isinstance(exc, TelegramError):
        return exc
    if isinstance(exc, te.FloodWaitError | te.SlowModeWaitError | te.FloodPremiumWaitError):
        return RateLimited(int(exc.seconds or 0))  # Telethon's X of FLOOD_WAIT_X
    if isinstance(exc, _DEAD):
        return SessionDead(type(exc).__name__.removesuffix("Error"))
    for cls, reason in _CHANNEL.items():
        if isinstance(exc, cls):
            return ChannelUnavailable(reason)
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return TransportError(type(exc).__name__)
    if isinstance(exc, te.RPCError) and exc.code in (500, -500):
        return TransportError(type(exc).__name__)
    return None


def login_error(exc: BaseException) -> LoginFailed:
    """The LoginFailed for an exception of a login step: the step's own errors first
    (PHONE_NUMBER_INVALID -> phone_invalid, PHONE_CODE_EXPIRED -> code_expired, ...),
    then flood waits (retry_in seconds), network trouble and timeouts (network), dead
    sessions; anything else is `unknown` with the exception's name as detail."""
    if isinstance(exc, LoginFailed):
        return exc
    for cls, code in _LOGIN:
        if isinstance(exc, cls):
            return LoginFailed(code, detail=type(exc).__name__)
    err = translate(exc)
    if isinstance(err, RateLimited):
        return LoginFailed(LoginCode.FLOOD_WAIT, retry_in=err.seconds)
    if isinstance(err, TransportError) or isinstance(exc, asyncio.TimeoutError):
        return LoginFailed(LoginCode.NETWORK, detail=type(exc).__name__)
    if isinstance(err, SessionDead):
        return LoginFailed(LoginCode.SESSION_DEAD, detail=err.reason)
    return LoginFailed(LoginCode.UNKNOWN, detail=type(exc).__name__)


def reraise(exc: BaseException) -> NoReturn:
    """Raise the project error for `exc` (chained), a TelegramError named after an
    unknown RPC error, or `exc` itself when it is not Telegram's."""
    err = translate(exc)
    if err is not None:
        raise err from exc
    if isinstance(exc, te.RPCError):
        raise TelegramError(type(exc).__name__) from exc
    raise exc
