"""The archive service: an export's folder goes with it, also when nothing matched."""

from __future__ import annotations

from pathlib import Path

from core.archive import ExportFormat
from db.channels import find_channel
from services.archive import ArchiveService
from tests.unit.export_fixtures import make_channel, read_back, upsert


def _work(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir(exist_ok=True)
    return tmp_path / "work"


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_export_names_its_file_and_cleans_up(db: Path, tmp_path: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await upsert(ch, [(1, "выборы"), (2, "погода")])
    archive = ArchiveService(upload_limit_mb=1, work_dir=_work(tmp_path))
    channel = await archive.find_channel("@news")
    assert channel is not None
    result = await archive.export(channel, ExportFormat.JSONL, keyword="ВЫБОРЫ")
    (path,) = result.files
    assert path.name.startswith("news-") and path.suffix == ".jsonl"
    assert [r["msg_id"] for r in read_back(path)] == [1]
    await archive.cleanup(result)
    assert _entries(tmp_path / "work") == []


async def test_an_empty_export_leaves_no_folder(db: Path, tmp_path: Path) -> None:
    await make_channel(1, "news", "News")
    archive = ArchiveService(upload_limit_mb=1, work_dir=_work(tmp_path))
    result = await archive.export(None, ExportFormat.XLSX)
    assert result.rows == 0 and result.files == ()
    assert _entries(tmp_path / "work") == []
    assert await find_channel("@news") is not None


async def test_one_export_at_a_time(db: Path, tmp_path: Path) -> None:
    archive = ArchiveService(upload_limit_mb=1, work_dir=_work(tmp_path))
    async with archive.export_slot() as first:
        async with archive.export_slot() as second:
            assert first and not second
    async with archive.export_slot() as again:
        assert again
