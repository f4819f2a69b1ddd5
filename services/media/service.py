"""Component "media": downloads the queued media files, never in the way of text (#16).

Up to `concurrency` files at once with the userbot's one client (none while it has
no ready session); a large file in `parts` parallel streams (parser/media.py). It
wakes when a run is committed (`RunCompleted`) and polls every `poll_seconds`.

A file goes to its partial key ("partial/<row id>-<media id>") and resumes from the
bytes there after a crash or a restart (re-hashed; the SHA-256 is computed while
writing); once complete and its size checked it is stored under its content key
("ab/cd/<sha256><ext>": a file becomes visible only then, atomically) and its row is
done, with every queued row of the same media id. The same content under another
media id keeps the one file already stored (the partial is dropped).

What Telegram says decides each file alone: a stale file reference -> the message is
read again (twice at most) for a fresh one; a flood wait -> that file waits its
seconds; a file Telegram cannot give -> failed with the reason; network trouble ->
retried later with a growing delay, never failed.

Disk guard: with less than `min_free_bytes` free on the media folder (or on ENOSPC)
every download pauses (the partial files stay) with one alert; the free space is
checked again every poll, and downloads go on by themselves, saying so.

Object storage (MEDIA_URL=s3://..., db/s3_media_store.py): when it fails (the network,
a bucket gone, refused credentials: core.errors.MediaStorageError) the file stays on
the local disk, its row waits, and every download pauses with one alert naming the
cause; they are tried again after a wait that doubles with each failure in a row
(`disk_retry_seconds` up to an hour), and the alert that they go on comes once a file
is stored again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from core.alerts import AlertText
from core.errors import (
    FileReferenceExpired,
    MediaStorageError,
    MediaUnavailable,
    RateLimited,
    SessionDead,
    TelegramError,
    TransportError,
    UnknownTelegramError,
    local_error,
)
from core.media import MediaCounts, MediaPause, MediaRef, media_key
from core.ports import AlertSink, LeaseGate, MediaStore
from db.media import KEEP_PARTIAL
from db.media_queue import Claimed, MediaQueue, StoredFile
from parser.media import FileSink, PartialMismatch, download, hash_prefix, refresh
from services.events import RunCompleted

log = logging.getLogger(__name__)

# Fresh file references asked for one file in a row, with no byte received in between,
# before it is failed FILE_REFERENCE_EXPIRED (a byte received starts the count again).
MAX_REFRESHES = 2
# The free space is checked again while writing after this many bytes.
_CHECK_EVERY = 8 * 1024 * 1024
# Network trouble: the file waits this long times 2^(attempts - 1), at most _RETRY_CAP.
_RETRY_BASE, _RETRY_CAP = 15.0, 3600.0
# After ENOSPC, downloads wait for this much more free space (or disk_retry_seconds).
_ENOSPC_MARGIN = 64 * 1024 * 1024
# Answers to reading a message again that a re-resolved channel row cures: retried.
_PEER_STALE = frozenset({"CHANNEL_INVALID", "PEER_ID_INVALID"})
# The lease a process holds on a media row while it downloads it (several processes on
# PostgreSQL, #18): another process's start or sweep leaves that row alone.
MEDIA_LEASE = "media"
# A downloading row nobody holds the lease of goes back to the queue this often, once it
# has not changed for REQUEUE_AFTER (its worker died; not one just claimed).
REQUEUE_SECONDS = 60.0
REQUEUE_AFTER = timedelta(seconds=60)
# Why downloads wait (MediaCounts.paused).
DISK_FULL, NO_SESSION, MEDIA_DIR, STORAGE = "disk_full", "no_session", "media_dir", "storage"
# OS errors saying the media folder cannot be used at all (not a full disk): downloads
# pause, with one alert naming the folder, until a write test there works again.
_DIR_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EROFS, errno.EISDIR})
# The longest wait between two tries after ENOSPC (each try that meets it doubles it).
_DISK_RETRY_CAP = 3600.0


class Session(Protocol):
    """The userbot as the media service sees it (parser/userbot.py Userbot)."""

    @property
    def client(self) -> Any:
        """A connected TelegramClient, or None."""
    @property
    def state(self) -> str:
        """ready | connecting | no_session | invalid | ..."""

    async def session_dead(self, reason: str) -> None:
        """Stop using the session for good and alert once (idempotent)."""


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding `path` (its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


class _DiskLow(Exception):
    """Raised from the writer when the free space went under the floor."""


class _SetAside(Exception):
    """Raised from the writer when the row was set aside (the channel's policy no longer
    keeps it) while it was downloaded."""


class _SizeMismatch(Exception):
    """The complete download is not the size Telegram announced for the file."""


class MediaService:
    """The supervised media downloader; `counts()` is /status's MediaStatusAPI."""

    name = "media"

    def __init__(
        self,
        queue: MediaQueue,
        store: MediaStore,
        session: Session,
        alerter: AlertSink,
        *,
        root: Path,
        concurrency: int = 3,
        parts: int = 4,
        min_free_bytes: int = 500 * 1024 * 1024,
        poll_seconds: float = 5.0,
        free: Callable[[Path], int] = free_bytes,
        partials: Callable[[], Awaitable[list[str]]] | None = None,
        disk_retry_seconds: float = 60.0,
        keep_failed_partials: timedelta = timedelta(hours=24),
        sweep_seconds: float = 3600.0,
        leases: LeaseGate | None = None,
        leased: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        # Several processes (#18): each download under its row's lease (`leases`);
        # `leased()` the rows whose lease a live process holds (LeaseKeeper.live).
        self._leases = leases
        self._leased = leased
        self._requeued_at = 0.0
        self._queue = queue
        self._store = store
        self._session = session
        self._alerter = alerter
        self._root = Path(root)
        self._concurrency = max(1, concurrency)
        self._parts = max(1, parts)
        self._min_free = max(0, min_free_bytes)
        self._poll = poll_seconds
        self._free = free
        self._partials = partials
        # A failed row's partial is kept while a re-read may cure it (the refresh
        # window); orphans are looked for at start and every `sweep_seconds`.
        self._keep_failed = keep_failed_partials
        self._sweep_every = sweep_seconds
        self._swept_at = 0.0
        self._disk_retry = disk_retry_seconds
        self._disk_alerted = False  # the pause alert is out; its "go on" not yet
        self._enospc_free: int | None = None  # free bytes when a write met ENOSPC
        self._retry_at = 0.0
        self._retry_wait = disk_retry_seconds  # doubled by each try meeting ENOSPC
        self._dir_error: str | None = None  # the media folder cannot be written: why
        self._dir_retry_at = 0.0
        self._storage_paused = False  # the object storage failed: waiting to try again
        self._storage_alerted: str | None = None  # where, while its alert is out
        self._storage_retry_at = 0.0
        self._storage_wait = disk_retry_seconds  # doubled by each failure in a row
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: dict[int, tuple[asyncio.Task[None], int]] = {}
        # Bytes in each running download's partial file, and what the row says.
        self._live: dict[int, int] = {}
        self._saved: dict[int, int] = {}
        # Running downloads set aside by a policy change: stopped at their next chunk.
        self._aside: set[int] = set()
        self.paused: str | None = None

    # -- the bot's side --------------------------------------------------------------

    async def counts(self) -> MediaCounts:
        """Rows by status, stored files and their bytes (with the partial files'), why
        downloads wait, and the free bytes on the media folder (None if it cannot be
        read)."""
        counts = await self._queue.counts()
        partial = 0
        if self._partials is not None:
            with contextlib.suppress(OSError):
                for key in await self._partials():
                    partial += await self._store.size(key) or 0
        try:
            free: int | None = self._free(self._root)
        except OSError:
            free = None
        return MediaCounts(
            queued=counts.queued, downloading=counts.downloading, done=counts.done,
            skipped=counts.skipped, failed=counts.failed, files=counts.files,
            bytes_on_disk=counts.bytes_on_disk + partial, paused=self.paused,
            free_bytes=free,
        )

    async def pause(self) -> MediaPause:
        """Why downloads wait (None: they run) and the free bytes, without counts()."""
        try:
            free: int | None = self._free(self._root)
        except OSError:
            free = None
        return MediaPause(paused=self.paused, free_bytes=free)

    async def on_run_completed(self, event: RunCompleted) -> None:
        """EventBus subscriber: a committed run may have queued files: look now."""
        self.wake()

    async def session_state(self, state: str) -> None:
        """The userbot's state listener: a session ready (or gone) is looked at now."""
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- the component ---------------------------------------------------------------

    async def run(self) -> None:
        self._stopping = False
        await self._dir_ok(force=True)
        requeued = await self._requeue(start=True)
        if requeued:
            log.info("media: %d interrupted download(s) queued again", requeued)
        await self._drop_orphans()
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    if time.monotonic() - self._swept_at >= self._sweep_every:
                        await self._drop_orphans()
                    if (self._leased is not None
                            and time.monotonic() - self._requeued_at >= REQUEUE_SECONDS):
                        await self._requeue()
                    await self._tick()
                except Exception as exc:
                    # The database locked or its disk full: this machine's trouble,
                    # tried again next poll (anything else is a bug: restarted).
                    if local_error(exc) is None:
                        raise
                    log.warning("media: %s; trying again in %.0f s", exc, self._poll)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            await self._cancel_all()

    async def _requeue(self, *, start: bool = False) -> int:
        """Rows left downloading go back to the queue; how many. One process (no
        leases): every one, at start. Several (#18): those no live process holds the
        lease of (a live worker is downloading the others) and not changed for
        REQUEUE_AFTER, at start and every REQUEUE_SECONDS (a worker that died)."""
        self._requeued_at = time.monotonic()
        if self._leased is None:
            return await self._queue.requeue_interrupted() if start else 0
        try:
            keep = {int(k) for k in await self._leased()} | set(self._tasks)
        except Exception as exc:  # the database: tried again at the next round
            log.info("media: the downloads other processes hold cannot be read: %s", exc)
            return 0
        return await self._queue.requeue_interrupted(
            keep, older_than=datetime.now(UTC) - REQUEUE_AFTER
        )

    async def _drop_orphans(self) -> None:
        """Partial files no row will resume (its channel removed, its message's media
        edited since, its post deleted, failed longer ago than the refresh window, set
        aside) are deleted at start and every `sweep_seconds`; `partials` lists them
        (None: not done). Listed before the rows are read: a partial made meanwhile is
        a running download's, left alone too."""
        self._swept_at = time.monotonic()
        if self._partials is None:
            return
        keys = await self._partials()
        in_use = await self._queue.partial_keys_in_use(self._keep_failed)
        in_use |= {f"partial/{row_id}-{media_id}" for row_id, (_, media_id) in self._tasks.items()}
        orphans = [k for k in keys if k not in in_use]
        for key in orphans:
            await self._store.delete(key)
        if orphans:
            log.info("media: %d partial file(s) nobody will resume deleted", len(orphans))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _cancel_all(self) -> None:
        tasks = [t for t, _ in self._tasks.values()]
        ids = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await asyncio.shield(self._queue.release(ids))

    async def _tick(self) -> None:
        await self._save_progress()
        if not await self._dir_ok():
            return
        if not self._disk_ok():
            return
        if not self._storage_ok():
            return
        client = self._session.client
        if client is None or self._session.state != "ready":
            self.paused = NO_SESSION
            return
        self.paused = None
        slots = self._concurrency - len(self._tasks)
        if slots <= 0:
            return
        busy = {media_id for _, media_id in self._tasks.values()}
        for row in await self._queue.claim(slots, busy):
            if self._leases is not None and not await self._leases.take(
                MEDIA_LEASE, str(row.id), self._lease_lost(row.id)
            ):
                # Another process holds it (downloading it), or the database cannot
                # be asked: the row is left to its holder, or to the requeue.
                continue
            task = asyncio.create_task(self._guarded(row), name=f"media-{row.id}")
            self._tasks[row.id] = (task, row.ref.tg_id)

    def _lease_lost(self, row_id: int) -> Callable[[], Awaitable[None]]:
        async def lost() -> None:
            """Not renewed in time: stopped here before another process may take it
            (the row waits for the requeue; the partial file is resumed)."""
            entry = self._tasks.get(row_id)
            if entry is not None:
                entry[0].cancel()

        return lost

    async def _save_progress(self) -> None:
        """bytes_done of the running downloads (at most one write each per poll); the
        ones set aside meanwhile (db/media_queue.py SET_ASIDE) stop at their next chunk."""
        self._aside = await self._queue.set_aside(list(self._tasks)) if self._tasks else set()
        for row_id, size in list(self._live.items()):
            if self._saved.get(row_id) != size:
                entry = self._tasks.get(row_id)
                await self._queue.progress(row_id, size, None if entry is None else entry[1])
                self._saved[row_id] = size
        for row_id in set(self._saved) - set(self._live):
            del self._saved[row_id]

    # -- the media folder ------------------------------------------------------------

    async def _dir_ok(self, *, force: bool = False) -> bool:
        """False (paused MEDIA_DIR) while the media folder cannot be written; tried again
        (a small file written and deleted) every `disk_retry_seconds`, and at start
        (`force`). One alert for the pause, one when downloads go on."""
        if not force and self._dir_error is None:
            return True
        if not force and time.monotonic() < self._dir_retry_at:
            self.paused = MEDIA_DIR
            return False
        try:
            await asyncio.to_thread(probe_media_dir, self._root)
        except OSError as exc:
            self._pause_dir(exc)
            return False
        if self._dir_error is not None:
            self._dir_error = None
            self.paused = None
            log.info("media: %s can be written again: downloads go on", self._root)
            self._alerter.forget("media-dir")
            self._alerter.alert(
                "media-dir-ok", AlertText("alert_media_dir_ok", where=str(self._root)),
                force=True,
            )
        return True

    def _pause_dir(self, exc: OSError) -> None:
        """Downloads wait: the media folder cannot be used (`exc`); alerted once."""
        self._dir_retry_at = time.monotonic() + self._disk_retry
        self.paused = MEDIA_DIR
        if self._dir_error is not None:
            return
        self._dir_error = describe_os_error(exc)
        log.warning("media: %s cannot be used (%s): downloads paused",
                    self._root, self._dir_error)
        self._alerter.alert(
            "media-dir",
            AlertText("alert_media_dir", where=str(self._root), error=self._dir_error),
        )

    # -- the object storage ----------------------------------------------------------

    def _storage_ok(self) -> bool:
        """False (paused STORAGE) after the object storage failed, until its wait is
        over; then downloads are tried again (said once a file is stored again)."""
        if not self._storage_paused:
            return True
        if time.monotonic() < self._storage_retry_at:
            self.paused = STORAGE
            return False
        self._storage_paused = False
        self.paused = None
        log.info("media: trying the media storage again")
        return True

    def _pause_storage(self, exc: MediaStorageError) -> None:
        """Downloads wait: the object storage failed (`exc`); the next try after a wait
        that doubles with each failure in a row (disk_retry_seconds up to an hour). One
        alert per outage, naming the storage, the cause and the fix."""
        if not self._storage_paused:  # one wait per pause, not one per download
            wait = self._storage_wait
            self._storage_wait = min(_DISK_RETRY_CAP, self._storage_wait * 2)
            self._storage_retry_at = time.monotonic() + wait
            self._storage_paused = True
        self.paused = STORAGE
        if self._storage_alerted is not None:
            return
        self._storage_alerted = exc.where
        log.warning("media: the media storage %s failed (%s: %s): downloads paused, the "
                    "files wait on the local disk", exc.where, exc.cause, exc)
        self._alerter.alert(
            "media-storage",
            AlertText(
                f"alert_media_storage_{exc.cause}", where=exc.where, error=str(exc),
                retry_s=int(self._storage_retry_at - time.monotonic() + 0.5),
            ),
        )

    def _storage_stored(self) -> None:
        """A file reached the storage: the waits start short again; the alert that
        downloads go on, once per outage."""
        self._storage_wait = self._disk_retry
        where, self._storage_alerted = self._storage_alerted, None
        if where is None:
            return
        log.info("media: the media storage %s works again: downloads go on", where)
        self._alerter.forget("media-storage")
        self._alerter.alert(
            "media-storage-ok", AlertText("alert_media_storage_ok", where=where), force=True
        )

    # -- the disk guard --------------------------------------------------------------

    def _disk_ok(self) -> bool:
        """False (paused) while the media folder has less than `min_free_bytes` free,
        or, after a write met a full disk (ENOSPC: a quota, a probe that says more than
        there is), until `disk_retry_seconds` have passed or the free space has grown by
        _ENOSPC_MARGIN. One alert for the pause; one when downloads go on for real
        (the space is there, or a file was stored again)."""
        try:
            free: int | None = self._free(self._root)
        except OSError:
            log.warning("media: cannot read the free space of %s", self._root, exc_info=True)
            free = None
        if free is not None and free < self._min_free:
            self._pause_disk(free)
            return False
        if self.paused != DISK_FULL:
            return True
        grown = (
            free is not None and self._enospc_free is not None
            and free >= self._enospc_free + _ENOSPC_MARGIN
        )
        if self._enospc_free is None or grown:
            self.paused = None
            self._enospc_free = None
            if free is not None:
                self._disk_cleared(free)
            return True
        if time.monotonic() < self._retry_at:
            return False
        # A try after ENOSPC: said only once a file is stored again.
        self.paused = None
        log.info("media: trying downloads again on %s after a full disk", self._root)
        return True

    def _disk_cleared(self, free: int | None = None) -> None:
        """Downloads go on: said once per pause."""
        self._retry_wait = self._disk_retry
        if not self._disk_alerted:
            return
        self._disk_alerted = False
        self._enospc_free = None
        if free is None:
            with contextlib.suppress(OSError):
                free = self._free(self._root)
        free_mb = 0 if free is None else free // 2**20
        log.info("media: %d MB free on %s: downloads go on", free_mb, self._root)
        self._alerter.forget("media-disk")
        self._alerter.alert(
            "media-disk-ok",
            AlertText("alert_media_disk_ok", where=str(self._root), free_mb=free_mb),
            force=True,
        )

    def _pause_disk(self, free: int | None, *, enospc: OSError | None = None) -> None:
        """Downloads wait for room: `free` bytes under the floor, or a write met
        `enospc` (ENOSPC/EDQUOT): then no download starts again before a wait that
        doubles with each try meeting it again (disk_retry_seconds up to an hour),
        unless the free space grows by _ENOSPC_MARGIN. One alert per pause, naming
        the folder, the real free space and, after ENOSPC, the error."""
        if enospc is not None:
            if self.paused != DISK_FULL:  # one wait per pause, not one per download
                wait = self._retry_wait
                self._retry_wait = min(_DISK_RETRY_CAP, self._retry_wait * 2)
                self._retry_at = time.monotonic() + wait
            with contextlib.suppress(OSError):
                self._enospc_free = self._free(self._root)
            if self._enospc_free is None:
                self._enospc_free = 0
            free = self._enospc_free
        if self.paused == DISK_FULL:
            return
        self.paused = DISK_FULL
        if self._disk_alerted:  # a try after ENOSPC met it again: already told
            return
        self._disk_alerted = True
        free_mb = 0 if free is None else free // 2**20
        if enospc is not None and (free is None or free >= self._min_free):
            # The disk says there is room, the write said there is not: a quota, no
            # inodes left, or MIN_FREE_DISK_MB too low for this disk.
            error = describe_os_error(enospc)
            log.warning("media: writing to %s failed (%s) with %d MB free: downloads "
                        "paused", self._root, error, free_mb)
            self._alerter.alert(
                "media-disk",
                AlertText(
                    "alert_media_disk_error", where=str(self._root), free_mb=free_mb,
                    error=error, min_mb=self._min_free // 2**20,
                    retry_s=int(self._retry_at - time.monotonic() + 0.5),
                ),
            )
            return
        log.warning("media: %s has %d MB free: downloads paused", self._root, free_mb)
        self._alerter.alert(
            "media-disk",
            AlertText(
                "alert_media_disk_low", where=str(self._root), free_mb=free_mb,
                min_mb=self._min_free // 2**20,
            ),
        )

    # -- one file --------------------------------------------------------------------

    async def _guarded(self, row: Claimed) -> None:
        try:
            await self._one(row)
        except asyncio.CancelledError:
            raise
        except MediaStorageError as exc:
            # The file stays on the local disk (its partial), the row waits for the
            # storage: tried again with every other download once the pause is over.
            self._pause_storage(exc)
            with contextlib.suppress(Exception):
                await self._queue.defer(row.id, None, "STORAGE", row.ref.tg_id)
        except OSError as exc:
            if exc.errno not in _DIR_ERRNOS:
                log.exception("media: download %d (message %d) failed", row.id, row.msg_id)
                reason = "ERROR"
            else:  # the media folder: paused until it can be written
                self._pause_dir(exc)
                reason = "MEDIA_DIR"
            with contextlib.suppress(Exception):
                await self._queue.defer(row.id, None if reason == "MEDIA_DIR" else
                                        _later(row.attempts), reason, row.ref.tg_id)
        except Exception:
            log.exception("media: download %d (message %d) failed", row.id, row.msg_id)
            with contextlib.suppress(Exception):
                await self._queue.defer(row.id, _later(row.attempts), "ERROR", row.ref.tg_id)
        finally:
            self._tasks.pop(row.id, None)
            self._live.pop(row.id, None)
            self._saved.pop(row.id, None)
            self._wake.set()
            if self._leases is not None:
                await self._leases.release(MEDIA_LEASE, str(row.id))

    def _client_for(self, account_id: int | None) -> Any:
        """The client to download with: that of the account whose access hash the
        channel row holds, while it is ready (several accounts, parser/pool.py); else
        the one session's."""
        client_of = getattr(self._session, "client_of", None)
        own = client_of(account_id) if client_of is not None else None
        open_elsewhere = getattr(self._session, "open_elsewhere", None)
        if own is None and open_elsewhere is not None and open_elsewhere(account_id):
            return None  # open in another process (#18): downloaded there (deferred here)
        return own if own is not None else self._session.client

    async def _one(self, row: Claimed) -> None:
        ref = row.ref
        # Stored meanwhile under this media id (another message, another channel).
        stored = await self._queue.stored(ref.tg_id)
        if stored is not None and await self._store.exists(stored.key):
            await self._store.delete(row.partial_key)
            await self._queue.done(row.id, ref.tg_id, stored.id, stored.size)
            return
        refreshes, mark, restarted = 0, -1, False
        while True:
            client = self._client_for(row.peer.account_id)
            if client is None:
                await self._defer(row, ref, None, None)
                return
            try:
                sha256, size = await self._fetch(client, ref, row.id, row.partial_key)
                break
            except PartialMismatch as exc:
                # Not this file's prefix (damaged, another file's): started over.
                log.warning("media: download %d: the partial file's %s differ from "
                            "Telegram's; fetched again from byte 0", row.id, exc)
                await self._store.delete(row.partial_key)
                continue
            except _SizeMismatch as exc:
                await self._store.delete(row.partial_key)
                if restarted:
                    return await self._fail(row, "SIZE_MISMATCH", ref)
                restarted = True
                log.warning("media: download %d: %s; fetched again from byte 0", row.id, exc)
                continue
            except FileReferenceExpired as exc:
                got = self._live.get(row.id, 0)
                if got > mark:  # bytes came in since the last refresh: count anew
                    refreshes, mark = 0, got
                if refreshes >= MAX_REFRESHES:
                    return await self._fail(row, "FILE_REFERENCE_EXPIRED", ref)
                refreshes += 1
                log.info("media: %s for download %d: reading the message again", exc, row.id)
                try:
                    fresh = await refresh(
                        client, row.peer.tg_id, row.peer.access_hash, row.msg_id,
                        basic_group=row.peer.kind == "chat",
                    )
                except MediaUnavailable as err:
                    if err.reason not in _PEER_STALE:
                        return await self._fail(row, err.reason, ref)
                    # The channel's access hash is stale: the parse worker resolves it
                    # again (the channel row); read the message then.
                    log.info("media: download %d: %s; retried later", row.id, err.reason)
                    return await self._defer(row, ref, _later(row.attempts), err.reason)
                except TelegramError as err:
                    return await self._telegram_error(row, err, ref)
                if not await self._queue.current(row.id, ref.tg_id):
                    # The enqueue recorded an edited media meanwhile: that one is next.
                    await self._store.delete(row.partial_key)
                    await self._queue.changed(row.id, ref.tg_id)
                    return
                await self._queue.update_ref(row.id, fresh)
                if fresh.tg_id != ref.tg_id:  # edited: another file, claimed anew
                    await self._store.delete(row.partial_key)
                    await self._queue.changed(row.id, ref.tg_id)
                    return
                ref = fresh
            except TelegramError as err:
                return await self._telegram_error(row, err, ref)
            except _DiskLow:
                await self._defer(row, ref, None, "DISK_FULL")
                return
            except _SetAside:
                # Off / an unticked kind / a lower cap: not stored, not queued again;
                # its partial goes (the room it took is what the operator wants back).
                log.info("media: download %d set aside by the channel's choice", row.id)
                await self._store.delete(row.partial_key)
                await self._queue.changed(row.id, ref.tg_id)
                return
            except OSError as exc:
                cause = local_error(exc, str(self._root))
                if cause is None or cause.cause != "disk_full":
                    raise
                self._pause_disk(None, enospc=exc)
                await self._defer(row, ref, None, "DISK_FULL")
                return
        await self._finish(row, ref, sha256, size)

    async def _defer(
        self, row: Claimed, ref: MediaRef, until: datetime | None, reason: str | None
    ) -> None:
        """Back to the queue (a row whose media was edited meanwhile: for the new one)."""
        await self._queue.defer(row.id, until, reason, ref.tg_id)

    async def _fetch(
        self, client: Any, ref: MediaRef, row_id: int, key: str
    ) -> tuple[str, int]:
        """Download `ref` into partial `key` from the bytes already there; (sha256 hex,
        size) of the complete file, checked against the bytes on disk."""
        have = await self._store.size(key) or 0
        if ref.size is not None and have > ref.size:  # not this file's prefix: again
            log.warning("media: %s holds %d bytes of a %d-byte file; fetched again",
                        key, have, ref.size)
            await self._store.delete(key)
            have = 0
        digest: Any = hashlib.sha256()
        if have:
            digest, have = await asyncio.to_thread(hash_prefix, await self._store.get(key))
        self._live[row_id] = have
        checked = have

        def check(size: int) -> None:  # in the writer's thread, after each chunk
            nonlocal checked
            self._live[row_id] = size
            if row_id in self._aside:
                raise _SetAside()
            if size - checked >= _CHECK_EVERY:
                checked = size
                with contextlib.suppress(OSError):
                    if self._free(self._root) < self._min_free:
                        raise _DiskLow()

        path = await self._store.get(key) if have else None

        def verify(offset: int, data: bytes) -> bool:  # the bytes before the resume point
            assert path is not None
            with path.open("rb") as fh:
                fh.seek(offset)
                return fh.read(len(data) + 1) == data

        out = await self._store.open_append(key)
        sink = FileSink(out, digest, have, check)
        try:
            try:
                await download(
                    client, ref, sink, start=have, parts=self._parts,
                    verify=verify if have else None,
                )
            finally:
                await sink.drain()
        finally:
            out.close()  # flushed; fsync'ed by the store's put once complete
        size = sink.size
        on_disk = await self._store.size(key)
        if on_disk != size:
            raise RuntimeError(f"partial {key}: {on_disk} bytes on disk, {size} written")
        if ref.size is not None and size != ref.size:
            raise _SizeMismatch(f"{key}: {size} bytes, Telegram announced {ref.size}")
        return str(digest.hexdigest()), size

    async def _finish(self, row: Claimed, ref: MediaRef, sha256: str, size: int) -> None:
        """Make the complete partial file visible under its content key (or drop it when
        that content is stored already) and mark the row done. A row whose media was
        edited meanwhile goes back to the queue for the new one; this file is dropped."""
        if not await self._queue.current(row.id, ref.tg_id):
            log.info("media: download %d: its message's media was edited or set aside; "
                     "not stored", row.id)
            await self._store.delete(row.partial_key)
            await self._queue.changed(row.id, ref.tg_id)
            return
        existing = await self._queue.by_sha256(sha256)
        partial = await self._store.get(row.partial_key)
        if existing is not None:
            stored: StoredFile = existing
            if await self._store.exists(existing.key):
                await self._store.delete(row.partial_key)
            else:  # its file went missing from the folder: this is it again
                await self._store.put(existing.key, partial)
        else:
            key = media_key(sha256, ref.mime_type, ref.file_name)
            await self._store.put(key, partial)
            stored = await self._queue.add_file(
                sha256=sha256, size=size, mime_type=ref.mime_type, tg_media_id=ref.tg_id,
                key=key,
            )
            if stored.key != key and await self._store.exists(stored.key):
                # The same bytes were stored meanwhile under another name: one file.
                await self._store.delete(key)
        if self._disk_alerted and self.paused is None:
            self._disk_cleared()
        self._storage_stored()
        if not await self._queue.done(row.id, ref.tg_id, stored.id, stored.size):
            log.info("media: download %d changed meanwhile; fetching its new media", row.id)
            await self._queue.changed(row.id, ref.tg_id)
            if existing is None and await self._queue.unused_file(stored.id):
                await self._store.delete(stored.key)

    async def _fail(self, row: Claimed, reason: str, ref: MediaRef) -> None:
        """Failed for good; its partial file stays when a re-read of the post may cure
        it (db/media.py KEEP_PARTIAL: a stale reference...): it resumes then. It goes
        at a sweep once the refresh window is over (`keep_failed_partials`)."""
        log.info("media: download %d (message %d) failed: %s", row.id, row.msg_id, reason)
        if reason not in KEEP_PARTIAL:
            await self._store.delete(row.partial_key)
        await self._queue.failed(row.id, reason, ref.tg_id)

    async def _telegram_error(self, row: Claimed, err: TelegramError, ref: MediaRef) -> None:
        if isinstance(err, MediaUnavailable):
            return await self._fail(row, err.reason, ref)
        if isinstance(err, RateLimited):
            until = datetime.now(UTC) + timedelta(seconds=max(1, err.seconds))
            log.info("media: download %d waits %d s (flood wait)", row.id, err.seconds)
            return await self._defer(row, ref, until, "FLOOD_WAIT")
        if isinstance(err, FileReferenceExpired):
            return await self._fail(row, "FILE_REFERENCE_EXPIRED", ref)
        if isinstance(err, SessionDead):
            await self._defer(row, ref, None, None)
            await self._session.session_dead(err.reason)
            return
        log.info("media: download %d: %s; retried later", row.id, err)
        if isinstance(err, TransportError):  # network, Telegram's 500s, no answer, clock
            reason = "TRANSPORT"
        elif isinstance(err, UnknownTelegramError):
            reason = err.name
        else:
            reason = err.code.upper()
        await self._defer(row, ref, _later(row.attempts), reason)


def _later(attempts: int) -> datetime:
    delay = min(_RETRY_CAP, _RETRY_BASE * 2 ** max(0, min(attempts, 20) - 1))
    return datetime.now(UTC) + timedelta(seconds=delay)


def describe_os_error(exc: OSError) -> str:
    """`exc` in words for an operator: the system's text and errno name, and the path
    it names ("Permission denied (EACCES): /srv/media/partial/1-2")."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc) or type(exc).__name__
    if name:
        text = f"{text} ({name})"
    if exc.filename:
        text = f"{text}: {exc.filename}"
    return text


def probe_media_dir(root: Path) -> None:
    """Make `root` (and its "partial" folder) if missing and write, read and delete a
    small file there; OSError when it cannot be used (blocking: call in a thread)."""
    partial = Path(root) / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    probe = Path(root) / ".write-test"
    try:
        with probe.open("wb") as fh:
            fh.write(b"tg-parser")
            fh.flush()
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
