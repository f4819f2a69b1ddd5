"""Keyword watches: the stored patterns, and the newly stored messages they are matched
against (the matching itself is services/watches.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.archive import WatchInfo
from core.channels import Channel
from db.channels import snapshots
from db.models import Message, Watch


@dataclass(frozen=True)
class StoredPattern:
    """A watch as the matcher needs it."""

    id: int
    pattern: str
    is_regex: bool


async def add_watch(
    pattern: str, is_regex: bool, channel: Channel | None, created_by: int
) -> WatchInfo:
    """Store a watch (the pattern already checked)."""
    w = await Watch.create(
        pattern=pattern,
        is_regex=is_regex,
        channel_id=channel.id if channel else None,
        created_by=created_by,
    )
    return WatchInfo(w.id, pattern, is_regex, channel)


async def list_watches(offset: int = 0, limit: int | None = None) -> list[WatchInfo]:
    """Watches in the order they were made (`limit` of them from `offset`)."""
    qs = Watch.all().order_by("id")
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    watches = await qs.prefetch_related("channel")
    refs = await snapshots([w.channel for w in watches if w.channel is not None])
    by_id = {r.id: r for r in refs}
    out = []
    for w in watches:
        ref = by_id.get(w.channel.id) if w.channel is not None else None
        out.append(WatchInfo(w.id, w.pattern, w.is_regex, ref))
    return out


async def count_watches() -> int:
    return await Watch.all().count()


async def remove_watch(watch_id: int) -> bool:
    """False when there was no such watch."""
    return await Watch.filter(id=watch_id).delete() > 0


async def patterns_for(channel_id: int) -> list[StoredPattern]:
    """The watches that look at the channel: its own, then those on every channel."""
    watches = await Watch.filter(channel_id__in=[channel_id]).all()
    watches += await Watch.filter(channel_id__isnull=True).all()
    return [StoredPattern(w.id, w.pattern, w.is_regex) for w in watches]


async def messages_between(
    channel_id: int, min_msg_id: int, max_msg_id: int, chunk: int = 1000
) -> AsyncIterator[list[tuple[int, int, str, str, str | None]]]:
    """(db id, msg_id, text, content_text, terms) of the channel's stored messages with
    min <= msg_id <= max, in msg_id order, `chunk` per round trip. `terms` is None where
    not computed (PostgreSQL, or not yet)."""
    last = min_msg_id - 1
    while True:
        rows = (
            await Message.filter(channel_id=channel_id, msg_id__gt=last, msg_id__lte=max_msg_id)
            .order_by("msg_id")
            .limit(chunk)
            .values_list("id", "msg_id", "text", "content_text", "terms")
        )
        if rows:
            yield [(int(i), int(m), t or "", c or "", terms) for i, m, t, c, terms in rows]
        if len(rows) < chunk:
            return
        last = rows[-1][1]
