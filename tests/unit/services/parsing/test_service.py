"""/parse over many channels and /status at scale: ParseService on a real scheduler and DB.

Replies are rendered by the bot's own functions and read back through the Bot API
double's HTML parser, which refuses what Telegram refuses (markup, 4,096 characters).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telethon.tl import types

from bot.routers.parse import render_live, render_summary, status_section
from bot.status import StatusPage
from core.channels import Channel as ChannelSnapshot
from core.errors import SessionDead, TelegramError
from core.health import HealthRegistry
from core.parsing import BatchProgress, RunProgress, RunStatus
from db.channels import ChannelStateRepository
from db.messages import MessageRepository
from db.models import Channel
from services.parsing.breaker import CircuitBreaker
from services.parsing.ingest import ChannelFetcher, RunFailed
from services.parsing.service import ParseService
from services.status import StatusService
from tests.doubles.botapi.formatting import parse_text, utf16_len
from tests.unit.parser.history_fakes import FakeClient
from tests.unit.services.parsing.fakes import worker

LIMIT = 4096
# A title as long as Telegram allows (128), with markup characters and emoji.
TITLE = ('<i>&"Канал «Новости» 🎉 ' * 6)[:128]


class Userbot:
    def __init__(self) -> None:
        self.client: Any = object()
        self.state = "ready"
        self.reason: str | None = None
        self.me = None

    async def session_dead(self, reason: str) -> None:
        self.state, self.reason, self.client = "invalid", reason, None


class Fetcher:
    """Every channel yields 10 new and 250 re-read rows, or the error set for it."""

    def __init__(self) -> None:
        self.errors: dict[int, TelegramError] = {}

    def request_stop(self, channel_id: int | None = None) -> None:
        pass

    async def run(self, client: Any, ch: ChannelSnapshot, on_progress: Any = None) -> RunProgress:
        progress = RunProgress(ch.label, fetched=260, total=260, new=10)
        if on_progress is not None:
            await on_progress(progress)
        if ch.id in self.errors:
            error = self.errors[ch.id]
            progress.status, progress.error = RunStatus.FAILED, error.detail or error.code
            raise RunFailed(error, progress)
        progress.status, progress.top_id = RunStatus.OK, 260
        return progress


@pytest.fixture
async def service(db: Path) -> AsyncIterator[tuple[ParseService, Fetcher, Userbot]]:
    fetcher, userbot, breaker = Fetcher(), Userbot(), CircuitBreaker()
    sched = worker(fetcher, userbot, breaker=breaker)
    task = asyncio.create_task(sched.run())
    await sched.started.wait()
    try:
        yield ParseService(sched, ChannelStateRepository(), breaker, userbot), fetcher, userbot
    finally:
        await sched.stop()
        await task


def shown(html: str) -> str:
    """What the operator reads (the parser raises what Telegram would refuse)."""
    text, _ = parse_text(html, "HTML")
    assert utf16_len(text) <= LIMIT, utf16_len(text)
    return text


async def add_channels(n: int, **fields: Any) -> list[Channel]:
    await Channel.bulk_create(
        [
            Channel(tg_id=10_000 + i, access_hash=1, title=f"{i} {TITLE}", **fields)
            for i in range(n)
        ]
    )
    return await Channel.all().order_by("id")


async def test_parse_all_over_many_channels_stays_bounded_and_counts(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    api, fetcher, _ = service
    channels = await add_channels(200)  # 1,000 and more: tests/e2e/test_parse_scale.py
    fetcher.errors = {c.id: TelegramError("boom " * 100) for c in channels[::20]}
    lives: list[str] = []

    async def on_progress(batch: BatchProgress) -> None:
        for lang in ("en", "ru"):
            text = shown(render_live(batch, lang))
            assert text.count("\n") <= 1  # counters, then the channel being read
            lives.append(text)

    batch = await api.run_batch(await api.targets("all"), on_progress, exclusive=True)
    assert batch is not None and batch.done == 200
    assert batch.outcomes == {"ok": 190, "failed": 10}
    # A failed run keeps what it stored before the error: those count too.
    assert batch.new == 2000 and batch.reread == 50_000
    assert any(re.search(r"⏳ Channels: \d+ / 200 · \d+ new · \d+ re-read", s) for s in lives)
    assert any(re.search(r"\n⏳ \d+ <i>&.*: messages 260 / ~260 \(10 new\)", s) for s in lives)
    en, ru = shown(render_summary(batch, "en")), shown(render_summary(batch, "ru"))
    assert en.startswith("Done: 200 channels in ")
    assert "2000 new messages, 50000 re-read." in en
    assert "✅ 190 ok · ⚠️ 10 failed" in en
    assert en.count("failed (boom") == 5 and en.endswith("…and 5 more")
    assert "2000 новых сообщений, перечитано 50000." in ru and ru.endswith("…и ещё 5")
    assert api.batch is None  # the next /parse all may start


async def test_a_second_parse_all_is_refused_while_one_runs(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    api, _, _ = service
    await add_channels(3)
    targets = await api.targets("all")
    second: list[BatchProgress | None] = []

    async def on_progress(batch: BatchProgress) -> None:
        if not second:
            second.append(await api.run_batch(targets, exclusive=True))

    first = await api.run_batch(targets, on_progress, exclusive=True)
    assert second == [None] and first is not None and first.done == 3
    # A single channel may still be asked for meanwhile: it waits in the same queue.
    assert (await api.run_batch(targets[:1])) is not None


async def test_a_session_revoked_part_way_leaves_the_rest_not_run_with_the_reason(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    api, fetcher, userbot = service
    channels = await add_channels(50)
    fetcher.errors = {channels[20].id: SessionDead("AuthKeyUnregistered")}
    batch = await api.run_batch(await api.targets("all"), exclusive=True)
    assert batch is not None and userbot.state == "invalid"
    assert batch.outcomes == {"ok": 20, "failed": 1, "not_run": 29}
    assert batch.stopped == "invalid" and batch.stopped_detail == "AuthKeyUnregistered"
    en, ru = shown(render_summary(batch, "en")), shown(render_summary(batch, "ru"))
    assert en.startswith("Done: 21 of 50 channels")
    assert "The Telegram session stopped working (Telegram no longer accepts this session): " \
        "29 channels were " \
        "not run. Log in again with /login" in en
    assert "⏭ 29 not run" in en and "wrong" not in en.lower()
    assert ru.startswith("Готово: 21 из 50 каналов")
    assert (
        "Сессия Telegram перестала работать (Telegram больше не принимает эту сессию): "
        "29 каналов не собрано" in ru
    )
    # Logged out (no session at all) before a single channel: each is reported, once.
    userbot.state, userbot.reason = "no_session", None
    batch = await api.run_batch(await api.targets("all"), exclusive=True)
    assert batch is not None and batch.outcomes == {"not_run": 50} and batch.done == 0
    assert "Logged out of Telegram during the run: 50 channels were not run." in shown(
        render_summary(batch, "en")
    )


async def test_a_parse_waiting_in_the_queue_when_the_operator_logs_out_is_answered(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    """Logged out while a /parse waited behind another run: it ends as not run at once
    instead of waiting for a login that may never come."""
    api, _, userbot = service
    await add_channels(3)
    userbot.state = "no_session"  # the client is still set: the logout is under way
    batch = await asyncio.wait_for(api.run_batch(await api.targets("all")), 30)
    assert batch is not None and batch.outcomes == {"not_run": 3}
    assert batch.stopped == "no_session"


async def seed_kinds(now: datetime) -> None:
    """1,000 channels: 20 of each trouble, the rest fine."""
    await add_channels(920, messages_count=3)
    for i, (kind, fields) in enumerate(
        [
            ("failing", {"last_error": "transport: " + "x" * 400}),
            ("deferred", {"deferred_until": now + timedelta(hours=1), "last_error": "flood"}),
            ("disabled", {"status": "disabled", "disabled_reason": "private " * 40}),
            ("paused", {"status": "paused"}),
        ]
    ):
        await Channel.bulk_create(
            [
                Channel(tg_id=50_000 + 100 * i + k, title=f"{kind} {k} {TITLE}", **fields)
                for k in range(20)
            ]
        )
    # A deferral that ran out and a failure after it: failing, not deferred.
    await Channel.create(
        tg_id=99_999, username="after_flood", last_error="flood wait 30s",
        deferred_until=now - timedelta(minutes=1),
    )
    ch = await Channel.get(tg_id=99_999)
    await ChannelStateRepository().set_error(ch.id, "ConnectionError")


async def test_status_with_1000_channels_counts_then_names_a_few_of_each_kind(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    api, _, userbot = service
    await seed_kinds(datetime.now(UTC))
    health = HealthRegistry()
    health.set("scheduler", "running")
    async def parsing(lang: str) -> str:
        return await status_section(api, lang)

    async def quiet(lang: str) -> str:
        return ""

    page = StatusPage(StatusService(health), None, (parsing,), quiet)
    en = shown(await page.render("en"))
    assert "Channels (1001): 920 ok, 21 failing, 20 deferred, 20 disabled, 20 paused" in en
    for kind, more in (("failing", 18), ("deferred", 17), ("disabled", 17), ("paused", 17)):
        # Three of each kind by name, then how many more.
        assert re.search(rf"(\n• {kind} [^\n]*: {kind}[^\n]*){{3}}\n…and {more} more\n", en), kind
    assert "Telegram connection: ok" in en and "Messages stored: 2760" in en
    ru = shown(await page.render("ru"))
    assert "Каналы (1001): в порядке — 920, с ошибками — 21, отложены — 20" in ru
    assert "…и ещё 17" in ru and "• планировщик: работает" in ru
    assert "running" not in ru

    # Logged out: nothing about a connection or runs that will not happen.
    userbot.state, userbot.client = "no_session", None
    en = shown(await page.render("en"))
    assert "Telegram connection" not in en and "Next runs" not in en
    assert "Channels (1001)" in en


async def test_the_progress_total_counts_the_posts_read_again(repo: MessageRepository) -> None:
    """250 recent posts stored, 10 new ones: the run reads 260, and says so from the
    first page (never "100 / ~100" while 260 are being read)."""
    now = datetime.now(UTC)

    def posts(n: int) -> list[Any]:
        return [
            types.Message(
                id=i, peer_id=types.PeerChannel(777), message=f"post {i}",
                date=now - timedelta(hours=2) + timedelta(seconds=i),
            )
            for i in range(1, n + 1)
        ]

    row = await Channel.create(tg_id=777, access_hash=1, username="news")
    state = ChannelStateRepository()
    fetcher = ChannelFetcher(repo, state, refresh_window_hours=24)
    ch = await state.channel(row.id)
    assert ch is not None
    first = await fetcher.run(FakeClient(posts(250)), ch)  # type: ignore[arg-type]
    assert (first.new, first.reread) == (250, 0)

    seen: list[tuple[int, int | None]] = []

    async def on_progress(p: RunProgress) -> None:
        seen.append((p.fetched, p.total))

    ch = await state.channel(row.id)
    assert ch is not None
    result = await fetcher.run(FakeClient(posts(260)), ch, on_progress)  # type: ignore[arg-type]
    assert (result.new, result.reread, result.fetched) == (10, 250, 260)
    assert seen and seen[0][0] < 260
    assert all(total == 260 for _, total in seen), seen


async def test_a_channel_no_account_can_read_now_leaves_the_others_of_the_batch_running(
    service: tuple[ParseService, Fetcher, Userbot],
) -> None:
    # Was: the first such channel ended the whole /parse all ("⛔ The Telegram account is
    # not usable now (session: no_reader): 5 channels were not run").
    api, _, userbot = service
    channels = await add_channels(5)
    await Channel.filter(id=channels[0].id).update(account_id=2)  # private, its account gone

    async def reader_for(account_id: int | None, public: bool, *, borrow: bool = False
                         ) -> tuple[Any, bool]:
        return (None, False) if account_id == 2 else (userbot, False)

    userbot.reader_for = reader_for  # type: ignore[attr-defined]
    batch = await api.run_batch(await api.targets("all"), exclusive=True)
    assert batch is not None and batch.stopped is None
    assert batch.outcomes == {"ok": 4, "not_run": 1}
    en, ru = shown(render_summary(batch, "en")), shown(render_summary(batch, "ru"))
    assert "✅ 4 ok · ⏭ 1 not run" in en and "no_reader" not in en + ru
    assert ": not run: no account that can read it is usable now (a private channel" in en
    assert ": не собран — сейчас нет аккаунта, который может его читать" in ru
