"""The userbot's connection attempts: what went wrong, how long, when to try again.

A failed attempt becomes a `Trouble`: a catalogue key with its values (the bot shows
it translated, with the cause and the fix) and one English line for the log and
/healthz. `ConnectionTracker` counts failed attempts since the last success, spaces
the retries (capped exponential backoff with jitter) and says when the trouble has
lasted long enough to alert the operators, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.alerts import AlertText
from core.backoff import Backoff
from parser.errors import ClockSkew, NoAnswer, RateLimited, translate

_ENGLISH = {
    "conn_network": "no connection to Telegram ({name}): check the network and firewall",
    "conn_proxy": "the proxy does not let us through to Telegram ({name}): check the "
    "account's own proxy (/accounts) or TELEGRAM_PROXY (address, port, user name, password)",
    "conn_no_answer": "Telegram did not answer within {seconds} s: check the network "
    "(a firewall or proxy may open the connection but block the traffic)",
    "conn_clock_behind": "this machine's clock is {seconds} s behind Telegram's, so "
    "Telethon drops its answers: sync the system clock (timedatectl set-ntp true)",
    "conn_clock_ahead": "this machine's clock is {seconds} s ahead of Telegram's, so "
    "Telethon drops its answers: sync the system clock (timedatectl set-ntp true)",
    "conn_flood": "Telegram asked to wait {seconds} s before connecting again",
    "conn_error": "unexpected error {name} (see the log)",
}


@dataclass(frozen=True)
class Trouble:
    """Why one connection attempt failed: a text key (bot/locales: connection.po)."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)

    def text(self) -> AlertText:
        """The catalogue key with its values, for the bot to translate."""
        return AlertText(self.key, **self.args)

    def english(self) -> str:
        """One English line for the log and /healthz; KeyError for an unknown key."""
        return _ENGLISH[self.key].format(**self.args)


def classify(exc: BaseException, *, proxy: bool) -> Trouble:
    """The trouble behind a failed connection attempt. With a proxy configured, a
    network error is blamed on the proxy: Telethon's retries hide which hop failed."""
    err = translate(exc)
    if isinstance(err, ClockSkew):
        key = "conn_clock_behind" if err.seconds > 0 else "conn_clock_ahead"
        return Trouble(key, {"seconds": abs(round(err.seconds))})
    if isinstance(err, NoAnswer):
        return Trouble("conn_no_answer", {"seconds": round(err.seconds)})
    if isinstance(err, RateLimited):
        return Trouble("conn_flood", {"seconds": err.seconds})
    name = type(exc).__name__
    if type(exc).__module__.startswith("python_socks"):
        return Trouble("conn_proxy", {"name": name})
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return Trouble("conn_proxy" if proxy else "conn_network", {"name": name})
    return Trouble("conn_error", {"name": name})


class ConnectionTracker:
    """Failed attempts since the last success and whether the operators were told."""

    def __init__(
        self,
        alert_after: float,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alert_after = alert_after
        self._backoff = backoff or Backoff(base=5.0, factor=2.0, cap=120.0, jitter=0.2)
        self._clock = clock
        self.attempts = 0
        self.trouble: Trouble | None = None
        self.since: float | None = None  # when the first failed attempt began
        self.alerted = False

    def begin(self) -> None:
        """An attempt starts; the first one since a success starts the trouble clock."""
        if self.since is None:
            self.since = self._clock()

    def failed(self, trouble: Trouble, wait_at_least: float = 0.0) -> float:
        """Record a failed attempt; the seconds to wait before the next one."""
        self.begin()
        self.attempts += 1
        self.trouble = trouble
        return max(wait_at_least, self._backoff.delay(self.attempts))

    def lasting(self) -> float:
        """Seconds since the first failed attempt began (0 when all is well)."""
        if self.since is None or self.attempts == 0:
            return 0.0
        return self._clock() - self.since

    def should_alert(self) -> bool:
        """True once per trouble, when it has lasted `alert_after` seconds."""
        if self.alerted or self.attempts == 0 or self.lasting() < self.alert_after:
            return False
        self.alerted = True
        return True

    def succeeded(self) -> bool:
        """Connected: start afresh. True if the operators had been alerted."""
        alerted = self.alerted
        self.attempts, self.trouble, self.since, self.alerted = 0, None, None, False
        return alerted

    def snapshot(self) -> dict[str, Any]:
        """For /healthz: `attempts` failed since the last success, `last_error` (English, or
        None) and `failing_for` (seconds, to 0.1)."""
        return {
            "attempts": self.attempts,
            "last_error": self.trouble.english() if self.trouble else None,
            "failing_for": round(self.lasting(), 1),
        }
