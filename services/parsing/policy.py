"""What a failed run leads to: a pure function of the error, no I/O.

`decide(error)` maps the project error a run ended with (core.errors, as
parser/errors.py translated it from Telethon) to a `Decision`; the worker
(worker.py) carries it out: defer the channel, disable it, declare the session dead,
count a transport failure against the circuit breaker, or record the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import (
    ChannelUnavailable,
    LocalError,
    RateLimited,
    ServerTrouble,
    SessionDead,
    TelegramError,
    TransportError,
    UnknownTelegramError,
    error_text,
)
from core.parsing import RunStatus

# Flood waits at least this long (seconds) are told to the admins.
LONG_FLOOD_SECONDS = 60


class Action(StrEnum):
    """What the worker does about a failed run."""

    DEFER = "defer"  # wait `seconds` before the channel's next run
    DISABLE = "disable"  # the channel cannot be read: disable it, drop its job
    SESSION_DEAD = "session_dead"  # the session can never be used again: log in anew
    BREAKER = "breaker"  # network or server trouble: count it, retry the channel soon
    LOCAL = "local"  # this machine's trouble (disk full, database locked): wait it out
    RECORD = "record"  # another error: keep it as the channel's last error
    INTERRUPTED = "interrupted"  # the client was taken away mid-run (logout, re-login)


@dataclass(frozen=True)
class Decision:
    """What to do about one failed run.

    `status`: the run's outcome as reported; `metric`: the kind the errors counter
    counts ("" for a flood wait, counted apart); `seconds`: how long to defer;
    `reason`: what is stored as the channel's error or disabled reason; `alert`: the
    admins are told (flood waits of LONG_FLOOD_SECONDS or more, disabled channels,
    local trouble, errors nobody expected); `once`: such an alert is told once per
    process under this key (an unknown Telegram error's name, a bug's type), not once
    per channel and run; "" when the worker's own keys apply.
    """

    action: Action
    status: RunStatus
    metric: str = ""
    seconds: int = 0
    reason: str = ""
    alert: bool = False
    once: str = ""


def decide(error: BaseException, *, client_replaced: bool = False) -> Decision:
    """The Decision for a run that ended with `error`.

    `client_replaced`: the userbot's client is no longer the one the run used (the
    operator logged out or in again while it went on): its requests failed because the
    client was taken away, not because of Telegram, so the run only counts as
    interrupted. Rules, in order:
      * RateLimited(seconds) (FLOOD_WAIT_X, SLOWMODE_WAIT_X: Telegram's "wait X s",
        https://core.telegram.org/api/errors#420-flood) -> DEFER for `seconds`;
      * ChannelUnavailable(reason) (CHANNEL_PRIVATE, CHANNEL_INVALID, ...) -> DISABLE;
      * SessionDead (AUTH_KEY_UNREGISTERED, SESSION_REVOKED, ...) -> SESSION_DEAD (the
        session's trouble, not the channel's: it goes on after the next login);
      * TransportError (no connection, no answer, clock skew, Telegram's 500s and -503,
        Telethon's exhausted retries) -> BREAKER: counted by the breaker, the channel is
        retried with backoff; Telegram's server trouble is alerted, network trouble not;
      * LocalError (disk full, database locked) -> LOCAL, alerted with the cause;
      * UnknownTelegramError -> RECORD "<NAME> (<code>)", alerted once per NAME;
      * any other project TelegramError -> RECORD its detail or code;
      * anything else (a bug) -> RECORD "<Type>: <message>", metric `unexpected`,
        alerted once per type.
    """
    failed = RunStatus.FAILED
    if client_replaced:
        return Decision(Action.INTERRUPTED, RunStatus.INTERRUPTED)
    if isinstance(error, LocalError):
        return Decision(
            Action.LOCAL, failed, "local", reason=error.detail or error.cause, alert=True
        )
    if isinstance(error, RateLimited):
        seconds = error.seconds
        return Decision(
            Action.DEFER, RunStatus.DEFERRED, seconds=seconds, reason=f"flood wait {seconds}s",
            alert=seconds >= LONG_FLOOD_SECONDS,
        )
    if isinstance(error, ChannelUnavailable):
        return Decision(
            Action.DISABLE, RunStatus.DISABLED, "channel", reason=error.reason, alert=True
        )
    if isinstance(error, SessionDead):
        return Decision(
            Action.SESSION_DEAD, failed, "session", reason=error.detail or error.code
        )
    if isinstance(error, TransportError):
        # Telegram's servers failing is told (per channel, per alert window); plain
        # network trouble is the userbot's connection alert's to tell.
        return Decision(
            Action.BREAKER, failed, "transport", reason=error.detail or error.code,
            alert=isinstance(error, ServerTrouble),
        )
    if isinstance(error, UnknownTelegramError):
        reason = f"{error.name} ({error.status})" if error.status else error.name
        return Decision(
            Action.RECORD, failed, error.code, reason=reason, alert=True,
            once=f"rpc:{error.name}",
        )
    if isinstance(error, TelegramError):
        return Decision(Action.RECORD, failed, error.code, reason=error.detail or error.code)
    name = type(error).__name__
    return Decision(
        Action.RECORD, failed, "unexpected", reason=error_text(error, 200), alert=True,
        once=f"bug:{name}",
    )
