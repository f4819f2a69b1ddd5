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
- with `zip`: `<basename>.media.partNNN.zip`, the files as they are (stored, not
  compressed again), each part at most the upload limit; names inside
  `<channel>/<msg_id>_<original name or kind>.<ext>` (core/file_names.py: readable,
  safe everywhere, 143 bytes at most). A file larger than a part can hold stays on
  disk and the list names its path.
"""

from __future__ import annotations

import asyncio
import zipfile
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.file_names import media_file_name, safe_name
from core.media import MEDIA_KINDS, DownloadStatus, StoredMedia
from core.ports import MediaStore
from db import media_files
from services.export.parts import PART_MARGIN, zip_cut

MEDIA_ZIP = "zip"
MEDIA_PATHS = "paths"
# Bytes a zip entry costs besides its data: local header, zip64 extra, data
# descriptor, central directory entry (twice the name), with room to spare.
ENTRY_OVERHEAD = 200
HEADER = "channel\tmsg_id\tkind\tstatus\tsize\twhere\n"


@dataclass(frozen=True)
class MediaExport:
    """What an export's media added: `files` to upload after the export's own,
    `zipped` files in `parts` zip parts, `listed` files in the list."""

    files: tuple[Path, ...] = ()
    zipped: int = 0
    parts: int = 0
    listed: int = 0


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
    budget = limit - PART_MARGIN
    list_path = out_dir / f"{basename}.media.tsv"
    zips: list[Path] = []
    zf: zipfile.ZipFile | None = None
    used = 0
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
                    where = str(path)
                    arcname = f"{folder}/{name}"
                    cost = path.stat().st_size + 2 * len(arcname.encode()) + ENTRY_OVERHEAD
                    if mode == MEDIA_ZIP and cost <= budget:
                        if zf is None or used + cost > budget:
                            if zf is not None:
                                zf.close()
                            zips.append(out_dir / f"{basename}.media.part{len(zips) + 1:03d}.zip")
                            zf = zipfile.ZipFile(zips[-1], "w", zipfile.ZIP_STORED)
                            used = 0
                        zf.write(path, arcname)
                        used += cost
                        zipped += 1
                        where = f"{zips[-1].name}:{arcname}"
                row = (folder, msg_id, kind, status, size, where)
                out.write("\t".join(_field(f) for f in row) + "\n")
                ends.append(out.tell())
    finally:
        if zf is not None:
            zf.close()
    files: list[Path] = []
    if list_path.stat().st_size <= limit:
        files.append(list_path)
    else:
        files.extend(zip_cut(list_path, ends, out_dir, f"{basename}.media-list", limit))
    files.extend(zips)
    return MediaExport(tuple(files), zipped, len(zips), collector.count)
