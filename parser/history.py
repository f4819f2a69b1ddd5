"""History paging (`messages.getHistory`) and Telethon messages as stored rows.

`history_pages` sends the same requests Telethon's `iter_messages(reverse=True)` sends,
one page of BATCH at a time, oldest first, but asks for the next page as soon as one
arrives, so it travels while the caller turns this page into rows and stores them.
`message_row` turns one Telethon message into a plain tuple in `core.parsing.COLUMNS`
order. Nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

from telethon import TelegramClient
from telethon.tl import functions, types

from core.parsing import Row
from core.ports import Metrics

# Messages per `messages.getHistory` page (Telegram's maximum `limit` is 100:
# https://core.telegram.org/method/messages.getHistory).
BATCH = 100
# Skipped while iterating (a tuple: `A | B` builds a new union object on every call).
NOT_CONTENT = (types.MessageService, types.MessageEmpty)
# Loop iterations a Telethon request takes to reach the socket (see `history_pages`).
_HOPS = 3


def this_task_cancelled() -> bool:
    """Whether a CancelledError means this task is being cancelled. Telethon's
    disconnect() (a /logout, a re-login) cancels the futures of pending requests
    instead, which raises CancelledError in whoever awaits them: that is a lost
    connection, not a reason to stop silently (a writer would wait forever)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def disconnected() -> ConnectionError:
    """The error a request cancelled by Telethon's disconnect() stands for."""
    return ConnectionError("the client disconnected during a request")


async def nth_newest_id(
    client: TelegramClient, peer: Any, n: int, metrics: Metrics
) -> int:
    """The id of the channel's `n`-th newest message (1 = the newest); 0 when the
    channel has fewer. One `messages.getHistory` request (limit 1, add_offset n-1)."""
    metrics.request("messages.getHistory")
    nth = await client.get_messages(peer, limit=1, add_offset=n - 1)
    return int(nth[0].id) if nth else 0


async def history_pages(
    client: TelegramClient,
    peer: Any,
    min_id: int,
    offset_date: datetime | None,
    *,
    stopping: Callable[[], bool],
    metrics: Metrics,
    wait_time: float = 0.0,
) -> AsyncGenerator[tuple[list[Any], int], None]:
    """Ascending pages `(messages, channel total)` above `min_id` or after `offset_date`.

    Each page holds up to BATCH Telethon messages (service messages included, empty
    ones dropped), oldest first; the total is Telegram's `count` of the channel's
    messages. Paging follows messages.getHistory's rules
    (https://core.telegram.org/api/offsets): `offset_id` one past the newest id in hand
    with `add_offset=-BATCH` reads the next BATCH newer messages; a repeated id or an
    empty page ends the history. The next request is sent before the page is yielded
    (ask-ahead), and never once `stopping()` is true; `wait_time` seconds at least
    between two requests. Telethon's errors (flood waits, RPC errors, ConnectionError)
    propagate untranslated; a request cancelled by a disconnect raises CancelledError.
    """
    last_sent = 0.0

    async def fetch(offset_id: int, date: datetime | None) -> Any:
        nonlocal last_sent
        if wait_time:
            await asyncio.sleep(wait_time - (time.monotonic() - last_sent))
        last_sent = time.monotonic()
        metrics.request("messages.getHistory")
        return await client(
            functions.messages.GetHistoryRequest(
                peer=peer, offset_id=offset_id, offset_date=date, add_offset=-BATCH,
                limit=BATCH, max_id=0, min_id=0, hash=0,
            )
        )

    # As iter_messages: start just above min_id, or at offset_date, or at id 1.
    first_id = min_id + 1 if min_id else (0 if offset_date else 1)
    pending: asyncio.Future[Any] | None = asyncio.ensure_future(fetch(first_id, offset_date))
    last_id = 0
    try:
        while pending is not None:
            r = await pending
            pending = None
            page, ended = _ascending(r, last_id)
            if page:
                last_id = page[-1].id
            if page and not ended and not stopping():
                pending = asyncio.ensure_future(fetch(page[-1].id + 1, page[-1].date))
                # Let the request reach the socket before this page is worked on:
                # Telethon hands it from the call to the sender's send loop to the
                # connection's send loop, one loop iteration each.
                for _ in range(_HOPS):
                    await asyncio.sleep(0)
            yield page, getattr(r, "count", len(r.messages))
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


def _ascending(r: Any, last_id: int) -> tuple[list[Any], bool]:
    """The page of answer `r` oldest first, and whether the history ends with it."""
    page: list[Any] = []
    ended = isinstance(r, types.messages.Messages)  # the whole history at once
    for m in reversed(r.messages):
        if isinstance(m, types.MessageEmpty):
            continue
        if m.id <= last_id:  # a repeat: the history ends here
            return page, True
        last_id = m.id
        page.append(m)
    return page, ended


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _peer_id(peer: Any) -> int | None:
    if peer is None:
        return None
    return (
        getattr(peer, "user_id", None)
        or getattr(peer, "channel_id", None)
        or getattr(peer, "chat_id", None)
    )


def _entities(entities: list[Any] | None) -> list[list[Any]] | None:
    if not entities:
        return None
    out: list[list[Any]] = []
    for e in entities:
        item: list[Any] = [type(e).__name__.removeprefix("MessageEntity"), e.offset, e.length]
        extra = getattr(e, "url", None) or getattr(e, "user_id", None) or getattr(
            e, "language", None
        ) or getattr(e, "document_id", None)
        if extra is not None:
            item.append(extra)
        out.append(item)
    return out


def _reactions(reactions: Any) -> dict[str, int] | None:
    results = getattr(reactions, "results", None)
    if not results:
        return None
    out: dict[str, int] = {}
    for rc in results:
        r = rc.reaction
        key = getattr(r, "emoticon", None)
        if key is None:
            doc = getattr(r, "document_id", None)
            key = f"custom:{doc}" if doc is not None else type(r).__name__
        out[key] = out.get(key, 0) + rc.count
    return out


def _media(media: Any) -> tuple[str | None, dict[str, Any] | None]:
    if media is None:
        return None, None
    if isinstance(media, types.MessageMediaPhoto):
        photo = media.photo
        meta: dict[str, Any] = {"id": getattr(photo, "id", None)}
        sizes = [s for s in getattr(photo, "sizes", []) or [] if hasattr(s, "w")]
        if sizes:
            big = max(sizes, key=lambda s: s.w * s.h)
            meta.update(width=big.w, height=big.h, size=getattr(big, "size", None))
        return "photo", meta
    if isinstance(media, types.MessageMediaDocument):
        doc = media.document
        meta = {
            "id": getattr(doc, "id", None),
            "mime_type": getattr(doc, "mime_type", None),
            "size": getattr(doc, "size", None),
        }
        kind = "document"
        for attr in getattr(doc, "attributes", []) or []:
            if isinstance(attr, types.DocumentAttributeFilename):
                meta["file_name"] = attr.file_name
            elif isinstance(attr, types.DocumentAttributeVideo):
                kind = "round" if attr.round_message else "video"
                meta["duration"] = attr.duration
            elif isinstance(attr, types.DocumentAttributeAudio):
                kind = "voice" if attr.voice else "audio"
                meta["duration"] = attr.duration
            elif isinstance(attr, types.DocumentAttributeSticker):
                kind = "sticker"
            elif isinstance(attr, types.DocumentAttributeAnimated):
                kind = "animation"
        return kind, meta
    if isinstance(media, types.MessageMediaWebPage):
        page = media.webpage
        url, title = getattr(page, "url", None), getattr(page, "title", None)
        return "webpage", {"url": url, "title": title}
    name = type(media).__name__.removeprefix("MessageMedia").lower()
    return name, None


def _fwd(fwd: Any) -> dict[str, Any] | None:
    if fwd is None:
        return None
    return {
        "from_id": _peer_id(fwd.from_id),
        "from_name": fwd.from_name,
        "date": fwd.date.isoformat() if fwd.date else None,
        "channel_post": fwd.channel_post,
        "post_author": fwd.post_author,
    }


def message_row(
    channel_id: int, m: Any, now: datetime, comment_of: int | None = None
) -> Row:
    """A Telethon message as a plain tuple in `core.parsing.COLUMNS` order.

    `channel_id` is the row id of the channel (or discussion group) it is stored under,
    `now` the fetch time (whole seconds), `comment_of` the post id a comment answers.
    Entities, reactions, media and forward headers become compact JSON text.
    """
    media_kind, media = _media(m.media)
    replies = m.replies.replies if m.replies is not None else None
    reply_to = m.reply_to.reply_to_msg_id if m.reply_to is not None else None
    return (
        channel_id,
        m.id,
        m.date,
        m.message or "",
        _json(_entities(m.entities)),
        _peer_id(m.from_id),
        m.post_author,
        m.views,
        m.forwards,
        replies,
        _json(_reactions(m.reactions)),
        m.edit_date,
        media_kind,
        _json(media),
        m.grouped_id,
        reply_to,
        _json(_fwd(m.fwd_from)),
        comment_of,
        "",
        None,
        now,
    )


