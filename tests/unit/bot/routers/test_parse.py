"""/parse: its progress and result lines, and the handler fed real Updates in-process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.api.parsing import BatchCallback
from bot.component import ControlBot
from bot.routers.parse import counters_lines, render_progress, render_result
from core.channels import Channel
from core.health import HealthRegistry
from core.parsing import (
    BatchProgress,
    BreakerState,
    CountersState,
    ParseStatus,
    RunProgress,
    RunStatus,
)
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import FakeChannels, make_deps


def test_progress_and_results_render_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    p = RunProgress("@news", fetched=500, total=1500, started=0.0, new=120)
    monkeypatch.setattr("core.parsing.time.monotonic", lambda: 10.0)
    assert render_progress(p, "en") == (
        "⏳ @news: messages 500 / ~1500 (120 new), 50/s, ETA 20 s"
    )
    assert render_progress(p, "ru") == (
        "⏳ @news: сообщения 500 / ~1500 (новых: 120), 50/с, осталось 20 с"
    )
    p.status, p.deferred_seconds = RunStatus.DEFERRED, 3700
    assert render_result(p, 1.0, "en") == (
        "⏸ @news: Telegram asked to wait, deferred for 1 h 1 min"
    )
    p.status, p.error = RunStatus.DISABLED, "private"
    assert render_result(p, 1.0, "ru") == (
        "🚫 @news: отключён (канал закрытый или аккаунт в нём не состоит)"
    )
    q: Any = RunProgress("<b>", fetched=3, new=3, status=RunStatus.OK)
    assert render_result(q, 2.0, "en") == "✅ &lt;b&gt;: 3 new messages in 2 s"


def test_the_counters_job_lines_in_both_languages() -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    msk = ZoneInfo("Europe/Moscow")
    at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    start = at - timedelta(hours=2)
    paced = CountersState(at, posts=152, subscribers=84, waiting=916,
                          next_subscribers=at + timedelta(minutes=5), since=start,
                          last_count=at)
    assert counters_lines(paced, "en", msk) == [
        "Counters over time: last round 2026-12-01 09:00 MSK; since 2026-12-01 07:00 MSK"
        " read counters of 152 posts, subscribers of 84 channels",
        "Subscribers: last count 2026-12-01 09:00 MSK; 916 channels wait their turn"
        " (counts are spread over the interval); next count 2026-12-01 09:05 MSK",
    ]
    assert counters_lines(paced, "ru", msk) == [
        "Счётчики во времени: последний обход 2026-12-01 09:00 MSK; с 2026-12-01 07:00 MSK"
        " прочитано: счётчики 152 постов, подписчики 84 каналов",
        "Подписчики: последний замер 2026-12-01 09:00 MSK; 916 каналов ждут своей очереди"
        " (замеры распределены по интервалу); следующий замер 2026-12-01 09:05 MSK",
    ]
    # The last round read nothing, the ones before did: what the job read since it
    # started is shown, and a zero part is left out.
    steady = CountersState(at, posts=0, subscribers=21, since=start, last_count=start,
                           next_subscribers=at + timedelta(hours=1))
    assert counters_lines(steady, "ru", msk) == [
        "Счётчики во времени: последний обход 2026-12-01 09:00 MSK; с 2026-12-01 07:00 MSK"
        " прочитано: подписчики 21 канала",
        "Подписчики: последний замер 2026-12-01 07:00 MSK; следующий замер"
        " 2026-12-01 10:00 MSK",
    ]
    idle = CountersState(at, since=at)
    assert counters_lines(idle, "en", msk) == [
        "Counters over time: last round 2026-12-01 09:00 MSK; nothing read since"
        " 2026-12-01 09:00 MSK",
    ]
    held = CountersState(None, held_until=datetime.now(UTC) + timedelta(seconds=90))
    en = counters_lines(held, "en", msk)
    assert en[0] == "Counters over time: no round yet"
    assert en[1].startswith("Counters over time: Telegram asked to wait, 8") and "s left" in en[1]


def test_a_result_counts_new_messages_apart_from_re_read_ones() -> None:
    r = RunProgress("@news", fetched=260, new=10, status=RunStatus.OK)
    assert render_result(r, 1.25, "en") == "✅ @news: 10 new messages, 250 re-read, in 1.2 s"
    assert render_result(r, 1.25, "ru") == (
        "✅ @news: 10 новых сообщений, перечитано 250, за 1,2 с"
    )
    one = RunProgress("@news", fetched=1, new=1, status=RunStatus.OK)
    assert render_result(one, 3.0, "ru") == "✅ @news: 1 новое сообщение за 3 с"
    few = RunProgress("@news", fetched=22, new=22, status=RunStatus.OK)
    assert render_result(few, 3.0, "ru") == "✅ @news: 22 новых сообщения за 3 с"


# ------------------------------------------------------------ /parse, fed as Updates


class FakeParsing:
    """A ParsingAPI over a fixed list of channels; each run stores 5 new messages."""

    def __init__(self) -> None:
        self.connected = True
        self.channels = [Channel(id=1, tg_id=11, username="news"), Channel(id=2, tg_id=22)]
        self.batch: BatchProgress | None = None
        self.ran: list[list[int]] = []

    def ready(self) -> bool:
        return self.connected

    async def targets(self, target: str) -> Sequence[Channel]:
        if target == "all":
            return list(self.channels)
        return [c for c in self.channels if c.label == target]

    async def run_batch(
        self,
        targets: Sequence[Channel],
        on_progress: BatchCallback | None = None,
        *,
        exclusive: bool = False,
    ) -> BatchProgress | None:
        batch = BatchProgress(len(targets))
        self.ran.append([c.id for c in targets])
        for ch in targets:
            run = RunProgress(ch.label, fetched=5, total=5, new=5, started=time.monotonic())
            batch.current = run
            if on_progress is not None:
                await on_progress(batch)
            run.status = RunStatus.OK
            batch.add(run, 0.5)
        return batch

    async def status(self) -> ParseStatus:
        raise AssertionError("not asked by /parse")


@pytest.fixture
async def parsing_bot() -> AsyncIterator[tuple[BotUnderTest, FakeParsing]]:
    """The real ControlBot with FakeParsing as its `parsing` workflow-data key."""
    session, parsing = RecordingSession(), FakeParsing()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = FakeChannels()
    deps = replace(make_deps({ADMIN}, channels=channels, health=health), parsing=parsing)
    control = ControlBot(bot, deps, health=health)
    yield BotUnderTest(control, bot, session, Updates(), channels, health), parsing


async def test_parse_answers_usage_not_ready_and_not_found(
    parsing_bot: tuple[BotUnderTest, FakeParsing],
) -> None:
    tg, parsing = parsing_bot
    (usage,) = await tg.send("/parse")
    assert usage.text.startswith("Usage: /parse")
    (missing,) = await tg.send("/parse @nope")
    assert missing.text == "No such channel among the added ones: @nope"
    parsing.connected = False
    (offline,) = await tg.send("/parse @news")
    assert "not connected" in offline.text
    # A channel that is not there is answered so even while the session is away: the
    # cause is the input, not the connection.
    (missing,) = await tg.send("/parse @nope")
    assert missing.text == "No such channel among the added ones: @nope"
    assert parsing.ran == []


async def test_parse_shows_progress_then_the_summary_in_its_one_message(
    parsing_bot: tuple[BotUnderTest, FakeParsing],
) -> None:
    tg, parsing = parsing_bot
    sent = await tg.send("/parse all")
    assert parsing.ran == [[1, 2]]
    assert sent[0].method == "sendMessage" and "2 channels" in sent[0].text
    edits = tg.session.sent("editMessageText")
    first_id = sent[0].result.message_id
    assert edits and all(int(e.params["message_id"]) == first_id for e in edits)
    assert edits[-1].text.startswith("Done: 2 channels in ")
    assert "✅ @news: 5 new messages" in edits[-1].text
    tg.updates.lang = "ru"
    await tg.send("/parse @news")
    assert tg.session.sent("editMessageText")[-1].text.startswith("Готово: 1 канал")


@dataclass
class _Running:
    """/status of a worker with `n` accounts each reading a channel now."""

    n: int

    async def status(self) -> ParseStatus:
        runs = tuple(
            RunProgress(f"<Chan & {i}> " + "x" * 80, fetched=1000 + i) for i in range(self.n)
        )
        return ParseStatus(
            ready=True, session="ready", breaker=BreakerState("closed"), counts={}, named={},
            messages=0, db_size=None, running=runs, queued=7,
        )


async def test_status_names_the_runs_of_every_account_within_one_message(
    tg: BotUnderTest,
) -> None:
    deps = replace(tg.control.deps, parsing=_Running(40))
    tg.control = ControlBot(tg.bot, deps, health=tg.health)
    (en,) = await tg.send("/status")  # valid HTML within 4,096 characters (checked)
    assert "Running (40, one per account):" in en.text
    assert "• &lt;Chan &amp; 0&gt; xxx" in en.text  # escaped, shortened
    assert "1004 fetched" in en.text and "1005 fetched" not in en.text
    assert "…and 35 more" in en.text and "Waiting in the queue: 7" in en.text
    tg.updates.lang = "ru"
    (ru,) = await tg.send("/status")
    assert "Идёт сбор (40, по одному каналу на аккаунт):" in ru.text
    assert "получено 1004" in ru.text and "…и ещё 35" in ru.text
    tg.control = ControlBot(tg.bot, replace(deps, parsing=_Running(1)), health=tg.health)
    (one,) = await tg.send("/status")
    assert "Идёт сбор: &lt;Chan &amp; 0&gt;" in one.text and "получено 1000" in one.text
