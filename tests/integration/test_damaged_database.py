"""`tg-parser run` on a damaged archive stops within seconds with one line; `backup` copies."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from tests.integration.cli_env import TG_PARSER, clean_env, full_env


def _make_archive(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO message (text) VALUES (?)", (("x" * 200,) for _ in range(5000)))
    conn.commit()
    conn.close()


def _run(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [TG_PARSER, *args],
        cwd=tmp,
        env=clean_env(tmp, **full_env(tmp)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def test_a_truncated_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    _make_archive(db)
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 3)
    result, seconds = _run(tmp_path, "run")
    assert result.returncode == 4, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tg-parser:")]
    assert len(lines) == 1 and str(db) in lines[0] and "cut short" in lines[0]
    assert "backup" in lines[0] and ".recover" in lines[0]
    assert seconds < 45  # stops, rather than hanging until the 60 s timeout


def test_an_overwritten_header_stops_start_up_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    _make_archive(db)
    with db.open("r+b") as f:
        f.write(b"garbage" * 20)
    result, _ = _run(tmp_path, "run")
    assert result.returncode == 4
    assert "is not an SQLite database" in result.stderr and str(db) in result.stderr


def test_backup_command_copies_the_archive(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    _make_archive(db)
    result, _ = _run(tmp_path, "backup")
    assert result.returncode == 0, result.stderr
    copies = list((tmp_path / "data" / "backups").glob("tg_parser-*.sqlite3"))
    assert len(copies) == 1 and str(copies[0]) in result.stdout
    rows = sqlite3.connect(copies[0]).execute("SELECT count(*) FROM message").fetchone()[0]
    assert rows == 5000
    named = tmp_path / "copy.sqlite3"
    result, _ = _run(tmp_path, "backup", str(named))
    assert result.returncode == 0 and named.exists()


def test_leftovers_of_a_killed_export_are_removed_at_start(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    _make_archive(db)
    stale = tmp_path / "data" / "tg-parser-tmp" / "export-abc123"
    stale.mkdir(parents=True)
    (stale / "all-20260101-0000.part001.csv").write_bytes(b"x" * 100_000)
    mine = tmp_path / "data" / "notes.txt"
    mine.write_text("not the app's")
    with db.open("r+b") as f:  # a damaged file makes `run` stop right after the clean-up
        f.truncate(1000)
    result, _ = _run(tmp_path, "run")
    assert result.returncode == 4
    assert not stale.exists() and (tmp_path / "data" / "tg-parser-tmp").is_dir()
    assert mine.read_text() == "not the app's"
