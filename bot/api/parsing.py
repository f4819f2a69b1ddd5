"""What the /parse handler and the parsing part of /status call (services/parsing/
service.py ParseService implements it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from core.channels import Channel
from core.parsing import BatchProgress, ParseStatus

BatchCallback = Callable[[BatchProgress], Awaitable[None]]


class ParsingAPI(Protocol):
    @property
    def batch(self) -> BatchProgress | None:
        """The `/parse all` under way, if any (one at a time)."""

    def ready(self) -> bool:
        """Whether the userbot has a usable session now."""

    async def targets(self, target: str) -> Sequence[Channel]:
        """The active channels for `all`, else the one channel `target` names, or none."""

    async def run_batch(
        self,
        targets: Sequence[Channel],
        on_progress: BatchCallback | None = None,
        *,
        exclusive: bool = False,
    ) -> BatchProgress | None:
        """Run `targets` one after another; None when `exclusive` and another
        `/parse all` is under way."""

    async def status(self) -> ParseStatus:
        """The parsing part of /status."""
