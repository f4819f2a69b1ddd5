"""Telegram's rules on every reply: the real aiogram and ControlBot against the Bot API double.

Waits Telegram asks for (retry_after, outage backoff) run on a virtual clock, so a
30 s flood wait costs milliseconds while the code still sees and honours 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramRetryAfter
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from app.health import FAILED, RUNNING, HealthRegistry, HealthServer
from app.supervisor import Supervisor
from bot.component import ControlBot
from bot.live import LiveMessage
from bot.session import TransportPolicy, install_rules
from core.alerts import Alerter, AlertText
from core.channels import Channel as ChannelSnapshot
from core.errors import ChannelUnavailable
from core.parsing import RunProgress, RunStatus
from db.channels import ChannelStateRepository
from db.messages import MessageRepository
from db.models import Channel
from db.runs import RunRepository
from services.parsing.breaker import CircuitBreaker
from services.parsing.ingest import RunFailed
from services.parsing.worker import ParseWorker
from tests.doubles.botapi import BotAPIDouble
from tests.unit.bot.fakes import make_deps

pytestmark = pytest.mark.timeout(60)

TOKEN = "123456:TEST-TOKEN-transport"
ADMIN_EN, ADMIN_RU, ADMIN_SILENT, STRANGER = 1001, 1002, 1003, 2002


class VirtualTime:
    """A clock and sleep for TransportPolicy: sleeping advances the clock at once.

    While `gate` is set to an unset Event, every sleep waits for it (the test decides
    when a wait ends)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.gate: asyncio.Event | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.gate is not None:
            await self.gate.wait()
        self.now += seconds
        await asyncio.sleep(0.002)

    def policy(self, **overrides: Any) -> TransportPolicy:
        overrides.setdefault("conflict_quiet", 0.0)
        return TransportPolicy(sleep=self.sleep, clock=self.clock, **overrides)


async def until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def _router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, lang: str) -> None:
        await message.answer(f"hello ({lang})")

    @router.callback_query(F.data == "go")
    async def go(query: CallbackQuery) -> None:
        await query.answer("working…")  # refused by Telegram: too late
        assert isinstance(query.message, Message)
        await query.message.edit_text("done")

    return router


@pytest.fixture
async def double() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble(token=TOKEN) as server:
        server.add_user(ADMIN_EN, "Adam", username="adam", language_code="en")
        server.add_user(ADMIN_RU, "Olga", username="olga", language_code="ru")
        server.add_user(ADMIN_SILENT, "Sam", language_code="de")
        server.add_user(STRANGER, "Eve", username="eve", language_code="en")
        yield server


@dataclass
class Running:
    control: ControlBot
    health: HealthRegistry
    alerter: Alerter
    time: VirtualTime
    supervisor: Supervisor


@asynccontextmanager
async def running(
    double: BotAPIDouble,
    vt: VirtualTime | None = None,
    *,
    default_lang: str = "en",
    alerter: Alerter | None = None,
    wait_for_poll: bool = True,
) -> AsyncIterator[Running]:
    """ControlBot and its alert delivery under a supervisor, as app/service.py runs them."""
    vt = vt or VirtualTime()
    health = HealthRegistry()
    alerter = alerter or Alerter()
    deps = make_deps({ADMIN_EN, ADMIN_RU, ADMIN_SILENT}, default_lang=default_lang, health=health)
    bot = double.make_bot(default=DefaultBotProperties(parse_mode="HTML"))
    control = ControlBot(
        bot,
        deps,
        health=health,
        commands=["start"],
        alerter=alerter,
        policy=vt.policy(),
        router=_router(),
    )
    supervisor = Supervisor(health, alerter)
    supervisor.add(control.delivery)
    supervisor.add(control)
    supervisor.start()
    try:
        if wait_for_poll:
            await double.wait_for_poll(timeout=10)
        yield Running(control, health, alerter, vt, supervisor)
    finally:
        await supervisor.stop(5)
        await control.close()


def _bot_texts(double: BotAPIDouble, chat_id: int) -> list[str | None]:
    return [entry.text for entry in double.transcript(chat_id)]


# --------------------------------------------------------------- the session


async def test_429_is_waited_out_until_a_deadline_and_get_updates_is_left_alone(
    double: BotAPIDouble,
) -> None:
    vt = VirtualTime()
    bot: Bot = double.make_bot()
    install_rules(bot, vt.policy(retry_after_deadline=180))
    try:
        double.faults.add("sendMessage", 429, retry_after=3, times=2)
        sent = await bot.send_message(ADMIN_EN, "after two floods")
        assert sent.text == "after two floods" and vt.slept == [3, 3]

        double.faults.add("sendMessage", 429, retry_after=100, times=None)
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(ADMIN_EN, "never")
        assert vt.slept == [3, 3, 100]  # a second 100 s wait would pass the 180 s deadline
        double.faults.clear()

        double.faults.add("getUpdates", 429, retry_after=50)
        with pytest.raises(TelegramRetryAfter):
            await bot.get_updates(timeout=0)  # aiogram's polling loop retries it
        assert vt.slept == [3, 3, 100]
    finally:
        await bot.session.close()


async def test_429_on_every_progress_edit_the_final_text_arrives_after_the_fault_clears(
    double: BotAPIDouble,
) -> None:
    vt = VirtualTime()
    bot: Bot = double.make_bot()
    install_rules(bot, vt.policy())
    try:
        message = await bot.send_message(ADMIN_EN, "queued")
        flood = double.faults.add("editMessageText", 429, retry_after=5, times=None)
        live = LiveMessage(message, min_interval=0.01)
        await live.show("step 1")
        await until(lambda: flood.hits >= 1, "a refused edit")
        for step in range(2, 51):
            await live.show(f"step {step}")
        await until(lambda: flood.hits >= 3, "more refused edits")
        finishing = asyncio.create_task(live.finish("done: 50 steps"))
        await asyncio.sleep(0)  # finish() has run up to its wait: the final text is wanted
        # Count refusals from here: under load the retries of "step 50" alone could
        # reach a fixed count before finish() had even started.
        refused = flood.hits
        await until(lambda: flood.hits >= refused + 2, "edits refused after finish()")
        assert not finishing.done()
        double.faults.remove(flood)
        await asyncio.wait_for(finishing, 10)

        assert double.message(ADMIN_EN, message.message_id).text == "done: 50 steps"
        accepted = [r.params["text"] for r in double.requests_for("editMessageText")
                    if r.status == 200]
        assert accepted == ["done: 50 steps"]  # the newest text only, once
        assert vt.slept and set(vt.slept) == {5}  # every retry_after waited out
        assert live.shown == "done: 50 steps"
    finally:
        await bot.session.close()


async def test_identical_edits_and_a_refused_callback_answer_do_not_stop_a_handler(
    double: BotAPIDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.session")
    async with running(double) as app:
        bot = app.control.bot
        sent = await bot.send_message(ADMIN_EN, "same")
        results = await asyncio.gather(
            *(bot.edit_message_text("same again", chat_id=ADMIN_EN, message_id=sent.message_id)
              for _ in range(2))
        )
        assert [r is True for r in results].count(True) == 1  # the second: "not modified"
        assert double.message(ADMIN_EN, sent.message_id).text == "same again"

        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
        )
        menu = await bot.send_message(ADMIN_EN, "press", reply_markup=keyboard)
        double.callback_answer_timeout = 0.0  # every answer is too late
        query = await double.press_button(double.users[ADMIN_EN], menu.message_id, "go")
        done = await double.wait_for_message(ADMIN_EN, r"^done$")
        assert done.message_id == menu.message_id
        assert str(query.callback_query_id) not in double.answered_callbacks
        assert any("callback query not answered" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------ Bot API trouble


async def test_a_command_sent_during_a_30_s_outage_is_answered_after_it(
    double: BotAPIDouble,
) -> None:
    """Default deadlines: getUpdates fails, then every reply fails for 30 (virtual) s."""
    vt = VirtualTime()
    double.faults.add("getUpdates", 500, times=1)
    outage = double.faults.add("sendMessage", 500, times=None, match=lambda _: vt.now < 1030)
    async with running(double, vt, wait_for_poll=False):
        command = await double.send_text(double.users[ADMIN_EN], "/start")
        reply = await double.wait_for_message(ADMIN_EN, r"^hello \(en\)$", timeout=20)
        assert reply.at > command.enqueued_at
        polls = double.requests_for("getUpdates")
        assert polls[0].status == 500 and any(p.status == 200 for p in polls)
        assert outage.hits >= 3 and vt.now >= 1030 and sum(vt.slept) >= 30
        assert _bot_texts(double, ADMIN_EN) == ["hello (en)"]
        # Polling itself recovered too.
        await double.send_text(double.users[ADMIN_EN], "/start")
        await double.wait_for_message(ADMIN_EN, r"^hello \(en\)$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            return resp.status, await resp.json()


async def test_409_conflict_reaches_healthz_and_status_and_alerts_once(
    double: BotAPIDouble,
) -> None:
    port = _free_port()
    async with running(double) as app:
        server = HealthServer(app.health, "127.0.0.1", port)
        await server.start()
        try:
            assert (await _healthz(port))[0] == 200
            conflict = double.faults.add("getUpdates", 409, times=None)
            # The long poll waiting now ends with this update; the next ones get 409.
            await double.send_text(double.users[ADMIN_EN], "/start")
            await until(lambda: conflict.hits >= 2, "two 409 answers")
            status, body = await _healthz(port)
            assert status == 503
            assert body["components"]["bot"]["state"] == "conflict"
            assert "another process polls this token" in body["components"]["bot"]["last_error"]
            assert [p for p in body["problems"] if p.startswith("bot: conflict")]
            text = await app.control.status_page.render("en")
            assert "another process polls this token" in text
            assert "• bot: conflict" in text
            # Sending still works: every admin is told, once.
            for admin in (ADMIN_EN, ADMIN_RU, ADMIN_SILENT):
                await double.wait_for_message(admin, r"Another process is polling", after=0)

            double.faults.remove(conflict)
            await double.wait_for_poll(timeout=10)  # a long poll is let through...
            await double.send_text(double.users[ADMIN_EN], "/start")  # ...and answered
            await until(lambda: app.health.component("bot").state == RUNNING, "recovery")
            assert (await _healthz(port))[0] == 200
            assert "another process" not in await app.control.status_page.render("en")
            for admin in (ADMIN_EN, ADMIN_RU, ADMIN_SILENT):
                alerts = [t for t in _bot_texts(double, admin) if "Another process" in (t or "")]
                assert len(alerts) == 1, double.format_transcript(admin)
        finally:
            await server.stop()


async def test_a_refused_token_stops_the_bot_for_good_with_one_log_line(
    double: BotAPIDouble, caplog: pytest.LogCaptureFixture
) -> None:
    double.faults.add(None, 401, times=None)
    async with running(double, wait_for_poll=False) as app:
        await until(lambda: app.health.component("bot").state == FAILED, "bot failed")
        bot_state = app.health.component("bot")
        assert "@BotFather" in (bot_state.last_error or "")
        assert bot_state.restarts == 0 and double.request_count("getMe") == 1
        assert app.health.component("alerts").state == RUNNING
        assert not app.health.healthy()
    lines = [r.getMessage() for r in caplog.records if "BotFather" in r.getMessage()]
    assert len(lines) == 1 and "refused the bot token" in lines[0]
    assert all(TOKEN not in r.getMessage() and "TEST-TOKEN" not in r.getMessage()
               for r in caplog.records)


async def test_a_token_revoked_while_polling_stops_the_bot_too(double: BotAPIDouble) -> None:
    async with running(double) as app:
        double.faults.add(None, 401, times=None)
        await double.send_text(double.users[ADMIN_EN], "/start")  # ends the waiting poll
        await until(lambda: app.health.component("bot").state == FAILED, "bot failed")
        assert "@BotFather" in (app.health.component("bot").last_error or "")


# -------------------------------------------------------------------- alerts


async def test_alerts_reach_each_admin_in_their_language(double: BotAPIDouble) -> None:
    async with running(double, default_lang="ru") as app:
        for admin, lang in ((ADMIN_EN, "en"), (ADMIN_RU, "ru")):
            await double.send_text(double.users[admin], "/start")
            await double.wait_for_message(admin, rf"hello \({lang}\)")
        app.alerter.alert(
            "channel-disabled:1",
            AlertText("alert_channel_disabled", channel="<News & Co>", reason="private"),
        )
        en = await double.wait_for_message(ADMIN_EN, r"🚫")
        ru = await double.wait_for_message(ADMIN_RU, r"🚫")
        silent = await double.wait_for_message(ADMIN_SILENT, r"🚫")
        assert en.text == (
            "🚫 Channel <News & Co> was disabled: the channel is private, or the account is "
            "not a member."
        )
        assert ru.text == (
            "🚫 Канал <News & Co> отключён: канал закрытый или аккаунт в нём не состоит."
        )
        assert silent.text == ru.text  # never wrote: DEFAULT_LANGUAGE


class _Userbot:
    client: Any = object()
    state = "ready"
    me = None


class _PrivateChannelFetcher:
    def request_stop(self, channel_id: int | None = None) -> None:
        pass

    async def run(self, client: Any, ch: ChannelSnapshot, on_progress: Any = None) -> RunProgress:
        failed = RunProgress(ch.label, status=RunStatus.FAILED)
        raise RunFailed(ChannelUnavailable("private"), failed)


async def test_an_alert_under_a_429_storm_never_holds_the_parse_worker(
    double: BotAPIDouble, repo: MessageRepository
) -> None:
    vt = VirtualTime()
    vt.gate = asyncio.Event()  # every wait Telegram asks for lasts until the test says
    storm = double.faults.add("sendMessage", 429, retry_after=30, times=None)
    async with running(double, vt) as app:
        sched = ParseWorker(
            ChannelStateRepository(), RunRepository(), _PrivateChannelFetcher(),  # type: ignore[arg-type]
            _Userbot(), CircuitBreaker(),
            app.alerter, app.health,
        )
        worker = asyncio.create_task(sched.run())
        try:
            await sched.started.wait()
            hidden = await Channel.create(tg_id=7, access_hash=1, username="hidden")
            result = await asyncio.wait_for(sched.parse_now(hidden.id), 10)
            assert result.status == "disabled"  # the run ended while the alert waits
            await until(lambda: storm.hits >= 1 and 30 in vt.slept, "the alert waits 30 s")
            assert _bot_texts(double, ADMIN_EN) == []

            double.faults.remove(storm)
            vt.gate.set()
            for admin in (ADMIN_EN, ADMIN_RU, ADMIN_SILENT):
                alert = await double.wait_for_message(admin, r"was disabled")
                assert alert.text.startswith("🚫 Channel @hidden was disabled: the channel is")
        finally:
            await sched.stop()
            await worker


# ------------------------------------------------------------------ strangers


async def test_500_messages_from_a_stranger_get_one_refusal_and_nothing_is_kept(
    double: BotAPIDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.filters")
    async with running(double) as app:
        eve = double.users[STRANGER]
        sent = [await double.send_text(eve, f"/start {i}") for i in range(500)]
        await sent[-1].wait_delivered(timeout=15)
        await double.send_text(double.users[ADMIN_EN], "/start")
        await double.wait_for_message(ADMIN_EN, r"hello")
        assert _bot_texts(double, STRANGER) == ["Sorry, this bot is private."]
        storage = app.control.dp.storage.storage  # type: ignore[attr-defined]
        assert all(key.user_id != STRANGER for key in storage)
        refusals = [r for r in caplog.records if "refused user" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.INFO
        assert f"id={STRANGER}" in refusals[0].getMessage() and "@eve" in refusals[0].getMessage()


async def test_a_stop_ends_an_alert_stuck_in_an_outage_at_once(
    double: BotAPIDouble, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime()
    vt.gate = asyncio.Event()  # the outage backoff never ends by itself
    outage = double.faults.add("sendMessage", 500, times=None)
    async with running(double, vt) as app:
        app.alerter.alert("breaker", AlertText("alert_breaker_closed"))
        await until(lambda: outage.hits >= 1 and len(vt.slept) >= 1, "the alert is retried")
        await app.supervisor.stop(5)
        assert app.health.component("alerts").state == "stopped"
    assert not [r for r in caplog.records if "did not stop in time" in r.getMessage()]
