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
    FileReferenceExpired,
    LoginFailed,
    MediaUnavailable,
    NoAnswer,
    NotAChannel,
    RateLimited,
    ServerTrouble,
    SessionDead,
    TelegramError,
    TransportError,
    UnknownTelegramError,
    error_text,
    local_error,
)
from core.login import LoginCode

__all__ = [
    "BadLine",
    "ChannelUnavailable",
    "ClockSkew",
    "FileReferenceExpired",
    "LoginFailed",
    "MediaUnavailable",
    "NoAnswer",
    "NotAChannel",
    "RateLimited",
    "ServerTrouble",
    "SessionDead",
    "TelegramError",
    "TransportError",
    "UnknownTelegramError",
    "login_error",
    "media_error",
    "reraise",
    "rpc_name",
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
    # The access hash is not this account's (another account stored it) or the channel
    # is gone: resolve again once (services/parsing/identity.py), then disable.
    te.ChannelInvalidError: "invalid",
    te.PeerIdInvalidError: "invalid",
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


# Telethon's class for each Telegram error name, inverted: the name of a known error
# (its instances carry their base class's `message`, INTERNAL for every 500).
_NAMES: dict[type, str] = {cls: name for name, cls in te.rpc_errors_dict.items()}


def rpc_name(exc: te.RPCError) -> str:
    """Telegram's name of an RPC error (RPC_CALL_FAIL, Timeout, SOME_NEW_ERROR)."""
    return _NAMES.get(type(exc)) or str(exc.message or type(exc).__name__)


# What Telethon raises once its `request_retries` attempts all met a 500 or -503
# (telethon/client/users.py `_call`: `ValueError('Request was unsuccessful N time(s)')`).
_EXHAUSTED = "Request was unsuccessful"


def translate(exc: BaseException) -> TelegramError | None:
    """The project error for a Telethon or network exception, or None if unknown.

    A TelegramError is returned as it is. FLOOD_WAIT_X, SLOWMODE_WAIT_X and
    FLOOD_PREMIUM_WAIT_X -> RateLimited(X seconds); 401 session errors -> SessionDead;
    channel errors -> ChannelUnavailable(reason); Telegram's 500s (INTERNAL,
    RPC_CALL_FAIL, ...), -503 Timeout and Telethon's ValueError "Request was
    unsuccessful N time(s)" (its retries of those exhausted) -> ServerTrouble (a
    TransportError); ConnectionError, TimeoutError and other OSErrors -> TransportError,
    but not a full disk or a read-only file system (core.errors.local_error says what
    those are: this machine's trouble); any other RPC error -> UnknownTelegramError
    with Telegram's error name. None for everything else (a bug, a database error).
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
    if isinstance(exc, te.ServerError | te.TimedOutError) or (
        isinstance(exc, te.RPCError) and abs(exc.code or 0) in (500, 503)
    ):
        return ServerTrouble(rpc_name(exc), error_text(exc))
    if type(exc) is ValueError and str(exc).startswith(_EXHAUSTED):
        return ServerTrouble("retries_exhausted", error_text(exc))
    if isinstance(exc, OSError) and local_error(exc) is not None:
        return None
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return TransportError(type(exc).__name__)
    if isinstance(exc, te.RPCError):
        return UnknownTelegramError(rpc_name(exc), exc.code or 0)
    return None


# A media file's reference is stale: a fresh one comes with the message read again.
_STALE_REF = (
    te.FileReferenceExpiredError,
    te.FileReferenceEmptyError,
    te.FileReferenceInvalidError,
    te.FilerefUpgradeNeededError,
)


def media_error(exc: BaseException) -> TelegramError | None:
    """The project error for an exception of upload.getFile (a media download, #16).

    A stale file reference (FILE_REFERENCE_EXPIRED, _EMPTY, _INVALID,
    FILEREF_UPGRADE_NEEDED) -> FileReferenceExpired; flood waits, dead sessions and
    network or server trouble as `translate` says; any other 400/403/404 RPC error
    (FILE_ID_INVALID, LOCATION_INVALID, CHANNEL_PRIVATE, ...) -> MediaUnavailable with
    Telegram's error name: this file cannot be had, retrying will not help. None for
    what is not Telegram's (a bug, a full disk: core.errors.local_error).
    """
    if isinstance(exc, TelegramError):
        return exc
    if isinstance(exc, _STALE_REF):
        return FileReferenceExpired(rpc_name(exc))
    err = translate(exc)
    if isinstance(err, UnknownTelegramError | ChannelUnavailable) and isinstance(
        exc, te.RPCError
    ):
        if abs(exc.code or 0) in (400, 403, 404):
            return MediaUnavailable(rpc_name(exc))
    return err


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
    """Raise the project error for `exc` (chained; an unknown RPC error as
    UnknownTelegramError), or `exc` itself when it is not Telegram's."""
    err = translate(exc)
    if err is not None:
        raise err from exc
    raise exc
