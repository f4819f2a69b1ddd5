"""Userbot session handling with fakes: a dead session is noticed once, from anywhere."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr
from telethon import errors as te

from core.alerts import Alerter, AlertText
from core.health import HealthRegistry
from parser.client import UserbotConfig
from parser.userbot import INVALID, READY, Userbot


class FakeAccounts:
    def __init__(self) -> None:
        self.marks: list[tuple[str, str | None]] = []
        self.wiped = 0

    async def mark(self, status: str, reason: str | None = None) -> None:
        await asyncio.sleep(0)  # a real write yields to the loop
        self.marks.append((status, reason))

    async def wipe_session(self, reason: str = "logged out") -> None:
        self.wiped += 1


class Raising:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.disconnects = 0

    async def __call__(self, request: Any) -> Any:
        raise self.exc

    async def disconnect(self) -> None:
        self.disconnects += 1


def _userbot(accounts: FakeAccounts, alerter: Alerter) -> Userbot:
    config = UserbotConfig(1, SecretStr("x" * 32))
    return Userbot(config, accounts, HealthRegistry(), alerter)  # type: ignore[arg-type]


async def test_session_dead_from_many_places_alerts_once_and_keeps_ciphertext() -> None:
    accounts, alerter = FakeAccounts(), Alerter(600)
    userbot = _userbot(accounts, alerter)
    userbot.client, userbot.state = Raising(OSError()), READY  # type: ignore[assignment]
    await asyncio.gather(*(userbot.session_dead("AuthKeyUnregistered") for _ in range(5)))
    assert userbot.state == INVALID and accounts.wiped == 0
    assert [a.body for a in alerter.pending()] == [
        AlertText("alert_session_dead", reason="AuthKeyUnregistered")
    ]
    assert accounts.marks == [("revoked", "AuthKeyUnregistered")]


async def test_check_keeps_session_on_flood_and_network_but_not_on_revocation() -> None:
    accounts, alerter = FakeAccounts(), Alerter(600)
    userbot = _userbot(accounts, alerter)
    for harmless in (te.FloodWaitError(request=None, capture=30), ConnectionError()):
        userbot.client, userbot.state = Raising(harmless), READY  # type: ignore[assignment]
        await userbot.check()
        assert userbot.state == READY and userbot.client is not None
    assert not accounts.marks and not alerter.pending()
    userbot.client = Raising(te.SessionRevokedError(request=None))  # type: ignore[assignment]
    await userbot.check()
    assert userbot.state == INVALID and userbot.client is None and len(alerter.pending()) == 1




async def test_a_connection_alert_names_the_account_and_where_its_proxy_is_set() -> None:
    # Was "📡 The account has not been able to connect ...": with several accounts the
    # operators could not tell which one; and the proxy hint named only TELEGRAM_PROXY
    # while the account's own proxy (/accounts) was the dead one.
    from bot.texts import Html, t

    alerter = Alerter(600)
    config = UserbotConfig(
        1, SecretStr("x" * 32), telegram_proxy="socks5://127.0.0.1:1",
        connection_alert_seconds=0.001,
    )  # fmt: skip
    accounts: Any = FakeAccounts()
    userbot = Userbot(config, accounts, HealthRegistry(), alerter, account_id=7)
    userbot.stored_name = "Вера"
    userbot.connection.begin()
    await asyncio.sleep(0.002)
    await userbot._open_failed(Raising(OSError()), ConnectionError("x"))  # type: ignore[arg-type]
    (alert,) = alerter.pending()
    assert alert.body.key == "alert_account_connecting" and alert.body.args["name"] == "Вера"
    error = alert.body.args["error"]
    assert error.key == "conn_proxy"
    args = {**alert.body.args, "error": Html("")}
    text = t(alert.body.key, "ru", **args)
    assert text.startswith("📡 Аккаунт Вера уже 1 мин не может подключиться к Telegram")
    assert "/accounts → «Прокси»" in t(error.key, "ru", **error.args)
    assert "the account's own (/accounts → «Proxy»)" in t(error.key, "en", **error.args)


class OkClient:
    async def connect(self) -> None:
        pass

    async def get_me(self) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(first_name="Вера", last_name=None, username=None)

    async def disconnect(self) -> None:
        pass


async def test_a_new_proxy_after_a_connection_alert_still_tells_when_it_connects() -> None:
    # Was: reconfigure started a new ConnectionTracker, which forgot the operators had
    # been told; the proxy fixed, no "connected again" ever came.
    alerter = Alerter(600)
    config = UserbotConfig(
        1, SecretStr("x" * 32), telegram_proxy="socks5://127.0.0.1:1",
        connection_alert_seconds=0.001,
    )  # fmt: skip
    accounts: Any = FakeAccounts()
    userbot = Userbot(config, accounts, HealthRegistry(), alerter, account_id=7)
    userbot.stored_name = "Вера"
    userbot.connection.begin()
    await asyncio.sleep(0.002)
    await userbot._open_failed(Raising(OSError()), ConnectionError("x"))  # type: ignore[arg-type]
    await userbot.reconfigure(UserbotConfig(1, SecretStr("x" * 32)))
    userbot.client = OkClient()  # type: ignore[assignment]
    assert await userbot._connect() == 5.0 and userbot.state == READY
    assert [a.body.key for a in alerter.pending()] == [
        "alert_account_connecting", "alert_account_connected"
    ]
