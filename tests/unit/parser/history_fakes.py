"""A Telethon client stand-in that answers `messages.getHistory` by Telegram's rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon.tl import functions, types

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def history(n: int) -> list[Any]:
    """Ascending messages with ids 1..n skipping multiples of 7; id 10 is a service message."""
    out: list[Any] = []
    for i in range(1, n + 1):
        if i % 7 == 0:
            continue
        date = T0 + timedelta(minutes=i)
        if i == 10:
            out.append(types.MessageService(
                id=i, peer_id=types.PeerChannel(777), date=date,
                action=types.MessageActionPinMessage(),
            ))
        else:
            out.append(types.Message(
                id=i, peer_id=types.PeerChannel(777), date=date, message=f"post {i}"
            ))
    return out


class FakeClient:
    """Answers GetHistoryRequest from `messages`; records each request with how many
    rows the fetcher had converted when it was sent."""

    def __init__(self, messages: list[Any], disconnect_at: int | None = None) -> None:
        self.messages = messages
        self.requests: list[tuple[int, datetime | None, int]] = []
        self.converted = 0
        self.limits: list[tuple[int, int]] = []  # (limit, add_offset) of each request
        # From this request on, the client is "disconnected": like Telethon's
        # disconnect(), the pending request's future is cancelled.
        self.disconnect_at = disconnect_at
        self.by_id: list[list[int]] = []  # the ids of each channels.getMessages

    async def __call__(self, req: Any) -> Any:
        if isinstance(req, functions.channels.GetMessagesRequest):
            return self._by_id(req)
        assert isinstance(req, functions.messages.GetHistoryRequest)
        assert not req.min_id and not req.max_id
        # A history page, or one message at a position (history.message_at).
        page = (req.limit, req.add_offset) == (100, -100)
        assert page or (req.limit == 1 and req.add_offset >= 0)
        self.requests.append((req.offset_id, req.offset_date, self.converted))
        self.limits.append((req.limit, req.add_offset))
        if self.disconnect_at is not None and len(self.requests) >= self.disconnect_at:
            pending = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(pending.cancel)
            await pending
        asc = self.messages
        if req.offset_id:
            older = sum(1 for m in asc if m.id < req.offset_id)
        elif req.offset_date:
            older = sum(1 for m in asc if m.date < req.offset_date)
        else:
            older = len(asc)
        # Position counts from the newest; a negative add_offset moves towards newer.
        position = len(asc) - older + req.add_offset
        newest_first = asc[::-1]
        page = newest_first[max(position, 0):max(position + req.limit, 0)]
        return types.messages.ChannelMessages(
            pts=1, count=len(asc), messages=page, topics=[], chats=[], users=[]
        )

    def _by_id(self, req: Any) -> Any:
        """channels.getMessages: each asked id's message, or messageEmpty (deleted)."""
        ids = [i.id for i in req.id]
        assert 0 < len(ids) <= 100
        self.by_id.append(ids)
        have = {m.id: m for m in self.messages}
        empty = types.MessageEmpty
        found = [have.get(i) or empty(id=i, peer_id=types.PeerChannel(777)) for i in ids]
        return types.messages.ChannelMessages(
            pts=1, count=len(found), messages=found, topics=[], chats=[], users=[]
        )
