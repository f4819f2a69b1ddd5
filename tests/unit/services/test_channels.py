"""services/channels.py ChannelService over the migrated database, without Telegram."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.media import MEDIA_KINDS
from db.channels import ChannelRepository
from db.models import Channel
from services.channels import ChannelService
from tests.unit.db.test_channels import add_channel


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


async def test_service_manages_channels_through_the_hooks(db: Path) -> None:
    repo = ChannelRepository()
    hooks = Hooks()
    svc = ChannelService(NoSession(), repo, hooks, default_history="500")
    row_id = await add_channel(repo, 555, "chan", "Chan")

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


async def test_a_process_without_the_account_says_it_is_open_elsewhere(db: Path) -> None:
    """#18: the bot-only process (or one standing by) cannot resolve: not 'log in'."""
    for state in ("elsewhere", "standby"):
        session = NoSession()
        session.state = state
        svc = ChannelService(session, ChannelRepository(), None)
        assert [r.code for r in await svc.add_lines("@news\n@other")] == ["elsewhere"] * 2


async def test_service_without_scheduler_or_session(db: Path) -> None:
    svc = ChannelService(NoSession(), ChannelRepository(), None)
    results = await svc.add_lines("@news\n!!!\n@news sometime")
    assert [r.code for r in results] == ["not_ready", "garbage", "bad_option"]
    assert [r.code for r in await svc.add_lines("??? \n http://example.com/x")] == [
        "garbage",
        "garbage",
    ]
    row_id = await add_channel(ChannelRepository(), 777, "x_chan", "X")
    assert await svc.pause(row_id)  # no scheduler wired: still works
    assert (await svc.join("unknown-token")).code == "invite_gone"


async def test_one_history_answer_applies_to_every_new_channel_of_the_batch(db: Path) -> None:
    repo = ChannelRepository()
    hooks = Hooks()
    svc = ChannelService(NoSession(), repo, hooks)
    ids = [await add_channel(repo, 9000 + i, f"batch_{i:04d}", f"Batch {i}") for i in range(1200)]
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


async def test_any_number_of_lines_each_get_an_outcome(db: Path) -> None:
    svc = ChannelService(NoSession(), ChannelRepository(), None)
    lines = [f"@name_{i:03d}" for i in range(120)] + ["@NAME_000", "!!!"] * 15
    results = await svc.add_lines("\n".join(lines))
    assert len(results) == len(lines) == 150
    codes = [r.code for r in results]
    assert codes[:120] == ["not_ready"] * 120
    assert codes[120:] == ["duplicate", "garbage"] * 15  # the same name is asked once
    assert results[-1].line == "!!!"


async def test_typed_days_are_the_operators_days_in_timezone(db: Path) -> None:
    """/add `since:`, the history buttons and HISTORY_DEFAULT read a day in TIMEZONE."""
    repo = ChannelRepository()
    moscow = ZoneInfo("Europe/Moscow")
    svc = ChannelService(NoSession(), repo, Hooks(), default_history="2026-01-10", tz=moscow)
    assert svc.default_history.since == datetime(2026, 1, 9, 21, tzinfo=UTC)
    row_id = await add_channel(repo, 556, "chan", "Chan")
    choice = await svc.choose_history(svc.history_batch([row_id]), "since:2026-09-01")
    assert choice is not None and choice.depth.since == datetime(2026, 8, 31, 21, tzinfo=UTC)
    ch = await Channel.get(id=row_id)
    assert ch.history_since == datetime(2026, 8, 31, 21, tzinfo=UTC)


async def test_new_channels_keep_media_default_and_the_policy_is_set_per_channel(
    db: Path,
) -> None:
    from core.media import MediaMode, MediaPolicy
    from parser.resolver import Resolved

    repo = ChannelRepository()
    svc = ChannelService(NoSession(), repo, None, media_default="all", media_max_mb=20)
    assert svc.media_defaults == MediaPolicy(MediaMode.ALL, None, 20 * 1024 * 1024)
    added = await svc._store("@pics", Resolved(77, 1, "Pics", "pics", "channel"), None)
    row_id = added.channel_id
    assert row_id is not None
    assert (await Channel.get(id=row_id)).media_mode == "all"  # MEDIA_DEFAULT, stored
    older = await add_channel(repo, 78, "old", "Before media")  # media_mode None
    ch = await svc.get(older)
    assert ch is not None and ch.media_policy(svc.media_defaults) == svc.media_defaults

    ch = await svc.set_media_policy(row_id, "all", ["voice", "video"], 0)
    assert ch is not None
    assert (ch.media_mode, ch.media_kinds, ch.media_max_mb) == ("all", ("video", "voice"), 0)
    policy = ch.media_policy(svc.media_defaults)
    assert policy == MediaPolicy(MediaMode.ALL, frozenset({"video", "voice"}), 0)
    assert policy.wants("video") and not policy.wants("photo") and not policy.too_big(10**12)
    row = await Channel.get(id=row_id)
    assert (row.media_mode, row.media_kinds, row.media_max_mb) == ("all", "video,voice", 0)

    ch = await svc.set_media_policy(row_id, MediaMode.PHOTOS, None, None)  # follow defaults
    assert ch is not None and ch.media_policy(svc.media_defaults) == MediaPolicy(
        MediaMode.PHOTOS, None, 20 * 1024 * 1024
    )
    every = await svc.set_media_policy(row_id, "all", list(MEDIA_KINDS), 5)
    assert every is not None and every.media_kinds is None  # every kind: stored as None
    assert every.media_policy(svc.media_defaults).max_bytes == 5 * 1024 * 1024
    assert await svc.set_media_policy(10**6, "off") is None  # no such channel
    for bad in (("everything", None, None), ("all", ["gif"], None), ("all", None, -1)):
        try:
            await svc.set_media_policy(row_id, *bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")
