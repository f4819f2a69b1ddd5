"""Automatic backups and the background integrity check of the SQLite archive."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from app.maintenance import ArchiveMaintenance
from bot.delivery import render_alert
from core.alerts import AlertBody, Alerter
from db.sqlite_files import list_backups


def _archive(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO message (text) VALUES (?)", (("y" * 300,) for _ in range(4000)))
    conn.commit()
    conn.close()


class RecordingAlerter(Alerter):
    def __init__(self) -> None:
        super().__init__(window_seconds=600)
        self.sent: list[tuple[str, str]] = []

    def alert(self, key: str, text: AlertBody, *, force: bool = False) -> bool:
        self.sent.append((key, render_alert(text, "en")))
        return True

    def forget(self, key: str) -> None:
        pass


async def test_a_due_backup_runs_at_once_then_waits_its_interval(tmp_path: Path) -> None:
    db, backups = tmp_path / "a.sqlite3", tmp_path / "backups"
    _archive(db)
    maint = ArchiveMaintenance(db, backups, RecordingAlerter(), interval_hours=24, check_delay=0)
    task = asyncio.create_task(maint.run())
    for _ in range(200):
        if list_backups(backups):
            break
        await asyncio.sleep(0.05)
    await maint.stop()
    await asyncio.wait_for(task, 5)
    assert len(list_backups(backups)) == 1
    assert maint.state.check_result == "ok" and maint.state.last_backup is not None
    # A restart right after: the backup is not due again.
    again = ArchiveMaintenance(db, backups, RecordingAlerter(), interval_hours=24)
    assert 23 * 3600 < again._seconds_to_next_backup() <= 24 * 3600


async def test_backups_beyond_the_kept_count_are_removed(tmp_path: Path) -> None:
    db, backups = tmp_path / "a.sqlite3", tmp_path / "backups"
    _archive(db)
    backups.mkdir()
    for day in range(1, 5):
        (backups / f"tg_parser-2020010{day}-000000.sqlite3").write_bytes(b"old")
    maint = ArchiveMaintenance(db, backups, RecordingAlerter(), keep=2)
    result = await maint.back_up()
    assert result is not None
    kept = list_backups(backups)
    assert len(kept) == 2 and kept[0] == result.path


async def test_damage_found_in_the_background_sends_one_alert(tmp_path: Path) -> None:
    db, backups = tmp_path / "a.sqlite3", tmp_path / "backups"
    _archive(db)
    with db.open("r+b") as f:
        f.seek(db.stat().st_size // 2)
        f.write(b"\xee" * 4096)
    alerter = RecordingAlerter()
    maint = ArchiveMaintenance(db, backups, alerter)
    assert await maint.check() != "ok"
    assert [key for key, _ in alerter.sent] == ["integrity"]
    assert str(db) in alerter.sent[0][1] and "backup" in alerter.sent[0][1]


async def test_a_failed_backup_is_reported_and_retried_within_the_hour(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db)
    blocked = tmp_path / "backups"
    blocked.write_text("a file where the folder should be")
    alerter = RecordingAlerter()
    maint = ArchiveMaintenance(db, blocked, alerter, interval_hours=24)
    assert await maint.back_up() is None
    assert maint.state.backup_error and alerter.sent[0][0] == "backup"
    assert 3500 < maint._seconds_to_next_backup() <= 3600
