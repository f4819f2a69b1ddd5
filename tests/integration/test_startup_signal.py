"""SIGTERM while start-up is slow: the process ends within 10 s with exit code 0.

Two honest slow start-ups: a PostgreSQL server that accepts the connection and never
answers (the instance lock waits on it), and a big SQLite archive whose migration
builds the full-text index (one long statement on aiosqlite's thread).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.cli_env import TG_PARSER, clean_env, full_env
from tests.old_archive import migrate_to

pytestmark = pytest.mark.timeout(120)

ROWS = 200_000  # about 3 s of index building on a quiet 2-core machine, more under load


async def _start(tmp: Path, **env: str) -> tuple[asyncio.subprocess.Process, Path]:
    log = tmp / "app.log"
    values = {**full_env(tmp), "BOT_API_URL": "http://127.0.0.1:9", **env}
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            TG_PARSER, "run", cwd=tmp, env=clean_env(tmp, **values), stdout=out, stderr=out
        )
    return proc, log


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


async def _until_logged(log: Path, text: str, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    while text not in _read(log):
        assert proc.returncode is None, _read(log)
        assert time.monotonic() < deadline, _read(log)
        await asyncio.sleep(0.02)


async def _sigterm(proc: asyncio.subprocess.Process) -> tuple[int, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = await asyncio.wait_for(proc.wait(), 10)
    return rc, time.monotonic() - started


async def _reap(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_sigterm_while_the_database_server_does_not_answer(tmp_path: Path) -> None:
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts, reads nothing, answers nothing
        connected.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc, log = await _start(
            tmp_path, DATABASE_URL=f"postgres://tg:tg@127.0.0.1:{port}/tg"
        )
        try:
            await asyncio.wait_for(connected.wait(), 60)  # start-up waits on the database
            rc, seconds = await _sigterm(proc)
        finally:
            await _reap(proc)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    text = _read(log)
    assert rc == 0, text
    assert seconds < 10
    assert "stopped during start-up" in text and "tg-parser stopped" in text
    assert "Traceback" not in text


def _archive_before_search(path: Path, rows: int) -> None:
    """An archive made before migration 0003 (full-text search), with `rows` posts."""
    migrate_to(path, "0002_watch")
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO channel (tg_id, title, kind, status, cursor, history_mode, backfill_done,"
        " comments_enabled, messages_count, added_at) VALUES (1, 'big', 'channel', 'active',"
        " 0, 'all', 1, 0, 0, '2026-01-01')"
    )
    conn.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)"
        " INSERT INTO message (channel_id, msg_id, date, text, fetched_at)"
        " SELECT 1, x, '2026-01-01', printf('post %d about w%d and w%d with w%d, w%d; w%d'"
        " || ' w%d w%d w%d', x, x % 1009, x % 2003, x % 3001, x % 4001, x % 5003, x % 6007,"
        " x % 7001, x % 8009), '2026-01-01' FROM c",
        (rows,),
    )
    conn.commit()
    conn.close()


def _written(wal: Path) -> bool:
    return wal.exists() and wal.stat().st_size > 0


async def _until_writing(wal: Path, proc: asyncio.subprocess.Process, log: Path) -> None:
    """Until the migration's transaction has written to the WAL: its long statement
    runs (the log line comes just before the transaction opens)."""
    deadline = time.monotonic() + 60
    while not _written(wal):
        assert proc.returncode is None, _read(log)
        assert time.monotonic() < deadline, _read(log)
        await asyncio.sleep(0.01)


async def test_sigterm_while_a_big_archive_is_being_migrated(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tg.sqlite3"
    db.parent.mkdir(parents=True)
    _archive_before_search(db, ROWS)
    wal = db.with_name(db.name + "-wal")
    assert not _written(wal)  # nothing written yet
    proc, log = await _start(tmp_path)
    try:
        await _until_logged(log, "applying migration 0003_search", proc)
        await _until_writing(wal, proc, log)
        rc, seconds = await _sigterm(proc)
    finally:
        await _reap(proc)
    text = _read(log)
    assert rc == 0, text
    assert seconds < 10
    # The signal came while the index was being built; that statement was interrupted.
    assert "interrupted the statements of 1 database connection(s)" in text, text
    assert "stopped during start-up" in text and "Traceback" not in text

    # Nothing is broken: the next start migrates to the end, and search finds every post.
    migrate = await asyncio.create_subprocess_exec(
        TG_PARSER, "migrate", cwd=tmp_path, env=clean_env(tmp_path, **full_env(tmp_path))
    )
    assert await asyncio.wait_for(migrate.wait(), 90) == 0
    # The posts stored before stemmed search (0006) wait for their stems (the app's
    # background rebuild: tests/unit/services/test_search_index.py); every one is
    # pending and the index is exact. Stemming the ones asked for makes them found.
    from core.words import message_terms

    conn = sqlite3.connect(db)
    try:
        (pending,) = conn.execute("SELECT count(*) FROM message WHERE terms IS NULL").fetchone()
        assert pending == ROWS
        conn.execute("INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)")
        asked = conn.execute("SELECT id, text FROM message WHERE msg_id % 1009 = 1008").fetchall()
        conn.executemany(
            "UPDATE message SET terms = ? WHERE id = ?", [(message_terms(t), i) for i, t in asked]
        )
        conn.commit()
        (found,) = conn.execute(
            "SELECT count(*) FROM message_fts WHERE message_fts MATCH '\"about w1008\"'"
        ).fetchone()
        conn.execute("INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()
    assert found == len(range(1008, ROWS + 1, 1009))  # x % 1009 == 1008
