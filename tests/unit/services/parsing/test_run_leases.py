"""Channel runs under leases (#18): a channel another process runs is skipped and said
to run elsewhere; two workers never read one channel at once; a lost lease stops the
run. The leases are an in-memory table here (their PostgreSQL side:
tests/integration/test_leases.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.routers.parse import render_result
from core.channels import Channel as ChannelSnapshot
from core.parsing import RunProgress, RunStatus
from db.models import Channel, ParseRun
from services.parsing.worker import CHANNEL_LEASE
from tests.unit.services.parsing.fakes import FakeUserbot, running


class LeaseTable:
    """The `lease` table of the processes sharing a database."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}
        self.on_lost: dict[tuple[str, str], Callable[[], Awaitable[None]]] = {}


class Gate:
    """One process's core.ports.LeaseGate over the shared table."""

    retry_seconds = 0.05

    def __init__(self, table: LeaseTable, name: str) -> None:
        self.table, self.name = table, name

    async def take(self, kind: str, key: str, on_lost: Callable[[], Awaitable[None]]) -> bool:
        if self.table.rows.get((kind, key), self.name) != self.name:
            return False
        self.table.rows[(kind, key)] = self.name
        self.table.on_lost[(kind, key)] = on_lost
        return True

    async def release(self, kind: str, key: str) -> None:
        if self.table.rows.get((kind, key)) == self.name:
            del self.table.rows[(kind, key)]

    async def holder(self, kind: str, key: str) -> str | None:
        return self.table.rows.get((kind, key))


class SlowFetcher:
    """Reads until released or asked to stop (request_stop: interrupted)."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.reading = asyncio.Event()
        self.release = asyncio.Event()
        self.stopped = False

    def request_stop(self, channel_id: int | None = None) -> None:
        self.stopped = True
        self.release.set()

    async def run(self, client: Any, ch: ChannelSnapshot, on_progress: Any = None) -> RunProgress:
        self.runs.append(ch.id)
        self.reading.set()
        await self.release.wait()
        status = RunStatus.INTERRUPTED if self.stopped else RunStatus.OK
        return RunProgress(ch.label, fetched=3, status=status, top_id=3, new=3, first_new_id=1)


async def test_two_workers_never_read_one_channel_at_once(db: Path) -> None:
    table = LeaseTable()
    ch = await Channel.create(tg_id=1, access_hash=1, username="news", title="News")
    first, second = SlowFetcher(), SlowFetcher()
    async with running(first, FakeUserbot(), leases=Gate(table, "box-a/11")) as a, running(
        second, FakeUserbot(), leases=Gate(table, "box-b/22")
    ) as b:
        reading = asyncio.create_task(a["sched"].parse_now(ch.id))
        await asyncio.wait_for(first.reading.wait(), 5)
        assert table.rows == {(CHANNEL_LEASE, str(ch.id)): "box-a/11"}
        skipped = await asyncio.wait_for(b["sched"].parse_now(ch.id), 5)
        assert skipped.status == RunStatus.ELSEWHERE and skipped.error == "box-a/11"
        assert second.runs == []  # never reached Telegram
        assert await ParseRun.filter(channel_id=ch.id).count() == 1  # no run row of its own
        first.release.set()
        assert (await reading).status == RunStatus.OK
        assert table.rows == {}  # given back when the run ended
        second.release.set()
        assert (await b["sched"].parse_now(ch.id)).status == RunStatus.OK
        assert second.runs == [ch.id]


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("en", "↪ News (@news): running elsewhere, another process is reading it now (box-a/11)"),
        ("ru", "↪ News (@news): уже собирается в другом процессе (box-a/11)"),
    ],
)
def test_running_elsewhere_is_said_with_the_process(lang: str, shown: str) -> None:
    result = RunProgress("News (@news)", status=RunStatus.ELSEWHERE, error="box-a/11")
    assert render_result(result, 0.0, lang) == shown


@pytest.mark.parametrize(
    ("error", "lang", "shown"),
    [
        ("account:box-b/12", "en", "↪ News (@news): its account is open in another process"
         " (box-b/12), which reads it on its schedule"),
        ("account:box-b/12", "ru", "↪ News (@news): аккаунт канала открыт в другом процессе"
         " (box-b/12), канал собирается там по расписанию"),
        ("flood", "en", "↪ News (@news): its account is flood-waited here; another process"
         " reads it with its own account at its next run"),
        ("flood", "ru", "↪ News (@news): аккаунт канала здесь во флуд-ожидании; канал"
         " соберёт другой процесс своим аккаунтом при следующем сборе"),
    ],
)
def test_a_parse_that_reached_a_process_without_the_account_says_why(
    error: str, lang: str, shown: str
) -> None:
    """Not "another process is reading it now": nobody may be reading it (#18)."""
    result = RunProgress("News (@news)", status=RunStatus.ELSEWHERE, error=error)
    assert render_result(result, 0.0, lang) == shown


async def test_a_lost_lease_stops_the_run(db: Path) -> None:
    table = LeaseTable()
    ch = await Channel.create(tg_id=2, access_hash=1, username="big")
    fetcher = SlowFetcher()
    async with running(fetcher, FakeUserbot(), leases=Gate(table, "box-a/11")) as a:
        reading = asyncio.create_task(a["sched"].parse_now(ch.id))
        await asyncio.wait_for(fetcher.reading.wait(), 5)
        await table.on_lost[(CHANNEL_LEASE, str(ch.id))]()  # the keeper gave it up
        result = await asyncio.wait_for(reading, 5)
        assert fetcher.stopped and result.status == RunStatus.INTERRUPTED


@pytest.mark.parametrize(
    ("state", "lang", "says"),
    [
        ("standby", "en", "The Telegram account is open in another process (box-a/11)"),
        ("standby", "ru", "Аккаунт Telegram открыт в другом процессе (box-a/11)"),
        ("elsewhere", "en", "This process runs only the bot"),
        ("elsewhere", "ru", "Этот процесс работает только как бот"),
    ],
)
def test_parse_in_a_process_without_the_account_says_why(
    state: str, lang: str, says: str
) -> None:
    from bot.routers.parse import render_stop
    from core.parsing import BatchProgress
    from tests.doubles.botapi.formatting import parse_text

    batch = BatchProgress(3)
    batch.stop(state, "box-a/11", 3)
    text, _ = parse_text(render_stop(batch, lang), "HTML")
    assert says in text and "3" in text


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_status_names_the_process_holding_the_account(lang: str) -> None:
    from bot.routers.account import account_section
    from core.login import AccountStatus, SessionState

    standby = account_section(AccountStatus(SessionState.STANDBY, reason="box-a/11"), lang)
    bot_only = account_section(AccountStatus(SessionState.ELSEWHERE), lang)
    # Was "Account: not connected" above it: read as trouble while workers read on.
    assert "not connected" not in bot_only + standby and "не подключ" not in bot_only + standby
    if lang == "en":
        assert "Session: standby: open in another process (box-a/11)" in standby
        assert "Session: open in the workers (this process runs only the bot)" in bot_only
    else:
        assert "ожидание: открыта в другом процессе (box-a/11)" in standby
        assert "открыта в обработчиках" in bot_only
