"""The posts of an album (messages of one chat sharing a grouped_id): the 📎 of one
member sends the album's files (#16)."""

from __future__ import annotations

from db.models import Message

# Telegram albums hold at most 10 messages with close ids: the unique (channel, msg_id)
# index finds them without an index on grouped_id.
ALBUM_SPAN = 20


async def album_posts(channel_id: int, msg_id: int) -> list[int]:
    """The msg_ids of the album message `msg_id` of channel row `channel_id` belongs to,
    in order; [msg_id] alone when it is in no album (or unknown: [])."""
    grouped = await Message.filter(channel_id=channel_id, msg_id=msg_id).limit(1).values_list(
        "grouped_id", flat=True
    )
    if not grouped:
        return []
    if grouped[0] is None:
        return [msg_id]
    rows = await Message.filter(
        channel_id=channel_id,
        msg_id__gte=msg_id - ALBUM_SPAN,
        msg_id__lte=msg_id + ALBUM_SPAN,
        grouped_id=grouped[0],
    ).order_by("msg_id").values("msg_id")
    return [int(r["msg_id"]) for r in rows]
