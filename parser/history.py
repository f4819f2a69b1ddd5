"""History paging (`messages.getHistory`) and Telethon messages as stored rows.

`history_pages` sends the same requests Telethon's `iter_messages(reverse=True)` sends,
one page of BATCH at a time, oldest first, but asks for the next page as soon as one
arrives, so it travels while the caller turns this page into rows and stores them.
`message_row` turns one Telethon message (a service message too) into a plain tuple in
`core.parsing.COLUMNS` order, its content described by parser/content.py. Nothing here
touches the database.
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

from core.media import MediaPolicy, MediaRef
from core.parsing import Row
from core.ports import Metrics
from parser.content import Peers, describe_action, describe_fwd, describe_media, page_peers
from parser.history_decode import HistoryRequest
from parser.media import media_ref

# Messages per `messages.getHistory` page (Telegram's maximum `limit` is 100:
# https://core.telegram.org/method/messages.getHistory).
BATCH = 100
# Skipped while iterating: a deleted message's placeholder. Service messages (a pin, a
# new title) are stored, as events (`message_row`).
NOT_CONTENT = (types.MessageEmpty,)
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


async def message_at(
    client: TelegramClient,
    peer: Any,
    metrics: Metrics,
    *,
    offset_id: int = 0,
    offset_date: datetime | None = None,
    add_offset: int = 0,
) -> int:
    """The id of the one message `messages.getHistory` answers at a position; 0 when
    there is none. One request (limit 1).

    Telegram's rules (https://core.telegram.org/api/offsets): the window starts at the
    newest message older than `offset_id` (or sent before `offset_date`; neither: the
    newest message) and `add_offset` skips that many towards older ones. So:
    `add_offset=n` is the (n+1)-th newest message; `offset_date=d` the newest one sent
    before `d`; `offset_id=i` the newest one with an id below `i`. Ids count messages
    that exist (deleted ids are skipped), so gaps never shift the answer.
    """
    metrics.request("messages.getHistory")
    r = await client(
        functions.messages.GetHistoryRequest(
            peer=peer, offset_id=offset_id, offset_date=offset_date, add_offset=add_offset,
            limit=1, max_id=0, min_id=0, hash=0,
        )
    )
    found = [m for m in r.messages if not isinstance(m, types.MessageEmpty)]
    return int(found[0].id) if found else 0


async def history_pages(
    client: TelegramClient,
    peer: Any,
    min_id: int,
    offset_date: datetime | None,
    *,
    stopping: Callable[[], bool],
    metrics: Metrics,
    wait_time: float = 0.0,
    caught_up_at: int = 0,
) -> AsyncGenerator[tuple[list[Any], int, Peers], None]:
    """Ascending pages `(messages, channel total, peers)` above `min_id` or after
    `offset_date`.

    Each page holds up to BATCH messages (parser/history_decode.py `HistoryMessage`s and
    Telethon's service messages; empty ones dropped), oldest first; the total is
    Telegram's `count` of the channel's messages; `peers` the channels and users the
    answer names (`content.page_peers`: the sources of forwards), for `message_row`.
    Paging follows messages.getHistory's rules (https://core.telegram.org/api/offsets):
    `offset_id` one past the newest id in hand with `add_offset=-BATCH` reads the next
    BATCH newer messages; a repeated id or an empty page ends the history. The next
    request is sent before the page is yielded (ask-ahead), and never once `stopping()`
    is true; `wait_time` seconds at least between two requests. `caught_up_at` (a
    caught-up channel's cursor; 0: unused): a page shorter than BATCH that reaches that
    id ends the history without asking for the (empty) next page, so a run re-reading
    its refresh window with nothing new costs one request. Telegram may leave messages
    out of a page (Telethon's iter_messages notes it), so a short page proves nothing in
    general; here at worst newer posts wait for the next run, which reads on from the
    cursor. Telethon's errors (flood waits, RPC errors, ConnectionError) propagate
    untranslated; a request cancelled by a disconnect raises CancelledError.
    """
    last_sent = 0.0

    async def fetch(offset_id: int, date: datetime | None) -> Any:
        nonlocal last_sent
        if wait_time:
            await asyncio.sleep(wait_time - (time.monotonic() - last_sent))
        last_sent = time.monotonic()
        metrics.request("messages.getHistory")
        # HistoryRequest: getHistory with its messages decoded by parser/history_decode
        # (about a third of Telethon's decoding time a message).
        return await client(
            HistoryRequest(
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
                if caught_up_at and len(r.messages) < BATCH and last_id >= caught_up_at:
                    ended = True
            if page and not ended and not stopping():
                pending = asyncio.ensure_future(fetch(page[-1].id + 1, page[-1].date))
                # Let the request reach the socket before this page is worked on:
                # Telethon hands it from the call to the sender's send loop to the
                # connection's send loop, one loop iteration each.
                for _ in range(_HOPS):
                    await asyncio.sleep(0)
            yield page, getattr(r, "count", len(r.messages)), page_peers(r)
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


def message_row(
    channel_id: int,
    m: Any,
    now: datetime,
    comment_of: int | None = None,
    peers: Peers | None = None,
) -> Row:
    """A Telethon message (or service message) as a plain tuple in `core.parsing.COLUMNS`
    order.

    `channel_id` is the row id of the channel (or discussion group) it is stored under,
    `now` the fetch time (whole seconds), `comment_of` the post id a comment answers,
    `peers` the chats/users of the answer it came in (`content.page_peers`), which name
    a forward's source; without them Telethon's resolved `m.forward` is used.
    Entities, reactions, media, the forward header and a service message's action
    become compact JSON text (parser/content.py gives their shapes); `content_text` is
    the words of the media or the event (a poll's question and options, a new title).
    """
    action = getattr(m, "action", None)
    reply_to = getattr(m.reply_to, "reply_to_msg_id", None) if m.reply_to is not None else None
    if action is not None:
        event, words = describe_action(action, reply_to)
        return (
            channel_id, m.id, m.date, "", None, _peer_id(m.from_id), None, None, None,
            None, None, None, None, None, None, reply_to, None, comment_of, words,
            _json(event), now,
        )
    media_kind, media, words = None, None, ""
    if m.media is not None:  # most posts are text: no call on their path
        media_kind, media, words = describe_media(m.media, peers)
    replies = m.replies.replies if m.replies is not None else None
    fwd = None
    if m.fwd_from is not None:
        forward = getattr(m, "forward", None) if peers is None else None
        entity = (forward.chat or forward.sender) if forward is not None else None
        fwd = describe_fwd(m.fwd_from, peers, entity)
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
        _json(fwd),
        comment_of,
        words,
        None,
        now,
    )


def wanted_ref(policy: MediaPolicy, m: Any, kind: str) -> MediaRef | None:
    """The file of Telethon message `m` (parser/media.py `media_ref`) when `policy` keeps
    its kind `kind` (the row's media_kind, not None: callers check it first, so text
    messages never reach this); None otherwise."""
    return media_ref(m.media) if policy.wants(kind) else None
