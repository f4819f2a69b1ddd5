"""Every run ends closed, and resumes at once (issue #15, Must 3 and 5): the app as a
process against both doubles, one stack for every case.

1. Telegram answers 500 until Telethon gives up (it then raises a plain ValueError):
   the run's row ends `failed` with the error's name and message, the admins are told
   the channel by its title and @username, /status does not call the connection fine,
   and the channel is tried again after PARSE_RETRY_SECONDS (not its 60 min interval):
   once Telegram answers again it is fetched whole, every message once.
2. The session dies in the middle of a backfill: the run ends `failed` with what it
   committed; after the operator logs in again the channel goes on at once, from its
   cursor, and ends with every message exactly once.
No run row is left `running` after either fault. (A full disk and a locked database are
tests/integration/test_local_faults.py: they need the app's own SQLite connection.)
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, db, seed, stored, wait_until

RETRY = 3  # PARSE_RETRY_SECONDS


def runs(stack: Stack, channel_row: int) -> list[tuple[str, int, str | None]]:
    with db(stack) as conn:
        return conn.execute(
            "SELECT status, fetched, error FROM parse_run WHERE channel_id = ? ORDER BY id",
            (channel_row,),
        ).fetchall()


def running_rows(stack: Stack) -> int:
    with db(stack) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM parse_run WHERE status = 'running'")
                   .fetchone()[0])


def duplicates(stack: Stack) -> int:
    with db(stack) as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM (SELECT channel_id, msg_id FROM message "
            "GROUP BY channel_id, msg_id HAVING COUNT(*) > 1)"
        ).fetchone()[0])


def texts(stack: Stack, chat_id: int) -> list[str]:
    return [m.text or "" for m in stack.botapi.transcript(chat_id)]


def channel_row_id(stack: Stack, username: str) -> int | None:
    with db(stack) as conn:
        row = conn.execute("SELECT id FROM channel WHERE username = ?", (username,)).fetchone()
    return int(row[0]) if row else None


async def _press_code(stack: Stack, keypad_id: int, code: str) -> None:
    api = stack.botapi
    for digit in code:
        await api.press_button(api.users[ADMIN2_ID], keypad_id, f"lk:{digit}")
        await api.wait_for_message(ADMIN2_ID, r"Code: ", kind="edited", timeout=10)
    await api.press_button(api.users[ADMIN2_ID], keypad_id, "lk:ok")


async def test_server_errors_retry_soon_and_a_dead_session_resumes_after_login(
    tmp_path: Path,
) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(300, interval=3600.0)  # older than the refresh window
    big = world.add_channel(username="bigone", title="Big")
    big.add_messages(3000, interval=600.0)

    async with running_stack(
        tmp_path, world, start=False, PARSE_INTERVAL_MINUTES="60",
        PARSE_RETRY_SECONDS=str(RETRY),
    ) as stack:
        api, mt = stack.botapi, stack.mtproto
        ids = await seed(stack, [news])
        # 1. Telegram's servers fail @news's history until Telethon gives up.
        # Four times: Telethon's request_retries=3 means four attempts, then it gives up.
        server_down = mt.faults.add(
            "messages.getHistory", "INTERNAL", code=500, times=4,
            when=lambda req: req.peer.channel_id == news.id,
        )
        await stack.app.start()
        await api.wait_for_poll(timeout=60)
        await wait_until(lambda: bool(runs(stack, ids["news"])), "the first run", stack, 60)
        await wait_until(
            lambda: runs(stack, ids["news"])[0][0] != "running", "the first run's end", stack
        )
        failed_at = time.monotonic()
        assert runs(stack, ids["news"])[0] == (
            "failed", 0, "ValueError: Request was unsuccessful 4 time(s)"
        )
        assert server_down.hits == 4  # all four attempts met the 500, then the ValueError
        await wait_until(
            lambda: any("News (@news)" in t for t in texts(stack, ADMIN2_ID)), "alert", stack
        )
        alert = next(t for t in texts(stack, ADMIN2_ID) if "News (@news)" in t)
        assert alert == (
            "⚠️ Parsing News (@news) failed: Telegram's servers kept failing (ValueError: "
            f"Request was unsuccessful 4 time(s)). Trying again in {RETRY} s."
        )
        assert any("News (@news)" in t for t in texts(stack, ADMIN_ID))  # every admin
        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Telegram connection", timeout=10)
        assert "Telegram connection: ok" not in status.text, status.text
        assert "run failed (ValueError: Request was unsuccessful 4 time(s)), retrying" in (
            status.text
        ) or "runs in a row failed" in status.text, status.text
        assert "@news: failing" in status.text, status.text

        # Telegram answers again (the fault is used up): the retry gets the whole channel.
        await wait_until(
            lambda: runs(stack, ids["news"])[-1][0] == "ok", "the retry", stack, 30
        )
        assert time.monotonic() - failed_at < RETRY + 5  # a retry, not the 60 min interval
        news_runs = runs(stack, ids["news"])
        assert [r[0] for r in news_runs] == ["failed", "ok"], news_runs
        assert news_runs[1][1] == len(stored(stack, ids["news"])) == 300
        assert running_rows(stack) == 0

        # 2. The session dies while @bigone's history is read; the operator logs in again.
        revoked: list[int] = []

        def revoke_mid_backfill(req: Any) -> bool:
            if req.peer.channel_id == big.id and req.offset_id > 1000 and not revoked:
                revoked.append(req.offset_id)
                world.revoke_sessions(PHONE)  # the account's owner ended the session
            return False  # the request itself then meets the revoked key

        mt.faults.add("messages.getHistory", None, times=None, when=revoke_mid_backfill)
        await api.send_text(api.users[ADMIN2_ID], "/add @bigone all")
        await wait_until(lambda: channel_row_id(stack, "bigone") is not None, "/add", stack, 20)
        big_id = channel_row_id(stack, "bigone")
        assert big_id is not None
        await wait_until(
            lambda: bool(runs(stack, big_id)) and runs(stack, big_id)[0][0] != "running",
            "the session's death", stack, 30,
        )
        first = runs(stack, big_id)[0]
        part = len(stored(stack, big_id))
        assert first[0] == "failed" and first[1] == part and 0 < part < 3000, first
        assert first[2] is not None and first[2].startswith("AuthKeyUnregisteredError"), first
        assert running_rows(stack) == 0

        await api.send_text(api.users[ADMIN2_ID], "/login")
        await api.wait_for_message(ADMIN2_ID, r"phone number", timeout=15)
        await api.send_text(api.users[ADMIN2_ID], PHONE)
        keypad = await api.wait_for_message(ADMIN2_ID, r"Code: —", timeout=15)
        await _press_code(stack, keypad.message_id, CODE)
        await api.wait_for_message(ADMIN2_ID, r"Logged in as Ann", timeout=15)
        logged_in = time.monotonic()
        await wait_until(lambda: runs(stack, big_id)[-1][0] == "ok", "the resumed run", stack, 30)
        assert time.monotonic() - logged_in < 10  # at once, not at its next interval
        big_runs = runs(stack, big_id)
        assert [r[0] for r in big_runs] == ["failed", "ok"], big_runs
        assert big_runs[0][1] + big_runs[1][1] == 3000  # went on from its cursor
        assert len(stored(stack, big_id)) == 3000 and duplicates(stack) == 0
        assert len(stored(stack, ids["news"])) == 300
        assert running_rows(stack) == 0
        with sqlite3.connect(stack.app.db_path) as conn:
            assert conn.execute(
                "SELECT COUNT(*) FROM channel WHERE last_error IS NOT NULL"
            ).fetchone()[0] == 0
        assert not any(f" {big_id}:" in t or f" {ids['news']}:" in t
                       for t in texts(stack, ADMIN2_ID))
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
