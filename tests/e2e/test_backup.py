"""A backup taken while a 100,000-message backfill runs is a consistent archive."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, ROOT, running_stack
from tests.e2e.seeded import CODE, PHONE, channel_row, seed, wait_until


async def test_a_backup_during_a_backfill_has_rows_that_match_its_cursor(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    big = world.add_channel(username="big", title="Big")
    big.add_messages(100_000, start_date=datetime.now(UTC) - timedelta(days=400))
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [big])
        await stack.app.start()
        await wait_until(lambda: channel_row(stack, ids["big"])["cursor"] > 10_000, "rows", stack)
        dest = tmp_path / "copy.sqlite3"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "backup",
            str(dest),
            cwd=ROOT,
            env=stack.app.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        assert channel_row(stack, ids["big"])["cursor"] > 0 and stack.app.alive()

    copy = sqlite3.connect(dest)
    cursor, count, done = copy.execute(
        "SELECT cursor, messages_count, backfill_done FROM channel WHERE id = ?", (ids["big"],)
    ).fetchone()
    rows = copy.execute(
        "SELECT count(*), min(msg_id), max(msg_id) FROM message WHERE channel_id = ?",
        (ids["big"],),
    ).fetchone()
    assert 0 < cursor < big.last_id and not done, "the backup came too late to prove anything"
    assert rows == (count, big.ids[0], cursor)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_database_lost_beside_its_backups_is_told_to_the_admins(tmp_path: Path) -> None:
    """The data folder held an archive (backups are there) but the database file is gone:
    the log says so at start, and each admin gets one alert once the bot is up."""
    async with running_stack(tmp_path, start=False, fresh_db=True) as stack:
        backups = stack.app.data_dir / "backups"
        backups.mkdir(parents=True)
        latest = backups / "tg_parser-20260102-030405.sqlite3"
        for name in ("tg_parser-20260101-030405.sqlite3", latest.name):
            sqlite3.connect(backups / name).close()
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        for admin in (ADMIN_ID, ADMIN2_ID):
            alert = await stack.botapi.wait_for_message(admin, r"EMPTY archive", timeout=30)
            text = alert.text or ""
            assert str(stack.app.db_path) in text and str(latest) in text, text
            assert "(2, the latest:" in text and "copy the latest backup" in text
        assert "starting with an EMPTY archive" in stack.app.log()
        await stack.app.terminate()
        for admin in (ADMIN_ID, ADMIN2_ID):
            sent = [e for e in stack.botapi.transcript(admin) if "EMPTY" in (e.text or "")]
            assert len(sent) == 1
