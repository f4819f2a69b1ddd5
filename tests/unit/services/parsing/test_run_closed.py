"""Every run ends closed (issue #15, Must 3) and resumes at once (Must 5): the real
fetcher and worker on the migrated database, a Telethon stand-in that raises what
Telethon raises, at the moment it raises it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telethon import errors as te
from telethon.errors import rpc_message_to_error
from telethon.tl.types import RpcError

from bot.routers.parse import render_result, status_section
from core.parsing import BreakerState, ParseStatus
from db.models import Channel, Message, ParseRun
from services.parsing.breaker import CircuitBreaker
from services.parsing.worker import ParseWorker
from tests.unit.parser.history_fakes import FakeClient, history
from tests.unit.services.parsing.fakes import FakeUserbot, real_fetcher, running, sent

N = 5000  # history(N): 4,286 messages, 43 pages


class FaultyClient(FakeClient):
    """Raises `fault` from request number `at` on (1 = the first getHistory), until
    `fault` is set to None: what Telethon raises after its own retries."""

    def __init__(self, fault: BaseException | None, at: int = 3) -> None:
        super().__init__(history(N))
        self.fault, self.at = fault, at

    async def __call__(self, req: Any) -> Any:
        if self.fault is not None and len(self.requests) + 1 >= self.at:
            self.requests.append((req.offset_id, req.offset_date, self.converted))
            raise self.fault
        return await super().__call__(req)


def rpc(code: int, message: str) -> BaseException:
    """The exception Telethon raises for Telegram's rpc_error(code, message)."""
    return rpc_message_to_error(RpcError(code, message), None)


async def news() -> Channel:
    return await Channel.create(tg_id=777, access_hash=1, username="news", title="News")


async def runs(channel_id: int) -> list[tuple[str, int, str | None]]:
    return [
        (r.status, r.fetched, r.error)
        for r in await ParseRun.filter(channel_id=channel_id).order_by("id")
    ]


async def stored(channel_id: int) -> int:
    return await Message.filter(channel_id=channel_id).count()


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        # Telethon's retries of a 500 exhausted: a plain ValueError.
        (ValueError("Request was unsuccessful 3 time(s)"), "failed",
         "ValueError: Request was unsuccessful 3 time(s)"),
        (rpc(-503, "Timeout"), "failed", "TimeoutError: Timeout while fetching data"),
        (rpc(500, "INTERNAL"), "failed", "ServerError: RPCError 500: INTERNAL"),
        (rpc(400, "SOME_NEW_ERROR"), "failed", "BadRequestError: RPCError 400: SOME_NEW_ERROR"),
        (KeyError("boom"), "failed", "KeyError: 'boom'"),
        (te.FloodWaitError(request=None, capture=300), "deferred",
         "FloodWaitError: A wait of 300 seconds is required"),
        (te.ChannelPrivateError(request=None), "failed", "ChannelPrivateError: "),
        (te.AuthKeyUnregisteredError(request=None), "failed", "AuthKeyUnregisteredError: "),
        (ConnectionError("Cannot send requests while disconnected"), "failed",
         "ConnectionError: Cannot send requests while disconnected"),
    ],
)
async def test_whatever_is_raised_the_run_row_is_closed_with_the_error_and_the_rows_committed(
    db: Path, fault: BaseException, status: str, error: str
) -> None:
    userbot = FakeUserbot()
    userbot.client = FaultyClient(fault, at=3)
    async with running(real_fetcher(refresh_window_hours=0), userbot) as env:
        ch = await news()
        result = await env["sched"].parse_now(ch.id)
        committed = await stored(ch.id)
        [(row_status, fetched, row_error)] = await runs(ch.id)
        assert (row_status, fetched) == (status, committed)
        assert 0 < committed < N  # two pages went in before the fault
        assert row_error is not None and row_error.startswith(error), row_error
        assert result.fetched == committed and result.channel == "@news"
        assert await ParseRun.filter(status="running").count() == 0
        # The cursor covers exactly what was committed: the next run goes on from it.
        row = await Channel.get(id=ch.id)
        assert row.cursor == max(
            await Message.filter(channel_id=ch.id).values_list("msg_id", flat=True)
        )


async def test_alerts_name_the_channel_and_an_unknown_error_is_told_once(db: Path) -> None:
    userbot = FakeUserbot()
    client = userbot.client = FaultyClient(rpc(400, "SOME_NEW_ERROR"), at=1)
    async with running(real_fetcher(refresh_window_hours=0), userbot) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        for _ in range(3):
            result = await sched.parse_now(ch.id)
            assert result.status == "failed" and result.channel == "@news"
            shown = render_result(result, 1.0, "en")
            assert shown == "⚠️ @news: failed (SOME_NEW_ERROR), messages saved: 0"
        told = [s for s in sent(env) if "SOME_NEW_ERROR" in s]
        assert told == [
            "⚠️ Parsing News (@news) failed: SOME_NEW_ERROR (400). This error is told only "
            "once; the channel is tried again at its next run."
        ]
        # A bug: its type and message, told once too, never the channel's row id.
        client.fault = KeyError("boom")
        await sched.parse_now(ch.id)
        await sched.parse_now(ch.id)
        bugs = [s for s in sent(env) if "KeyError" in s]
        assert bugs == [
            "⚠️ Parsing News (@news) failed: KeyError: &#x27;boom&#x27;. This error is told "
            "only once; "
            "the channel is tried again at its next run."
        ]
        assert not any(f" {ch.id}:" in s or f"channel {ch.id}" in s for s in sent(env))
        assert [r[0] for r in await runs(ch.id)] == ["failed"] * 5


async def test_a_failure_before_the_run_names_the_channel_not_its_row_id(db: Path) -> None:
    """Reading the channel itself fails (the database): the result and the alert name
    the channel as last seen, never by its row id."""
    userbot = FakeUserbot()
    userbot.client = FakeClient(history(10))
    async with running(real_fetcher(refresh_window_hours=0), userbot) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)  # the worker learns its name
        original = sched._channels.channel

        async def broken(channel_id: int) -> Any:
            raise RuntimeError("the database went away")

        sched._channels.channel = broken  # type: ignore[method-assign]
        try:
            result = await sched.parse_now(ch.id)
        finally:
            sched._channels.channel = original  # type: ignore[method-assign]
        assert result.status == "failed" and result.channel == "News (@news)"
        assert result.error == "RuntimeError: the database went away"
        assert any("Parsing News (@news) failed: RuntimeError" in s for s in sent(env))
        assert await ParseRun.filter(status="running").count() == 0


async def test_server_trouble_retries_with_backoff_long_before_the_interval(db: Path) -> None:
    """500 until Telethon gives up, twice: each failure counts for the breaker and plans
    a retry (0.3 s, then 0.6 s: doubling, far below the 60 min interval); once Telegram
    answers again the channel is fetched whole, without anyone asking."""
    userbot = FakeUserbot()
    client = userbot.client = FaultyClient(ValueError("Request was unsuccessful 3 time(s)"))
    breaker = CircuitBreaker(threshold=5, cooldown=0.1)
    async with running(
        real_fetcher(refresh_window_hours=0), userbot, breaker=breaker,
        retry_seconds=0.3, retry_max_seconds=10.0,
    ) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)  # planned: the first run now
        await wait_until(lambda: _retry_planned(sched, ch.id, None))
        first = sched.jobs.retry_at(ch.id)
        assert first is not None and await _count(ch.id, "failed", 1)
        assert 0.1 < (first - datetime.now(UTC)).total_seconds() < 0.4
        assert breaker.failures == 1 and breaker.last_error is not None
        assert breaker.last_error.startswith("ValueError: Request was unsuccessful")
        assert sent(env) == [
            "⚠️ Parsing News (@news) failed: Telegram's servers kept failing (ValueError: "
            "Request was unsuccessful 3 time(s)). Trying again in 1 s."
        ]
        await wait_until(lambda: _retry_planned(sched, ch.id, first))
        second = sched.jobs.retry_at(ch.id)
        assert second is not None and await _count(ch.id, "failed", 2)
        assert (second - datetime.now(UTC)).total_seconds() > 0.4
        # /status does not call the connection fine meanwhile.
        status = await _status_text(breaker)
        assert "Telegram connection: ok" not in status
        assert "Telegram connection: 2 runs in a row failed (ValueError: Request was " in status
        client.fault = None  # Telegram answers again
        await wait_until(lambda: _count(ch.id, "ok", 1))
        rows = await runs(ch.id)
        assert [r[0] for r in rows] == ["failed", "failed", "ok"]
        assert sum(r[1] for r in rows) == await stored(ch.id) == len(history(N))
        assert breaker.state == "closed" and breaker.failures == 0
        assert "Telegram connection: ok" in await _status_text(breaker)
        row = await Channel.get(id=ch.id)
        assert row.last_error is None and row.backfill_done


async def _retry_planned(sched: ParseWorker, channel_id: int, after: datetime | None) -> bool:
    when = sched.jobs.retry_at(channel_id)
    return when is not None and (after is None or when > after)


async def _count(channel_id: int, status: str, n: int) -> bool:
    return await ParseRun.filter(channel_id=channel_id, status=status).count() >= n


async def _status_text(breaker: CircuitBreaker) -> str:
    class Api:
        async def status(self) -> ParseStatus:
            return ParseStatus(True, "ready", breaker.snapshot(), {}, {}, 0, None)

    return str(await status_section(Api(), "en"))  # type: ignore[arg-type]


def test_status_names_transport_failures_in_both_languages() -> None:
    from bot.routers.parse import _breaker_line

    failing = BreakerState("closed", 1, 0.0, "ServerError: RPCError 500: INTERNAL")
    assert str(_breaker_line(failing, "ready", "en")) == (
        "Telegram connection: 1 run failed (ServerError: RPCError 500: INTERNAL), retrying"
    )
    assert str(_breaker_line(BreakerState("closed", 3, 0.0, "x"), "ready", "ru")) == (
        "Связь с Telegram: 3 запуска подряд не удались (x), повторяю"
    )
    assert str(_breaker_line(BreakerState("closed"), "ready", "en")) == (
        "Telegram connection: ok"
    )


async def test_after_a_new_login_the_channels_the_dead_session_stopped_go_on_at_once(
    db: Path,
) -> None:
    """The session dies mid-backfill: the run ends failed with what it committed, and a
    scheduled channel meanwhile is not run; after a new login (the userbot's state
    listener) both go on at once, not at their next interval."""
    userbot = FakeUserbot()
    userbot.client = FaultyClient(te.AuthKeyUnregisteredError(request=None), at=5)
    async with running(real_fetcher(refresh_window_hours=0), userbot) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        other = await Channel.create(tg_id=778, access_hash=1, username="other")
        result = await sched.parse_now(ch.id)
        assert result.status == "failed" and userbot.state == "invalid"
        part = await stored(ch.id)
        assert 0 < part < len(history(N))
        await sched._tick(other.id)  # its interval came while the session was dead
        await wait_until(lambda: _idle(sched))
        assert await stored(other.id) == 0
        # The operator logs in again: a new client, the userbot says "ready".
        userbot.client, userbot.state = FaultyClient(None), "ready"
        await sched.session_state("ready")
        await wait_until(lambda: _count(ch.id, "ok", 1))
        await wait_until(lambda: _count(other.id, "ok", 1))
        assert await stored(ch.id) == len(history(N))  # went on from its cursor
        rows = await runs(ch.id)
        assert rows[0][0] == "failed" and rows[0][2] is not None
        assert rows[0][2].startswith("AuthKeyUnregisteredError")
        assert rows[0][1] + rows[1][1] == len(history(N))  # nothing read twice
        assert await ParseRun.filter(status="running").count() == 0


async def _idle(sched: ParseWorker) -> bool:
    return sched.queued == 0 and not sched.running


async def test_a_channel_deferred_by_a_flood_wait_runs_when_the_wait_ends(db: Path) -> None:
    userbot = FakeUserbot()
    client = userbot.client = FaultyClient(te.FloodWaitError(request=None, capture=1), at=2)
    async with running(real_fetcher(refresh_window_hours=0), userbot) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        result = await sched.parse_now(ch.id)
        assert result.status == "deferred" and result.deferred_seconds == 1
        client.fault = None
        # The wait is 1 s, the interval an hour: well within 30 s means "when the wait
        # ended", not "at the next interval" (a tight bound fails on a loaded machine).
        await wait_until(lambda: _count(ch.id, "ok", 1), timeout=30)
        assert [r[0] for r in await runs(ch.id)] == ["deferred", "ok"]
        assert await stored(ch.id) == len(history(N))


async def test_review7_r6_status_words_server_trouble_in_the_operators_language(
    db: Path,
) -> None:
    """/status names a channel failing on server trouble with the translated cause (as
    the /parse summary does), the raw error after it: never the internal
    `transport:` prefix with Telethon's English message alone."""
    from bot.routers.parse import _named_lines
    from core.parsing import ChannelKind, NamedChannel

    userbot = FakeUserbot()
    userbot.client = FaultyClient(ValueError("Request was unsuccessful 4 time(s)"))
    breaker = CircuitBreaker(threshold=5, cooldown=0.1)
    async with running(
        real_fetcher(refresh_window_hours=0), userbot, breaker=breaker,
        retry_seconds=30.0, retry_max_seconds=60.0,
    ) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)
        await wait_until(lambda: _count(ch.id, "failed", 1))
        await wait_until(lambda: _has_error(ch.id))
        row = await Channel.get(id=ch.id)
    named = (NamedChannel("@news", reason=row.last_error or ""),)
    ru = [str(x) for x in _named_lines(ChannelKind.FAILING, named, 1, "ru")]
    assert ru == [
        "• @news: ошибка (серверы Telegram отвечали ошибкой; скоро повтор "
        "— ValueError: Request was unsuccessful 4 time(s))"
    ]
    en = [str(x) for x in _named_lines(ChannelKind.FAILING, named, 1, "en")]
    assert en == [
        "• @news: failing (Telegram's servers kept failing; retried soon "
        "— ValueError: Request was unsuccessful 4 time(s))"
    ]


async def _has_error(channel_id: int) -> bool:
    return (await Channel.get(id=channel_id)).last_error is not None


async def test_review7_r12_a_run_refused_by_a_locked_database_is_worded_not_raw(
    db: Path,
) -> None:
    """The run's row cannot even be opened (another process holds the database): the
    /parse summary line words the cause in the operator's language, not Python's
    `OperationalError: database is locked`; the Russian alert does not decline a title."""
    import sqlite3

    userbot = FakeUserbot()
    userbot.client = FakeClient(history(10))
    async with running(real_fetcher(refresh_window_hours=0), userbot,
                       local_probe_seconds=0.2) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)
        await wait_until(lambda: _count(ch.id, "ok", 1))
        original = sched._book.opened

        async def locked(*args: Any) -> int:
            raise sqlite3.OperationalError("database is locked")

        sched._book.opened = locked  # type: ignore[method-assign]
        try:
            result = await sched.parse_now(ch.id)
        finally:
            sched._book.opened = original  # type: ignore[method-assign]
        assert result.status == "failed" and result.error == "db_locked"
        assert str(render_result(result, 0.0, "en")) == (
            "⚠️ @news: failed (the database is locked by another process), "
            "messages saved: 0"
        )
        assert str(render_result(result, 0.0, "ru")).startswith(
            "⚠️ @news: ошибка (база данных заблокирована другим процессом)"
        )
        from bot.delivery import render_alert

        (body,) = [a.body for a in env["alerter"].pending() if a.key.startswith("local")]
        assert render_alert(body, "ru").startswith(
            "💽 News (@news): сбор остановлен — база данных заблокирована другим процессом"
        )


async def test_review7_r11_a_run_whose_row_was_refused_is_recorded_once_writes_work(
    db: Path,
) -> None:
    """The `running` row's INSERT is what the lock refused: once the database takes
    writes again the run is recorded failed (the error, nothing fetched), so the run
    history shows the outage; the retry after it has its own row."""
    import sqlite3

    userbot = FakeUserbot()
    userbot.client = FakeClient(history(10))
    async with running(real_fetcher(refresh_window_hours=0), userbot,
                       local_probe_seconds=0.2) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)
        await wait_until(lambda: _count(ch.id, "ok", 1))
        original = sched._book.opened

        async def locked(*args: Any) -> int:
            raise sqlite3.OperationalError("database is locked")

        sched._book.opened = locked  # type: ignore[method-assign]
        try:
            result = await sched.parse_now(ch.id)
        finally:
            sched._book.opened = original  # type: ignore[method-assign]
        assert result.status == "failed"
        await wait_until(lambda: _count(ch.id, "ok", 2))
        rows = await runs(ch.id)
        assert rows == [
            ("ok", len(history(10)), None),
            ("failed", 0, "OperationalError: database is locked"),
            ("ok", 0, None),
        ]
        failed = await ParseRun.get(channel_id=ch.id, status="failed")
        assert failed.trigger == "manual" and failed.finished_at is not None
        assert failed.started_at <= failed.finished_at
        assert await ParseRun.filter(status="running").count() == 0


async def test_review7_r7_an_open_breaker_is_not_promised_away_by_the_channel_alert(
    db: Path,
) -> None:
    """The failure that opens the breaker (30 s) plans the channel's retry in 0.3 s,
    but the run waits for the breaker's probe: the alert says so and gives the
    breaker's time, never 'Trying again in 1 s'."""
    userbot = FakeUserbot()
    userbot.client = FaultyClient(ValueError("Request was unsuccessful 4 time(s)"), at=1)
    breaker = CircuitBreaker(threshold=1, cooldown=30.0)
    async with running(
        real_fetcher(refresh_window_hours=0), userbot, breaker=breaker,
        retry_seconds=0.3, retry_max_seconds=10.0,
    ) as env:
        sched: ParseWorker = env["sched"]
        ch = await news()
        await sched.add_channel(ch.id)
        await wait_until(lambda: _count(ch.id, "failed", 1))

        async def alerted() -> bool:
            return any("News (@news) failed" in s for s in sent(env))

        await wait_until(alerted)
        (alert,) = [s for s in sent(env) if "News (@news) failed" in s]
        assert alert == (
            "⚠️ Parsing News (@news) failed: Telegram's servers kept failing (ValueError: "
            "Request was unsuccessful 4 time(s)). All parsing is paused until Telegram "
            "answers again (next check in 30 s); then this channel is tried again."
        )
        assert breaker.state == "open"


class _DeletedThenFails:
    """A fetcher whose run marks posts 3 and 5 deleted, commits post 9, then ends by
    `fault` (a RunFailed saying what it committed, or anything raised as it is)."""

    def __init__(self, fault: BaseException, *, says: bool = True) -> None:
        self.fault, self.says = fault, says

    def request_stop(self, channel_id: int | None = None) -> None:
        pass

    async def run(self, client: Any, ch: Any, on_progress: Any = None) -> Any:
        from core.errors import local_error
        from core.parsing import RunProgress, RunStatus
        from parser.errors import translate
        from services.parsing.ingest import RunFailed

        p = RunProgress(ch.label, fetched=1, status=RunStatus.RUNNING, top_id=9, new=1,
                        first_new_id=9, deleted=2, deleted_ids=(3, 5))
        if on_progress is not None:
            await on_progress(p)
        if self.says:
            err = translate(self.fault) or local_error(self.fault) or self.fault
            raise RunFailed(err, p, self.fault)  # type: ignore[arg-type]
        raise self.fault


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (te.FloodWaitError(request=None, capture=30), True),  # deferred (comments' flood)
        (ValueError("Request was unsuccessful 3 time(s)"), True),  # server trouble
        (OSError(28, "No space left on device"), True),  # local trouble
        (KeyError("boom"), False),  # a fetcher that did not say what it committed
    ],
)
async def test_deletions_a_run_marked_reach_the_subscribers_whatever_ends_the_run(
    db: Path, fault: BaseException, says: bool
) -> None:
    from services.events import PostsDeleted

    userbot = FakeUserbot()
    userbot.client = object()
    async with running(_DeletedThenFails(fault, says=says), userbot) as env:
        told: list[tuple[int, tuple[int, ...], int]] = []

        async def on_deleted(e: PostsDeleted) -> None:
            told.append((e.channel_id, tuple(e.ids), e.count))

        env["events"].subscribe(on_deleted, PostsDeleted)
        ch = await news()
        result = await env["sched"].parse_now(ch.id)
        assert result.status != "ok"
        assert told == [(ch.id, (3, 5), 2)]
        assert env["committed"] == [(ch.id, 9, 9, 1)]
