"""Parsing end to end: the app as a process against the MTProto and Bot API doubles.

The operator's session and the channel rows are seeded straight into the database
before the app starts (the login and /add flows are proven elsewhere).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import (
    CODE,
    PHONE,
    caught_up,
    channel_row,
    checksum,
    db,
    expected,
    parse,
    seed,
    stored,
    wait_until,
)


def build_world() -> tuple[World, Channel, Channel, Channel]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    old = datetime.now(UTC) - timedelta(days=400)
    big = world.add_channel(username="big", title="Big")
    big.add_messages(50_000, start_date=old, text_fn=lambda i: f"big post {i}")
    small = world.add_channel(username="small", title="Small")
    small.add_messages(60, interval=60.0)  # all inside the 24 h refresh window
    mid = world.add_channel(username="mid", title="Mid")
    mid.add_messages(1_234, start_date=old, text_fn=lambda i: f"mid {i} ✓")
    return world, big, small, mid


async def test_backfill_incremental_refresh_and_status(tmp_path: Path) -> None:
    world, big, small, mid = build_world()
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [big, small, mid])
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        api = stack.botapi

        # /status answers quickly while the 50,000-message backfill runs.
        await wait_until(lambda: channel_row(stack, ids["big"])["cursor"] > 0, "backfill", stack)
        incoming = await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Status", timeout=10)
        assert not caught_up(stack, ids["big"], big), "backfill ended before /status was asked"
        assert incoming.latency_to(status) < 1.0
        assert "Running: @big" in status.text

        for name, ch in (("big", big), ("small", small), ("mid", mid)):
            await wait_until(lambda r=ids[name], c=ch: caught_up(stack, r, c), name, stack)
        for name, ch in (("big", big), ("small", small), ("mid", mid)):
            assert checksum(stored(stack, ids[name])) == checksum(expected(ch)), name
        assert len(stored(stack, ids["big"])) == 50_000

        # An unchanged channel costs exactly one history request.
        stack.mtproto.counters.clear()
        text = await parse(stack, "@mid")
        assert "✅ @mid: 0 new messages" in text
        assert stack.mtproto.counters["messages.getHistory"] == 1

        # Two incremental runs: new posts, edits and new view counts inside the window.
        for round_no in (1, 2):
            big.add_messages(150 * round_no, text_fn=lambda i: f"new big {i}")
            small.add_messages(5)
            edited = small.ids[-10]
            small.edit_message(edited, text=f"edited {round_no}", views=1000 + round_no)
            text = await parse(stack, "all")
            assert "Done: 3 channels" in text
            for name, ch in (("big", big), ("small", small), ("mid", mid)):
                pairs = stored(stack, ids[name])
                assert checksum(pairs) == checksum(expected(ch)), (name, round_no)
            with db(stack) as conn:
                views, edit_date = conn.execute(
                    "SELECT views, edit_date FROM message WHERE channel_id = ? AND msg_id = ?",
                    (ids["small"], edited),
                ).fetchone()
            assert views == 1000 + round_no and edit_date is not None
        assert len(stored(stack, ids["big"])) == 50_450
        with db(stack) as conn:
            dupes = conn.execute(
                "SELECT COUNT(*) FROM (SELECT channel_id, msg_id FROM message "
                "GROUP BY channel_id, msg_id HAVING COUNT(*) > 1)"
            ).fetchone()[0]
            counted = conn.execute(
                "SELECT messages_count FROM channel WHERE id = ?", (ids["big"],)
            ).fetchone()[0]
        assert dupes == 0 and counted == 50_450

        # The Russian-speaking operator sees the parsing section in Russian.
        await api.send_text(api.users[ADMIN_ID], "/status")
        ru = await api.wait_for_message(ADMIN_ID, r"Сохранено сообщений", timeout=10)
        assert "Каналы (3): в порядке — 3," in ru.text
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


BACKFILL = 20_000


@asynccontextmanager
async def backfill_under_way(tmp_path: Path) -> AsyncIterator[tuple[Stack, Channel, int]]:
    """The app backfilling a 20,000-message channel, a few batches in (5,000 posts: a
    stop lands with three quarters still to read; rows_end_at_the_cursor checks it)."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    big = world.add_channel(username="big", title="Big")
    big.add_messages(BACKFILL, start_date=datetime.now(UTC) - timedelta(days=400))
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [big])
        await stack.app.start()
        await wait_until(
            lambda: channel_row(stack, ids["big"])["cursor"] > 5_000, "some batches", stack
        )
        yield stack, big, ids["big"]


def rows_end_at_the_cursor(stack: Stack, row_id: int, ch: Channel) -> list[tuple[int, str]]:
    """After a stop mid-backfill: rows and cursor were committed together."""
    row = channel_row(stack, row_id)
    assert 0 < row["cursor"] < ch.last_id, "stopped too late to prove anything"
    pairs = stored(stack, row_id)
    assert pairs[-1][0] == row["cursor"] and len(pairs) == row["messages_count"]
    return pairs


async def restart_and_catch_up_exactly(stack: Stack, row_id: int, ch: Channel) -> None:
    await stack.app.start()
    await wait_until(lambda: caught_up(stack, row_id, ch), "resume", stack)
    assert checksum(stored(stack, row_id)) == checksum(expected(ch))


async def test_kill_9_mid_backfill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    async with backfill_under_way(tmp_path) as (stack, big, row_id):
        await stack.app.kill()
        # Nothing above the cursor exists.
        rows_end_at_the_cursor(stack, row_id, big)
        await restart_and_catch_up_exactly(stack, row_id, big)
        assert channel_row(stack, row_id)["messages_count"] == BACKFILL
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_flood_wait_defers_one_channel_and_private_disables_with_one_alert(
    tmp_path: Path,
) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    one = world.add_channel(username="one", title="One")
    one.add_messages(250)
    slow = world.add_channel(username="slow", title="Slow")
    slow.add_messages(250)
    two = world.add_channel(username="two", title="Two")
    two.add_messages(250)
    hidden = world.add_channel(title="Hidden", private=True, invite_hash="hiddenhash")
    hidden.add_messages(10)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        health_port = sock.getsockname()[1]
    async with running_stack(
        tmp_path, world, start=False, HEALTH_PORT=str(health_port)
    ) as stack:
        stack.mtproto.faults.add(
            "messages.getHistory",
            "FLOOD_WAIT_30",
            times=None,
            when=lambda req: getattr(req.peer, "channel_id", None) == slow.id,
        )
        ids = await seed(stack, [one, slow, two, hidden])
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        for name, ch in (("one", one), ("two", two)):
            await wait_until(lambda r=ids[name], c=ch: caught_up(stack, r, c), name, stack)
        await wait_until(
            lambda: channel_row(stack, ids["Hidden"])["status"] == "disabled", "disable", stack
        )
        slow_row = channel_row(stack, ids["slow"])
        assert slow_row["deferred_until"] is not None and slow_row["cursor"] == 0
        assert stored(stack, ids["slow"]) == []
        assert channel_row(stack, ids["Hidden"])["disabled_reason"] == "private"

        api = stack.botapi
        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"deferred, \d+ s left", timeout=10)
        assert "@slow: deferred" in status.text
        assert "Hidden: disabled (the channel is private, or the account is not a member)" in (
            status.text
        )
        # A manual run of the disabled channel does not alert again.
        await api.send_text(api.users[ADMIN2_ID], f"/parse {ids['Hidden']}")
        await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=30)
        for admin in (ADMIN_ID, ADMIN2_ID):
            # Per-channel alerts go out once a burst is over (core/alerts.py fold).
            await api.wait_for_message(admin, r"Channel Hidden was disabled", timeout=15)
            alerts = [
                e for e in api.transcript(admin) if "Channel Hidden was disabled" in (e.text or "")
            ]
            assert len(alerts) == 1, api.format_transcript(admin)

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{health_port}/healthz") as resp:
                health = await resp.json()
            async with http.get(f"http://127.0.0.1:{health_port}/metrics") as resp:
                metrics = await resp.text()
        assert health["breaker"]["state"] == "closed"
        assert health["components"]["scheduler"]["state"] == "running"
        assert "tg_parser_messages_stored_total 500.0" in metrics
        assert "tg_parser_flood_waits_total 1.0" in metrics
        assert 'tg_parser_errors_total{kind="channel"} 1.0' in metrics
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_sigterm_mid_backfill_finishes_the_batch_and_exits_cleanly(tmp_path: Path) -> None:
    async with backfill_under_way(tmp_path) as (stack, big, row_id):
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
        pairs = rows_end_at_the_cursor(stack, row_id, big)
        with db(stack) as conn:
            runs = conn.execute("SELECT status, fetched FROM parse_run").fetchall()
        assert runs == [("interrupted", len(pairs))]
        await restart_and_catch_up_exactly(stack, row_id, big)
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_logout_mid_backfill_ends_the_run_quietly(tmp_path: Path) -> None:
    """/logout while a channel backfills: Telethon cancels the pending request; the run
    ends as interrupted with its rows and cursor together, and nobody is alarmed."""
    async with backfill_under_way(tmp_path) as (stack, big, row_id):
        api = stack.botapi
        await api.send_text(api.users[ADMIN2_ID], "/logout")
        ask = await api.wait_for_message(ADMIN2_ID, r"delete the stored session", timeout=15)
        await api.press_button(api.users[ADMIN2_ID], ask, text="Yes, log out")
        await api.wait_for_message(ADMIN2_ID, r"Logged out", timeout=30)

        def runs() -> list[tuple[str, int]]:
            with db(stack) as conn:
                return conn.execute("SELECT status, fetched FROM parse_run").fetchall()

        await wait_until(lambda: runs()[0][0] != "running", "the run to end", stack, 30)
        pairs = rows_end_at_the_cursor(stack, row_id, big)
        assert runs() == [("interrupted", len(pairs))]
        # /status after /logout: no stale account, no connection, no runs to come.
        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Status", timeout=10)
        assert "Account: not logged in (/login)" in status.text, status.text
        assert "Ann" not in status.text and "Session:" not in status.text
        assert "Telegram connection" not in status.text and "Next runs" not in status.text
        for admin in (ADMIN_ID, ADMIN2_ID):
            alarms = [
                e.text for e in api.transcript(admin)
                if e.text and e.text.startswith(("🔒", "🔌", "⚠️"))
            ]
            assert alarms == [], alarms
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_comments_are_read_through_the_discussion_group(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(20)
    chat = world.add_channel(title="News chat", megagroup=True)
    world.link_discussion(news, chat)
    busy, quiet = news.ids[-1], news.ids[-5]
    for i in range(150):
        chat.add_comment(busy, f"comment {i}")
    chat.add_comment(quiet, "only one")
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [news], comments=("news",))
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, ids["news"], news), "news", stack)

        def comments() -> dict[int, list[tuple[int, str]]]:
            with db(stack) as conn:
                rows = conn.execute(
                    "SELECT m.comment_of, m.msg_id, m.text FROM message m "
                    "JOIN channel c ON c.id = m.channel_id "
                    "WHERE c.tg_id = ? ORDER BY m.msg_id",
                    (chat.id,),
                ).fetchall()
            out: dict[int, list[tuple[int, str]]] = {}
            for post, msg_id, text in rows:
                out.setdefault(post, []).append((msg_id, text))
            return out

        def expected_comments() -> dict[int, list[tuple[int, str]]]:
            out = {}
            for post in (busy, quiet):
                items = []
                for cid in chat.comments(post):
                    msg = chat.get(cid)
                    assert msg is not None
                    items.append((cid, msg.text))
                out[post] = items
            return out

        await wait_until(lambda: comments() == expected_comments(), "comments", stack, 60)
        assert len(comments()[busy]) == 150
        # Nothing new: the refresh window re-reads both posts but asks for no thread.
        threads: list[int] = []  # the post of every messages.getReplies request
        stack.mtproto.faults.add(
            "messages.getReplies", None, times=None,
            when=lambda req: threads.append(req.msg_id) and False,  # records, never fires
        )
        assert "✅ @news" in await parse(stack, "@news")
        assert threads == []
        chat.add_comment(quiet, "a second one")
        text = await parse(stack, "@news")
        assert "✅ @news" in text
        assert comments() == expected_comments()
        assert len(comments()[quiet]) == 2
        assert threads == [quiet]  # only the thread that moved, one page
        assert channel_row(stack, ids["news"])["linked_chat_id"] == chat.id
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
