"""Streaming export of stored messages to a file (or zip parts) on disk.

Rows are read in chunks by keyset pagination (db.export.iter_records), written
straight to a file and forgotten, so memory stays flat whatever the size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from core.archive import ExportFormat, ExportQuery, ExportResult
from core.ports import MediaStore
from db.export import comment_parents, iter_records
from db.versions import versions_of
from services.export.match import keyword_match
from services.export.media import MediaCollector, finish_media
from services.export.parts import PartWriter, finish, part_budget

# Called with the number of rows written so far.
ProgressCallback = Callable[[int], Awaitable[None]]


async def export_messages(
    query: ExportQuery,
    fmt: ExportFormat,
    out_dir: Path,
    basename: str,
    limit_bytes: int,
    progress: ProgressCallback | None = None,
    progress_every: int = 50_000,
    chunk: int = 2000,
    *,
    media: str = "",
    store: MediaStore | None = None,
) -> ExportResult:
    """Write the messages `query` selects under `out_dir` as `fmt`.

    One file `<basename>.<suffix>` when it fits `limit_bytes`, else `<basename>.zip` when
    that fits, else zip parts `<basename>.partNNN.zip` of at most `limit_bytes` bytes
    each, cut by their compressed size; no file when nothing matched (`rows == 0`). `progress`
    is awaited each time another `progress_every` rows are written. Formatting and
    writing run in a worker thread one chunk (`chunk` rows) at a time (a row costs
    ~20-60 us of CPU), so the event loop stays free for the bot and the scheduler.
    Raises OSError when the disk refuses; files already written stay in `out_dir`
    (the caller owns and removes it).

    `media` "zip" or "paths" (with the `store` the files are in) adds the posts' media:
    the list `<basename>.media.tsv` after the rows' files and, for "zip", the plan of the
    zip parts `<basename>.media.partNNN.zip` (`media_plan`, `media_part_bytes`), built
    one at a time by services/export/media.py `zip_parts` while they are uploaded.
    """
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    match = keyword_match(query.keyword)
    parents = await comment_parents()
    parts = PartWriter(
        fmt, out_dir, basename, part_budget(limit_bytes), query.tz, parents, query.versions
    )
    rows = 0
    collector = MediaCollector(out_dir, store) if media and store is not None else None
    try:
        async for records in iter_records(query, chunk, match):
            if not records:
                continue
            if collector is not None:
                await collector.add(records)
            if query.versions:  # one query per chunk (and chat in it)
                found = await versions_of((r["chat_row"], r["msg_id"]) for r in records)
                if found:
                    records = [
                        {**r, "versions": found.get((r["chat_row"], r["msg_id"]))}
                        for r in records
                    ]
            await asyncio.to_thread(parts.write_records, records)
            before, rows = rows, rows + len(records)
            if progress is not None and rows // progress_every > before // progress_every:
                await progress(rows)
    finally:
        # Closing an .xlsx assembles the whole file: off the event loop.
        await asyncio.to_thread(parts.close)
        if collector is not None:
            collector.close()
    result = await asyncio.to_thread(
        finish, parts.paths, rows, out_dir, basename, fmt, limit_bytes, parts.ends
    )
    if collector is None:
        return result
    added = await finish_media(collector, media, out_dir, basename, limit_bytes)
    return replace(
        result,
        files=result.files + added.files,
        media_listed=added.listed,
        media_zipped=added.zipped,
        media_parts=added.parts,
        media_plan=added.plan,
        media_part_bytes=added.part_bytes,
    )
