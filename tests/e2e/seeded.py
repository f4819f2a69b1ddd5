"""Helpers for end-to-end tests over a seeded archive: the session and channel rows
go straight into the app's database, then the tests read what the app stored."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from db.database import close_db, init_db
from db.models import Channel as ChannelModel
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, Stack, store_logged_in_session

PHONE, CODE = "+15550000001", "12345"


async def seed(
    stack: Stack, channels: list[Channel], comments: tuple[str, ...] = ()
) -> dict[str, int]:
    """Log in against the double, store the session and the channels; row id by username."""
    await store_logged_in_session(stack, PHONE, CODE)
    await init_db(stack.app.env["DATABASE_URL"])
    try:
        ids = {}
        for ch in channels:
            row = await ChannelModel.create(
                tg_id=ch.id,
                access_hash=ch.access_hash,
                username=ch.username,
                title=ch.title,
                comments_enabled=ch.username in comments,
            )
            ids[ch.username or ch.title] = row.id
        return ids
    finally:
        await close_db()


def db(stack: Stack) -> sqlite3.Connection:
    return sqlite3.connect(stack.app.db_path, timeout=10)


def subscriber_counts(stack: Stack, channel_row: int) -> list[int]:
    """The channel's stored subscriber counts, oldest first."""
    with db(stack) as conn:
        return [r[0] for r in conn.execute(
            "SELECT subscribers FROM subscriber_snapshot WHERE channel_id = ?"
            " ORDER BY taken_at, id", (channel_row,),
        )]  # fmt: skip


def stored(stack: Stack, channel_row: int) -> list[tuple[int, str]]:
    with db(stack) as conn:
        return conn.execute(
            "SELECT msg_id, text FROM message WHERE channel_id = ? ORDER BY msg_id",
            (channel_row,),
        ).fetchall()


def checksum(pairs: list[tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for msg_id, text in pairs:
        h.update(f"{msg_id}\x00{text}\x01".encode())
    return h.hexdigest()


def expected(ch: Channel) -> list[tuple[int, str]]:
    out = []
    for i in ch.ids:
        msg = ch.get(i)
        assert msg is not None
        out.append((i, msg.text))
    return out


def channel_row(stack: Stack, row_id: int) -> dict[str, Any]:
    with db(stack) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM channel WHERE id = ?", (row_id,)).fetchone()
        return dict(row)


async def wait_until(cond: Any, what: str, stack: Stack, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        assert stack.app.alive(), stack.app.log()[-3000:]
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{stack.app.log()[-3000:]}")


def caught_up(stack: Stack, row_id: int, ch: Channel) -> bool:
    row = channel_row(stack, row_id)
    return bool(row["cursor"] == ch.last_id and row["backfill_done"])


async def parse(stack: Stack, target: str) -> str:
    api = stack.botapi
    await api.send_text(api.users[ADMIN2_ID], f"/parse {target}")
    done = await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=120)
    return done.text


async def seed_caught_up(
    stack: Stack, channels: list[Channel], paused: tuple[Channel, ...] = ()
) -> dict[str, int]:
    """Like `seed`, for many channels at once, as an archive whose next scheduled runs
    are a day away: nothing runs at start unless asked (/parse)."""
    await store_logged_in_session(stack, PHONE, CODE)
    await init_db(stack.app.env["DATABASE_URL"])
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    paused_ids = {ch.id for ch in paused}
    try:
        await ChannelModel.bulk_create(
            [
                ChannelModel(
                    tg_id=ch.id, access_hash=ch.access_hash, username=ch.username,
                    title=ch.title, backfill_done=True, next_run_at=tomorrow,
                    status="paused" if ch.id in paused_ids else "active",
                )
                for ch in channels
            ]
        )
        rows = await ChannelModel.all().values_list("id", "tg_id")
        by_tg = {tg_id: row_id for row_id, tg_id in rows}
        return {ch.username or ch.title: by_tg[ch.id] for ch in channels}
    finally:
        await close_db()
