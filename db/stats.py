"""Per-channel statistics for /stats: posts and median views per day, top posts."""

from __future__ import annotations

import heapq
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from db.export import ChannelRef, parse_time, post_link
from db.models import Message


@dataclass(frozen=True)
class DayStat:
    day: date
    posts: int
    median_views: float | None


@dataclass(frozen=True)
class TopPost:
    msg_id: int
    link: str
    views: int
    reactions: int
    text: str


@dataclass(frozen=True)
class ChannelStats:
    channel: str
    days: list[DayStat]
    top_views: list[TopPost]
    top_reactions: list[TopPost]

    @property
    def posts(self) -> int:
        return sum(d.posts for d in self.days)


async def channel_stats(channel: ChannelRef, since: datetime, top: int = 5) -> ChannelStats:
    counts: dict[date, int] = defaultdict(int)
    views: dict[date, list[int]] = defaultdict(list)
    by_views: list[tuple[int, int, TopPost]] = []
    by_reactions: list[tuple[int, int, TopPost]] = []
    last = 0
    while True:
        rows = (
            await Message.filter(channel_id=channel.id, date__gte=since, id__gt=last)
            .order_by("id")
            .limit(5000)
            .values("id", "msg_id", "date", "views", "reactions", "text")
        )
        for r in rows:
            when = parse_time(r["date"])
            if when is None:
                continue
            day = when.date()
            counts[day] += 1
            if r["views"] is not None:
                views[day].append(r["views"])
            reactions = r["reactions"] if isinstance(r["reactions"], dict) else {}
            total = sum(v for v in reactions.values() if isinstance(v, int))
            post = TopPost(
                r["msg_id"],
                post_link(channel.username, channel.tg_id, r["msg_id"]),
                r["views"] or 0,
                total,
                (r["text"] or "")[:80],
            )
            for heap, key in ((by_views, post.views), (by_reactions, post.reactions)):
                item = (key, r["msg_id"], post)
                if len(heap) < top:
                    heapq.heappush(heap, item)
                elif item[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, item)
        if len(rows) < 5000:
            break
        last = rows[-1]["id"]
    days = [
        DayStat(d, counts[d], statistics.median(views[d]) if views[d] else None)
        for d in sorted(counts)
    ]
    return ChannelStats(
        channel.label,
        days,
        [p for _, _, p in sorted(by_views, key=lambda x: x[:2], reverse=True)],
        [p for _, _, p in sorted(by_reactions, key=lambda x: x[:2], reverse=True) if p.reactions],
    )
