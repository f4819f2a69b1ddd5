"""What the lower layers need from the application, as small Protocols.

parser/, db/ and services/ receive these (app/ passes the real `app.alerts.Alerter`
and `core.health.HealthRegistry`); they never import app/ or bot/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from core.alerts import AlertBody
from core.login import AccountInfo


class AlertSink(Protocol):
    """Queues alerts for the admins; never blocks, never raises (app.alerts.Alerter)."""

    def alert(self, key: str, text: AlertBody, *, force: bool = False) -> bool:
        """Queue `text` under `key`; False when `key` was already sent in the window."""
        ...

    def notify(self, body: AlertBody) -> None:
        """Queue a message for every admin without the per-key window."""
        ...

    def fold(
        self,
        kind: str,
        item: str,
        body_of: Callable[[list[str]], AlertBody],
        *,
        key: str | None = None,
    ) -> bool:
        """Queue an alert of `kind` about `item`, folded with the others of its kind
        raised close together into one message `body_of(items)`."""
        ...

    def forget(self, key: str) -> None:
        """Let `key` be sent again at once (its problem was resolved)."""
        ...


class HealthBeats(Protocol):
    """Component states and probes (core.health.HealthRegistry)."""

    def set(self, name: str, state: str, error: str | None = None) -> None: ...

    def beat(self, name: str) -> None: ...

    def add_probe(self, name: str, getter: Callable[[], dict[str, Any]]) -> None: ...


class Component(Protocol):
    """Something the supervisor runs: `run()` until done or cancelled; `stop()` asks to finish."""

    name: str

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


# Called when a lease is given up locally (it could not be renewed in time): stop
# what it covers at once. Its errors are logged, not raised.
LeaseLost = Callable[[], Awaitable[None]]


class LeaseGate(Protocol):
    """Leases of work shared between processes (services/leases.py): `kind` "account"
    (that account's Telegram client may be open here) or "channel" (that channel's run
    may go on here), `key` the row id as text. On SQLite one process owns everything
    and there is no gate (None)."""

    retry_seconds: float  # how often a process without a lease asks again

    async def take(self, kind: str, key: str, on_lost: LeaseLost) -> bool:
        """True once this process holds the lease (renewed in the background until
        released; `on_lost` is awaited when a renewal failed, before it can expire);
        False when another process holds it or the database cannot be asked."""

    async def release(self, kind: str, key: str) -> None:
        """Give the lease back (never raises)."""

    async def holder(self, kind: str, key: str) -> str | None:
        """Who holds the lease now ("host/pid"), None when free or not known."""


class SessionStore(Protocol):
    """Where the userbot's session string is kept (db/accounts.py AccountRepository,
    encrypted at rest). Reading raises core.errors.VaultError when it cannot be opened."""

    async def current(self) -> AccountInfo | None:
        """The stored account, or None before the first login."""
        ...

    async def load_session(self) -> str | None:
        """The active account's session string (StringSession), or None."""
        ...

    async def save_session(
        self,
        session: str,
        *,
        phone: str | None,
        user_id: int | None,
        display_name: str | None,
        username: str | None,
    ) -> AccountInfo:
        """Store a freshly signed-in session and who it belongs to; the account is active."""
        ...

    async def mark(self, status: str, reason: str | None = None) -> None:
        """Set the account's status (revoked, ...); the stored session is kept."""
        ...

    async def wipe_session(self, reason: str = "logged out") -> None:
        """Forget the session (logged out)."""
        ...


class AccountBook(Protocol):
    """Every stored account (db/accounts.py AccountRepository), for the account pool."""

    async def accounts(self) -> list[AccountInfo]:
        """Every stored account, oldest first."""
        ...

    def bound(self, account_id: int) -> SessionStore:
        """Account `account_id`'s own session store."""
        ...

    async def claim(self, user_id: int | None) -> int:
        """The row id of Telegram user `user_id` (its own, or a new one)."""
        ...

    async def proxy(self, account_id: int) -> str | None:
        """The account's own proxy URL (None: the default); VaultError if unreadable."""
        ...

    async def set_proxy(self, account_id: int, url: str | None) -> None:
        """Store (encrypted) or clear the account's own proxy."""
        ...

    async def set_flood_until(self, account_id: int, until: datetime) -> None:
        """Note the account flood-waited until `until` (UTC) for the other processes."""
        ...

    async def held_counts(self) -> dict[int, int]:
        """account id -> channels it holds."""
        ...


class SecretValue(Protocol):
    """A secret that does not show in repr (pydantic's SecretStr)."""

    def get_secret_value(self) -> str: ...


class Metrics(Protocol):
    """The parser's counters (app.metrics.PrometheusMetrics; `NullMetrics` counts nothing).

    Named for what happened, not for the metric library: parser/ and services/ call
    these, app/ maps them to Prometheus series (/metrics).
    """

    def request(self, method: str) -> None:
        """One Telegram request made by the fetcher; `method` is its TL name
        (`messages.getHistory`)."""
        ...

    def stored(self, count: int) -> None:
        """`count` messages written (inserted or refreshed)."""
        ...

    def flood_wait(self) -> None:
        """A flood wait deferred a channel."""
        ...

    def run_failed(self, kind: str) -> None:
        """A channel run failed; `kind` is channel | session | transport | unexpected |
        an error code."""
        ...

    def run_seconds(self, seconds: float) -> None:
        """One channel run took `seconds` (wall clock)."""
        ...

    def breaker_open(self, is_open: bool) -> None:
        """The transport circuit breaker opened (True) or closed (False)."""
        ...


class NullMetrics:
    """Metrics that count nothing (tests, tools)."""

    def request(self, method: str) -> None:
        pass

    def stored(self, count: int) -> None:
        pass

    def flood_wait(self) -> None:
        pass

    def run_failed(self, kind: str) -> None:
        pass

    def run_seconds(self, seconds: float) -> None:
        pass

    def breaker_open(self, is_open: bool) -> None:
        pass


class MediaStore(Protocol):
    """Where media files are kept (issue #16): local files by default
    (db/media_store.py), or S3-compatible object storage (db/s3_media_store.py, #18:
    partial downloads stay on the local disk there, `get` gives a local copy).

    Keys are relative, '/'-separated names: "ab/cd/<sha256>.<ext>" for stored files,
    "partial/<download id>" for downloads under way. A key is visible to `get`/`exists`
    only once complete (`put` is atomic). Errors: OSError (ENOSPC for a full disk);
    core.errors.MediaStorageError when object storage fails (the local file is kept).
    """

    async def put(self, key: str, source: Path) -> None:
        """Store the complete local file `source` under `key` (moved or copied: the
        caller does not use `source` afterwards); atomic."""
        ...

    async def get(self, key: str) -> Path:
        """A local file holding `key`'s bytes (the stored file itself for local
        storage); FileNotFoundError if there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def open_append(self, key: str) -> BinaryIO:
        """A binary file open for appending at `key` (created empty if missing): where
        a download writes, resuming at `size(key)` bytes."""
        ...

    async def size(self, key: str) -> int | None:
        """Bytes stored at `key`, None if it does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; nothing happens if it does not exist."""
        ...
