"""The project's errors: one root, typed fields set in constructors.

Every error the bot can show an operator is a `ProjectError`; bot/ renders them in one
place (bot/errors.py) from `code` and the typed fields. Telethon's exceptions become
these in parser/errors.py and nowhere else.
"""

from __future__ import annotations


class ProjectError(Exception):
    """The root of every error this project raises on purpose.

    `code` is stable (a catalogue key suffix); `detail` is for logs only and never
    holds a secret.
    """

    code = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class PermanentFailure(ProjectError):
    """Raised by a component that must not be restarted (a token Telegram refused, ...).

    Its message is the reason: logged once, shown in /healthz and /status. `alert=False`
    when the admins cannot be reached anyway (the bot itself is what failed).
    """

    code = "permanent_failure"

    def __init__(self, reason: str, *, alert: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.alert = alert


class TelegramError(ProjectError):
    """Something Telegram (or the way to it) refused or failed; see the subclasses."""

    code = "telegram_error"

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
