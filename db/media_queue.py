"""The media download queue as the downloader works it (#16): `media_download` rows
claimed, finished, deferred; `media_file` rows (each stored content once).

The enqueue side (db/media.py) inserts the rows with the messages; here they move:
queued -> downloading -> done | skipped | failed, or back to queued (a flood wait, a
network failure, a crash). A row is claimed only when no other row with the same
Telegram media id is being downloaded: one file is never fetched twice at once, and
finishing it completes every queued row with that media id.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from core.media import DownloadStatus, MediaCounts, MediaRef
from db.media import KEEP_PARTIAL, NOT_KEPT, TOO_BIG
from db.models import Channel, MediaDownload, MediaFile

QUEUED, DOWNLOADING = DownloadStatus.QUEUED.value, DownloadStatus.DOWNLOADING.value
DONE, SKIPPED, FAILED = (
    DownloadStatus.DONE.value, DownloadStatus.SKIPPED.value, DownloadStatus.FAILED.value,
)
# Queued rows looked at per claim, at most (rows of a media id already in flight are
# passed over).
_CLAIM_WINDOW = 200
# The reasons a row being downloaded carries when it is no longer wanted (the channel's
# policy changed, db/media.py apply_policy; an edited media over the cap): it is not
# stored, and every end of its download makes it skipped with that reason.
SET_ASIDE = (NOT_KEPT, TOO_BIG)


@dataclass(frozen=True)
class Peer:
    """Where a row's message is read again (for a fresh file reference): the channel
    row's Telegram id, access hash and kind ("channel"; "chat" for an upgraded
    group's old basic group, tg_id = -chat_id)."""

    tg_id: int
    access_hash: int | None
    kind: str
    # The account whose access hash it is (#18; None: not known).
    account_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    """A row being downloaded: `id`, the message (`channel_id` row, `msg_id`), where
    its file is (`ref`), `attempts` so far (this one included)."""

    id: int
    channel_id: int
    msg_id: int
    ref: MediaRef
    attempts: int
    peer: Peer

    @property
    def partial_key(self) -> str:
        """The storage key of its partial file: per row and media id (a media edited
        meanwhile starts a new file)."""
        return f"partial/{self.id}-{self.ref.tg_id}"


@dataclass(frozen=True)
class StoredFile:
    id: int
    key: str
    size: int


def _ref(row: MediaDownload) -> MediaRef:
    return MediaRef(
        kind=row.kind, tg_id=row.tg_media_id, access_hash=row.access_hash,
        file_reference=bytes.fromhex(row.file_reference or ""), dc_id=row.dc_id,
        size=row.size, thumb=row.thumb, mime_type=row.mime_type, file_name=row.file_name,
    )


def _channel_id(row: MediaDownload) -> int:
    return int(row.channel_id)  # type: ignore[attr-defined]  # Tortoise's FK column


def _now() -> datetime:
    return datetime.now(UTC)


class MediaQueue:
    """The downloader's side of `media_download` and `media_file`."""

    async def requeue_interrupted(
        self, keep: Collection[int] = (), older_than: datetime | None = None
    ) -> int:
        """Rows left `downloading` (a crash, a kill) go back to `queued` (one whose
        media was edited meanwhile: what the enqueue decided, as `changed`; one set
        aside meanwhile, SET_ASIDE: skipped); how many. Several processes (#18): not
        the rows in `keep` (a live process is downloading them), nor, with
        `older_than`, one changed since (just claimed, its lease not taken yet)."""
        left = MediaDownload.filter(status=DOWNLOADING)
        if keep:
            left = left.exclude(id__in=list(keep))
        if older_than is not None:
            left = left.filter(updated_at__lt=older_than)
        n = await left.filter(file_id__isnull=False).update(status=DONE, reason=None)
        n += await left.filter(reason__in=SET_ASIDE).update(status=SKIPPED, bytes_done=0)
        return int(n + await left.update(status=QUEUED))

    async def claim(self, limit: int, busy: Collection[int] = ()) -> list[Claimed]:
        """Up to `limit` due queued rows (next_try_at null or past), oldest id first
        whether tried before or not (a retry whose wait is over is not starved by a
        backlog of new rows), marked downloading (attempts + 1, the previous try's
        reason cleared: a row being downloaded shows no old failure): at most one per
        media id, none whose media id is in `busy` (in flight)."""
        if limit <= 0:
            return []
        now = _now()
        due = MediaDownload.filter(
            Q(next_try_at__isnull=True) | Q(next_try_at__lte=now), status=QUEUED
        )
        if busy:
            due = due.exclude(tg_media_id__in=list(busy))
        rows = await due.order_by("id").limit(_CLAIM_WINDOW)
        taken: list[MediaDownload] = []
        seen = set(busy)
        for row in rows:
            if row.tg_media_id in seen:
                continue
            seen.add(row.tg_media_id)
            # Conditional: a row changed since it was read (re-queued by a re-read) is
            # claimed as it is now, next time.
            got = await MediaDownload.filter(id=row.id, status=QUEUED).update(
                status=DOWNLOADING, attempts=row.attempts + 1, reason=None, updated_at=now
            )
            if got:
                row.attempts += 1
                taken.append(row)
            if len(taken) >= limit:
                break
        if not taken:
            return []
        peers = {
            c.id: Peer(c.tg_id, c.access_hash, c.kind, c.hash_account_id or c.account_id)
            for c in await Channel.filter(id__in={_channel_id(r) for r in taken})
        }
        return [
            Claimed(
                r.id, _channel_id(r), r.msg_id, _ref(r), r.attempts,
                peers.get(_channel_id(r), Peer(0, None, "channel")),
            )
            for r in taken
        ]

    async def stored(self, tg_media_id: int) -> StoredFile | None:
        """The stored file a done row with this media id links to, else the file first
        stored under it (a crash between storing a file and marking its row done), if
        any."""
        row = (
            await MediaDownload.filter(
                tg_media_id=tg_media_id, status=DONE, file_id__isnull=False
            )
            .first()
            .prefetch_related("file")
        )
        f = row.file if row is not None else None
        if f is None:
            f = await MediaFile.filter(tg_media_id=tg_media_id).first()
        return None if f is None else StoredFile(f.id, f.key, f.size)

    async def by_sha256(self, sha256: str) -> StoredFile | None:
        """The stored file with this content, if any."""
        f = await MediaFile.get_or_none(sha256=sha256)
        return None if f is None else StoredFile(f.id, f.key, f.size)

    async def add_file(
        self, *, sha256: str, size: int, mime_type: str | None, tg_media_id: int, key: str
    ) -> StoredFile:
        """The `media_file` row of this content: created, or the one already there (the
        same bytes under another media id; its key is kept)."""
        f = await MediaFile.get_or_none(sha256=sha256)
        if f is None:
            try:
                f = await MediaFile.create(
                    sha256=sha256, size=size, mime_type=mime_type,
                    tg_media_id=tg_media_id, key=key,
                )
            except IntegrityError:  # created meanwhile by another download
                f = await MediaFile.get(sha256=sha256)
        return StoredFile(f.id, f.key, f.size)

    async def done(self, row_id: int, tg_media_id: int, file_id: int, size: int) -> bool:
        """Row `row_id` done with stored file `file_id`, and every queued row with the
        same media id too; False when the row no longer is this media id's download
        (the message's media was edited: `changed` makes it the new media's)."""
        async with in_transaction("default"):
            got = await MediaDownload.filter(
                id=row_id, tg_media_id=tg_media_id, status=DOWNLOADING
            ).update(
                status=DONE, file_id=file_id, bytes_done=size, reason=None,
                next_try_at=None, updated_at=_now(),
            )
            if got:
                await MediaDownload.filter(tg_media_id=tg_media_id, status=QUEUED).update(
                    status=DONE, file_id=file_id, bytes_done=size, reason=None,
                    next_try_at=None, updated_at=_now(),
                )
        if not got:
            await self.changed(row_id, tg_media_id)
        return bool(got)

    async def skipped(self, row_id: int, reason: str, size: int | None = None) -> None:
        """Row `row_id` skipped (`reason`: too_big ...), with the size Telegram gives."""
        values: dict[str, object] = {"status": SKIPPED, "reason": reason}
        if size is not None:
            values["size"] = size
        await MediaDownload.filter(id=row_id).update(**values, updated_at=_now())

    async def failed(self, row_id: int, reason: str, tg_media_id: int | None = None) -> bool:
        """Row `row_id`, being downloaded (for media `tg_media_id`, when given), failed
        for good: `reason` is Telegram's error name (FILE_ID_INVALID, MESSAGE_DELETED,
        ...). False when the row no longer is that download (its message's media was
        edited meanwhile: it goes back to the queue for the new file, `changed`)."""
        rows = MediaDownload.filter(id=row_id, status=DOWNLOADING)
        if tg_media_id is not None:
            rows = rows.filter(tg_media_id=tg_media_id)
        got = await rows.update(
            status=FAILED, reason=reason[:500], next_try_at=None, updated_at=_now()
        )
        if not got and tg_media_id is not None:
            await self.changed(row_id, tg_media_id)
        return bool(got)

    async def defer(
        self, row_id: int, until: datetime | None, reason: str | None = None,
        tg_media_id: int | None = None,
    ) -> bool:
        """Row `row_id` back to queued, not before `until` (None: at once); `reason`
        says why it waits (FLOOD_WAIT, network...), shown until it is done. With
        `tg_media_id`: only while the row is that media's download (else `changed`)."""
        rows = MediaDownload.filter(id=row_id, status=DOWNLOADING)
        if tg_media_id is not None:
            rows = rows.filter(tg_media_id=tg_media_id)
        if await rows.filter(reason__in=SET_ASIDE).update(
            status=SKIPPED, next_try_at=None, bytes_done=0, updated_at=_now()
        ):  # set aside while it was downloaded: not queued again
            return True
        got = await rows.update(
            status=QUEUED, next_try_at=until, reason=reason, updated_at=_now()
        )
        if not got and tg_media_id is not None:
            await self.changed(row_id, tg_media_id)
        return bool(got)

    async def current(self, row_id: int, tg_media_id: int) -> bool:
        """Row `row_id` is still being downloaded for media `tg_media_id` and still
        wanted (not set aside meanwhile: SET_ASIDE)."""
        return await MediaDownload.filter(
            Q(reason__isnull=True) | ~Q(reason__in=SET_ASIDE),
            id=row_id, status=DOWNLOADING, tg_media_id=tg_media_id,
        ).exists()

    async def set_aside(self, row_ids: Collection[int]) -> set[int]:
        """Which of the rows `row_ids` (being downloaded) were set aside meanwhile
        (SET_ASIDE: the channel's policy no longer keeps them): their downloads stop."""
        if not row_ids:
            return set()
        got = await MediaDownload.filter(
            id__in=list(row_ids), status=DOWNLOADING, reason__in=SET_ASIDE
        ).values_list("id", flat=True)
        return {int(i) for i in got}  # type: ignore[call-overload]

    async def changed(self, row_id: int, old_media_id: int) -> bool:
        """Row `row_id`, being downloaded for `old_media_id`, names another media id now
        (the enqueue recorded an edited media; db/media.py leaves its status alone):
        it becomes what the enqueue decided for the new file -- done when `file_id`
        is set (stored already), skipped when its reason is too_big, else queued at
        once (bytes_done 0). A row set aside meanwhile (SET_ASIDE, the same media id)
        becomes skipped with its reason. False: the row is not such a row."""
        row = await MediaDownload.get_or_none(id=row_id, status=DOWNLOADING)
        if row is None or (row.tg_media_id == old_media_id and row.reason not in SET_ASIDE):
            return False
        file_id = row.file_id  # type: ignore[attr-defined]  # Tortoise's FK column
        values: dict[str, object]
        if file_id is not None:
            values = {"status": DONE, "bytes_done": row.size or 0, "reason": None}
        elif row.reason in SET_ASIDE:
            values = {"status": SKIPPED, "bytes_done": 0}
        else:
            values = {"status": QUEUED, "bytes_done": 0, "reason": None}
        got = await MediaDownload.filter(
            id=row_id, status=DOWNLOADING, tg_media_id=row.tg_media_id
        ).update(**values, next_try_at=None, updated_at=_now())
        return bool(got)

    async def progress(self, row_id: int, bytes_done: int, tg_media_id: int | None = None) -> None:
        """Bytes of row `row_id`'s file on disk so far (while it names `tg_media_id`)."""
        rows = MediaDownload.filter(id=row_id)
        if tg_media_id is not None:
            rows = rows.filter(tg_media_id=tg_media_id)
        await rows.update(bytes_done=bytes_done)

    async def unused_file(self, file_id: int) -> bool:
        """Delete `media_file` row `file_id` when no download links to it; True if so
        (the caller deletes the stored file)."""
        if await MediaDownload.exists(file_id=file_id):
            return False
        return bool(await MediaFile.filter(id=file_id).delete())

    async def update_ref(self, row_id: int, ref: MediaRef) -> None:
        """Store a fresh location of row `row_id`'s file (read again from its message);
        a different media id (the media was edited) starts it over (bytes_done 0)."""
        values: dict[str, object] = {
            "access_hash": ref.access_hash, "file_reference": ref.file_reference.hex(),
            "dc_id": ref.dc_id,
        }
        row = await MediaDownload.get_or_none(id=row_id)
        if row is not None and row.tg_media_id != ref.tg_id:
            values.update(
                tg_media_id=ref.tg_id, kind=ref.kind, thumb=ref.thumb, size=ref.size,
                mime_type=ref.mime_type, file_name=ref.file_name, bytes_done=0,
            )
        await MediaDownload.filter(id=row_id).update(**values, updated_at=_now())

    async def release(self, row_ids: Collection[int]) -> None:
        """Rows being downloaded when the service stops go back to queued at once (a
        row whose media was edited meanwhile: as `changed` decides)."""
        for row_id in row_ids:
            row = await MediaDownload.get_or_none(id=row_id, status=DOWNLOADING)
            if row is None:
                continue
            if row.file_id is not None or row.reason in SET_ASIDE:  # type: ignore[attr-defined]
                await self.changed(row_id, -1)
            else:
                await MediaDownload.filter(id=row_id, status=DOWNLOADING).update(status=QUEUED)

    async def partial_keys_in_use(self, keep_failed: timedelta = timedelta(hours=24)) -> set[str]:
        """The partial keys of the rows still to download (queued or downloading), and
        of the failed ones a re-read may still queue again: failed for a reason a
        re-read can cure (db/media.py KEEP_PARTIAL) less than `keep_failed` (the refresh
        window) ago -- a post the refresh window still re-reads. Not those of rows set
        aside (skipped not_kept: kept again, the file starts from byte 0)."""
        rows = await MediaDownload.filter(
            Q(status__in=(QUEUED, DOWNLOADING))
            | Q(status=FAILED, reason__in=KEEP_PARTIAL, updated_at__gte=_now() - keep_failed)
        ).values_list("id", "tg_media_id")
        return {f"partial/{row_id}-{media_id}" for row_id, media_id in rows}

    async def counts(self) -> MediaCounts:
        """Rows by status, stored files and the bytes they take (each content once)."""
        by: dict[str, int] = dict.fromkeys((QUEUED, DOWNLOADING, DONE, SKIPPED, FAILED), 0)
        grouped = (
            await MediaDownload.annotate(n=Count("id"))
            .group_by("status")
            .values_list("status", "n")
        )
        for status, n in grouped:
            by[str(status)] = int(n)
        totals = await MediaFile.annotate(n=Count("id"), total=Sum("size")).values_list(
            "n", "total"
        )
        files, size = (int(totals[0][0] or 0), int(totals[0][1] or 0)) if totals else (0, 0)
        return MediaCounts(
            queued=by[QUEUED], downloading=by[DOWNLOADING], done=by[DONE],
            skipped=by[SKIPPED], failed=by[FAILED], files=files, bytes_on_disk=size,
        )
