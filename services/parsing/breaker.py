"""Circuit breaker for transport failures only (never for flood waits or 401s).

closed -> (threshold consecutive failures) -> open for a cool-down -> half_open: the
next run is the probe; success closes it, failure re-opens with a doubled cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.parsing import BreakerState

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

Listener = Callable[[str, str | None], Awaitable[None]]


class CircuitBreaker:
    """Counts consecutive transport failures of runs; `allow()` says whether a run may
    go now. `cooldown` seconds (doubled after a failed probe, up to `max_cooldown`);
    `clock` is monotonic seconds. Listeners hear every change of state."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 30.0,
        max_cooldown: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self.cooldown = cooldown
        self.opened_at: float | None = None
        self.last_error: str | None = None
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        """Call `listener(state, last_error)` after every change of state."""
        self._listeners.append(listener)

    async def _notify(self) -> None:
        for listener in self._listeners:
            await listener(self.state, self.last_error)

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it would now)."""
        if self.state != OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown - self._clock())

    def allow(self) -> bool:
        """Whether a run may go now (an open breaker turns half-open once its
        cool-down is over: that run is the probe)."""
        if self.state == OPEN and self.retry_in() <= 0:
            self.state = HALF_OPEN
        return self.state != OPEN

    async def success(self) -> None:
        """A run got through: closed, failures and cool-down reset."""
        was = self.state
        self.failures = 0
        self.cooldown = self.base_cooldown
        self.state = CLOSED
        self.opened_at = None
        if was != CLOSED:
            await self._notify()

    async def failure(self, error: str) -> None:
        """A run failed on the network (`error` names how): opens after `threshold`
        in a row, re-opens with a doubled cool-down after a failed probe."""
        self.failures += 1
        self.last_error = error
        if self.state == HALF_OPEN:
            self.cooldown = min(self.max_cooldown, self.cooldown * 2)
        elif self.failures < self.threshold or self.state == OPEN:
            return
        self.state = OPEN
        self.opened_at = self._clock()
        await self._notify()

    def snapshot(self) -> BreakerState:
        """The state for /status."""
        return BreakerState(self.state, self.failures, round(self.retry_in(), 1), self.last_error)

    def probe(self) -> dict[str, Any]:
        """The state for /healthz (a health probe)."""
        return {
            "state": self.state,
            "failures": self.failures,
            "retry_in": round(self.retry_in(), 1),
            "last_error": self.last_error,
            "healthy": self.state != OPEN,
        }
