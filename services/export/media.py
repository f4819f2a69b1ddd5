"""The media of an export's posts (issue #16): zip parts within the upload limit, and a
list of every file (where it is, or why it is not there).

While the export writes its rows, `MediaCollector.add` looks up the media of each
chunk's posts and appends one line per file to a spill file on disk, so a huge export
never holds its media list (nor any file) in memory. `finish` then writes

- `<basename>.media.tsv`: a header and one tab-separated line per file: channel,
  msg_id, kind, status, size (bytes), then where it is: `<part>:<name inside>` when
  zipped, else the path on disk, else why there is none (`too_big`, Telegram's error,
  `not_downloaded`, `missing`); cut into zip parts `<basename>.media-list.partNNN.zip`
  when over the limit;
- with `zip`: the plan of `<basename>.media.partNNN.zip`, the files as they are
  (stored, not compressed again), each part at most the upload limit; names inside
  `<channel>/<msg_id>_<original name or kind>.<ext>` (core/file_names.py: readable,
  safe everywhere, 143 bytes at most). A file larger than a part can hold stays on
  disk and the list names its (absolute) path. `zip_parts` builds the parts one at a
  time while the bot uploads them, each after a free-space check, so an export of
  many GB of media needs room for one part, not for all.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import zipfile
from array import array
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from core.archive import NoRoomForPart
from core.file_names import media_file_name, safe_name
from core.media import MEDIA_KINDS, DownloadStatus, StoredMedia
from core.ports import MediaStore
from db import media_files
from services.export.parts import PART_MARGIN, zip_cut

log = logging.getLogger(__name__)

MEDIA_ZIP = "zip"
MEDIA_PATHS = "paths"
# Bytes a zip entry costs besides its data: local header, zip64 extra, data
# descriptor, central directory entry (twice the name), with room to spare.
ENTRY_OVERHEAD = 200
# The folder of the zip parts' plans: `<basename>.media-plan/NNNNN.tsv`.
PLAN_SUFFIX = ".media-plan"
HEADER = "channel\tmsg_id\tkind\tstatus\tsize\twhere\n"


@dataclass(frozen=True)
class MediaExport:
    """What an export's media added: `files` to upload after the export's own (the
    list), `zipped` files in `parts` zip parts, `listed` files in the list; `plan` the
    folder of the parts' plans and `part_bytes` each part's size, for `zip_parts`."""

    files: tuple[Path, ...] = ()
    zipped: int = 0
    parts: int = 0
    listed: int = 0
    plan: Path | None = None
    part_bytes: tuple[int, ...] = ()


def _field(value: object) -> str:
    """One TSV field: tabs and line breaks become spaces (a path keeps its spaces)."""
    if value is None:
        return ""
    return str(value).translate(_TSV_SAFE)


_TSV_SAFE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def channel_folder(record: Any) -> str:
    """The folder of a channel's files: its @username, else its title and Telegram id
    (titles are not unique), one safe component."""
    if record["username"]:
        return safe_name(str(record["username"]))
    title = str(record["title"] or "").strip()
    return safe_name(f"{title} {record['tg_id']}" if title else str(record["tg_id"]))


class MediaCollector:
    """Collects the media of the exported posts into a spill file under `out_dir`."""

    def __init__(self, out_dir: Path, store: MediaStore) -> None:
        self.spill = out_dir / ".media-spill.tsv"
        self.count = 0
        self._store = store
        self._fh = open(self.spill, "w", encoding="utf-8")  # closed by close()

    async def add(self, records: Iterable[Any]) -> None:
        """The media of `records` (export records: chat_row, msg_id, media_kind, ...)."""
        folders: dict[tuple[int, int], str] = {}
        for r in records:
            if r["media_kind"] in MEDIA_KINDS:
                folders[(r["chat_row"], r["msg_id"])] = channel_folder(r)
        if not folders:
            return
        found = await media_files.media_of_posts(folders)
        lines = [
            self._line(folders[(m.channel_id, m.msg_id)], m, await self._path(m)) for m in found
        ]
        await asyncio.to_thread(self._fh.writelines, lines)
        self.count += len(lines)

    async def _path(self, m: StoredMedia) -> Path | None:
        if m.status != DownloadStatus.DONE or m.key is None:
            return None
        try:
            return await self._store.get(m.key)
        except FileNotFoundError:
            return None

    @staticmethod
    def _line(folder: str, m: StoredMedia, path: Path | None) -> str:
        name = media_file_name(m.msg_id, m.kind, m.file_name, m.mime_type)
        fields = (folder, m.msg_id, m.kind, m.status, m.size, path or "", name, m.reason)
        return "\t".join(_field(f) for f in fields) + "\n"

    def close(self) -> None:
        self._fh.close()


async def finish_media(
    collector: MediaCollector, mode: str, out_dir: Path, basename: str, limit: int
) -> MediaExport:
    """Write the list (and with `mode` "zip" the zip parts) of what `collector` found;
    the spill file is removed. Zipping runs in a worker thread, a file at a time."""
    collector.close()
    try:
        if collector.count == 0:
            return MediaExport()
        return await asyncio.to_thread(_write, collector, mode, out_dir, basename, limit)
    finally:
        collector.spill.unlink(missing_ok=True)


def _write(
    collector: MediaCollector,
    mode: str,
    out_dir: Path,
    basename: str,
    limit: int,
) -> MediaExport:
    """The list, and with `mode` "zip" the plan of each zip part (which files, under
    which names): the parts themselves are built one at a time by `zip_parts` while
    they are uploaded, so the work folder never holds more than one."""
    budget = limit - PART_MARGIN
    list_path = out_dir / f"{basename}.media.tsv"
    plan_dir = out_dir / f"{basename}{PLAN_SUFFIX}"
    plan: TextIO | None = None
    part_bytes: list[int] = []
    zipped = 0
    ends = array("q")
    try:
        with open(collector.spill, encoding="utf-8") as src, open(
            list_path, "w", encoding="utf-8"
        ) as out:
            out.write(HEADER)
            out.flush()
            ends.append(out.tell())
            for line in src:
                folder, msg_id, kind, status, size, local, name, reason = (
                    line.rstrip("\n").split("\t")
                )
                where = reason or ("not_downloaded" if status != DownloadStatus.DONE else "")
                path = Path(local) if local else None
                if status == DownloadStatus.DONE and path is None:
                    where = "missing"
                if path is not None:
                    where = str(path.resolve())  # absolute: the reader knows no cwd
                    arcname = f"{folder}/{name}"
                    try:
                        cost = path.stat().st_size + 2 * len(arcname.encode()) + ENTRY_OVERHEAD
                    except OSError:  # removed since it was looked up
                        cost, where = budget + 1, "missing"
                    if mode == MEDIA_ZIP and cost <= budget:
                        if plan is None or part_bytes[-1] + cost > budget:
                            if plan is None:
                                plan_dir.mkdir(exist_ok=True)
                            else:
                                plan.close()
                            part_bytes.append(0)
                            plan = open(  # closed below
                                _plan_path(plan_dir, len(part_bytes)), "w", encoding="utf-8"
                            )
                        plan.write(f"{local}\t{arcname}\n")
                        part_bytes[-1] += cost
                        zipped += 1
                        where = f"{_part_name(basename, len(part_bytes))}:{arcname}"
                row = (folder, msg_id, kind, status, size, where)
                out.write("\t".join(_field(f) for f in row) + "\n")
                ends.append(out.tell())
    finally:
        if plan is not None:
            plan.close()
    files: list[Path] = []
    if list_path.stat().st_size <= limit:
        files.append(list_path)
    else:
        files.extend(zip_cut(list_path, ends, out_dir, f"{basename}.media-list", limit))
    return MediaExport(
        tuple(files), zipped, len(part_bytes), collector.count,
        plan_dir if part_bytes else None, tuple(part_bytes),
    )


def _plan_path(plan_dir: Path, part: int) -> Path:
    return plan_dir / f"{part:05d}.tsv"


def _part_name(basename: str, part: int) -> str:
    return f"{basename}.media.part{part:03d}.zip"


async def zip_parts(
    plan_dir: Path,
    part_bytes: tuple[int, ...],
    min_free: int = 0,
    free: Callable[[Path], int] | None = None,
) -> AsyncIterator[Path]:
    """The media zip parts `_write` planned, built one at a time in `plan_dir`'s folder
    (in a worker thread): each is yielded, and deleted when the caller asks for the
    next one (or stops), so one part at a time takes room. Before a part is written,
    the free space there (`free(folder)`: bytes; shutil.disk_usage by default) must hold
    the part plus `min_free` bytes (MIN_FREE_DISK_MB): else NoRoomForPart, as on a
    full disk (ENOSPC, EDQUOT) while writing; nothing of that part is left then.
    A file removed from the media folder since the export looked is left out."""
    out_dir = plan_dir.parent
    basename = plan_dir.name.removesuffix(PLAN_SUFFIX)
    folder = await asyncio.to_thread(out_dir.parent.resolve)
    measure = free or _free_bytes
    parts = len(part_bytes)
    for n, size in enumerate(part_bytes, 1):
        dest = out_dir / _part_name(basename, n)
        have = await asyncio.to_thread(measure, out_dir)
        if have < size + min_free:
            raise NoRoomForPart(folder, n, parts, size + min_free, have)
        try:
            await asyncio.to_thread(_zip_planned, _plan_path(plan_dir, n), dest)
        except OSError as exc:
            await asyncio.to_thread(dest.unlink, True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            have = await asyncio.to_thread(measure, out_dir)
            raise NoRoomForPart(folder, n, parts, size + min_free, have) from exc
        try:
            yield dest
        finally:
            await asyncio.to_thread(dest.unlink, True)


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _zip_planned(plan: Path, dest: Path) -> None:
    """Zip the files `plan` lists (`<path>\t<name inside>` lines) into `dest`, stored
    as they are. Blocking: run in a thread."""
    with open(plan, encoding="utf-8") as src, zipfile.ZipFile(
        dest, "w", zipfile.ZIP_STORED
    ) as zf:
        for line in src:
            local, arcname = line.rstrip("\n").split("\t")
            try:
                zf.write(local, arcname)
            except FileNotFoundError:
                log.warning("export: %s is no longer on disk: left out of %s", local, dest.name)
