"""The parse_run table: one row per run of a channel (when, why, how it ended)."""

from __future__ import annotations

from datetime import UTC, datetime

from db.models import ParseRun


class RunRepository:
    """Run bookkeeping: `start` when a run begins, `end` when it is over."""

    async def start(self, channel_id: int, trigger: str) -> int:
        """A `running` row for a run of the channel (`trigger`: schedule | manual); its id."""
        run = await ParseRun.create(channel_id=channel_id, trigger=trigger, status="running")
        return int(run.id)

    async def end(
        self, run_id: int, status: str, fetched: int, error: str | None = None
    ) -> None:
        """Close run `run_id`: its status (ok | failed | interrupted), rows written, error."""
        await ParseRun.filter(id=run_id).update(
            status=status, fetched=fetched, error=error, finished_at=datetime.now(UTC)
        )

    async def record(
        self, channel_id: int, trigger: str, status: str, fetched: int, error: str | None,
        started_at: datetime,
    ) -> None:
        """A run recorded after it ended (its `running` row could not be written when it
        began: the database was locked or the disk full): started at `started_at`,
        finished now."""
        await ParseRun.create(
            channel_id=channel_id, trigger=trigger, status=status, fetched=fetched,
            error=error, started_at=started_at, finished_at=datetime.now(UTC),
        )

    async def interrupt_stale(self) -> None:
        """Runs left `running` by a crash are marked interrupted (at start)."""
        await ParseRun.filter(status="running").update(status="interrupted")
