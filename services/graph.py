"""The repost and mention graph (issue #17 Must 4): /graph's files, and the backfill of
the links of messages stored before the graph existed.

`GraphService.export` aggregates `message_link` (db/links.py `LinkRepository.edges`:
one edge per source channel, target and kind, weighted by posts, dated by the first
and last of them), builds a networkx MultiDiGraph (an edge per kind: a channel may
both forward from and mention another) and writes it as GEXF 1.2 (Gephi reads it;
networkx.read_gexf too) and as a CSV edge list whose header Gephi's spreadsheet import
understands (Source, Target, Type, Kind, Weight, ...). Node ids: "c<row id>" for an
archived channel (with its title and username), the target itself ("id:<Telegram
id>" or "@name") for any other channel.

`LinksBackfill` (component "links_backfill") writes the links of the rows stored
before this version in small transactions by message row id (db/links.py
`LinkRepository.backfill`), after the start, while the bot and the parser go on;
the mark (table job_mark) lets a restart go on where it stopped. Done, it idles until
stopped (a finished component would show as stopped in /status).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as day_time
from pathlib import Path
from typing import Any

from core.analytics import GraphEdge, LinkKind
from core.channels import Channel
from core.links import GraphExport, GraphTarget
from db.links import LinkRepository

log = logging.getLogger(__name__)

CSV_HEADER = (
    "Source", "Target", "Type", "Kind", "Weight", "First", "Last", "Source label",
    "Target label",
)
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def node_id(channel_row: int | None, target: str) -> str:
    """A node's id in the files: "c<row id>" for an archived channel, else the target."""
    return f"c{channel_row}" if channel_row is not None else target


def build_graph(
    edges: list[GraphEdge], archived: dict[int, tuple[int, str | None, str]]
) -> Any:
    """A networkx MultiDiGraph of `edges` (keys: the edge kinds). Node attributes:
    label, archived, and tg_id / username where known; edge attributes: kind, weight,
    first, last (ISO 8601, UTC)."""
    import networkx as nx  # 22 MB: imported by the first /graph, not at start (#20 P3)

    graph = nx.MultiDiGraph()

    def archived_node(row: int) -> str:
        node = node_id(row, "")
        if node not in graph:
            tg_id, username, title = archived.get(row, (None, None, ""))
            graph.add_node(node, **_node_attrs(title, username, tg_id, archived=True))
        return node

    for e in edges:
        source = archived_node(e.source_id)
        if e.target_channel_id is not None:
            target = archived_node(e.target_channel_id)
        else:
            target = node_id(None, e.target)
            if target not in graph:
                tg_id = int(e.target[3:]) if e.target.startswith("id:") else None
                attrs = _node_attrs(e.title, e.username, tg_id, archived=False, fallback=e.target)
                graph.add_node(target, **attrs)
        graph.add_edge(
            source, target, key=e.kind.value, kind=e.kind.value, weight=e.weight,
            first=_iso(e.first), last=_iso(e.last),
        )
    return graph


def _node_attrs(
    title: str | None, username: str | None, tg_id: int | None, *, archived: bool,
    fallback: str = "",
) -> dict[str, Any]:
    # GEXF has no null: attributes a node lacks are left out.
    attrs: dict[str, Any] = {
        "label": title or (f"@{username}" if username else fallback or str(tg_id or "")),
        "archived": archived,
    }
    if username:
        attrs["username"] = username
    if tg_id is not None:
        attrs["tg_id"] = tg_id
    return attrs


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def write_files(graph: Any, gexf: Path, csv_path: Path) -> None:
    """Write `graph` as GEXF and as the CSV edge list (CPU-bound: run in a thread)."""
    import networkx as nx

    nx.write_gexf(graph, gexf, encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(CSV_HEADER)
        for source, target, data in graph.edges(data=True):
            out.writerow(
                (
                    source, target, "Directed", data["kind"], data["weight"], data["first"],
                    data["last"], graph.nodes[source]["label"], graph.nodes[target]["label"],
                )
            )


def top_targets(edges: list[GraphEdge], limit: int) -> list[GraphTarget]:
    """The targets of `edges` that are not archived, most linked first (then by how many
    archived channels link them), at most `limit`."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sources: dict[str, set[int]] = defaultdict(set)
    names: dict[str, tuple[str | None, str | None]] = {}
    for e in edges:
        if e.target_channel_id is not None:
            continue
        counts[e.target][0 if e.kind is LinkKind.FORWARD else 1] += e.weight
        sources[e.target].add(e.source_id)
        username, title = names.get(e.target, (None, None))
        names[e.target] = (username or e.username, title or e.title)
    ranked = sorted(counts, key=lambda t: (-sum(counts[t]), -len(sources[t]), t))
    return [
        GraphTarget(
            target=t,
            username=names[t][0],
            title=names[t][1],
            tg_id=int(t[3:]) if t.startswith("id:") else None,
            forwards=counts[t][0],
            mentions=counts[t][1],
            sources=len(sources[t]),
        )
        for t in ranked[:limit]
    ]


def period_start(days: int | None, tz: tzinfo, now: datetime) -> datetime | None:
    """The start of the last `days` days in `tz` (today and the days before it), UTC;
    None for no limit."""
    if not days:
        return None
    first = now.astimezone(tz).date() - timedelta(days=days - 1)
    return datetime.combine(first, day_time(0), tzinfo=tz).astimezone(UTC)


class GraphService:
    """What /graph calls (bot/api/graph.py GraphAPI). Files go to a folder of their own
    under `work_dir` (the app's temporary folder, emptied at start)."""

    def __init__(
        self,
        work_dir: Path,
        links: LinkRepository | None = None,
        *,
        top: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._work_dir = work_dir
        self._links = links or LinkRepository()
        self._top = top
        self._clock = clock

    async def export(
        self, channel: Channel | None, days: int | None, tz: tzinfo = UTC
    ) -> GraphExport | None:
        """The graph of `channel` (its edges and those of other archived channels to it;
        None: every channel) over the last `days` days in `tz` (None: all), written as
        GEXF and CSV; None when it has no edge."""
        since = period_start(days, tz, self._clock())
        edges = await self._links.edges(channel.id if channel else None, since)
        if not edges:
            return None
        archived = await self._links.archived()
        graph = build_graph(edges, archived)
        folder = self._work_dir / f"graph-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        label = _FILE_SAFE.sub("_", channel.username or f"c{channel.id}") if channel else "all"
        stem = f"graph-{label}-{f'{days}d' if days else 'all'}-{self._clock():%Y%m%d}"
        gexf, csv_path = folder / f"{stem}.gexf", folder / f"{stem}.csv"
        try:
            await asyncio.to_thread(write_files, graph, gexf, csv_path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return GraphExport(
            gexf, csv_path, graph.number_of_nodes(), graph.number_of_edges(), since,
            tuple(top_targets(edges, self._top)),
        )

    async def cleanup(self, export: GraphExport) -> None:
        """Remove the export's files (and their folder)."""
        await asyncio.to_thread(shutil.rmtree, export.gexf.parent, True)


class LinksBackfill:
    """Component "links_backfill": the links of messages stored before this version,
    and, when the link rules changed since (core/links.py RULES_VERSION), the whole
    archive again: the links the rules now find added, those they no longer find
    deleted.

    `span` message row ids per transaction to start with; the span is then resized so a
    transaction holds the database about `target_seconds` (200-50,000 ids). Between
    transactions the loop sleeps `pause` seconds, so queued queries go first.
    """

    name = "links_backfill"

    def __init__(
        self,
        links: LinkRepository | None = None,
        *,
        span: int = 2000,
        target_seconds: float = 0.05,
        pause: float = 0.02,
        log_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._links = links or LinkRepository()
        self._span = span
        self._target = target_seconds
        self._pause = pause
        self._log_every = log_every
        self._clock = clock
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._stop.clear()
        await self.backfill()
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()

    async def backfill(self) -> int:
        """Go through the rows left (stops early when asked to); the links written."""
        done, end = await self._links.backfill_bounds()
        if done >= end:
            return 0
        log.info("links backfill: message rows %d to %d", done + 1, end)
        written, dropped, last_log = 0, 0, self._clock()
        while done < end and not self._stop.is_set():
            started = self._clock()
            step = await self._links.backfill(done, end, self._span)
            took = self._clock() - started
            done, written, dropped = step.done, written + step.links, dropped + step.dropped
            if took > self._target:
                self._span = max(200, self._span // 2)
            elif took < self._target / 4:
                self._span = min(50_000, self._span * 2)
            if self._clock() - last_log >= self._log_every:
                last_log = self._clock()
                log.info("links backfill: row %d of %d, %d links so far", done, end, written)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self._pause)
            except TimeoutError:
                pass
        if done >= end:
            log.info(
                "links backfill: done, %d new links written, %d no longer links deleted",
                written, dropped,
            )
        return written
