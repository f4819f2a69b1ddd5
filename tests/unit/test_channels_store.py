"""find_channel, the channel repository and ChannelService without Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from db.channels import ChannelRepository, find_channel
from db.database import close_db, init_db
from db.models import Channel
from services.channels import ChannelService


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[None]:
    await init_db(f"sqlite://{tmp_path / 'db.sqlite3'}")
    try:
        yield
    finally:
        await close_db()


async def _add(repo: ChannelRepository, tg_id: int, username: str | None, title: str) -> int:
    row, created = await repo.add(
        tg_id=tg_id,
        access_hash=tg_id * 7,
        title=title,
        username=username,
        kind="channel",
        linked_chat_id=None,
        history_mode="all",
        history_limit=None,
        history_since=None,
    )
    assert created
    return row.id


async def test_find_channel_by_every_form(db: None) -> None:
    repo = ChannelRepository()
    news = await _add(repo, 1234567890, "News_Daily", "Daily News")
    tech = await _add(repo, 2222222222, None, "Tech talk")
    await _add(repo, 3333333333, None, "Tech digest")
    await Channel.create(tg_id=4444444444, title="News chat", status="linked")

    async def found(ref: str) -> int | None:
        ch = await find_channel(ref)
        return ch.id if ch else None

    for ref in (
        "@news_daily",
        "news_daily",
        "NEWS_DAILY",
        "t.me/news_daily",
        "https://t.me/s/news_daily",
        "https://t.me/news_daily/55",
        "1234567890",
        "-1001234567890",
        "https://t.me/c/1234567890/7",
        "daily news",
        "Daily",  # unique title prefix
    ):
        assert await found(ref) == news, ref
    assert await found(str(news)) == news  # a small number: the row id
    assert await found("tech talk") == tech
    assert await found("Tech") is None  # ambiguous prefix
    assert await found("News chat") is None  # the fetcher's discussion row is not "added"
    linked = await find_channel("News chat", include_linked=True)
    assert linked is not None and linked.comments_of == ""  # no channel of it is stored
    for ref in ("", "@nobody", "-1009999", "t.me/+abcdefgh12"):
        assert await found(ref) is None, ref


async def test_add_is_idempotent_and_adopts_a_linked_row(db: None) -> None:
    repo = ChannelRepository()
    row_id = await _add(repo, 111, "a_chan", "A")
    again, created = await repo.add(
        tg_id=111, access_hash=1, title="changed", username=None, kind="megagroup",
        linked_chat_id=None, history_mode="last", history_limit=5, history_since=None,
    )  # fmt: skip
    assert not created and again.id == row_id and again.title == "A"
    linked = await Channel.create(tg_id=222, title="Group", status="linked", backfill_done=True)
    adopted, created = await repo.add(
        tg_id=222, access_hash=9, title="Group", username="grp", kind="megagroup",
        linked_chat_id=None, history_mode="all", history_limit=None, history_since=None,
    )  # fmt: skip
    assert created and adopted.id == linked.id and adopted.status == "active"
    fresh = await Channel.get(id=linked.id)
    assert fresh.backfill_done is False and fresh.access_hash == 9


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def add_channel(self, channel_id: int) -> None:
        self.calls.append(("add", channel_id))

    async def remove_channel(self, channel_id: int) -> None:
        self.calls.append(("remove", channel_id))

    async def drop_channel(self, channel_id: int) -> None:
        self.calls.append(("drop", channel_id))

    async def reschedule(self, channel_id: int) -> None:
        self.calls.append(("reschedule", channel_id))

    def next_runs(self) -> list[tuple[int, datetime]]:
        return []


class NoSession:
    state = "no_session"

    async def wait_ready(self, timeout: float | None = None) -> Any:
        raise AssertionError("must not wait for a client without a session")


async def test_service_manages_channels_through_the_hooks(db: None) -> None:
    repo = ChannelRepository()
    hooks = Hooks()
    svc = ChannelService(NoSession(), repo, hooks, default_history="500")
    row_id = await _add(repo, 555, "chan", "Chan")

    assert await svc.pause(row_id) and (await Channel.get(id=row_id)).status == "paused"
    assert await svc.resume(row_id) and (await Channel.get(id=row_id)).status == "active"
    toggled = await svc.toggle_comments(row_id)
    assert toggled is not None and toggled.comments_enabled
    await svc.set_interval(row_id, 15)
    assert (await Channel.get(id=row_id)).interval_minutes == 15
    batch = svc.history_batch([row_id])
    choice = await svc.choose_history(batch, "since:2024-03-01")
    assert choice is not None and choice.channel_ids == (row_id,) and choice.late == ()
    ch = await Channel.get(id=row_id)
    assert ch.history_mode == "since" and ch.history_since == datetime(2024, 3, 1, tzinfo=UTC)
    choice = await svc.choose_history(batch, "default")
    assert choice is not None and choice.channel_ids == (row_id,)
    ch = await Channel.get(id=row_id)
    assert (ch.history_mode, ch.history_limit) == ("last", 500)
    await Channel.filter(id=row_id).update(cursor=10)
    choice = await svc.choose_history(batch, "all")  # history already stored
    assert choice is not None and choice.channel_ids == () and choice.late == (row_id,)
    assert await svc.choose_history("unknown", "all") is None
    assert await svc.remove(row_id) and await Channel.get_or_none(id=row_id) is None
    assert hooks.calls == [
        ("drop", row_id),  # pausing stops a run in progress, then unschedules
        ("add", row_id),
        ("reschedule", row_id),
        ("add", row_id),
        ("add", row_id),
        ("drop", row_id),  # and so does removing, before the rows go
    ]


async def test_service_without_scheduler_or_session(db: None) -> None:
    svc = ChannelService(NoSession(), ChannelRepository(), None)
    results = await svc.add_lines("@news\n!!!\n@news sometime")
    assert [r.code for r in results] == ["not_ready", "garbage", "bad_option"]
    assert [r.code for r in await svc.add_lines("??? \n http://example.com/x")] == [
        "garbage",
        "garbage",
    ]
    row_id = await _add(ChannelRepository(), 777, "x_chan", "X")
    assert await svc.pause(row_id)  # no scheduler wired: still works
    assert (await svc.join("unknown-token")).code == "invite_gone"


async def test_one_history_answer_applies_to_every_new_channel_of_the_batch(db: None) -> None:
    repo = ChannelRepository()
    hooks = Hooks()
    svc = ChannelService(NoSession(), repo, hooks)
    ids = [await _add(repo, 9000 + i, f"batch_{i:04d}", f"Batch {i}") for i in range(1200)]
    started = ids[5]
    await Channel.filter(id=started).update(cursor=42)  # its first run already began
    gone = ids[7]
    await repo.remove(gone)
    batch = svc.history_batch(ids)
    choice = await svc.choose_history(batch, "last:100")
    assert choice is not None
    assert sorted(choice.late) == sorted([started, gone])
    assert len(choice.channel_ids) == len(ids) - 2
    rows = await Channel.filter(id__in=ids).values("id", "history_mode", "history_limit")
    chosen = {r["id"] for r in rows if (r["history_mode"], r["history_limit"]) == ("last", 100)}
    assert chosen == set(ids) - {started, gone}
    assert hooks.calls == [("add", i) for i in choice.channel_ids]


async def test_any_number_of_lines_each_get_an_outcome(db: None) -> None:
    svc = ChannelService(NoSession(), ChannelRepository(), None)
    lines = [f"@name_{i:03d}" for i in range(120)] + ["@NAME_000", "!!!"] * 15
    results = await svc.add_lines("\n".join(lines))
    assert len(results) == len(lines) == 150
    codes = [r.code for r in results]
    assert codes[:120] == ["not_ready"] * 120
    assert codes[120:] == ["duplicate", "garbage"] * 15  # the same name is asked once
    assert results[-1].line == "!!!"


async def test_comments_are_counted_on_their_channel_and_go_with_it(db: None) -> None:
    repo = ChannelRepository()
    a = await _add(repo, 111, "a_chan", "A")
    b = await _add(repo, 222, "b_chan", "B")
    plain = await _add(repo, 333, "c_chan", "C")
    await Channel.filter(id__in=[a, b]).update(linked_chat_id=999)  # one group, two channels
    group = await Channel.create(tg_id=999, title="", status="linked", messages_count=42)
    rows, total = await repo.page(0)
    assert total == 3  # the discussion group is not one of the operator's channels
    assert {r.id: r.comments_count for r in rows} == {a: 42, b: 42, plain: None}
    assert await repo.remove(a)
    assert await Channel.get_or_none(id=group.id) is not None  # still read for B
    assert await repo.remove(b)
    assert await Channel.get_or_none(id=group.id) is None
    assert not await repo.remove(b)
