"""Login steps and results: what the login service returns and the bot shows.

Plain values (no Telethon, no aiogram): services/login.py produces them, bot/ renders
them (bot/routers/login.py, bot/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.alerts import AlertText


class LoginCode(StrEnum):
    """Why a login step failed: the suffix of the catalogue key `login_err_<code>`."""

    PHONE_FORMAT = "phone_format"
    PHONE_INVALID = "phone_invalid"
    PHONE_UNOCCUPIED = "phone_unoccupied"
    PHONE_BANNED = "phone_banned"
    CODE_FORMAT = "code_format"
    CODE_INVALID = "code_invalid"
    CODE_EXPIRED = "code_expired"
    PASSWORD_INVALID = "password_invalid"
    PASSWORD_RETRY = "password_retry"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    FLOOD_WAIT = "flood_wait"
    NETWORK = "network"
    NO_FLOW = "no_flow"
    BUSY = "busy"
    SESSION_DEAD = "session_dead"
    UNKNOWN = "unknown"

    @property
    def wrong_number(self) -> bool:
        """The number itself was refused: the flow goes back to asking for one."""
        return self in (LoginCode.PHONE_UNOCCUPIED, LoginCode.PHONE_INVALID)

    @property
    def ends_flow(self) -> bool:
        """The flow cannot go on: the dialogue ends and the flow is freed."""
        return self in _FATAL


_FATAL = frozenset(
    {
        LoginCode.ATTEMPTS_EXHAUSTED,
        LoginCode.NO_FLOW,
        LoginCode.SESSION_DEAD,
        LoginCode.UNKNOWN,
        LoginCode.PHONE_BANNED,
    }
)


@dataclass(frozen=True)
class LoginDone:
    """Signed in as `name` (first and last name, or the user id)."""

    name: str


@dataclass(frozen=True)
class NeedPassword:
    """The account has two-step verification: its password is next; `hint` is the
    hint its owner set (None: none)."""

    hint: str | None


LoginStep = LoginDone | NeedPassword


@dataclass(frozen=True)
class CodeSent:
    """A login code was sent to `phone` (normalised, `+` and digits)."""

    phone: str


@dataclass(frozen=True)
class TypedCode:
    """A code as the operator typed it: its digits, and whether it came in one piece
    (Telegram cancels a code sent whole in a chat, so the operator is warned)."""

    digits: str
    whole: bool


@dataclass(frozen=True)
class QrToken:
    """A QR login token to show: `url` (tg://login?token=...) valid for `seconds`."""

    url: str
    seconds: int


class SessionState(StrEnum):
    """The userbot's session, as /status shows it (`session_<value>` texts)."""

    NO_SESSION = "no_session"
    CONNECTING = "connecting"
    READY = "ready"
    PAUSED = "paused"
    INVALID = "invalid"
    # PostgreSQL with several processes (#18): another process holds the account's
    # lease (its session is open there; this one takes over if that one dies) ...
    STANDBY = "standby"
    # ... or this process runs only the bot (`run --no-parser`): workers open it.
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True, eq=False)
class AccountStatus:
    """The account part of /status.

    `name`: the signed-in account while the session works ('First Last (@user)'), else
    the stored account's name while connecting; `reason`: why the session is not
    ready (a reason text key suffix or free English); `connecting_attempts` and
    `trouble`: failed connection attempts and what went wrong in the last one (a
    connection.po text); `clock_offset`: Telegram's clock minus this machine's, in seconds, when
    known; `login_by`: who is logging in right now, if anyone.
    """

    state: SessionState
    name: str | None = None
    reason: str | None = None
    connecting_attempts: int = 0
    trouble: AlertText | None = None
    clock_offset: int | None = None
    login_by: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    """The stored userbot account (db/accounts.py). `status`: active | revoked |
    logged_out; `has_session`: an encrypted session string is stored."""

    id: int
    phone: str | None
    user_id: int | None
    display_name: str | None
    username: str | None
    status: str
    status_reason: str | None
    has_session: bool
    flood_until: datetime | None = None  # the end of a flood wait another process met
    # Changes whenever the account's own proxy does (a digest of its ciphertext; None:
    # the default proxy): other processes open the proxy only when it changed.
    proxy_stamp: str | None = None


@dataclass(frozen=True)
class LogoutTarget:
    """What /logout would end: `has_session` False when there is nothing to log out;
    `name` of the account ('?' when unknown)."""

    has_session: bool
    name: str


class AccountState(StrEnum):
    """An account as /accounts shows it (`account_state_<value>` texts)."""

    READY = "ready"
    CONNECTING = "connecting"
    FLOOD = "flood"  # flood-waited (FLOOD_WAIT_X beyond the sleep threshold) until ...
    PAUSED = "paused"  # its stored secrets cannot be opened
    REVOKED = "revoked"  # Telegram ended the session (401: revoked, banned, ...)
    LOGGED_OUT = "logged_out"
    # PostgreSQL, several processes (#18): its client is open in another process (a
    # worker holds its lease); `reason` names that process (host/pid) when known.
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class AccountView:
    """One account for /accounts, /logout and /status. `name`: 'First Last (@user)'
    (else its phone, else '#<id>'); `flood_until`: when its flood wait ends (UTC);
    `proxy`: its own proxy's host:port (None: the default; '?' when it cannot be
    decrypted); `channels`: channels it holds; `reason`: why it is not ready; `has_session`: a
    session is stored (/logout can end it)."""

    id: int
    name: str
    state: AccountState
    channels: int = 0
    proxy: str | None = None
    flood_until: datetime | None = None
    reason: str | None = None
    has_session: bool = True
