"""Fetch one channel incrementally: stream pages, write each batch with its cursor.

The network (parser/history.py `history_pages`, one request ahead) runs in a producer
task that fills a small bounded queue; the writer loop here writes batches through db/
repositories. So the next page is on its way while the previous one is turned into rows
and written, memory stays bounded, and no network await ever happens inside a database
transaction. Comments (parser/comments.py) are read after the posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol

from telethon import TelegramClient
from telethon.tl import types

from core.channels import Channel
from core.errors import LocalError, ProjectError, ServerTrouble, local_error
from core.media import MediaMode, MediaPolicy, MediaRef
from core.parsing import COLUMNS, MSG_ID, REPLIES, Row, RunProgress, RunStatus
from core.ports import Metrics, NullMetrics
from db.channels import ChannelStateRepository
from db.database import shielded_write
from db.media import MediaBatch
from db.runs import RunRepository
from parser import history, migrated
from parser.comments import comment_batches, discussion_group, needs_reading
from parser.errors import translate
from services.events import EventBus, PostsDeleted, RunCompleted
from services.parsing.deletions import NAMED, DeletionStore, detect_deletions
from services.parsing.identity import ChannelIdentity, stale_access

log = logging.getLogger(__name__)

BATCH = history.BATCH
# Kinds that may have been upgraded from a basic group (channels.getFullChannel says).
GROUP_KINDS = ("megagroup", "gigagroup")
# Most rows one write transaction takes when pages queue up behind a slow disk.
MAX_TX_ROWS = 1000
MEDIA_KIND = COLUMNS.index("media_kind")
# The media policy of a fetcher not told one (settings' defaults: photos, 50 MB).
DEFAULT_MEDIA = MediaPolicy()

ProgressCallback = Callable[[RunProgress], Awaitable[None]]


class RunFailed(ProjectError):
    """A run ended by an error, after committing what it fetched.

    `error`: the project error (core.errors: a Telegram error as parser/errors.py
    translated it, or a LocalError: disk full, database locked), or the exception
    itself when nobody knows it (a bug); `progress`: the run so far, status failed,
    `fetched` = rows committed; `cause`: what was raised (its name and message go into
    the run's row), `error` itself when it was raised as it is; `answered`: Telegram
    had answered a history request of the run before (so a refusal then is not about
    the channel's own access hash: another peer's, such as the basic group a
    supergroup was upgraded from).
    """

    code = "run_failed"

    def __init__(
        self, error: Exception, progress: RunProgress, cause: BaseException | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.progress = progress
        self.cause: BaseException = cause if cause is not None else error
        self.answered = False


class MessageStore(DeletionStore, Protocol):
    """The message table as a run writes it (db/messages.py MessageRepository)."""

    async def store_batch(
        self,
        channel_id: int,
        rows: list[Row],
        cursor: int,
        new_rows: int,
        media: MediaBatch | None = None,
    ) -> None:
        """Upsert `rows` and move the channel's cursor up to `cursor` (a message id) in one
        transaction; `new_rows`: how many rows lie above the old cursor (added to the count);
        `media`: their files to queue for download in the same transaction (db/media.py)."""

    async def refresh_from_id(self, channel_id: int, since: datetime) -> int | None:
        """The oldest stored post id dated at or after `since` (UTC), or None when none is."""

    async def stored_above(self, channel_id: int, min_id: int) -> int:
        """How many of the channel's posts with an id above `min_id` are stored."""

    async def last_comment_id(self, discussion_id: int, post_id: int) -> int:
        """The newest stored comment id of post `post_id`, under the discussion group's row
        `discussion_id`; 0 when none is stored."""


class LinkedGroups(Protocol):
    """Channel rows a run keeps up to date (db/channels.py ChannelStateRepository)."""

    async def set_linked(self, channel_id: int, linked_id: int, access_hash: int) -> None:
        """Store the channel's discussion group (Telegram id, access hash), as Telegram names
        it: channels.getFullChannel `linked_chat_id` (https://core.telegram.org/api/discussion)."""

    async def discussion_row(self, tg_id: int, access_hash: int, title: str) -> int:
        """The row id keying the group's comments; a group not added is given a row with
        status `linked`, which is never scheduled on its own."""

    async def advance_cursor(self, channel_id: int, cursor: int) -> None:
        """Move the channel's cursor up to `cursor` (never down): ids at or below it are
        behind the archive (stored, or before its history depth)."""

    async def set_history_before(self, channel_id: int, exists: bool) -> None:
        """Whether Telegram has messages older than the oldest archived one."""

    async def oldest_id(self, channel_id: int) -> int | None:
        """The smallest message id stored under the row; None when none is."""

    async def set_migrated(self, channel_id: int, chat_id: int, max_id: int) -> None:
        """The basic group the supergroup was upgraded from (0: none) and its last id."""

    async def migrated_row(self, tg_id: int, title: str) -> Channel:
        """The row the old basic group's messages are stored under (`tg_id`: its marked
        id), created with status `linked` and kind `chat` the first time."""

    async def set_migrated_missing(
        self, channel_id: int, missing: int | None, error: str | None
    ) -> None:
        """How many messages of the old group the account cannot read, and why (None,
        None: nothing missing)."""

    async def set_title(self, channel_id: int, title: str) -> None:
        """A row's title as Telegram names the chat now."""


@dataclass(frozen=True)
class StartPoint:
    """Where a run reads from: the message ids above `min_id`. `history_before`: whether
    the channel has messages at or below `min_id` that the depth leaves out (None: the
    run does not find out; a first run does)."""

    min_id: int
    history_before: bool | None = None


# A message's file to queue: (msg_id, where it is on Telegram).
Files = list[tuple[int, MediaRef]]
# What the producer hands the writer: rows with the files among them, an error, the end.
Queued = tuple[list[Row], Files] | BaseException | None


@dataclass(eq=False)
class _Stop:
    """Whether a stop was asked of one run in progress (ChannelFetcher.request_stop)."""

    channel_id: int
    asked: bool = False


@dataclass
class _Run:
    """One run's state, shared by its producer and writer."""

    ch: Channel
    progress: RunProgress
    now: datetime  # the fetch time stored with every row (whole seconds)
    queue: asyncio.Queue[Queued]
    cursor: int
    top_id: int = 0
    total: int = 0  # Telegram's count of the channel's messages
    rereads: int = 0  # stored rows this run reads again
    # The refresh window: the run re-reads the posts above this id (None: no re-read)
    # and `seen` collects the ids it got back at or below the old cursor.
    window_from: int | None = None
    seen: set[int] = field(default_factory=set)
    commented: list[tuple[int, int | None]] = field(default_factory=list)
    held: list[Queued] = field(default_factory=list)  # taken from the queue early
    start: StartPoint | None = None  # set by the producer before its first page
    cap: int | None = None  # most rows the depth lets this run read (`last:N`)
    chat: Any = None  # the channel as the first history answer lists it (title, username)
    answered: bool = False  # a history answer came (the access hash was accepted)
    # What the channel keeps of media (its comments and old basic group too); None: none.
    media: MediaPolicy | None = None
    stop: _Stop = field(default_factory=lambda: _Stop(0))


class ChannelFetcher:
    """Runs channels, several at once (each `run` call its own; never one channel twice
    at once); `request_stop(channel_id)` ends a run after its current batch.

    `refresh_window_hours`: posts of the last hours are read again (views, edits,
    reactions); `wait_time`: seconds at least between two history requests;
    `pipeline_depth`: pages of BATCH the producer may hold ahead of the writer;
    `identity`: keeps the channel's title and username as the history answers give them
    and repairs a refused access hash (services/parsing/identity.py); None: neither.
    `media_defaults`: the media policy of channels without their own (MEDIA_DEFAULT,
    MEDIA_MAX_MB: core.channels `default_media_policy`); a run queues the files its
    channel's policy (`Channel.media_policy`) keeps with the messages, its comments' and
    its old basic group's included; None: no run queues any.
    """

    def __init__(
        self,
        messages: MessageStore,
        channels: LinkedGroups,
        *,
        refresh_window_hours: int = 24,
        wait_time: float = 0.0,
        pipeline_depth: int = 10,
        metrics: Metrics | None = None,
        identity: ChannelIdentity | None = None,
        media_defaults: MediaPolicy | None = DEFAULT_MEDIA,
    ) -> None:
        self._identity = identity
        self._media_defaults = media_defaults
        self._messages = messages
        self._channels = channels
        self._refresh = timedelta(hours=refresh_window_hours)
        self._wait_time = wait_time
        self._depth = pipeline_depth
        self._metrics: Metrics = metrics or NullMetrics()
        self._live: list[_Stop] = []  # the runs in progress

    def request_stop(self, channel_id: int | None = None) -> None:
        """End the run of channel `channel_id` (row id; None: every run) in progress
        after its current batch (status interrupted). A run that starts later is not
        affected."""
        for stop in self._live:
            if channel_id is None or stop.channel_id == channel_id:
                stop.asked = True

    async def run(
        self,
        client: TelegramClient,
        ch: Channel,
        on_progress: ProgressCallback | None = None,
    ) -> RunProgress:
        """Fetch everything newer than the cursor (plus the refresh window), then the new
        comments when the channel has them enabled.

        Returns the run's progress, status ok or interrupted. Whatever is raised (but a
        cancellation) ends the run as RunFailed after committing what came in: with the
        classified error (parser/errors.py `translate`, core.errors `local_error`), or
        the exception itself when neither knows it. A refused access hash
        (CHANNEL_INVALID / PEER_ID_INVALID) is repaired once (the channel resolved
        again, the new hash stored) and the run goes on; RunFailed with the repair's
        error when it fails.
        """
        stop = _Stop(ch.id)
        self._live.append(stop)
        try:
            return await self._run_repaired(client, ch, on_progress, stop)
        finally:
            self._live.remove(stop)

    async def _run_repaired(
        self,
        client: TelegramClient,
        ch: Channel,
        on_progress: ProgressCallback | None,
        stop: _Stop,
    ) -> RunProgress:
        try:
            return await self._run(client, ch, on_progress, stop)
        except RunFailed as failed:
            # Access hashes do not go stale mid-run: only a refused first request counts.
            repairable = stale_access(failed.error) and not failed.answered
            if self._identity is None or not repairable or stop.asked:
                raise
            done = failed.progress
            try:
                fixed = await self._identity.repair(client, ch)
            except Exception as exc:
                self._fail(done, exc)
        try:
            result = await self._run(client, fixed, on_progress, stop)
        except RunFailed as again:
            # What the refused attempt committed counts in the run's row too.
            again.progress.fetched += done.fetched
            again.progress.new += done.new
            again.progress.first_new_id = done.first_new_id or again.progress.first_new_id
            raise
        # What the refused attempt committed before (a stale hash met mid-run) counts.
        result.fetched += done.fetched
        result.new += done.new
        result.started = done.started
        result.first_new_id = done.first_new_id or result.first_new_id
        return result

    async def renew_access(self, client: TelegramClient, ch: Channel) -> Channel:
        """`ch` resolved again for the account of `client` before it reads it (the stored
        access hash is another account's: https://core.telegram.org/api/peers); the fresh
        snapshot. Raises what the resolution raises (services/parsing/identity.py)."""
        if self._identity is None:
            return ch
        return await self._identity.repair(client, ch)

    async def _run(
        self,
        client: TelegramClient,
        ch: Channel,
        on_progress: ProgressCallback | None,
        stop: _Stop,
    ) -> RunProgress:
        """One attempt of `run` with the channel's stored access hash."""
        run = _Run(
            ch,
            RunProgress(ch.label, started=time.monotonic()),
            datetime.now(UTC).replace(microsecond=0),
            asyncio.Queue(self._depth),
            ch.cursor,
            media=self._media_policy(ch),
            stop=stop,
        )
        peer = types.InputPeerChannel(ch.tg_id, ch.access_hash or 0)
        try:
            return await self._attempt(client, peer, run, on_progress)
        except RunFailed as failed:
            failed.answered = run.answered
            raise

    def _media_policy(self, ch: Channel) -> MediaPolicy | None:
        """What a run of `ch` queues (from the snapshot the run was given: no query);
        None when nothing."""
        if self._media_defaults is None:
            return None
        policy = ch.media_policy(self._media_defaults)
        return None if policy.mode == MediaMode.OFF else policy

    async def _attempt(
        self,
        client: TelegramClient,
        peer: Any,
        run: _Run,
        on_progress: ProgressCallback | None,
    ) -> RunProgress:
        try:
            interrupted = await self._posts(client, peer, run, on_progress)
        except RunFailed:
            await self._observe(run)
            raise
        except Exception as exc:
            await self._observe(run)
            self._fail(run.progress, exc)
        await self._observe(run)
        if interrupted:
            run.progress.status = RunStatus.INTERRUPTED
            return run.progress
        try:
            await self._guarded(run, self._settle(client, peer, run))
            if run.window_from is not None and not run.stop.asked:
                await self._deletions_of(client, peer, run)
            if run.ch.kind in GROUP_KINDS and not run.stop.asked:
                await self._guarded(run, self._old_group(client, peer, run))
            if run.commented and not run.stop.asked:
                await self._comments_of(client, peer, run)
        except RunFailed:
            raise
        except Exception as exc:  # a database write after the posts, say
            self._fail(run.progress, exc)
        run.progress.status = RunStatus.OK
        if run.progress.total is None:
            run.progress.total = run.progress.fetched
        run.progress.top_id = run.top_id
        return run.progress

    async def _observe(self, run: _Run) -> None:
        """The channel's title and username as the history answer gave them are stored
        when they changed (a failure is logged: it never fails the run)."""
        if self._identity is None or run.chat is None:
            return
        try:
            change = await shielded_write(self._identity.observe(run.ch, run.chat))
        except Exception:
            log.exception("storing the new name of channel %d failed", run.ch.id)
            return
        if change is not None:
            label = f"@{change.username}" if change.username else change.title
            run.progress.channel = label or run.progress.channel

    async def _posts(
        self,
        client: TelegramClient,
        peer: Any,
        run: _Run,
        on_progress: ProgressCallback | None,
    ) -> bool:
        """The posts above the cursor: the producer task reads, this one writes; True
        when a stop request interrupted it."""
        producer = asyncio.create_task(
            self._produce(client, peer, run), name=f"fetch-{run.ch.id}"
        )
        try:
            return await self._write(run, on_progress)
        finally:
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(BaseException):
                    await producer

    async def _start_point(self, client: TelegramClient, peer: Any, ch: Channel) -> StartPoint:
        """Where this run starts.

        Above the cursor, minus the refresh window. A first run (nothing stored under a
        cursor yet) goes by the channel's history depth, by message id so that id gaps
        (deleted posts) never shift it: `all` from the start; `since` a date above the
        newest message sent before it, `last` N above the (N+1)-th newest message (one
        `messages.getHistory` request of limit 1 each, `history.message_at`). A since
        date after the last post thus starts above the newest post: nothing now, every
        newer post later.
        """
        first = ch.cursor == 0 and (not ch.backfill_done or ch.messages_count == 0)
        if not first:
            min_id = ch.cursor
            if self._refresh.total_seconds() > 0:
                since = datetime.now(UTC) - self._refresh
                oldest = await self._messages.refresh_from_id(ch.id, since)
                if oldest is not None:
                    min_id = min(min_id, oldest - 1)
            return StartPoint(max(0, min_id))
        if ch.history_mode == "since" and ch.history_since is not None:
            before = await history.message_at(
                client, peer, self._metrics, offset_date=ch.history_since
            )
            return StartPoint(before, before > 0)
        if ch.history_mode == "last" and ch.history_limit:
            before = await history.message_at(
                client, peer, self._metrics, add_offset=ch.history_limit
            )
            return StartPoint(before, before > 0)
        return StartPoint(0, False)

    async def _settle(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        """After a run read everything it meant to: a run that stored nothing above its
        start leaves the cursor at the start (after the newest message the depth leaves
        out, never 0 with the backfill done), and the channel learns whether history
        older than its oldest archived message exists (once: from the first run's start
        point, or for an archive older than this bookkeeping by one `message_at`
        request below its oldest stored id)."""
        ch, start = run.ch, run.start
        if start is None:
            return
        if run.cursor < start.min_id:
            await self._channels.advance_cursor(ch.id, start.min_id)
            run.cursor = start.min_id
        before = start.history_before
        if before is None and ch.history_before is None:
            oldest = await self._channels.oldest_id(ch.id)
            below = oldest if oldest is not None else run.cursor + 1
            before = below > 1 and bool(
                await history.message_at(client, peer, self._metrics, offset_id=below)
            )
        if before is not None and before != ch.history_before:
            await self._channels.set_history_before(ch.id, before)

    async def _old_group(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        """The basic group a supergroup was upgraded from (parser/migrated.py), read into
        a row of its own that the supergroup's exports and /stats include.

        Asked once per supergroup (one channels.getFullChannel); the old group no longer
        changes, so once read up to `migrated_from_max_id` it costs nothing more. When the
        account cannot read it, the channel keeps how many messages are missing (up to
        the old group's last id, less what is stored) and Telegram's reason, and the old
        group is not asked again; other errors end the run as usual.
        """
        ch = run.ch
        chat_id, max_id = ch.migrated_from_chat_id, ch.migrated_from_max_id or 0
        if chat_id is None:
            found = await migrated.migrated_from(client, peer, self._metrics)
            chat_id, max_id = found.chat_id, found.max_id
            await self._channels.set_migrated(ch.id, chat_id, max_id)
        elif ch.migrated_error is not None:
            run.progress.migrated_missing = ch.migrated_missing
            run.progress.migrated_error = ch.migrated_error
            return
        if not chat_id:
            return
        old = await self._channels.migrated_row(migrated.row_tg_id(chat_id), ch.title)
        cursor = old.cursor
        if max_id and cursor >= max_id:
            return
        pages = history.history_pages(
            client, migrated.chat_peer(chat_id), cursor, None,
            stopping=lambda: run.stop.asked, metrics=self._metrics, wait_time=self._wait_time,
        )
        try:
            async with contextlib.aclosing(pages):
                async for page, _count, peers in pages:
                    chat = peers.get(("chat", chat_id))
                    title = getattr(chat, "title", None)
                    if title and title != old.title:  # the old group's own name
                        await self._channels.set_title(old.id, title)
                        old = replace(old, title=title)
                    rows: list[Row] = []
                    files: Files = []
                    for m in page:
                        if not isinstance(m, history.NOT_CONTENT):
                            row = history.message_row(old.id, m, run.now, peers=peers)
                            rows.append(row)
                            if row[MEDIA_KIND] is not None:
                                _file_of(run.media, m, row, files)
                    if rows:
                        new_rows = sum(1 for r in rows if r[MSG_ID] > cursor)
                        cursor = max(cursor, rows[-1][MSG_ID])
                        await shielded_write(self._messages.store_batch(
                            old.id, rows, cursor, new_rows, _batch(run.media, files)
                        ))  # fmt: skip
                        run.progress.migrated += len(rows)
                        run.progress.fetched += len(rows)
                        self._metrics.stored(len(rows))
        except Exception as exc:
            name = migrated.unreadable(exc)
            if name is None:
                raise
            missing = max(0, max_id - cursor) if max_id else None
            await self._channels.set_migrated_missing(ch.id, missing, name)
            run.progress.migrated_missing, run.progress.migrated_error = missing, name
            return
        if max_id and cursor < max_id and not run.stop.asked:
            # The whole old history is read; the ids up to its last are deleted ones.
            await self._channels.advance_cursor(old.id, max_id)
        if ch.migrated_missing is not None:
            await self._channels.set_migrated_missing(ch.id, None, None)

    async def _produce(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        """Pages to rows, in batches of at least BATCH, onto `run.queue`; then None.

        An exception is put on the queue for the writer to raise (a request cancelled by
        a disconnect becomes ConnectionError); only this task's own cancellation is not.
        """
        try:
            await self._pages_to_queue(client, peer, run)
            await run.queue.put(None)
        except asyncio.CancelledError:
            if history.this_task_cancelled():
                raise
            await run.queue.put(history.disconnected())
        except BaseException as exc:
            await run.queue.put(exc)

    async def _pages_to_queue(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        ch = run.ch
        run.start = start = await self._start_point(client, peer, ch)
        min_id = start.min_id
        if start.history_before is not None and ch.history_mode == "last":
            run.cap = ch.history_limit
        caught_up_at = 0
        if min_id < ch.cursor:
            run.rereads = await self._messages.stored_above(ch.id, min_id)
            run.window_from = min_id
            caught_up_at = await self._messages.newest_live_id(ch.id)
        batch: list[Row] = []
        files: Files = []
        media = run.media
        pages = history.history_pages(
            client, peer, min_id, None, stopping=lambda: run.stop.asked,
            metrics=self._metrics, wait_time=self._wait_time,
            caught_up_at=caught_up_at,
        )
        async with contextlib.aclosing(pages):
            async for page, count, peers in pages:
                run.total = count
                if not run.answered:
                    run.answered = True
                    run.chat = peers.get(("channel", ch.tg_id))
                for m in page:
                    if isinstance(m, history.NOT_CONTENT):
                        continue
                    row = history.message_row(ch.id, m, run.now, peers=peers)
                    batch.append(row)
                    if row[REPLIES] and ch.comments_enabled:  # comments to read
                        run.commented.append((m.id, m.replies.max_id))
                    if media is not None and row[MEDIA_KIND] is not None:  # text: no call
                        _file_of(media, m, row, files)
                if len(batch) >= BATCH:
                    await run.queue.put((batch, files))
                    batch, files = [], []
                if run.stop.asked:
                    break
        if batch:
            await run.queue.put((batch, files))

    async def _next_rows(self, run: _Run) -> tuple[list[Row], Files] | None:
        """The next rows to write and the files among them, or None at the end; raises
        what the producer hit.

        Pages that queued up while the last transaction ran go into the next one
        together: fewer commits (and FTS segments) when the network is faster than the
        disk, one page per commit when it is not.
        """
        item = run.held.pop() if run.held else await run.queue.get()
        if item is None:
            return None
        if isinstance(item, BaseException):
            self._fail(run.progress, item)
        assert isinstance(item, tuple)
        rows, files = item
        while len(rows) < MAX_TX_ROWS and not run.queue.empty():
            nxt = run.queue.get_nowait()
            if not isinstance(nxt, tuple):
                run.held.append(nxt)
                break
            rows, files = rows + nxt[0], files + nxt[1] if nxt[1] else files
        return rows, files

    async def _write(self, run: _Run, on_progress: ProgressCallback | None) -> bool:
        """Write what the producer queues, each batch with the cursor, until the end,
        an error (raised as RunFailed) or a stop request (after the batch in hand: then
        True, the run was interrupted)."""
        ch, progress = run.ch, run.progress
        while (item := await self._next_rows(run)) is not None:
            rows, files = item
            last = rows[-1][MSG_ID]
            new_rows = sum(1 for r in rows if r[MSG_ID] > run.cursor)
            if new_rows < len(rows) and run.window_from is not None:  # re-reads only
                run.seen.update(r[MSG_ID] for r in rows[: len(rows) - new_rows])
            first_new = next((r[MSG_ID] for r in rows if r[MSG_ID] > run.cursor), 0)
            cursor, top_id = max(run.cursor, last), max(run.top_id, last)
            # Never cancelled half-way: a torn write poisons the connection.
            await shielded_write(
                self._messages.store_batch(
                    ch.id, rows, cursor, new_rows, _batch(run.media, files)
                )
            )
            # Committed: only now does the run count these rows.
            run.cursor, run.top_id = cursor, top_id
            progress.new += new_rows
            if first_new and not progress.first_new_id:
                progress.first_new_id = first_new
            self._metrics.stored(len(rows))
            progress.fetched += len(rows)
            progress.top_id = top_id
            if run.total:
                # What the channel has that is not stored yet, plus what is read again.
                expected = max(0, run.total - ch.messages_count) + run.rereads
                if run.cap is not None:
                    expected = min(expected, run.cap)
                progress.total = max(progress.fetched, expected)
            if on_progress is not None:
                await on_progress(progress)
            if run.stop.asked:
                return True
        return False

    @staticmethod
    def _fail(progress: RunProgress, exc: BaseException) -> NoReturn:
        """Raise RunFailed for `exc`: a Telegram error translated (parser/errors.py), a
        local one (disk full, database locked) classified, anything else as it is. A
        cancellation (or another BaseException) is raised as it is."""
        if not isinstance(exc, Exception):
            raise exc
        err: Exception = translate(exc) or local_error(exc) or exc
        progress.status = RunStatus.FAILED
        if isinstance(err, ServerTrouble):
            progress.error = err.code  # "server": the reason text says whose trouble
        elif isinstance(err, LocalError):
            progress.error = err.cause  # disk_full, db_locked, io
        elif isinstance(err, ProjectError):
            progress.error = err.detail or err.code
        else:
            progress.error = type(err).__name__
        raise RunFailed(err, progress, exc) from exc

    async def _deletions_of(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        """After a complete re-read of the refresh window: mark the stored posts of it
        that Telegram no longer has (services/parsing/deletions.py); the run's
        `deleted` and `deleted_ids` say which. A Telegram error fails the run (RunFailed)
        after the posts were committed."""
        assert run.window_from is not None
        gone: list[int] = await self._guarded(run, detect_deletions(
            client, peer, self._messages, run.ch.id,
            after=run.window_from, upto=run.ch.cursor, seen=run.seen,
            now=run.now, metrics=self._metrics,
        ))
        run.progress.deleted = len(gone)
        run.progress.deleted_ids = tuple(gone[:NAMED])

    async def _guarded(self, run: _Run, work: Awaitable[Any]) -> Any:
        """Await `work` (requests after the history); its errors end the run as the
        history's do (RunFailed for a Telegram error, a disconnect as ConnectionError)."""
        try:
            try:
                return await work
            except asyncio.CancelledError:
                if history.this_task_cancelled():
                    raise
                raise history.disconnected() from None
        except Exception as exc:
            self._fail(run.progress, exc)

    async def _comments_of(self, client: TelegramClient, peer: Any, run: _Run) -> None:
        run.progress.comments = await self._guarded(run, self._comments(client, peer, run))

    async def _comments(self, client: TelegramClient, peer: Any, run: _Run) -> int:
        """New comments of the posts `run.commented` (id, id of its newest comment),
        through the linked discussion group; the rows written."""
        ch = run.ch
        linked_id, linked_hash, title = ch.linked_chat_id, ch.linked_access_hash, ""
        if not linked_id or linked_hash is None:
            group = await discussion_group(client, peer, self._metrics)
            if group is None:
                return 0
            linked_id, linked_hash, title = group.tg_id, group.access_hash, group.title
            await self._channels.set_linked(ch.id, linked_id, linked_hash)
        disc = await self._channels.discussion_row(linked_id, linked_hash, title)
        stored = 0
        for post_id, newest in run.commented:
            if run.stop.asked:
                break
            after = await self._messages.last_comment_id(disc, post_id)
            if not needs_reading(after, newest):
                continue
            batches = comment_batches(
                client, peer, post_id, group_row=disc, after=after, newest=newest,
                now=run.now, metrics=self._metrics, wait_time=self._wait_time,
                media=run.media,
            )
            async with contextlib.aclosing(batches):
                async for rows, files in batches:
                    # Comments follow the channel's policy (stored under the group's row).
                    media = _batch(run.media, files, from_discussion=True)
                    await shielded_write(
                        self._messages.store_batch(disc, rows, 0, len(rows), media)
                    )
                    stored += len(rows)
                    run.progress.comments = stored  # committed, should a later one fail
                    self._metrics.stored(len(rows))
        return stored


def _file_of(media: MediaPolicy | None, m: Any, row: Row, files: Files) -> None:
    """Add message `m`'s file to `files` when `media` keeps its kind (`row`: its row)."""
    kind = row[MEDIA_KIND]
    if media is not None and kind is not None:
        ref = history.wanted_ref(media, m, kind)
        if ref is not None:
            files.append((m.id, ref))


def _batch(
    media: MediaPolicy | None, files: Files, *, from_discussion: bool = False
) -> MediaBatch | None:
    """The files of a batch to queue with it (None: none, so stores without media are
    called as before)."""
    if media is None or not files:
        return None
    return MediaBatch(files, media, from_discussion)


class RunBook:
    """The bookkeeping around one run: its parse_run row (db/runs.py), the channel's run
    state after a success (db/channels.py), and the committed new messages published
    on `events` as RunCompleted (keyword watches, ...)."""

    def __init__(
        self,
        runs: RunRepository,
        channels: ChannelStateRepository,
        events: EventBus | None = None,
    ) -> None:
        self._runs = runs
        self._channels = channels
        self._events = events

    async def opened(self, ch: Channel, trigger: str) -> int:
        """A `running` row for a run of `ch`; its id."""
        return await self._runs.start(ch.id, trigger)

    async def refused(
        self, channel_id: int, trigger: str, started_at: datetime, error: str
    ) -> None:
        """A run of channel `channel_id` whose row the database refused to open (it ended
        failed at once, nothing fetched): recorded now that it takes writes again."""
        await self._runs.record(channel_id, trigger, RunStatus.FAILED, 0, error, started_at)

    async def closed(
        self, run_id: int, status: RunStatus, fetched: int, error: str | None = None
    ) -> None:
        """Run `run_id` ended with `status` after writing `fetched` rows."""
        await self._runs.end(run_id, status, fetched, error)

    async def succeeded(
        self, ch: Channel, run_id: int, result: RunProgress, next_run_at: datetime | None
    ) -> None:
        """A run of `ch` completed: the channel's state (no error, backfill done, the
        newest id, the next run), the run's row, then RunCompleted for the new messages
        (a failing subscriber is logged by the bus, never raised)."""
        top = result.top_id or None
        await self._channels.finish_run(ch.id, top_id=top, next_run_at=next_run_at)
        await self._runs.end(run_id, result.status, result.fetched)
        if self._events is not None and result.new:
            await self._events.publish(
                RunCompleted(ch.id, result.first_new_id, result.top_id, result.new)
            )
        if self._events is not None and result.deleted:
            await self._events.publish(PostsDeleted(ch.id, result.deleted_ids, result.deleted))
