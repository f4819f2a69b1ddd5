"""Component states in one place: what /healthz, /metrics and /status read.

`HealthRegistry` is plain memory (no I/O); app/health.py serves it over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

STARTING, RUNNING, RESTARTING, FAILED, STOPPED = (
    "starting",
    "running",
    "restarting",
    "failed",
    "stopped",
)


@dataclass
class ComponentState:
    name: str
    state: str = STARTING
    last_error: str | None = None
    restarts: int = 0
    since: float = field(default_factory=time.time)
    heartbeat: float = field(default_factory=time.time)


class HealthRegistry:
    """The single source of component state for /healthz and the bot's /status."""

    def __init__(self) -> None:
        self.components: dict[str, ComponentState] = {}
        # Extra sections (breaker, session, ...) reported by other parts: name -> getter.
        self._probes: dict[str, Callable[[], dict[str, Any]]] = {}

    def component(self, name: str) -> ComponentState:
        return self.components.setdefault(name, ComponentState(name))

    def set(self, name: str, state: str, error: str | None = None) -> None:
        comp = self.component(name)
        comp.state = state
        comp.since = time.time()
        if error is not None:
            comp.last_error = error

    def beat(self, name: str) -> None:
        self.component(name).heartbeat = time.time()

    def add_probe(self, name: str, getter: Callable[[], dict[str, Any]]) -> None:
        self._probes[name] = getter

    def healthy(self) -> bool:
        if not self.components:
            return False
        if any(c.state != RUNNING for c in self.components.values()):
            return False
        return all(p().get("healthy", True) for p in self._probes.values())

    def problems(self) -> list[str]:
        """Why /healthz says 503: one line per component that is not running, and per
        probe that reports itself unhealthy (its `problem`, else its state)."""
        lines = [
            f"{c.name}: {c.state}" + (f" ({c.last_error})" if c.last_error else "")
            for c in self.components.values()
            if c.state != RUNNING
        ]
        for name, probe in self._probes.items():
            data = probe()
            if not data.get("healthy", True):
                lines.append(f"{name}: {data.get('problem') or data.get('state', 'unhealthy')}")
        return lines

    def snapshot(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy(),
            "problems": self.problems(),
            "components": {n: asdict(c) for n, c in self.components.items()},
            **{n: p() for n, p in self._probes.items()},
        }
