"""The media download queue, enqueue side: a batch's media files become `media_download`
rows in the transaction that stores the batch's messages (db/messages.py store_batch).

One row per (channel row, msg_id), written by ONE `INSERT ... ON CONFLICT (channel_id,
msg_id) DO UPDATE` per batch (SQLite: over a JSON array; PostgreSQL: over one array per
column), the way messages are. What each row becomes:

- new: `done` at once with that file when a file is stored under the same Telegram
  media id (`media_file.tg_media_id`, or a `done` row with that id): the same picture
  re-posted in ten channels is downloaded once (also over the cap: nothing is
  fetched); else `skipped` (reason "too_big", the size kept) over the policy's cap;
  else `queued`.
- read again (the refresh window), same media id, not done: the location (file
  reference, access hash, DC) is the fresh one; a skipped row is decided again (the
  cap may have changed), a queued one too when it is now done (a stored file) or
  skipped (else it keeps its wait: next_try_at, reason); a failed one becomes done only
  through a stored file; one being downloaded keeps its status. A done row is not
  touched.
- read again with another media id (the media was edited): decided as new with the
  new location (bytes_done 0, attempts 0, no file, no reason); a row being downloaded
  keeps its status (its reason/file_id say the decision: the downloader applies it when
  it sees the row names another media id, db/media_queue.py `changed`).
- a failed row read again with a fresh file reference, failed for a reason that may
  pass (RETRY_ON_REREAD: FILE_REFERENCE_EXPIRED, CHANNEL_PRIVATE, ...): queued again.

The db/media_queue.py side (claiming, marking done/failed) is the downloader's.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.media import MEDIA_KINDS, DownloadStatus, MediaPolicy, MediaRef
from db.models import MediaDownload

QUEUED, DONE, SKIPPED = DownloadStatus.QUEUED, DownloadStatus.DONE, DownloadStatus.SKIPPED
DOWNLOADING = DownloadStatus.DOWNLOADING
TOO_BIG = "too_big"
# Skipped because the channel's policy no longer keeps the kind (mode off, photos only,
# a kind unticked): kept with its location, queued again when the kind is kept again.
NOT_KEPT = "not_kept"
# Failed reasons a fresh file reference (a re-read of the message) may cure: such a row
# is queued again by a re-read bringing another file reference than the row's.
RETRY_ON_REREAD = (
    "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID", "FILE_REFERENCE_EMPTY",
    "FILEREF_UPGRADE_NEEDED", "MESSAGE_DELETED", "MEDIA_GONE", "CHANNEL_PRIVATE",
    "CHANNEL_INVALID", "PEER_ID_INVALID", "SIZE_MISMATCH",
)  # fmt: skip
# Of those, the reasons a re-read can cure (a stale reference, a channel to find again):
# only these keep a failed row's partial file, to resume from (a deleted post or a
# media removed by an edit is never queued again for the same file: its partial goes).
KEEP_PARTIAL = (
    "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID", "FILE_REFERENCE_EMPTY",
    "FILEREF_UPGRADE_NEEDED", "CHANNEL_PRIVATE", "CHANNEL_INVALID", "PEER_ID_INVALID",
)  # fmt: skip
# Errors of the data (a value the database refuses), not of the database: the batch's
# messages are committed without their files rather than the run failing on them. A
# full disk or a locked database (sqlite3.OperationalError, asyncpg's resource errors)
# still fails the batch, as it does for the messages alone.
_SQLITE_REFUSED = (
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
    sqlite3.ProgrammingError, ValueError, TypeError, OverflowError,
)  # fmt: skip
_PG_REFUSED = (IntegrityError, OperationalError, ValueError, TypeError, OverflowError)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaBatch:
    """The files of one batch of messages to queue: `refs` (msg_id, MediaRef) of the
    messages whose kind `policy` wants (the caller filters by `policy.wants`: this
    module applies the cap); `from_discussion`: the messages are comments, stored under
    the discussion group's row (their policy is the parent channel's)."""

    refs: Sequence[tuple[int, MediaRef]]
    policy: MediaPolicy
    from_discussion: bool = False


# The per-row values, in order (SQLite: one JSON array per row; PostgreSQL: one array
# per value), with their PostgreSQL types.
_VALUES = (
    ("msg_id", "bigint"), ("kind", "text"), ("tg", "bigint"), ("hash", "bigint"),
    ("ref", "text"), ("dc", "int"), ("thumb", "text"), ("size", "bigint"),
    ("mime", "text"), ("name", "text"), ("big", "boolean"),
)  # fmt: skip
_COLUMNS = (
    "channel_id, msg_id, from_discussion, kind, tg_media_id, access_hash, file_reference,"
    " dc_id, thumb, size, mime_type, file_name, status, reason, attempts, bytes_done,"
    " file_id, created_at, updated_at"
)
_T = "media_download"
# Another media id than the stored one: the media was edited.
_EDITED = f"{_T}.tg_media_id <> excluded.tg_media_id"
# The rows whose state the fresh decision (excluded's status, reason, file) replaces:
# edited media; a skipped row (the cap may have changed); a queued one that is now
# done (a stored file) or skipped (a lower cap), else it keeps its wait (next_try_at,
# reason: a flood wait's); a failed one when now done, or when it failed for a reason
# a fresh file reference may cure (RETRY_ON_REREAD) and this re-read brings one.
_RETRYABLE = ", ".join(f"'{r}'" for r in RETRY_ON_REREAD)
_DECIDED = (
    f"({_EDITED} OR {_T}.status = '{SKIPPED}'"
    f" OR ({_T}.status = '{QUEUED}' AND excluded.status <> '{QUEUED}')"
    f" OR ({_T}.status = 'failed' AND (excluded.status = '{DONE}'"
    f" OR ({_T}.reason IN ({_RETRYABLE})"
    f" AND excluded.file_reference <> {_T}.file_reference))))"
)
# A row being downloaded keeps its status even when its media was edited: the
# downloader finishes it only while it names the media it fetches (db/media_queue.py
# `changed` then makes it what reason/file_id, decided here, say). One download a row.
_STATUS = (
    f"CASE WHEN {_T}.status = '{DOWNLOADING}' THEN {_T}.status"
    f" WHEN {_DECIDED} THEN excluded.status ELSE {_T}.status END"
)
_CONFLICT = (
    "ON CONFLICT (channel_id, msg_id) DO UPDATE SET "
    + ", ".join(
        [f"{c} = excluded.{c}" for c in (
            "kind", "tg_media_id", "access_hash", "file_reference", "dc_id", "thumb",
            "size", "mime_type", "file_name", "updated_at",
        )]
        + [f"status = {_STATUS}"]
        + [f"{c} = CASE WHEN {_DECIDED} THEN excluded.{c} ELSE {_T}.{c} END"
           for c in ("reason", "file_id")]
        + [f"{c} = CASE WHEN {_EDITED} THEN {v} ELSE {_T}.{c} END"
           for c, v in (("bytes_done", "0"), ("attempts", "0"), ("next_try_at", "NULL"))]
    )
    + f" WHERE {_T}.status <> '{DONE}' OR {_EDITED}"
)  # fmt: skip


def _decided(src: str, twin: str) -> str:
    """status, reason and file_id of a row as new, given `twin` (the file of a done row
    with the same media id, or NULL) and `src`.big (over the cap)."""
    return (
        f"CASE WHEN {twin} IS NOT NULL THEN '{DONE}' WHEN {src}.big THEN '{SKIPPED}'"
        f" ELSE '{QUEUED}' END, CASE WHEN {twin} IS NULL AND {src}.big THEN '{TOO_BIG}' END,"
        f" 0, 0, {twin}"
    )


def _twin(tg: str) -> str:
    """The stored file of Telegram media id `tg`: the file first stored under it, else
    the file of a done row with it (another id with the same content); NULL: none."""
    return (
        f"COALESCE((SELECT f.id FROM media_file f WHERE f.tg_media_id = {tg} LIMIT 1),"
        f" (SELECT d.file_id FROM {_T} d WHERE d.tg_media_id = {tg}"
        f" AND d.status = '{DONE}' AND d.file_id IS NOT NULL LIMIT 1))"
    )


def _sqlite_sql() -> str:
    # ?1 channel_id, ?2 from_discussion, ?3 now, ?4 a JSON array of rows (_VALUES).
    def pick(i: int) -> str:
        if sqlite3.sqlite_version_info >= (3, 38):
            return f"value ->> {i}"
        return f"json_extract(value, '$[{i}]')"

    cols = ", ".join(f"{pick(i)} AS {name}" for i, (name, _) in enumerate(_VALUES))
    # Materialized, so the stored-file lookup runs once per row (a subquery in FROM is
    # flattened into each of the three places that read `twin`: 3x the lookups).
    materialized = "MATERIALIZED " if sqlite3.sqlite_version_info >= (3, 35) else ""
    return (
        f"WITH v AS {materialized}(SELECT {cols}, {_twin(pick(2))} AS twin"
        f" FROM json_each(?4)) "
        f"INSERT INTO {_T} ({_COLUMNS}) "
        f"SELECT ?1, v.msg_id, ?2, v.kind, v.tg, v.hash, v.ref, v.dc, v.thumb, v.size,"
        f" v.mime, v.name, {_decided('v', 'v.twin')}, ?3, ?3 "
        f"FROM v WHERE true {_CONFLICT}"
    )


def _pg_sql() -> str:
    # $1 channel_id, $2 from_discussion, $3 now, then one array per _VALUES entry.
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(_VALUES, 4))
    names = ", ".join(name for name, _ in _VALUES)
    return (
        f"WITH v AS MATERIALIZED (SELECT u.*, {_twin('u.tg')} AS twin"
        f" FROM unnest({arrays}) AS u({names})) "
        f"INSERT INTO {_T} ({_COLUMNS}) "
        f"SELECT $1, v.msg_id, $2, v.kind, v.tg, v.hash, v.ref, v.dc, v.thumb, v.size,"
        f" v.mime, v.name, {_decided('v', 'v.twin')}, $3, $3 "
        f"FROM v {_CONFLICT}"
    )


ENQUEUE_SQLITE = _sqlite_sql()
ENQUEUE_PG = _pg_sql()


def _cut(text: str | None, most: int) -> str | None:
    """`text` within `most` characters, without NUL (PostgreSQL's text refuses it)."""
    return text.replace("\x00", "")[:most] or None if text else None


def _values(batch: MediaBatch) -> list[tuple[Any, ...]]:
    """One tuple per ref, in _VALUES order; texts cut to their columns' widths
    (db/models.py MediaDownload: a longer value would fail the batch on PostgreSQL)."""
    policy = batch.policy
    return [
        (
            msg_id, ref.kind[:16], ref.tg_id, ref.access_hash,
            ref.file_reference.hex()[:512], ref.dc_id, _cut(ref.thumb, 8), ref.size,
            _cut(ref.mime_type, 128), _cut(ref.file_name, 255), policy.too_big(ref.size),
        )
        for msg_id, ref in batch.refs
    ]  # fmt: skip


def enqueue_sqlite(raw: sqlite3.Connection, channel_id: int, batch: MediaBatch, now: str) -> None:
    """Queue `batch` under channel row `channel_id` on the raw sqlite3 connection, inside
    the caller's transaction (db/messages.py store_batch's); `now`: the batch's fetch
    time as the messages store it. Values the database refuses are logged and the
    files left out (a savepoint): the messages are never lost to their files."""
    if not batch.refs:
        return
    raw.execute("SAVEPOINT media_enqueue")
    try:
        payload = json.dumps(_values(batch), ensure_ascii=False, separators=(",", ":"))
        raw.execute(ENQUEUE_SQLITE, (channel_id, int(batch.from_discussion), now, payload))
    except _SQLITE_REFUSED:
        raw.execute("ROLLBACK TO media_enqueue")
        _refused(channel_id, batch)
    raw.execute("RELEASE media_enqueue")


async def enqueue_pg(tx: Any, channel_id: int, batch: MediaBatch, now: Any) -> None:
    """Queue `batch` under channel row `channel_id` in the caller's transaction `tx`
    (PostgreSQL); `now`: the batch's fetch time (a datetime). Values the database
    refuses are logged and the files left out (a savepoint), as `enqueue_sqlite`."""
    if not batch.refs:
        return
    await tx.execute_query("SAVEPOINT media_enqueue")
    try:
        columns = [list(c) for c in zip(*_values(batch), strict=True)]
        await tx.execute_query(ENQUEUE_PG, [channel_id, batch.from_discussion, now, *columns])
    except _PG_REFUSED:
        await tx.execute_query("ROLLBACK TO SAVEPOINT media_enqueue")
        _refused(channel_id, batch)
    await tx.execute_query("RELEASE SAVEPOINT media_enqueue")


def _refused(channel_id: int, batch: MediaBatch) -> None:
    """Log a batch of files the database refused (their messages are stored)."""
    ids = [msg_id for msg_id, _ in batch.refs]
    log.exception(
        "the files of %d messages of channel row %d (ids %d..%d) were not queued",
        len(ids), channel_id, min(ids), max(ids),
    )  # fmt: skip


async def apply_policy(
    own: Sequence[int], comments: Sequence[int], policy: MediaPolicy
) -> tuple[int, int, int]:
    """A channel's new policy applied to its rows not fetched yet: `own` row ids (the
    channel's, its old basic group's: every row), `comments` (its discussion group's:
    the rows read as comments). Queued and skipped "too_big" rows of kinds `policy` no
    longer keeps become skipped "not_kept" (never deleted: kept with their location),
    and skipped "not_kept" rows of kinds it keeps are queued again (a stale file
    reference is refreshed by the downloader); queued rows over its cap become skipped
    "too_big", skipped "too_big" rows under it are queued again. A row being
    downloaded that the policy no longer keeps gets the reason ("not_kept", "too_big")
    with its status: the downloader stops it at its next chunk (or at its end) without
    storing it, and any end of it (a flood wait, a stop, a crash) makes it skipped with
    that reason, never queued (db/media_queue.py); kept again, the reason is cleared.
    Done and failed rows stay. (set aside as not kept, skipped too_big, queued again:
    a row back from not kept and then over the cap is counted in both.)

    One transaction; each UPDATE filters one group of rows by channel row id (the
    (channel_id, msg_id) index), not an OR of the two groups (a scan of every queued
    row of every channel)."""
    groups = []
    if own:
        groups.append(Q(channel_id__in=list(own)))
    if comments:
        groups.append(Q(channel_id__in=list(comments), from_discussion=True))
    unwanted = [k for k in MEDIA_KINDS if not policy.wants(k)]
    wanted = [k for k in MEDIA_KINDS if policy.wants(k)]
    cap = policy.max_bytes
    set_aside = skipped = again = 0
    async with in_transaction("default"):
        for mine in groups:
            rows = MediaDownload.filter(mine)
            if unwanted:
                set_aside += await rows.filter(
                    Q(status=QUEUED) | Q(status=SKIPPED, reason=TOO_BIG), kind__in=unwanted
                ).update(status=SKIPPED, reason=NOT_KEPT, next_try_at=None)
                set_aside += await rows.filter(
                    Q(reason__isnull=True) | Q(reason=TOO_BIG),
                    status=DOWNLOADING, file_id__isnull=True, kind__in=unwanted,
                ).update(reason=NOT_KEPT)
            if wanted:
                again += await rows.filter(
                    status=SKIPPED, reason=NOT_KEPT, kind__in=wanted
                ).update(status=QUEUED, reason=None, next_try_at=None)
                await rows.filter(status=DOWNLOADING, reason=NOT_KEPT, kind__in=wanted).update(
                    reason=None
                )
            if cap:
                skipped += await rows.filter(status=QUEUED, size__gt=cap).update(
                    status=SKIPPED, reason=TOO_BIG
                )
                skipped += await rows.filter(
                    status=DOWNLOADING, reason__isnull=True, file_id__isnull=True,
                    size__gt=cap,
                ).update(reason=TOO_BIG)
                again += await rows.filter(
                    status=SKIPPED, reason=TOO_BIG, size__lte=cap
                ).update(status=QUEUED, reason=None)
                await rows.filter(status=DOWNLOADING, reason=TOO_BIG, size__lte=cap).update(
                    reason=None
                )
            else:
                again += await rows.filter(status=SKIPPED, reason=TOO_BIG).update(
                    status=QUEUED, reason=None
                )
                await rows.filter(status=DOWNLOADING, reason=TOO_BIG).update(reason=None)
    return set_aside, skipped, again
