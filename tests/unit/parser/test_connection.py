"""The userbot's connection attempts with fakes: counted, explained, spaced, alerted once."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from python_socks import ProxyConnectionError, ProxyError
from telethon import errors as te

from app.health import HealthRegistry
from bot.delivery import render_alert
from core.alerts import Alerter, AlertText
from core.backoff import Backoff
from parser.client import UserbotConfig
from parser.clock_skew import TELETHON_STATE_LOGGER, SkewWatch
from parser.connection import ConnectionTracker, Trouble, classify
from parser.errors import ClockSkew, NoAnswer
from parser.userbot import CONNECTING, READY, Userbot
from tests.account_status import login_status_section

ME = SimpleNamespace(id=7, first_name="Ann", last_name=None, username="ann")


@pytest.mark.parametrize(
    ("exc", "proxy", "expected"),
    [
        (ClockSkew(40.4), False, Trouble("conn_clock_behind", {"seconds": 40})),
        (ClockSkew(-45), False, Trouble("conn_clock_ahead", {"seconds": 45})),
        (NoAnswer(60), False, Trouble("conn_no_answer", {"seconds": 60})),
        (ConnectionError("x"), False, Trouble("conn_network", {"name": "ConnectionError"})),
        (ConnectionError("x"), True, Trouble("conn_proxy", {"name": "ConnectionError"})),
        (ProxyError("auth"), True, Trouble("conn_proxy", {"name": "ProxyError"})),
        (ProxyConnectionError("x"), True, Trouble("conn_proxy", {"name": "ProxyConnectionError"})),
        (
            te.FloodWaitError(request=None, capture=90),
            False,
            Trouble("conn_flood", {"seconds": 90}),
        ),
        (ValueError("x"), False, Trouble("conn_error", {"name": "ValueError"})),
    ],
)
def test_each_failure_has_a_cause_and_a_fix(
    exc: BaseException, proxy: bool, expected: Trouble
) -> None:
    trouble = classify(exc, proxy=proxy)
    assert trouble == expected
    assert trouble.english()
    for lang in ("en", "ru"):
        assert render_alert(trouble.text(), lang)


def test_clock_skew_texts_give_the_difference_and_the_fix() -> None:
    trouble = classify(ClockSkew(40), proxy=False)
    assert "40 s behind" in trouble.english() and "sync the system clock" in trouble.english()
    en, ru = (render_alert(trouble.text(), lang) for lang in ("en", "ru"))
    assert "40 s behind" in en and "Sync the system clock" in en
    assert "отстают" in ru and "40 с" in ru and "Синхронизируйте системное время" in ru


def test_backoff_grows_is_capped_and_jittered_and_a_flood_wait_is_honoured() -> None:
    now = [0.0]
    tracker = ConnectionTracker(
        180, Backoff(base=5, factor=2, cap=120, jitter=0.2), clock=lambda: now[0]
    )
    trouble = Trouble("conn_network", {"name": "ConnectionError"})
    delays = [tracker.failed(trouble) for _ in range(10)]
    for attempt, delay in enumerate(delays, 1):
        raw = min(120, 5 * 2 ** (attempt - 1))
        assert raw * 0.8 <= delay <= raw * 1.2, (attempt, delay)
    assert len({round(d, 6) for d in delays[-4:]}) > 1  # jitter: capped retries spread out
    assert tracker.failed(trouble, wait_at_least=600) == 600
    assert tracker.attempts == 11


def test_one_alert_per_trouble_once_it_lasts() -> None:
    now = [100.0]
    tracker = ConnectionTracker(180, clock=lambda: now[0])
    trouble = Trouble("conn_network", {"name": "ConnectionError"})
    tracker.begin()
    now[0] += 3
    tracker.failed(trouble)
    assert not tracker.should_alert() and tracker.lasting() == 3
    now[0] += 200
    tracker.failed(trouble)
    assert tracker.should_alert()
    now[0] += 600
    tracker.failed(trouble)
    assert not tracker.should_alert()  # once
    assert tracker.succeeded() is True
    assert tracker.attempts == 0 and tracker.lasting() == 0 and not tracker.should_alert()


# -- the Userbot with a fake Telethon client ----------------------------------------------


class FakeAccounts:
    async def load_session(self) -> str:
        return "1stored-session"

    async def current(self) -> Any:
        return SimpleNamespace(display_name="Ann Lee", username="ann")


class FakeClient:
    """Refuses to connect while `down`; then answers get_me."""

    def __init__(self) -> None:
        self.down = True
        self.connected = False
        self.connects = 0

    async def connect(self) -> None:
        self.connects += 1
        if self.down:
            raise ConnectionError("Connection to Telegram failed 3 time(s)")
        self.connected = True

    async def get_me(self) -> Any:
        return ME

    def is_connected(self) -> bool:
        return self.connected

    async def disconnect(self) -> None:
        self.connected = False


async def _status(userbot: Userbot, lang: str) -> str:
    return await login_status_section(userbot, SimpleNamespace(owner=None), lang)


async def test_failed_connections_show_in_status_and_health_and_alert_once() -> None:
    now = [1000.0]
    alerter, health = Alerter(600), HealthRegistry()
    tracker = ConnectionTracker(180, Backoff(base=5, cap=120), clock=lambda: now[0])
    config = UserbotConfig(1, SecretStr("x" * 32), telegram_proxy=None)
    userbot = Userbot(config, FakeAccounts(), health, alerter, tracker=tracker)  # type: ignore[arg-type]
    client = FakeClient()
    userbot.new_client = lambda session=None: client  # type: ignore[method-assign]

    def connecting_alerts() -> list[Any]:
        return [a for a in alerter.pending() if a.key == "userbot-connecting"]

    waits = []
    for _ in range(3):  # at 0, 70 and 140 s: not yet
        waits.append(await userbot._connect())
        now[0] += 70
    assert userbot.state == CONNECTING and client.connects == 3
    assert waits[0] < waits[1] < waits[2]  # backing off
    assert not connecting_alerts()
    await userbot._connect()  # 210 s: past 180 s, one alert with the cause and the fix
    now[0] += 70
    await userbot._connect()
    alerts = connecting_alerts()
    assert len(alerts) == 1
    body = alerts[0].body
    assert isinstance(body, AlertText) and body.args["attempts"] == 4
    assert "no connection to Telegram (ConnectionError)" in render_alert(body, "en")
    assert "нет связи с Telegram" in render_alert(body, "ru")

    en, ru = await _status(userbot, "en"), await _status(userbot, "ru")
    assert "Account: Ann Lee (not connected to Telegram yet)" in en
    assert "connecting to Telegram: 5 failed attempts, last error: no connection" in en
    assert "Check this machine's network" in en
    assert "Аккаунт: Ann Lee (ещё не подключён к Telegram)" in ru
    assert "подключение к Telegram: 5 неудачных попыток, последняя ошибка: нет связи" in ru

    snap = health.snapshot()
    assert snap["healthy"] is False and snap["session"]["attempts"] == 5
    assert any(p.startswith("session: connecting: 5 failed attempt(s)") for p in snap["problems"])

    client.down = False
    await userbot._connect()
    assert userbot.state == READY and userbot.me is ME and userbot.connection.attempts == 0
    assert [a.key for a in alerter.pending()][-1] == "userbot-connected"
    assert health.snapshot()["session"]["healthy"] is True and not health.problems()
    assert "Account: Ann (@ann)\nSession: active" in await _status(userbot, "en")


def test_skew_watch_reads_telegrams_time_from_telethons_warning() -> None:
    watch = SkewWatch()
    watch.install()
    try:
        server_time = 1_900_000_040.5
        msg_id = int(server_time * 2**32) | 1
        logger = logging.getLogger(TELETHON_STATE_LOGGER)
        record = logger.makeRecord(
            logger.name, logging.WARNING, __file__, 1,
            "Server sent a very new message with ID %d, ignoring (see FAQ for details)",
            (msg_id,), None,
        )
        record.created = 1_900_000_000.0
        logger.handle(record)
        assert watch.sightings == 1 and watch.skew == pytest.approx(40.5)
        logger.warning("Server sent a very old message with ID %d, ignoring", msg_id)
        assert watch.sightings == 1  # only answers from the future are Telegram's clock
    finally:
        watch.uninstall()
