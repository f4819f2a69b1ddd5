"""What /stats and the series export of /export call (issue #17).

`AnalyticsAPI`: a channel's metrics, a post's counters curve, the subscriber series
(services/analytics.py AnalyticsService implements it).
`SeriesExportAPI`: the counters and subscriber series as CSV/XLSX files
(services/export/series.py SeriesExportService implements it).

Every datetime given or returned is aware UTC; `tz` only says whose days a period and
the heatmap's hours are (the operators' TIMEZONE).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Protocol

from core.analytics import ChannelMetrics, PostCurve, SubscriberPoint
from core.archive import ExportFormat, ExportResult
from core.channels import Channel


class AnalyticsAPI(Protocol):
    async def metrics(self, channel: Channel, days: int, tz: tzinfo) -> ChannelMetrics:
        """The metrics of `channel` over the last `days` days of `tz` (today so far and
        the days-1 before it, each from that zone's midnight), `until` = now.

        An album is one post (its views the largest of its items'); service events and
        deleted posts are no posts. `heatmap` is 7 rows (Monday first) of 24 hours in
        `tz`; `subscriber_series` the period's subscriber counts, oldest first (the
        latest count before the period first when there is one); the top lists hold at
        most 5 posts each."""
        ...

    async def post_curve(self, channel_id: int, msg_id: int) -> PostCurve | None:
        """Post `msg_id` of channel row `channel_id` with its counter snapshots, oldest
        first (the album's first item for an album: views the largest of its items' at
        each snapshot); None when the archive has no such message."""
        ...

    async def subscriber_series(
        self, channel_id: int, since: datetime, until: datetime
    ) -> list[SubscriberPoint]:
        """The subscriber counts of channel row `channel_id` taken in [since, until),
        oldest first."""
        ...


class SeriesKind(StrEnum):
    """Which series /export writes (the value is the word an operator types)."""

    COUNTERS = "counters"  # counter_snapshot: one row per post per read
    SUBSCRIBERS = "subscribers"  # subscriber_snapshot: one row per count


class SeriesExportAPI(Protocol):
    async def export_series(
        self,
        channel: Channel,
        kind: SeriesKind,
        fmt: ExportFormat,
        since: datetime | None = None,
        until: datetime | None = None,
        tz: tzinfo | None = None,
    ) -> ExportResult:
        """Write `channel`'s `kind` series taken in [since, until) (None: unbounded) as
        `fmt` (CSV, CSV with semicolons or XLSX; JSONL too), times in `tz` (None: UTC);
        one file, or zip parts when it exceeds the upload limit like /export's messages.
        `rows == 0` and no file when nothing matched. Upload `result.files`, then call
        `cleanup(result)`. Raises OSError when the disk refuses."""
        ...

    async def cleanup(self, result: ExportResult) -> None:
        """Remove an export's files."""
        ...
