"""History depth, upgraded groups and completeness end to end (issue #15, Must 4, 6, 9):
the app as a process against both doubles, one stack for the module.

- `since:` a date after the last post: nothing stored, the cursor after the newest post;
  a later /parse stores exactly the new posts.
- `last:N` and `since:` on channels with id gaps store exactly what they promise.
- A supergroup upgraded from a basic group: the old group (another peer, another id
  space) is read fully into a row of its own, no duplicates, and is in the
  supergroup's /export; an old group the account cannot read is reported with the count
  of messages missing and Telegram's reason.
- /channels' detail view shows the archive's ends, the ids missing between them and
  whether earlier history exists, in English and Russian.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from db.database import close_db, init_db
from db.models import Channel as ChannelModel
from tests.doubles.botapi import MessageSnapshot
from tests.doubles.mtproto import BasicGroup, World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack, store_logged_in_session
from tests.e2e.seeded import CODE, PHONE, channel_row, db, parse, wait_until
from tests.unit.export_fixtures import read_back

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE_LATE = NOW - timedelta(days=1)  # after @late's last post
SINCE_GAPS = NOW - timedelta(hours=40, minutes=30)


@dataclass
class World4:
    world: World
    late: Channel
    gaps: Channel
    gapsince: Channel
    upgraded: Channel
    old: BasicGroup
    locked: Channel
    locked_old: BasicGroup


def make_world() -> World4:
    world = World()
    me = world.add_account(phone=PHONE, code=CODE)
    late = world.add_channel(username="late", title="Late")
    late.add_messages(20, start_date=NOW - timedelta(days=3), interval=600)

    gaps = world.add_channel(username="gaps", title="Gaps")
    for i in range(60):  # ids 1, 4, 7, ...: two ids gone between every two posts
        gaps.add_message(f"gap post {i}", msg_id=3 * i + 1)
    for mid in gaps.ids[-20:-5:3]:  # and a few deleted among the newest
        gaps.delete_message(mid)

    gapsince = world.add_channel(username="gapsince", title="Gap since")
    for i in range(80):  # one post an hour, ids with gaps
        gapsince.add_message(
            f"hourly {i}", msg_id=2 * i + 1 + i // 10, date=NOW - timedelta(hours=80 - i)
        )
    for mid in gapsince.ids[36:44]:  # deleted around the since: date
        gapsince.delete_message(mid)

    old = world.add_chat("Old upgraded chat", members=[me])
    for i in range(1, 151):  # a basic group's ids come from each user's own counter
        old.add_message(f"before upgrade {i}", msg_id=5 * i, from_id=me,
                        date=NOW - timedelta(days=30) + timedelta(minutes=i))
    upgraded = world.migrate(old, username="upgraded", title="Upgraded")
    for i in range(30):
        upgraded.add_message(f"after upgrade {i}", from_id=me)

    locked_old = world.add_chat("Locked chat")  # the account was never a member
    for i in range(1, 8):
        locked_old.add_message(f"unreadable {i}", msg_id=10 * i)
    locked = world.migrate(locked_old, username="locked", title="Locked")
    locked.add_message("after the upgrade", from_id=me)
    return World4(world, late, gaps, gapsince, upgraded, old, locked, locked_old)


@dataclass
class Run:
    stack: Stack
    w: World4
    rows: dict[str, int]


async def seed(stack: Stack, w: World4) -> dict[str, int]:
    await store_logged_in_session(stack, PHONE, CODE)
    await init_db(stack.app.env["DATABASE_URL"])
    me = w.world.account(PHONE)
    try:
        rows = {}
        for ch, kind, mode, limit, since in (
            (w.late, "channel", "since", None, SINCE_LATE),
            (w.gaps, "channel", "last", 25, None),
            (w.gapsince, "channel", "since", None, SINCE_GAPS),
            (w.upgraded, "megagroup", "all", None, None),
            (w.locked, "megagroup", "all", None, None),
        ):
            row = await ChannelModel.create(
                tg_id=ch.id, access_hash=ch.access_hash_for(me), username=ch.username,
                title=ch.title, kind=kind, history_mode=mode, history_limit=limit,
                history_since=since,
            )
            rows[ch.username or ""] = row.id
        return rows
    finally:
        await close_db()


def ids_of(stack: Stack, row_id: int | None) -> list[int]:
    with db(stack) as conn:
        return [r[0] for r in conn.execute(
            "SELECT msg_id FROM message WHERE channel_id = ? ORDER BY msg_id", (row_id,)
        )]


def old_row(stack: Stack, chat_id: int) -> int | None:
    with db(stack) as conn:
        found = conn.execute(
            "SELECT id FROM channel WHERE tg_id = ? AND kind = 'chat'", (-chat_id,)
        ).fetchone()
    return int(found[0]) if found else None


def settled(stack: Stack, rows: dict[str, int]) -> bool:
    with db(stack) as conn:
        done = conn.execute(
            "SELECT count(*) FROM channel WHERE backfill_done AND status = 'active'"
        ).fetchone()[0]
        running = conn.execute(
            "SELECT count(*) FROM parse_run WHERE status = 'running'"
        ).fetchone()[0]
    return bool(done == len(rows) and running == 0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    w = make_world()
    tmp = tmp_path_factory.mktemp("depth")
    async with running_stack(tmp, w.world, start=False) as stack:
        rows = await seed(stack, w)
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: settled(stack, rows), "the first runs", stack, timeout=60)
        yield Run(stack, w, rows)
        with db(stack) as conn:
            assert conn.execute(
                "SELECT count(*) FROM parse_run WHERE status = 'running'"
            ).fetchone()[0] == 0
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_since_after_the_last_post_stores_nothing_then_exactly_the_new_posts(
    run: Run,
) -> None:
    stack, late = run.stack, run.w.late
    row_id = run.rows["late"]
    assert ids_of(stack, row_id) == []
    row = channel_row(stack, row_id)
    assert row["backfill_done"] and row["cursor"] == late.last_id == 20
    assert row["history_before"] == 1
    new = [late.add_message(f"fresh {i}").id for i in range(3)]
    await parse(stack, "@late")
    assert ids_of(stack, row_id) == new == [21, 22, 23]


async def test_last_n_and_since_with_id_gaps_store_exactly_what_they_promise(run: Run) -> None:
    stack, gaps, gapsince = run.stack, run.w.gaps, run.w.gapsince
    assert len(gaps) == 55
    assert ids_of(stack, run.rows["gaps"]) == gaps.ids[-25:]
    assert channel_row(stack, run.rows["gaps"])["history_before"] == 1
    since_ts = int(SINCE_GAPS.timestamp())
    promised = [i for i in gapsince.ids if gapsince.message(i).date >= since_ts]
    assert 30 < len(promised) < 45
    assert ids_of(stack, run.rows["gapsince"]) == promised
    assert channel_row(stack, run.rows["gapsince"])["history_before"] == 1


async def test_an_upgraded_group_is_read_fully_and_exported_with_the_supergroup(
    run: Run, tmp_path: Path
) -> None:
    stack, group, old = run.stack, run.w.upgraded, run.w.old
    assert ids_of(stack, run.rows["upgraded"]) == group.ids and len(group.ids) == 31
    old_id = old_row(stack, old.id)
    assert old_id is not None
    assert ids_of(stack, old_id) == old.ids and len(old.ids) == 151  # + chatMigrateTo
    with db(stack) as conn:
        n, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT channel_id || ':' || msg_id) FROM message"
            " WHERE channel_id IN (?, ?)", (run.rows["upgraded"], old_id),
        ).fetchone()
    assert n == distinct == 182
    row = channel_row(stack, run.rows["upgraded"])
    assert (row["migrated_from_chat_id"], row["migrated_from_max_id"]) == (old.id, old.last_id)
    assert row["migrated_missing"] is None

    api = stack.botapi
    before = len(api.uploads)
    await api.send_text(api.users[ADMIN2_ID], "/export @upgraded csv")
    await api.wait_for_message(ADMIN2_ID, r"Done: \d+ messages", timeout=30)
    (upload,) = api.uploads[before:]
    path = tmp_path / (upload.filename or "export.csv")
    path.write_bytes(upload.data)
    exported = read_back(path)
    assert len(exported) == 182
    olds = [r for r in exported if r["channel_id"] == str(-old.id)]
    assert sorted(int(r["msg_id"]) for r in olds) == old.ids
    assert all(r["link"] == "" for r in olds)
    assert any(r["text"] == "before upgrade 150" for r in olds)


async def test_an_unreadable_old_group_is_reported_with_the_count(run: Run) -> None:
    stack, locked_old = run.stack, run.w.locked_old
    row = channel_row(stack, run.rows["locked"])
    assert row["migrated_from_chat_id"] == locked_old.id
    assert (row["migrated_missing"], row["migrated_error"]) == (
        locked_old.last_id, "PEER_ID_INVALID"
    )
    assert ids_of(stack, old_row(stack, locked_old.id)) == []
    assert ids_of(stack, run.rows["locked"]) == run.w.locked.ids


async def _view(run: Run, user_id: int, name: str, shows: str) -> MessageSnapshot:
    api = run.stack.botapi
    user = api.users[user_id]
    await api.send_text(user, "/channels")
    page = await api.wait_for_message(user_id, r"\(5\)", timeout=15)
    data = next(d for row in page.buttons for text, d in row if text.endswith(name))
    await api.press_button(user, page, data)
    return await api.wait_for_message(user_id, shows, timeout=15)


async def test_the_detail_view_shows_completeness_in_both_languages(run: Run) -> None:
    gaps = run.w.gaps
    kept = gaps.ids[-25:]
    missing = kept[-1] - kept[0] + 1 - 25
    view = await _view(run, ADMIN2_ID, "@gaps", r"Archived: #")
    text = view.text or ""
    assert f"Archived: #{kept[0]} (" in text and f") … #{kept[-1]} (" in text, text
    assert f"Ids missing between them: {missing}" in text, text
    assert "Earlier history: exists on Telegram, not archived" in text, text

    view = await _view(run, ADMIN2_ID, "@upgraded", r"the old group\): 151 messages")
    text = view.text or ""
    assert "Ids missing between them: 0" in text and "Earlier history: none" in text, text

    view = await _view(run, ADMIN2_ID, "@locked", r"are not archived")
    text = view.text or ""
    assert f"up to {run.w.locked_old.last_id} earlier messages" in text, text
    assert "PEER_ID_INVALID" in text, text

    view = await _view(run, ADMIN_ID, "@upgraded", r"в архиве 151 сообщение")
    text = view.text or ""
    assert "В архиве: №1 (" in text and "Пропущено id между ними: 0" in text, text
    assert "Более ранняя история: нет" in text, text
    view = await _view(run, ADMIN_ID, "@late", r"Более ранняя история")
    assert "Более ранняя история: есть в Telegram" in (view.text or ""), view.text
