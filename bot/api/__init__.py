"""The bot's contract with the rest of the app: one Protocol per feature.

Handlers receive each API as its own typed workflow-data key, named like the fields of
`BotDeps` (`async def cmd_add(message: Message, channels: ChannelsAPI, lang: str)`);
app/service.py builds one `BotDeps` and bot/component.py's ControlBot hands it to the
Dispatcher.
`media` and `media_status` may be None (the app built without media downloads);
`analytics` and `series_export` (#17) may be None too.
Besides the APIs, `tz: ZoneInfo` (the TIMEZONE setting) is a workflow-data key: every
time a handler shows or reads goes through bot/times.py in that zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.api.analytics import AnalyticsAPI, SeriesExportAPI
from bot.api.archive import ArchiveAPI
from bot.api.channels import ChannelsAPI
from bot.api.graph import GraphAPI
from bot.api.login import LoginAPI
from bot.api.media import MediaFilesAPI, MediaStatusAPI
from bot.api.parsing import ParsingAPI
from bot.api.status import StatusAPI
from bot.api.watches import WatchesAPI


@dataclass(frozen=True)
class BotDeps:
    channels: ChannelsAPI
    parsing: ParsingAPI
    login: LoginAPI
    archive: ArchiveAPI
    watches: WatchesAPI
    status: StatusAPI
    admin_ids: frozenset[int]
    default_lang: str
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # Media downloads (#16): None while the app runs without them (handlers say so).
    media: MediaFilesAPI | None = None
    media_status: MediaStatusAPI | None = None
    # Channel analytics (#17): None until app/service.py wires them (handlers say so).
    analytics: AnalyticsAPI | None = None
    series_export: SeriesExportAPI | None = None
    graph: GraphAPI | None = None

    def workflow_data(self) -> dict[str, object]:
        """One Dispatcher workflow-data key per API, and `tz` (the operators' zone)."""
        return {
            "channels": self.channels,
            "parsing": self.parsing,
            "login": self.login,
            "archive": self.archive,
            "watches": self.watches,
            "status": self.status,
            "tz": self.tz,
            "media": self.media,
            "media_status": self.media_status,
            "analytics": self.analytics,
            "series_export": self.series_export,
            "graph": self.graph,
        }
