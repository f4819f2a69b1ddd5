"""Project errors: Telethon's exceptions are translated here and nowhere else.

Each carries a stable `code` the bot maps to a user-facing text.
"""

from __future__ import annotations

from telethon import errors as te

from core.errors import (
    ChannelUnavailable,
    ClockSkew,
    LoginError,
    NoAnswer,
    RateLimited,
    SessionDead,
    TelegramError,
    TransportError,
)

__all__ = [
    "ChannelUnavailable",
    "ClockSkew",
    "LoginError",
    "NoAnswer",
    "RateLimited",
    "SessionDead",
    "TelegramError",
    "TransportError",
    "translate",
]


_DEAD = (
    te.AuthKeyUnregisteredError,
    te.SessionRevokedError,
    te.AuthKeyDuplicatedError,
    te.UserDeactivatedBanError,
    te.UserDeactivatedError,
    te.SessionExpiredError,
    te.AuthKeyInvalidError,
)

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


def translate(exc: BaseException) -> TelegramError | None:
    """Map a Telethon/network exception to a project error, or None if unknown."""
    if isinstance(exc, TelegramError):
        return exc
    if isinstance(exc, te.FloodWaitError | te.SlowModeWaitError):
        return RateLimited(int(getattr(exc, "seconds", 0) or 0))
    if isinstance(exc, te.FloodPremiumWaitError):
        return RateLimited(int(getattr(exc, "seconds", 0) or 0))
    if isinstance(exc, _DEAD):
        return SessionDead(type(exc).__name__.removesuffix("Error"))
    for cls, reason in _CHANNEL.items():
        if isinstance(exc, cls):
            return ChannelUnavailable(reason)
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return TransportError(type(exc).__name__)
    if isinstance(exc, te.RPCError) and getattr(exc, "code", None) in (500, -500):
        return TransportError(type(exc).__name__)
    return None
