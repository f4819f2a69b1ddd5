"""Trouble containment in the run worker, with a fake fetcher and userbot on a real DB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.delivery import render_alert
from core.channels import Channel as ChannelSnapshot
from core.errors import ChannelUnavailable, RateLimited, SessionDead, TransportError
from core.parsing import RunProgress
from db.channels import ChannelRepository
from db.models import Channel, Message
from services.channels import ChannelService
from services.parsing.breaker import OPEN
from services.parsing.ingest import RunFailed
from services.parsing.worker import ParseWorker
from tests.unit.parser.history_fakes import FakeClient, history
from tests.unit.services.parsing.fakes import (
    FakeFetcher,
    FakeUserbot,
    real_fetcher,
    running,
    sent,
)


@pytest.fixture
async def env(db: Path) -> AsyncIterator[dict[str, Any]]:
    async with running(FakeFetcher(), FakeUserbot()) as started:
        yield started


async def test_troubles_are_contained_per_channel(env: dict[str, Any]) -> None:
    ok = await Channel.create(tg_id=1, access_hash=1, username="ok")
    flood = await Channel.create(tg_id=2, access_hash=1, username="flood")
    gone = await Channel.create(tg_id=3, access_hash=1, username="gone")
    env["fetcher"].errors = {flood.id: RateLimited(300), gone.id: ChannelUnavailable("private")}
    sched: ParseWorker = env["sched"]

    assert (await sched.parse_now(ok.id)).status == "ok"
    assert env["committed"] == [(ok.id, 1, 3, 3)]
    deferred = await sched.parse_now(flood.id)
    assert deferred.status == "deferred" and deferred.deferred_seconds == 300
    row = await Channel.get(id=flood.id)
    assert row.deferred_until is not None and row.deferred_until > datetime.now(UTC)
    # While deferred, a run does not even reach Telegram.
    runs = len(env["fetcher"].runs)
    assert (await sched.parse_now(flood.id)).status == "deferred"
    assert len(env["fetcher"].runs) == runs

    assert (await sched.parse_now(gone.id)).status == "disabled"
    assert (await sched.parse_now(gone.id)).status == "disabled"
    row = await Channel.get(id=gone.id)
    assert row.status == "disabled" and row.disabled_reason == "private"
    assert sum("@gone was disabled" in s for s in sent(env)) == 1
    assert sum("wait 300 s for @flood" in s for s in sent(env)) == 1
    assert (await Channel.get(id=ok.id)).status == "active"


async def test_transport_error_opens_breaker_and_session_death_pauses(
    env: dict[str, Any],
) -> None:
    net = await Channel.create(tg_id=4, access_hash=1, username="net")
    dead = await Channel.create(tg_id=5, access_hash=1, username="dead")
    env["fetcher"].errors = {
        net.id: TransportError("ConnectionError"),
        dead.id: SessionDead("AuthKeyUnregistered"),
    }
    sched: ParseWorker = env["sched"]
    assert (await sched.parse_now(net.id)).status == "failed"
    assert env["breaker"].state == OPEN
    assert any("Telegram unreachable" in s for s in sent(env))
    env["breaker"].cooldown = 0  # let the probe through at once
    env["fetcher"].errors.pop(net.id)
    assert (await sched.parse_now(net.id)).status == "ok"
    assert env["breaker"].state == "closed"
    assert any("reachable again" in s for s in sent(env))
    await sched.parse_now(dead.id)
    assert env["userbot"].dead == ["AuthKeyUnregistered"]


async def test_a_logout_mid_run_is_not_telegram_trouble(env: dict[str, Any]) -> None:
    """/logout while a channel is fetched: its requests fail, but neither the breaker
    nor the session alarm goes off, and the run ends as interrupted."""
    ch = await Channel.create(tg_id=6, access_hash=1, username="mid")
    userbot: FakeUserbot = env["userbot"]
    sched: ParseWorker = env["sched"]

    for error in (TransportError("ConnectionError"), SessionDead("AuthKeyUnregistered")):

        async def logged_out_meanwhile(
            client: Any, row: ChannelSnapshot, on_progress: Any = None, error: Any = error
        ) -> RunProgress:
            userbot.client, userbot.state = None, "no_session"  # the operator's /logout
            raise RunFailed(error, RunProgress(row.label, fetched=100, status="failed"))

        env["fetcher"].run = logged_out_meanwhile
        result = await sched.parse_now(ch.id)
        assert result.status == "interrupted" and result.fetched == 100
        assert env["breaker"].state == "closed"
        assert sent(env) == [] and userbot.dead == []
        userbot.client, userbot.state = object(), "ready"  # logged in again
        # ...and the interrupted channel goes on at once, not at its next interval.
        runs = len(env["fetcher"].runs)
        env["fetcher"].run = FakeFetcher.run.__get__(env["fetcher"])
        await sched.session_state("ready")
        for _ in range(200):
            if len(env["fetcher"].runs) > runs:
                break
            await asyncio.sleep(0.01)
        assert env["fetcher"].runs[runs:] == [ch.id]


async def test_a_failing_job_alerts_the_admins(env: dict[str, Any]) -> None:
    sched: ParseWorker = env["sched"]

    async def broken() -> None:
        raise RuntimeError("boom")

    assert sched.jobs.scheduler is not None
    sched.jobs.scheduler.add_job(broken, id="broken")
    for _ in range(200):
        if any("Scheduled job broken failed: RuntimeError" in s for s in sent(env)):
            break
        await asyncio.sleep(0.01)
    assert any("Scheduled job broken failed: RuntimeError" in s for s in sent(env))


def _press_once(
    action: Any, channel_id: int, pressed: list[asyncio.Task[bool]]
) -> Any:
    """A progress callback: the operator presses the button while the run goes on."""

    async def on_progress(progress: RunProgress) -> None:
        if not pressed:
            pressed.append(asyncio.create_task(action(channel_id)))

    return on_progress


async def test_pausing_or_removing_a_channel_mid_run_ends_the_run_quietly(
    env: dict[str, Any],
) -> None:
    """/channels → pause or remove while the channel is being fetched: the run stops
    after its batch, nothing is written for a deleted channel, and no one is alerted."""
    userbot = FakeUserbot()
    userbot.client = FakeClient(history(5000))
    async with running(real_fetcher(refresh_window_hours=0), userbot) as real:
        sched: ParseWorker = real["sched"]
        channels = ChannelService(userbot, ChannelRepository(), sched)
        for action in (channels.pause, channels.remove):
            ch = await Channel.create(tg_id=777, access_hash=1, username="news")
            pressed: list[asyncio.Task[bool]] = []
            result = await sched.parse_now(ch.id, _press_once(action, ch.id, pressed))
            assert await pressed[0]
            assert result.status == "interrupted" and 0 < result.fetched < 4000
            if action == channels.pause:
                row = await Channel.get(id=ch.id)
                stored = await Message.filter(channel_id=ch.id).values_list("msg_id", flat=True)
                assert row.status == "paused" and len(stored) == result.fetched
                assert row.cursor == max(stored)  # resumable: the cursor covers the rows
                await row.delete()
            else:
                assert not await Channel.exists(id=ch.id)
                assert await Message.filter(channel_id=ch.id).count() == 0
        assert sent(real) == []


async def test_a_channel_enabled_again_and_disabled_again_is_told_again(
    env: dict[str, Any],
) -> None:
    gone = await Channel.create(tg_id=3, access_hash=1, username="gone")
    sched: ParseWorker = env["sched"]
    env["fetcher"].errors = {gone.id: ChannelUnavailable("private")}
    assert (await sched.parse_now(gone.id)).status == "disabled"
    assert sum("@gone was disabled" in s for s in sent(env)) == 1  # sent (not folded on)
    await Channel.filter(id=gone.id).update(status="active")  # /add enabled it again
    env["fetcher"].errors = {}
    assert (await sched.parse_now(gone.id)).status == "ok"
    env["fetcher"].errors = {gone.id: ChannelUnavailable("private")}
    assert (await sched.parse_now(gone.id)).status == "disabled"
    assert sum("@gone was disabled" in s for s in sent(env)) == 2


async def test_a_burst_of_disabled_channels_is_one_alert(env: dict[str, Any]) -> None:
    rows = [
        await Channel.create(tg_id=100 + i, access_hash=1, username=f"gone{i:02d}")
        for i in range(40)
    ]
    env["fetcher"].errors = {r.id: ChannelUnavailable("private") for r in rows}
    sched: ParseWorker = env["sched"]
    for r in rows:
        assert (await sched.parse_now(r.id)).status == "disabled"
    (text,) = sent(env)
    assert text.startswith("🚫 40 channels were disabled: the channel is private")
    assert "@gone00, @gone01, @gone02, @gone03, @gone04 and 35 more" in text
    assert len(text) <= 4096
    ru = [render_alert(a.body, "ru") for a in env["alerter"].pending()]
    assert ru[0].startswith("🚫 Отключено 40 каналов") and "и ещё 35" in ru[0]
