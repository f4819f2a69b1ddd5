"""Project errors: Telethon's exceptions are translated here and nowhere else.

Each carries a stable `code` the bot maps to a user-facing text.
"""

from __future__ import annotations

from telethon import errors as te


class TelegramError(Exception):
    code = "telegram_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class RateLimited(TelegramError):
    code = "flood_wait"

    def __init__(self, seconds: int) -> None:
        super().__init__(f"flood wait {seconds}s")
        self.seconds = seconds


class SessionDead(TelegramError):
    """Permanent: the session can never be used again (re-login needed)."""

    code = "session_dead"


class ChannelUnavailable(TelegramError):
    """Permanent for one channel: private, unknown, banned."""

    code = "channel_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransportError(TelegramError):
    """Network trouble: retry later (circuit breaker)."""

    code = "transport"


class ClockSkew(TransportError):
    """Telegram's clock is `seconds` ahead of this machine's (negative: behind), far
    enough that Telethon drops its answers as 'very new' (more than 30 s)."""

    code = "clock_skew"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"clock skew {seconds:+.0f}s")
        self.seconds = seconds


class NoAnswer(TransportError):
    """Connected, but Telegram did not answer within `seconds`."""

    code = "no_answer"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:.0f}s")
        self.seconds = seconds


class LoginError(TelegramError):
    """A login step failed; `code` says which (phone_invalid, code_invalid, ...)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


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
