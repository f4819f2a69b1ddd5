"""Media files from Telegram (#16): where a message's file is (`media_ref`) and its
bytes (`download`, `download_to`), with the one client of the process.

Telegram serves a file in parts with `upload.getFile` (https://core.telegram.org/api/files):
an offset divisible by 4 KB, a limit divisible by 4 KB that divides 1 MB, and no part
crossing a 1 MB boundary. Parts here are CHUNK (512 KB, Telethon's largest request)
at offsets divisible by CHUNK, so every rule holds; a resume from any byte starts at
the CHUNK boundary below it and drops what it already has. Telethon's `iter_download`
does the requests: it follows FILE_MIGRATE to the file's DC (with exported
authorization), CDN redirects and one timeout retry. A large file is fetched by
`parts` such streams at once (offset i * CHUNK, stride parts * CHUNK), their chunks
written in file order, so the partial file is always a prefix of the file: resuming
is "start at its size".

Errors are the project's (parser/errors.py media_error): FileReferenceExpired (read
the message again: `media_ref` of the fresh one), MediaUnavailable(reason),
RateLimited(seconds), SessionDead, TransportError (retry later).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from telethon import TelegramClient
from telethon.tl import custom, functions, types

from core.media import MediaRef
from parser.content import describe_document
from parser.errors import MediaUnavailable, media_error

log = logging.getLogger(__name__)

# Bytes per getFile request: Telethon's largest (512 KB); divides 1 MB, so no part at
# an offset divisible by it crosses a 1 MB boundary.
CHUNK = 512 * 1024
# Files smaller than this are fetched by one stream whatever `parts` says.
PARALLEL_FROM = 4 * CHUNK
# Chunks each parallel stream may hold before the writer takes them.
_AHEAD = 2
# Bytes re-read at a time to hash what a partial file already holds.
_READ = 1024 * 1024


# Where `download` puts the bytes: a function or a coroutine function of each chunk.
Sink = Callable[[bytes], Awaitable[None] | None]


class _SinkFailed(Exception):
    """What the sink raised (a full disk...), carried past the error translation."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


async def _give(sink: Sink, chunk: bytes) -> None:
    try:
        result = sink(chunk)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise _SinkFailed(exc) from exc


def media_ref(obj: Any) -> MediaRef | None:
    """The MediaRef of a message's file: `obj` is a Telethon Message, a TL
    MessageMediaPhoto / MessageMediaDocument, or a TL Photo / Document. None when it
    has no downloadable file (no media, a web page, a poll, PhotoEmpty, ...).

    kind: parser/content.py's media_kind (photo, video, round, voice, audio, document,
    animation, sticker); a photo's thumb is its largest size's type and size that
    size's bytes; a document is fetched whole (thumb None, size its size).
    """
    if isinstance(obj, custom.Message | types.Message):
        obj = obj.media
    if isinstance(obj, types.MessageMediaPhoto):
        obj = obj.photo
    elif isinstance(obj, types.MessageMediaDocument):
        obj = obj.document
    if isinstance(obj, types.Photo):
        best = _largest_size(obj)
        if best is None:
            return None
        thumb, size = best
        return MediaRef(
            kind="photo", tg_id=obj.id, access_hash=obj.access_hash,
            file_reference=bytes(obj.file_reference or b""), dc_id=obj.dc_id,
            size=size, thumb=thumb, mime_type="image/jpeg",
        )
    if isinstance(obj, types.Document):
        kind, meta, _ = describe_document(obj)
        return MediaRef(
            kind=kind, tg_id=obj.id, access_hash=obj.access_hash,
            file_reference=bytes(obj.file_reference or b""), dc_id=obj.dc_id,
            size=obj.size, thumb=None, mime_type=obj.mime_type or None,
            file_name=meta.get("file_name") or None,
        )
    return None


def _largest_size(photo: types.Photo) -> tuple[str, int] | None:
    """(type, bytes) of a photo's largest downloadable size (by pixels)."""
    best: tuple[int, str, int] | None = None
    for s in photo.sizes or ():
        if isinstance(s, types.PhotoSize):
            cand = (s.w * s.h, s.type, s.size)
        elif isinstance(s, types.PhotoSizeProgressive) and s.sizes:
            cand = (s.w * s.h, s.type, max(s.sizes))
        else:  # stripped, cached, path: inline thumbnails, not files
            continue
        if best is None or cand[0] > best[0]:
            best = cand
    return None if best is None else (best[1], best[2])


def location(ref: MediaRef) -> types.InputPhotoFileLocation | types.InputDocumentFileLocation:
    """The TL file location upload.getFile takes for `ref`."""
    if ref.kind == "photo":
        return types.InputPhotoFileLocation(
            id=ref.tg_id, access_hash=ref.access_hash,
            file_reference=ref.file_reference, thumb_size=ref.thumb or "",
        )
    return types.InputDocumentFileLocation(
        id=ref.tg_id, access_hash=ref.access_hash,
        file_reference=ref.file_reference, thumb_size=ref.thumb or "",
    )


class PartialMismatch(Exception):
    """The bytes already held before the resume point are not the file's (`download`'s
    `verify` said so): the partial file is not this file's prefix."""


async def download(
    client: TelegramClient,
    ref: MediaRef,
    sink: Sink,
    *,
    start: int = 0,
    parts: int = 1,
    verify: Callable[[int, bytes], bool] | None = None,
) -> int:
    """Fetch `ref`'s bytes from byte `start` to the end and give them to `sink` in
    file order (each call continues where the last ended). `parts` > 1: a file of a
    known size of at least PARALLEL_FROM bytes comes in `parts` streams at once.

    `verify(offset, data)` (a resume, `start` > 0): the bytes from `offset` to `start`
    as Telegram gives them now (the CHUNK holding byte `start - 1`, fetched anyway or
    one more at a CHUNK boundary), to compare with what the caller holds there; False
    raises PartialMismatch before anything is given to `sink` (also for a `start` at
    or past the announced size: the last CHUNK is fetched to check the file's end).

    `sink(chunk)` may be a coroutine function (awaited before the next chunk is taken).
    Returns the bytes given to `sink`. Raises the project's errors (module docstring);
    a `sink` error (a full disk: OSError) as it is.
    """
    if ref.size is not None and start >= ref.size and (verify is None or start > ref.size):
        return 0
    aligned = start - start % CHUNK
    if verify is not None and start > 0:
        aligned = (start - 1) - (start - 1) % CHUNK  # the overlap is never empty
    check = None if verify is None or start <= 0 else _Overlap(verify, aligned, start)
    try:
        if parts > 1 and ref.size is not None and ref.size - aligned >= PARALLEL_FROM:
            return await _parallel(client, ref, sink, aligned, start - aligned, parts, check)
        return await _sequential(client, ref, sink, aligned, start - aligned, check)
    except _SinkFailed as failed:
        raise failed.exc from None
    except PartialMismatch:
        raise
    except Exception as exc:
        err = media_error(exc)
        if err is None or err is exc:
            raise
        raise err from exc


def _stream(
    client: TelegramClient, ref: MediaRef, offset: int, stride: int
) -> Any:
    # file_size and limit stay None: Telethon would count its limit from byte 0 and pick
    # its generic (re-slicing) iterator for an offset not divisible by that count.
    return client.iter_download(
        location(ref), offset=offset, stride=stride, request_size=CHUNK,
        chunk_size=CHUNK, dc_id=ref.dc_id or None,
    )


async def _close(it: Any) -> None:
    """Return an iterator's borrowed sender (another DC's); nothing if never started."""
    if getattr(it, "_sender", None) is not None:
        with contextlib.suppress(Exception):
            await it.close()


def _chunks_left(ref: MediaRef, aligned: int) -> int | None:
    return None if ref.size is None else -(-(ref.size - aligned) // CHUNK)


class _Overlap:
    """Collects the re-fetched bytes before the resume point and asks `verify` once."""

    def __init__(self, verify: Callable[[int, bytes], bool], offset: int, start: int) -> None:
        self.verify, self.offset, self.want = verify, offset, start - offset
        self.got = bytearray()
        self.done = False

    def feed(self, head: bytes, end: bool = False) -> None:
        """`head`: re-fetched bytes before the resume point; `end`: no more will come
        (the file ended before it: a mismatch unless all were had)."""
        if self.done:
            return
        self.got += head
        if len(self.got) >= self.want or end:
            self.done = True
            if len(self.got) != self.want or not self.verify(self.offset, bytes(self.got)):
                raise PartialMismatch(f"bytes {self.offset}..{self.offset + self.want}")


async def _sequential(
    client: TelegramClient, ref: MediaRef, sink: Sink, aligned: int,
    skip: int, check: _Overlap | None = None,
) -> int:
    left = _chunks_left(ref, aligned)
    given = 0
    it = _stream(client, ref, aligned, CHUNK)
    try:
        while left is None or left > 0:
            try:
                chunk: bytes = await it.__anext__()
            except StopAsyncIteration:
                break
            if skip:
                if check is not None:
                    check.feed(chunk[:skip])
                chunk, skip = chunk[skip:], max(0, skip - len(chunk))
            if chunk:
                await _give(sink, chunk)
                given += len(chunk)
            if left is not None:
                left -= 1
    finally:
        await _close(it)
    if check is not None:
        check.feed(b"", end=True)
    return given


async def _parallel(
    client: TelegramClient, ref: MediaRef, sink: Sink, aligned: int,
    skip: int, parts: int, check: _Overlap | None = None,
) -> int:
    total = _chunks_left(ref, aligned)
    assert total is not None
    parts = min(parts, total)
    queues: list[asyncio.Queue[bytes | BaseException]] = [
        asyncio.Queue(_AHEAD) for _ in range(parts)
    ]

    async def produce(i: int) -> None:
        count = len(range(i, total, parts))
        it = _stream(client, ref, aligned + i * CHUNK, parts * CHUNK)
        try:
            for _ in range(count):
                try:
                    chunk: bytes = await it.__anext__()
                except StopAsyncIteration:
                    await queues[i].put(b"")
                    return
                await queues[i].put(chunk)
                if len(chunk) < CHUNK:
                    return
        except Exception as exc:
            await queues[i].put(exc)
        finally:
            await _close(it)

    tasks = [asyncio.create_task(produce(i), name=f"media-part-{i}") for i in range(parts)]
    given = 0
    try:
        for k in range(total):
            item = await queues[k % parts].get()
            if isinstance(item, BaseException):
                raise item
            chunk = item
            if k == 0 and skip:
                if check is not None:
                    check.feed(chunk[:skip], end=True)
                chunk = chunk[skip:]
            if chunk:
                await _give(sink, chunk)
                given += len(chunk)
            if len(item) < CHUNK:  # the file ended (shorter than announced)
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if check is not None:
        check.feed(b"", end=True)
    return given


async def refresh(
    client: TelegramClient, tg_id: int, access_hash: int | None, msg_id: int,
    *, basic_group: bool = False,
) -> MediaRef:
    """The file of message `msg_id` as Telegram gives it now (a fresh file reference):
    channels.getMessages on channel `tg_id` (messages.getMessages for an old basic
    group). Raises MediaUnavailable("MESSAGE_DELETED") when the message is gone,
    ("MEDIA_GONE") when it no longer has a file; other errors as `download`. The
    media id may differ from the one asked for (the media was edited)."""
    ids = [types.InputMessageID(msg_id)]
    request: Any
    if basic_group:
        request = functions.messages.GetMessagesRequest(id=ids)
    else:
        request = functions.channels.GetMessagesRequest(
            channel=types.InputChannel(tg_id, access_hash or 0), id=ids
        )
    try:
        answer = await client(request)
    except Exception as exc:
        err = media_error(exc)
        if err is None or err is exc:
            raise
        raise err from exc
    msg = next((m for m in getattr(answer, "messages", ()) if m.id == msg_id), None)
    if msg is None or isinstance(msg, types.MessageEmpty):
        raise MediaUnavailable("MESSAGE_DELETED")
    ref = media_ref(msg)
    if ref is None:
        raise MediaUnavailable("MEDIA_GONE")
    return ref


@dataclass(frozen=True)
class Downloaded:
    """A finished download: `size` bytes in the file, `sha256` (hex) of all of them,
    `fetched` the bytes received from Telegram by this call (resumed: fewer)."""

    size: int
    sha256: str
    fetched: int


def hash_prefix(path: Path) -> tuple[Any, int]:
    """(a sha256 object fed with the file's bytes, their count); blocking: call it in
    a thread for large files."""
    digest = hashlib.sha256()
    size = 0
    with contextlib.suppress(FileNotFoundError), path.open("rb") as fh:
        while block := fh.read(_READ):
            digest.update(block)
            size += len(block)
    return digest, size


class FileSink:
    """A `download` sink writing to `out` (a file open for appending) and hashing, in a
    worker thread one chunk behind the network: the event loop only receives. `digest`
    already holds the file's first `size` bytes; `check(size)` runs in the thread
    after each write (it may raise to stop the download). Call `drain()` before reading
    `size`/`digest` or closing `out`."""

    def __init__(
        self, out: BinaryIO, digest: Any, size: int,
        check: Callable[[int], None] | None = None,
    ) -> None:
        self.out, self.digest, self.size = out, digest, size
        self._check = check
        self._pending: asyncio.Future[None] | None = None

    def _write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.digest.update(chunk)  # hashlib releases the GIL for large data
        self.size += len(chunk)
        if self._check is not None:
            self._check(self.size)

    async def __call__(self, chunk: bytes) -> None:
        await self.drain()
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._write, chunk)

    async def drain(self) -> None:
        """Wait for the chunk being written; its error (OSError, `check`'s) raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except asyncio.CancelledError:
                # Cancelled while the thread writes: let it end before the file closes.
                await asyncio.wait([pending])
                raise


async def download_to(
    client: TelegramClient,
    ref: MediaRef,
    path: Path,
    *,
    parts: int = 1,
) -> Downloaded:
    """Fetch `ref` into the local file `path`, resuming after the bytes it already
    holds (re-hashed first, in a thread).

    The file is flushed, not fsync'ed (the store's `put` makes a finished file durable;
    a partial file's bytes lost to a power cut are fetched again); errors as `download`
    (the bytes written so far stay: the next call resumes there).
    """
    digest, have = await asyncio.to_thread(hash_prefix, path)
    with path.open("ab") as out:
        sink = FileSink(out, digest, have)
        try:
            fetched = await download(client, ref, sink, start=have, parts=parts)
        finally:
            await sink.drain()
    return Downloaded(sink.size, digest.hexdigest(), fetched)
