"""The project's errors: one root, typed fields set in constructors.

Every error the project raises on purpose is a `ProjectError`; bot/ renders the ones
that reach a handler in one place (bot/errors.py) from their type and typed fields.
Telethon's exceptions become these in parser/errors.py and nowhere else.
"""

from __future__ import annotations

import errno

from core.login import LoginCode
from core.redaction import REDACTOR


class ProjectError(Exception):
    """The root of every error this project raises on purpose.

    `code` is stable (a catalogue key suffix); `detail` is for logs only and never
    holds a secret.
    """

    code: str = "error"

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


class VaultError(ProjectError):
    """The stored session cannot be encrypted or decrypted (no key, wrong key, a
    ciphertext of another row). `detail` says why and never holds a secret."""

    code = "vault"


class BadLine(ProjectError, ValueError):
    """An operator's line is not a channel reference. `code`: garbage (not a
    reference) | bad_option (an unknown history option); `value` is the offending text."""

    def __init__(self, code: str, value: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.value = value


class TelegramError(ProjectError):
    """Something Telegram (or the way to it) refused or failed; see the subclasses."""

    code = "telegram_error"


class RateLimited(TelegramError):
    """Telegram asks to wait `seconds` before the next such request (FLOOD_WAIT_X,
    SLOWMODE_WAIT_X, FLOOD_PREMIUM_WAIT_X; https://core.telegram.org/api/errors#420-flood)."""

    code = "flood_wait"

    def __init__(self, seconds: int) -> None:
        super().__init__(f"flood wait {seconds}s")
        self.seconds = seconds


class ResolveFlood(RateLimited):
    """A flood wait on contacts.resolveUsername: a limit of the account on that method,
    not of one channel (https://core.telegram.org/api/errors#420-flood), so every
    further resolve waits too. `wait`: seconds until the account may resolve again;
    `seconds` (what the channel is deferred by): `wait` plus its place among the
    channels waiting for it times the pace (parser/resolver.py), so the waiting
    channels do not all come due in the same second."""

    code = "flood_wait"

    def __init__(self, wait: int, spread: int = 0) -> None:
        super().__init__(wait + spread)
        self.wait = wait


class SessionDead(TelegramError):
    """Permanent: the session can never be used again (re-login needed). `reason` names
    Telegram's error without its `Error` suffix (AuthKeyUnregistered, SessionRevoked;
    https://core.telegram.org/api/errors#401-unauthorized)."""

    code = "session_dead"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelUnavailable(TelegramError):
    """Permanent for one channel. `reason`: private | invalid | banned | not_found |
    invite_expired | invite_invalid | too_many_channels (a `reason_` text key suffix)."""

    code = "channel_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAChannel(TelegramError):
    """The reference names something that is not a channel; `kind` says what (user,
    chat, or Telegram's type name)."""

    code = "not_channel"

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class FileReferenceExpired(TelegramError):
    """A media file's reference is stale (FILE_REFERENCE_EXPIRED, FILEREF_UPGRADE_NEEDED,
    FILE_REFERENCE_EMPTY): read the message again for a fresh one and retry (#16)."""

    code = "file_reference_expired"


class MediaUnavailable(TelegramError):
    """Telegram cannot give this media file, for good: `reason` is Telegram's error
    name (FILE_ID_INVALID, LOCATION_INVALID, ...) or MESSAGE_DELETED / MEDIA_GONE /
    MEDIA_CHANGED when the message, re-read, no longer has it (#16)."""

    code = "media_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransportError(TelegramError):
    """Network trouble: retry later (circuit breaker). `detail` names the exception."""

    code = "transport"


class ServerTrouble(TransportError):
    """Telegram's side failed, not the request: a 500 (INTERNAL, RPC_CALL_FAIL, ...), a
    -503 Timeout, or Telethon gave up after retrying those (it then raises a plain
    ValueError "Request was unsuccessful N time(s)", telethon/client/users.py `_call`).
    Retried later like any transport failure (https://core.telegram.org/api/errors#500-internal).
    `name` is Telegram's error name (INTERNAL, Timeout, ...) or "retries_exhausted"."""

    code = "server"

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(detail or name)
        self.name = name


class UnknownTelegramError(TelegramError):
    """An RPC error this project has no rule for. `name` is Telegram's error name
    (SOME_NEW_ERROR), `status` its code (400, 403, ...); told to the admins once."""

    code = "unknown_rpc"

    def __init__(self, name: str, status: int = 0) -> None:
        super().__init__(name)
        self.name = name
        self.status = status


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


class LoginFailed(TelegramError):
    """A login step failed; `code` says why (core.login.LoginCode).

    `attempts_left`: wrong codes or passwords the flow still accepts (code_invalid,
    password_invalid); `retry_in`: seconds Telegram asks to wait (flood_wait);
    `name`: who holds the login (busy); `detail`: for the log (the error's name).
    """

    def __init__(
        self,
        code: LoginCode,
        *,
        attempts_left: int | None = None,
        retry_in: int | None = None,
        name: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(detail or code.value)
        self.code = code
        self.login_code = code
        self.attempts_left = attempts_left
        self.retry_in = retry_in
        self.name = name


class LocalError(ProjectError):
    """This machine failed, not Telegram: the disk is full, the database is locked by
    another process, or its file cannot be written. Never a transport failure: the run
    waits until the cause clears and is then retried.

    `cause`: disk_full | db_locked | io; `where`: the directory that needs free space
    ("" when unknown); `detail`: "<ExceptionName>: <message>" of what was raised.
    """

    code = "local"

    def __init__(self, cause: str, detail: str = "", where: str = "") -> None:
        super().__init__(detail or cause)
        self.cause = cause
        self.where = where


class MediaStorageError(ProjectError):
    """Object storage (MEDIA_URL=s3://...) refused a request or could not be reached:
    the local file it concerned is kept and the request is tried again later.

    `cause`: unreachable (network, DNS, timeouts, the server's 5xx) | no_bucket | denied
    (bad credentials or no permission) | region (the bucket lives in another region) |
    error (anything else the server refused); `where`: "s3://bucket/prefix" (with the
    endpoint when one is set); `detail`: the library's words, known secrets masked.
    """

    code = "media_storage"

    def __init__(self, cause: str, where: str, detail: str = "") -> None:
        super().__init__(REDACTOR.redact(detail) or cause)
        self.cause = cause
        self.where = where


# SQLite's and PostgreSQL's words for a full disk or a held lock, in what they raise
# (sqlite3.OperationalError, Tortoise's OperationalError wrapping it, asyncpg's
# DiskFullError "could not extend file ...: No space left on device").
_LOCAL_MESSAGES = (
    ("database or disk is full", "disk_full"),
    ("no space left on device", "disk_full"),
    ("disk quota exceeded", "disk_full"),
    ("database is locked", "db_locked"),
    ("database table is locked", "db_locked"),
    ("disk i/o error", "io"),
)
_LOCAL_ERRNOS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "io"}


def local_error(exc: BaseException, where: str = "") -> LocalError | None:
    """The LocalError for `exc` when it says this machine failed (a full disk, a locked
    database; also when it is the cause or context of `exc`), else None. `where`: the
    directory to free space in, given by whoever knows which disk it was."""
    if isinstance(exc, LocalError):
        return exc
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cause = None
        if isinstance(cur, OSError) and cur.errno in _LOCAL_ERRNOS:
            cause = _LOCAL_ERRNOS[cur.errno]
        else:
            text = str(cur).lower()
            cause = next((c for words, c in _LOCAL_MESSAGES if words in text), None)
        if cause is not None:
            return LocalError(cause, error_text(exc), where)
        cur = cur.__cause__ or cur.__context__
    return None


def error_text(exc: BaseException, limit: int = 500) -> str:
    """`<ExceptionName>: <message>` of `exc` (just the name when it has no message), at
    most `limit` characters, known secrets and bot tokens masked (core.redaction): what a
    run's row and an alert keep of an error."""
    message = REDACTOR.redact(str(exc).strip())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
