"""Start-up checks, online backups and the background check, on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from db.sqlite_files import (
    DatabaseDamaged,
    backup,
    check_file,
    list_backups,
    lost_archive_hint,
    prune_backups,
    quick_check,
)


def _archive(path: Path, rows: int = 20_000) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, channel INT, text TEXT)")
    conn.execute("CREATE INDEX message_text ON message(text)")
    conn.execute("CREATE TABLE cursor (id INTEGER PRIMARY KEY, n INT)")
    conn.executemany(
        "INSERT INTO message (channel, text) VALUES (?, ?)",
        ((i % 7, f"post {i} " + "x" * 80) for i in range(rows)),
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_a_healthy_file_and_a_missing_one_pass(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    check_file(db)
    _archive(db)
    check_file(db)


def test_a_file_cut_short_is_refused_with_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db)
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "tg_parser-20260101-000000.sqlite3").write_bytes(b"x")
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    with pytest.raises(DatabaseDamaged) as err:
        check_file(db)
    text = str(err.value)
    assert "cut short" in text and str(db) in text
    assert "tg_parser-20260101-000000.sqlite3" in text and ".recover" in text
    assert "\n" not in text


def test_an_overwritten_header_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db)
    with db.open("r+b") as f:
        f.write(b"\x00" * 100)
    with pytest.raises(DatabaseDamaged, match="header"):
        check_file(db)


async def test_damaged_middle_pages_pass_start_but_fail_the_background_check(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\xff" * 8192)
    check_file(db)  # cheap: header, schema and length are fine
    result = await quick_check(db)
    assert result != "ok"


async def test_quick_check_of_a_healthy_file_is_ok(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db)
    assert await quick_check(db) == "ok"


def test_a_lost_database_beside_backups_gets_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    assert lost_archive_hint(db) is None
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "tg_parser-20260101-000000.sqlite3").write_bytes(b"x")
    hint = lost_archive_hint(db)
    assert hint is not None and "EMPTY" in hint and "tg_parser-20260101" in hint


async def test_a_backup_taken_while_rows_are_written_is_consistent(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _archive(db, rows=50_000)
    stop, writing = threading.Event(), threading.Event()

    def writer() -> None:
        conn = sqlite3.connect(db, timeout=30)
        n = 0
        while not stop.is_set():
            # Each transaction writes a row and bumps a counter: a torn copy disagrees.
            conn.execute("INSERT INTO message (channel, text) VALUES (99, 'live')")
            conn.execute("INSERT OR REPLACE INTO cursor (id, n) VALUES (1, ?)", (n + 1,))
            conn.commit()
            n += 1
            if n == 20:
                writing.set()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # The copy starts once the writer is under way (a fixed sleep was too short on a
        # busy machine: no row committed yet, no cursor in the copy).
        assert await asyncio.to_thread(writing.wait, 30)
        result = await backup(db)
    finally:
        stop.set()
        thread.join()
    assert result.path.parent == tmp_path / "backups" and result.size > 0
    assert not list(result.path.parent.glob("*.partial"))
    copy = sqlite3.connect(result.path)
    live = copy.execute("SELECT count(*) FROM message WHERE channel = 99").fetchone()[0]
    cursor = copy.execute("SELECT n FROM cursor").fetchone()
    assert cursor is not None and live == cursor[0]
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_backups_are_pruned_to_the_newest(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in range(1, 6):
        (backups / f"tg_parser-2026010{day}-000000.sqlite3").write_bytes(b"x")
    (backups / "tg_parser-20260106-000000.sqlite3.partial").write_bytes(b"x")
    (backups / "notes.txt").write_text("kept")
    prune_backups(backups, keep=2)
    assert [p.name for p in list_backups(backups)] == [
        "tg_parser-20260105-000000.sqlite3",
        "tg_parser-20260104-000000.sqlite3",
    ]
    assert (backups / "notes.txt").exists()
    assert not list(backups.glob("*.partial"))


def _other_process(db: Path, sql: str) -> str:
    import subprocess
    import sys

    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        f"print(c.execute({sql!r}).fetchone()[0]); c.close()"
    )
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


async def test_the_apps_own_backup_keeps_its_wal_safe_from_other_processes(
    tmp_path: Path,
) -> None:
    """The app backs up the archive it has open. Closing any descriptor of the file in
    the app's process drops SQLite's locks there; the next process to close the
    database then deletes the WAL the app still writes to, and those commits are lost."""
    db = tmp_path / "a.sqlite3"
    _archive(db, rows=10)
    live = sqlite3.connect(db)  # the app's connection, open throughout
    live.execute("INSERT INTO message (channel, text) VALUES (1, 'before')")
    live.commit()
    await backup(db, open_elsewhere=True)
    _other_process(db, "SELECT count(*) FROM message")  # a reader comes and goes
    live.execute("INSERT INTO message (channel, text) VALUES (1, 'after')")
    live.commit()
    assert (tmp_path / "a.sqlite3-wal").exists()
    seen = _other_process(db, "SELECT count(*) FROM message WHERE text = 'after'")
    live.close()
    assert seen == "1"
