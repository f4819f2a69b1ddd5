"""What /graph calls (issue #17): the repost and mention graph as files
(services/graph.py GraphService implements it)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Protocol

from core.channels import Channel
from core.links import GraphExport


class GraphAPI(Protocol):
    async def export(
        self, channel: Channel | None, days: int | None, tz: tzinfo
    ) -> GraphExport | None:
        """The graph of `channel` (its edges and those of other archived channels to
        it; None: every archived channel) over the last `days` days of `tz` (today and
        the days-1 before it; None: the whole archive), written as GEXF and a CSV edge
        list, with the most linked channels not archived; None when it has no edge.
        Upload the files, then call `cleanup(result)`."""
        ...

    async def cleanup(self, export: GraphExport) -> None:
        """Remove an export's files."""
        ...
