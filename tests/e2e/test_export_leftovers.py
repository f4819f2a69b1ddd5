"""SIGKILL in the middle of an export, then a restart: nothing is left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from db.database import close_db, init_db
from tests.e2e.harness import ADMIN2_ID, running_stack
from tests.unit.export_fixtures import make_channel, upsert

ROWS = 60_000


async def _seed(db_path: Path) -> None:
    await init_db(f"sqlite://{db_path}")
    try:
        news = await make_channel(-1001000000001, "news", "News")
        for start in range(1, ROWS + 1, 5000):
            batch = [(i, f"post {i} " + "word " * 30) for i in range(start, start + 5000)]
            await upsert(news, batch, views=3)
    finally:
        await close_db()


def _files(work: Path) -> list[Path]:
    return [p for p in work.rglob("*") if p.is_file()] if work.exists() else []


async def test_a_killed_export_leaves_nothing_after_a_restart(tmp_path: Path) -> None:
    async with running_stack(tmp_path, start=False) as stack:
        await _seed(stack.app.db_path)
        work = stack.app.db_path.parent / "tg-parser-tmp"
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await api.send_text(api.users[ADMIN2_ID], "/export @news xlsx")
        for _ in range(600):  # the export has begun writing its file
            if _files(work):
                break
            await asyncio.sleep(0.02)
        assert _files(work), "the export never wrote a file"
        await stack.app.kill()  # kill -9 mid-export
        assert _files(work), "nothing was left to clean up: the test proves nothing"
        await stack.app.start()
        await api.wait_for_poll(timeout=60)
        assert work.is_dir() and _files(work) == []
        await api.send_text(api.users[ADMIN2_ID], "/status")
        await api.wait_for_message(ADMIN2_ID, r"Status", timeout=20)
