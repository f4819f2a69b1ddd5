"""Fetch one channel incrementally: stream pages, write each batch with its cursor.

The network (`messages.getHistory`, one request ahead) runs in a producer task that
fills a small bounded queue; the caller's loop writes batches. So the next page is on
its way while the previous one is turned into rows and written, memory stays bounded,
and no network await ever happens inside a database transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import TelegramClient
from telethon.tl import functions, types

from app import metrics
from core.channels import Channel
from db.database import shielded_write
from db.messages import IngestRepository, Row
from parser.errors import TelegramError, translate

log = logging.getLogger(__name__)

BATCH = 100
# Most rows one write transaction takes when pages queue up behind a slow disk.
MAX_TX_ROWS = 1000
# Skipped while iterating (a tuple: `A | B` builds a new union object on every call).
_NOT_CONTENT = (types.MessageService, types.MessageEmpty)
# Loop iterations a Telethon request takes to reach the socket (see `_history`).
_HOPS = 3


def _this_task_cancelled() -> bool:
    """Whether a CancelledError means this task is being cancelled. Telethon's
    disconnect() (a /logout, a re-login) cancels the futures of pending requests
    instead, which raises CancelledError in whoever awaits them: that is a lost
    connection, not a reason to stop silently (the writer would wait forever)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _disconnected() -> ConnectionError:
    return ConnectionError("the client disconnected during a request")


@dataclass
class RunProgress:
    """A snapshot of one run, for live progress messages."""

    channel: str
    fetched: int = 0
    total: int | None = None
    started: float = 0.0
    # running | ok | deferred | disabled | failed | interrupted | not_run (no usable session)
    status: str = "running"
    error: str | None = None
    deferred_seconds: int | None = None
    top_id: int = 0
    comments: int = 0
    first_new_id: int = 0
    new: int = 0  # rows above the cursor the run started from

    @property
    def reread(self) -> int:
        """Rows stored before this run and read again (the refresh window)."""
        return max(0, self.fetched - self.new)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.fetched / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.fetched) / self.rate)


ProgressCallback = Callable[[RunProgress], Awaitable[None]]


class RunFailed(Exception):
    """A run ended by a classified Telegram error, after committing what it fetched."""

    def __init__(self, error: TelegramError, progress: RunProgress) -> None:
        super().__init__(str(error))
        self.error = error
        self.progress = progress


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


def message_row(channel_id: int, m: Any, now: datetime, comment_of: int | None = None) -> Row:
    """A Telethon message as a plain tuple in `db.messages.COLUMNS` order."""
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
        now,
    )


class ChannelFetcher:
    """Runs one channel at a time; `request_stop()` ends a run after its current batch."""

    def __init__(
        self,
        repo: IngestRepository,
        *,
        refresh_window_hours: int = 24,
        wait_time: float = 0.0,
        pipeline_depth: int = 10,
    ) -> None:
        self._repo = repo
        self._refresh = timedelta(hours=refresh_window_hours)
        self._wait_time = wait_time
        self._depth = pipeline_depth
        self._stopping = False

    def request_stop(self) -> None:
        self._stopping = True

    async def _start_point(
        self, client: TelegramClient, peer: Any, ch: Channel
    ) -> tuple[int, datetime | None]:
        """`(min_id, offset_date)`: where this run starts."""
        if ch.cursor > 0 or ch.backfill_done:
            min_id = ch.cursor
            if self._refresh.total_seconds() > 0:
                since = datetime.now(UTC) - self._refresh
                first = await self._repo.refresh_from_id(ch.id, since)
                if first is not None:
                    min_id = min(min_id, first - 1)
            return max(0, min_id), None
        if ch.history_mode == "since" and ch.history_since is not None:
            return 0, ch.history_since
        if ch.history_mode == "last" and ch.history_limit:
            metrics.REQUESTS.labels("messages.getHistory").inc()
            nth = await client.get_messages(peer, limit=1, add_offset=ch.history_limit - 1)
            return (max(0, nth[0].id - 1) if nth else 0), None
        return 0, None

    async def _history(
        self, client: TelegramClient, peer: Any, min_id: int, offset_date: datetime | None
    ) -> AsyncGenerator[tuple[list[Any], int], None]:
        """Ascending pages `(messages, channel total)` above `min_id` or after `offset_date`.

        The same `messages.getHistory` requests `iter_messages(reverse=True)` makes, one
        page of BATCH at a time, ending on an empty page; but the next request goes out
        as soon as a page arrives, so it travels while this page is turned into rows and
        stored (iter_messages sends it only after the caller has consumed the page).
        """
        last_sent = 0.0

        async def fetch(offset_id: int, date: datetime | None) -> Any:
            nonlocal last_sent
            if self._wait_time:
                await asyncio.sleep(self._wait_time - (time.monotonic() - last_sent))
            last_sent = time.monotonic()
            metrics.REQUESTS.labels("messages.getHistory").inc()
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
                page: list[Any] = []
                ended = isinstance(r, types.messages.Messages)  # the whole history at once
                for m in reversed(r.messages):
                    if isinstance(m, types.MessageEmpty):
                        continue
                    if m.id <= last_id:  # a repeat: the history ends here
                        ended = True
                        break
                    last_id = m.id
                    page.append(m)
                if page and not ended and not self._stopping:
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

    async def _comments(
        self,
        client: TelegramClient,
        peer: Any,
        ch: Channel,
        posts: list[tuple[int, int | None]],
        now: datetime,
    ) -> int:
        """New comments of `posts` (id, id of its latest comment), through the linked
        discussion group. A post whose latest comment is already stored costs no request:
        re-read posts (the refresh window) would otherwise ask for every thread each run.
        """
        linked_id, linked_hash = ch.linked_chat_id, ch.linked_access_hash
        title = ""
        if not linked_id or linked_hash is None:
            metrics.REQUESTS.labels("channels.getFullChannel").inc()
            full = await client(functions.channels.GetFullChannelRequest(peer))
            linked_id = full.full_chat.linked_chat_id
            if not linked_id:
                return 0
            group = next((c for c in full.chats if c.id == linked_id), None)
            linked_hash = getattr(group, "access_hash", 0) or 0
            title = getattr(group, "title", "") or ""
            await self._repo.set_linked(ch.id, linked_id, linked_hash)
        disc = await self._repo.discussion_row(linked_id, linked_hash, title)
        stored = 0
        for post_id, latest in posts:
            if self._stopping:
                break
            after = await self._repo.last_comment_id(disc, post_id)
            if after and latest and after >= latest:  # read before, nothing newer since
                continue
            rows: list[Row] = []
            metrics.REQUESTS.labels("messages.getReplies").inc()
            async for c in client.iter_messages(
                peer, reply_to=post_id, min_id=after, reverse=True, wait_time=self._wait_time
            ):
                # Ascending, so a crash between batches never skips older comments.
                if not isinstance(c, _NOT_CONTENT):
                    rows.append(message_row(disc, c, now, comment_of=post_id))
                    if len(rows) >= BATCH:
                        await shielded_write(self._repo.store_batch(disc, rows, 0, len(rows)))
                        stored += len(rows)
                        rows = []
                if latest and c.id >= latest:
                    break  # the thread's newest: no request for the empty page after it
            if rows:
                await shielded_write(self._repo.store_batch(disc, rows, 0, len(rows)))
                stored += len(rows)
        metrics.MESSAGES_STORED.inc(stored)
        return stored

    async def run(
        self,
        client: TelegramClient,
        ch: Channel,
        on_progress: ProgressCallback | None = None,
    ) -> RunProgress:
        """Fetch everything newer than the cursor (plus the refresh window).

        Raises RunFailed with a classified error after committing what came in.
        """
        self._stopping = False
        progress = RunProgress(ch.label, started=time.monotonic())
        peer = types.InputPeerChannel(ch.tg_id, ch.access_hash or 0)
        queue: asyncio.Queue[list[Row] | BaseException | None] = asyncio.Queue(self._depth)
        cursor = ch.cursor
        top_id = 0
        now = datetime.now(UTC).replace(microsecond=0)  # stored to the second
        total = 0
        rereads = 0  # stored rows this run reads again
        commented: list[tuple[int, int | None]] = []

        async def produce() -> None:
            nonlocal total, rereads
            try:
                min_id, offset_date = await self._start_point(client, peer, ch)
                if min_id < ch.cursor:
                    rereads = await self._repo.stored_above(ch.id, min_id)
                batch: list[Row] = []
                pages = self._history(client, peer, min_id, offset_date)
                async with contextlib.aclosing(pages):
                    async for page, count in pages:
                        total = count
                        for m in page:
                            if isinstance(m, _NOT_CONTENT):
                                continue
                            row = message_row(ch.id, m, now)
                            batch.append(row)
                            if row[9] and ch.comments_enabled:  # replies > 0: comments to read
                                commented.append((m.id, m.replies.max_id))
                        if len(batch) >= BATCH:
                            await queue.put(batch)
                            batch = []
                        if self._stopping:
                            break
                if batch:
                    await queue.put(batch)
                await queue.put(None)
            except asyncio.CancelledError:
                if _this_task_cancelled():
                    raise
                await queue.put(_disconnected())  # handed to the writer, which raises it
            except BaseException as exc:  # handed to the writer, which raises it
                await queue.put(exc)

        producer = asyncio.create_task(produce(), name=f"fetch-{ch.id}")
        held: list[list[Row] | BaseException | None] = []  # taken from the queue early
        try:
            while True:
                item = held.pop() if held else await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    err = translate(item)
                    if err is None:
                        raise item
                    progress.status = "failed"
                    progress.error = err.detail or err.code
                    raise RunFailed(err, progress) from item
                # Pages that queued up while the last transaction ran go into the next
                # one together: fewer commits (and FTS segments) when the network is
                # faster than the disk, one page per commit when it is not.
                while len(item) < MAX_TX_ROWS and not queue.empty():
                    nxt = queue.get_nowait()
                    if not isinstance(nxt, list):
                        held.append(nxt)
                        break
                    item = item + nxt
                last = item[-1][1]
                new_rows = sum(1 for r in item if r[1] > cursor)
                if new_rows and not progress.first_new_id:
                    progress.first_new_id = next(r[1] for r in item if r[1] > cursor)
                progress.new += new_rows
                cursor = max(cursor, last)
                top_id = max(top_id, last)
                # Never cancelled half-way: a torn write poisons the connection.
                await shielded_write(self._repo.store_batch(ch.id, item, cursor, new_rows))
                metrics.MESSAGES_STORED.inc(len(item))
                progress.fetched += len(item)
                if total:
                    # What the channel has that is not stored yet, plus what is read again.
                    expected = max(0, total - ch.messages_count) + rereads
                    progress.total = max(progress.fetched, expected)
                if on_progress is not None:
                    await on_progress(progress)
                if self._stopping:
                    progress.status = "interrupted"
                    return progress
        finally:
            if not producer.done():
                producer.cancel()
                try:
                    await producer
                except BaseException:
                    pass
        if commented and not self._stopping:
            try:
                try:
                    progress.comments = await self._comments(client, peer, ch, commented, now)
                except asyncio.CancelledError:
                    if _this_task_cancelled():
                        raise
                    raise _disconnected() from None
            except Exception as exc:
                err = translate(exc)
                if err is None:
                    raise
                progress.status = "failed"
                progress.error = err.detail or err.code
                raise RunFailed(err, progress) from exc
        progress.status = "ok"
        progress.total = progress.fetched if progress.total is None else progress.total
        progress.top_id = top_id
        return progress
