"""SIGTERM while rows are being written: exit 0 fast, every committed row is on disk."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, running_stack

BATCH = 2000


def _report(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split()]


async def _wait_for_batches(path: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 120  # the writer's start-up alone can take 30 s under load
    while time.monotonic() < deadline:
        reported = _report(path)
        if len(reported) >= count:
            return reported
        await asyncio.sleep(0.05)
    raise AssertionError(f"the writer reported only {_report(path)}")


@pytest.mark.parametrize("shielded", [False, True], ids=["plain", "shielded"])
async def test_sigterm_during_writes(tmp_path: Path, shielded: bool) -> None:
    report = tmp_path / "committed.txt"
    async with running_stack(
        tmp_path,
        start=False,
        SHUTDOWN_TIMEOUT="1",
        WRITER_REPORT=str(report),
        WRITER_BATCH=str(BATCH),
        WRITER_SHIELDED="1" if shielded else "0",
    ) as stack:
        app = stack.app
        log_file = open(app.log_path, "ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "tests" / "integration" / "writer_app.py"),
            cwd=str(ROOT),
            env={**app.env, "PYTHONPATH": str(ROOT)},
            stdout=log_file,
            stderr=log_file,
        )
        try:
            await _wait_for_batches(report, 3)
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log_file.close()
        log = app.log()
        assert rc == 0, log
        assert "component writer did not stop in time; cancelling" in log
        assert "tg-parser stopped" in log

        committed = _report(report)
        conn = sqlite3.connect(app.db_path)
        try:
            ids = {r[0] for r in conn.execute("SELECT msg_id FROM message")}
            # The database is not left inside a transaction: a new writer gets in.
            conn.execute("INSERT INTO channel (tg_id, title, kind, status, cursor,"
                         " history_mode, backfill_done, comments_enabled, messages_count,"
                         " added_at) VALUES (1, 't', 'channel', 'active', 0, 'all', 0, 0, 0,"
                         " '2026-01-01')")
            conn.commit()
        finally:
            conn.close()
        assert set(range(1, committed[-1] + 1)) <= ids  # every reported row is readable
        # Nothing half-written: only whole batches, at most the one in flight beyond.
        assert len(ids) % BATCH == 0
        if shielded:
            # The batch in flight when the cancel came was finished, not dropped.
            assert len(ids) == committed[-1] + BATCH
        else:
            # It was rolled back whole (or had already reached COMMIT).
            assert len(ids) in (committed[-1], committed[-1] + BATCH)


async def test_sigterm_mid_backfill_exits_0_within_10_s_with_committed_rows(
    tmp_path: Path,
) -> None:
    """The same proof on the product's own ingest path: a real backfill from the double."""
    from datetime import UTC, datetime, timedelta

    from tests.doubles.mtproto import World
    from tests.e2e.seeded import CODE, PHONE, channel_row, seed, stored

    world = World()
    world.add_account(phone=PHONE, code=CODE)
    big = world.add_channel(username="big", title="Big")
    big.add_messages(
        50_000, start_date=datetime.now(UTC) - timedelta(days=400), text_fn=lambda i: f"post {i}"
    )
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [big])
        await stack.app.start()
        seen = 0
        for _ in range(2400):
            seen = int(channel_row(stack, ids["big"])["cursor"])
            if seen > 3_000:
                break
            assert stack.app.alive(), stack.app.log()[-3000:]
            await asyncio.sleep(0.05)
        assert seen > 3_000, stack.app.log()[-3000:]
        # `seen` was read from a separate connection: those rows are committed.
        rc = await stack.app.terminate(timeout=10)  # SIGTERM, then at most 10 s
        log = stack.app.log()
        assert rc == 0, log[-3000:]
        assert "tg-parser stopped" in log
        row = channel_row(stack, ids["big"])
        assert seen <= row["cursor"] < big.last_id, "stopped too late to prove anything"
        pairs = stored(stack, ids["big"])
        assert [p[0] for p in pairs] == list(range(1, row["cursor"] + 1))
        assert all(text == f"post {msg_id}" for msg_id, text in pairs)
