"""What the /add, /channels and /schedule handlers call (services/channels.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from core.channels import AddResult, Channel, HistoryChoice, HistoryDepth, PendingInvite
from core.media import MediaMode, MediaPolicy


class ChannelsAPI(Protocol):
    """Adding and managing the operator's channels."""

    @property
    def default_history(self) -> HistoryDepth:
        """The depth of channels added without one."""

    @property
    def default_interval(self) -> int:
        """The parse interval (minutes) of channels without their own."""

    @property
    def media_defaults(self) -> MediaPolicy:
        """The media policy of channels without settings of their own (MEDIA_DEFAULT,
        every kind, MEDIA_MAX_MB)."""

    async def add_lines(self, text: str) -> list[AddResult]: ...

    def invite_batch(self, tokens: list[str]) -> str: ...

    def pending_invites(self, batch: str) -> list[PendingInvite]: ...

    async def join(self, token: str) -> AddResult: ...

    async def join_batch(self, batch: str) -> list[AddResult]: ...

    def drop_invites(self, batch: str) -> int: ...

    def history_batch(self, channel_ids: list[int]) -> str: ...

    async def choose_history(self, batch: str, spec: str) -> HistoryChoice | None: ...

    def next_runs(self) -> Mapping[int, datetime]: ...

    async def page(self, page: int) -> tuple[list[Channel], int]: ...

    async def get(self, channel_id: int) -> Channel | None: ...

    async def pause(self, channel_id: int) -> bool: ...

    async def resume(self, channel_id: int) -> bool: ...

    async def remove(self, channel_id: int) -> bool: ...

    async def toggle_comments(self, channel_id: int) -> Channel | None: ...

    async def toggle_deletion_alerts(self, channel_id: int) -> Channel | None: ...

    async def set_media_policy(
        self,
        channel_id: int,
        mode: MediaMode | str | None,
        kinds: Iterable[str] | None = None,
        max_mb: int | None = None,
    ) -> Channel | None:
        """Set all three: `mode` (None: MEDIA_DEFAULT), `kinds` kept in mode all (None:
        every kind), `max_mb` (0: no cap; None: MEDIA_MAX_MB); the channel as it is now,
        None when it is gone."""
        ...

    async def find(self, ref: str) -> Channel | None: ...

    async def set_interval(self, channel_id: int, minutes: int | None) -> None: ...
