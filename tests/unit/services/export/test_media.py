"""/export with the posts' media (#16): zip parts within the upload limit with readable,
safe names, and the list of where every file is (or why it is not there)."""

from __future__ import annotations

import datetime as dt
import errno
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.archive import ExportFormat, ExportQuery, NoRoomForPart
from core.file_names import MAX_NAME_BYTES, media_file_name, safe_name
from db.models import Channel, MediaDownload, MediaFile, Message
from services.export import export_messages
from services.export.media import zip_parts
from tests.unit.export_fixtures import BASE

KB = 1024
LIMIT = 256 * KB  # the upload limit of these exports


class DirStore:
    """A MediaStore's `get` over a folder (the export only reads)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def get(self, key: str) -> Path:
        path = self.root / key
        if not path.exists():
            raise FileNotFoundError(key)
        return path


async def _seed(root: Path) -> Channel:
    ch = await Channel.create(tg_id=1001, username=None, title="Новости/Срочно")
    sizes = {1: 100 * KB, 2: 120 * KB, 3: 90 * KB, 4: 300 * KB, 5: 50 * KB}
    names = {1: "Отчёт за март.pdf", 2: None, 3: "a\x07b:" + "я" * 100 + ".mp4", 4: "big.zip"}
    for msg_id in range(1, 9):
        kind = "photo" if msg_id in (2, 5) else "document"
        await Message.create(channel=ch, msg_id=msg_id, date=BASE + dt.timedelta(minutes=msg_id),
                             text=f"post {msg_id}", media_kind=kind if msg_id <= 7 else None)
        if msg_id > 7:
            continue
        size = sizes.get(msg_id, 10)
        common = dict(channel=ch, msg_id=msg_id, kind=kind, tg_media_id=msg_id, access_hash=1,
                      dc_id=2, size=size, file_name=names.get(msg_id))
        if msg_id <= 5:
            key = f"{msg_id:02d}/{msg_id:02d}/{msg_id}.bin"
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(bytes([msg_id]) * size)
            f = await MediaFile.create(sha256=f"{msg_id:064d}", size=size, key=key)
            await MediaDownload.create(status="done", file=f, **common)
        elif msg_id == 6:
            await MediaDownload.create(status="skipped", reason="too_big", **common)
        else:
            await MediaDownload.create(status="failed", reason="FILE_ID_INVALID", **common)
    return ch


async def test_media_zip_parts_within_the_limit(db: Path, tmp_path: Path) -> None:
    root = tmp_path / "media"
    await _seed(root)
    out = tmp_path / "out"
    result = await export_messages(
        ExportQuery(), ExportFormat.CSV, out, "x", LIMIT, media="zip", store=DirStore(root)
    )  # type: ignore[arg-type]
    assert result.rows == 8 and result.media_listed == 7
    names = [p.name for p in result.files]
    assert names == ["x.csv", "x.media.tsv"]  # the media parts come one at a time
    assert result.media_parts >= 2 and result.media_zipped == 4  # 4: too big
    assert not list(out.glob("*.zip"))
    assert result.media_plan is not None
    inside: list[str] = []
    seen: list[str] = []
    async for part in zip_parts(result.media_plan, result.media_part_bytes):
        assert [p.name for p in out.glob("*.media.part*.zip")] == [part.name]  # one at a time
        seen.append(part.name)
        assert part.stat().st_size <= LIMIT
        with zipfile.ZipFile(part) as zf:
            assert zf.testzip() is None
            inside += zf.namelist()
    assert len(seen) == result.media_parts and not list(out.glob("*.zip"))
    folder = "Новости_Срочно 1001"
    assert f"{folder}/1_Отчёт за март.pdf" in inside and f"{folder}/2_photo.jpg" in inside
    for name in inside:
        leaf = name.split("/")[1]
        assert len(leaf.encode()) <= MAX_NAME_BYTES and "\x07" not in leaf and ":" not in leaf
    listing = (out / "x.media.tsv").read_text(encoding="utf-8").splitlines()
    assert listing[0].split("\t") == ["channel", "msg_id", "kind", "status", "size", "where"]
    rows = {r.split("\t")[1]: r.split("\t") for r in listing[1:]}
    # Over a part: named by its absolute path (the reader knows no working directory).
    assert rows["4"][5] == str((root / "04/04/4.bin").resolve())
    assert rows["6"][3:] == ["skipped", "10", "too_big"]
    assert rows["7"][5] == "FILE_ID_INVALID"
    assert rows["1"][5] == f"x.media.part001.zip:{folder}/1_Отчёт за март.pdf"
    assert not (out / ".media-spill.tsv").exists()


async def test_a_part_without_room_is_not_written(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "media"
    await _seed(root)
    out = tmp_path / "work" / "export-1"
    result = await export_messages(
        ExportQuery(), ExportFormat.CSV, out, "x", LIMIT, media="zip", store=DirStore(root)
    )  # type: ignore[arg-type]
    assert result.media_plan is not None and len(result.media_part_bytes) >= 2
    first = result.media_part_bytes[0]
    # Room for the first part and MIN_FREE_DISK_MB (1 MB here), then less.
    room = iter([first + 1024 * KB, 10 * KB, 10 * KB])
    parts = zip_parts(result.media_plan, result.media_part_bytes, 1024 * KB, lambda _: next(room))
    sent = [p.name async for p in _upto(parts, 1)]
    with pytest.raises(NoRoomForPart) as no_room:
        await anext(parts)
    err = no_room.value
    assert (err.part, err.parts) == (2, len(result.media_part_bytes))
    assert err.folder == (tmp_path / "work").resolve() and err.free == 10 * KB
    assert err.needed == result.media_part_bytes[1] + 1024 * KB
    assert sent == ["x.media.part001.zip"] and not list(out.glob("*.zip"))  # nothing left
    # The disk fills while a part is written (a quota, a disk the probe overstates).
    import services.export.media as media_mod

    def full(plan: Path, dest: Path) -> None:
        dest.write_bytes(b"PK" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(media_mod, "_zip_planned", full)
    with pytest.raises(NoRoomForPart) as no_room:
        await anext(zip_parts(result.media_plan, result.media_part_bytes))
    assert no_room.value.part == 1 and not list(out.glob("*.zip"))


async def _upto(parts: AsyncIterator[Path], n: int) -> AsyncIterator[Path]:
    """The first `n` of `parts`, without closing it (the next is asked for later)."""
    for _ in range(n):
        yield await anext(parts)


async def test_media_paths_only(db: Path, tmp_path: Path) -> None:
    root = tmp_path / "media"
    await _seed(root)
    result = await export_messages(
        ExportQuery(), ExportFormat.JSONL, tmp_path / "o", "y", LIMIT, media="paths",
        store=DirStore(root),  # type: ignore[arg-type]
    )
    assert [p.name for p in result.files] == ["y.jsonl", "y.media.tsv"]
    assert (result.media_listed, result.media_zipped, result.media_parts) == (7, 0, 0)


def test_names_are_readable_and_safe() -> None:
    assert safe_name("Новости/Срочно") == "Новости_Срочно"
    assert safe_name("con.txt") == "file_con.txt"
    assert safe_name("  ..  ") == "file"
    long = safe_name("я" * 200 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= MAX_NAME_BYTES
    assert safe_name("a\u202eb\x00c") == "ab_c"
    assert media_file_name(5, "voice", None, "audio/ogg") == "5_voice.ogg"
    assert media_file_name(5, "document", "README", "text/plain") == "5_README.txt"


async def test_the_service_builds_each_part_when_asked_and_keeps_the_room(
    db: Path, tmp_path: Path
) -> None:
    from services.archive import ArchiveService

    root = tmp_path / "media"
    await _seed(root)
    work = tmp_path / "work"
    work.mkdir()
    store = DirStore(root)
    # MIN_FREE_DISK_MB larger than any disk: the rows and the list come, no part.
    greedy = ArchiveService(1, work_dir=work, media_store=store, min_free_bytes=1 << 60)  # type: ignore[arg-type]
    result = await greedy.export(None, ExportFormat.CSV, media="zip")
    assert [p.name.split(".", 1)[1] for p in result.files] == ["csv", "media.tsv"]
    assert result.media_parts == 1 and all(p.exists() for p in result.files)
    with pytest.raises(NoRoomForPart) as no_room:
        async for _ in greedy.media_parts(result):
            pass
    assert no_room.value.folder == work.resolve() and no_room.value.needed > 1 << 60
    await greedy.cleanup(result)
    assert list(work.iterdir()) == []
    fine = ArchiveService(1, work_dir=work, media_store=store)  # type: ignore[arg-type]
    result = await fine.export(None, ExportFormat.CSV, media="zip")
    names = []
    async for part in fine.media_parts(result):
        with zipfile.ZipFile(part) as zf:
            names += zf.namelist()
    assert len(names) == 5
    await fine.cleanup(result)
    assert list(work.iterdir()) == []
