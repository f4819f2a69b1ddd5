"""What /status asks besides the features' own sections (services/status.py)."""

from __future__ import annotations

from typing import Protocol

from core.status import StatusReport


class StatusAPI(Protocol):
    async def report(self) -> StatusReport:
        """The components' states and the archive's maintenance, now."""
