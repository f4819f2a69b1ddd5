"""LoginFlow and Userbot session handling with fakes: no network, no bot."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from telethon import errors as te

from app.health import HealthRegistry
from core.alerts import Alerter, AlertText
from parser.errors import LoginError, SessionDead, translate
from parser.login import LoginDone, LoginFlow, NeedPassword, normalise_phone, parse_code
from parser.userbot import INVALID, READY, Userbot


def test_phone_is_normalised_and_garbage_refused() -> None:
    assert normalise_phone(" +1 (555) 000-00-01 ") == "+15550000001"
    assert normalise_phone("8 999 123 45 67") == "+79991234567"
    for bad in ("call me", "+12", "++15550000001", "1555+0000001", "+1555abc0001", ""):
        with pytest.raises(LoginError) as info:
            normalise_phone(bad)
        assert info.value.code == "phone_format"


def test_codes_with_separators_and_in_one_piece() -> None:
    assert parse_code("1 2 3 4 5") == ("12345", False)
    assert parse_code("1-2-3-4-5") == ("12345", False)
    assert parse_code("12345") == ("12345", True)
    for bad in ("abc", "12", "1 2 x 4 5", "/cancel"):
        with pytest.raises(LoginError):
            parse_code(bad)


def test_password_needed_is_not_a_dead_session() -> None:
    exc = te.SessionPasswordNeededError(request=None)
    assert isinstance(exc, te.UnauthorizedError)  # a 401, yet not a revoked session
    assert not isinstance(translate(exc), SessionDead)
    assert isinstance(translate(te.AuthKeyUnregisteredError(request=None)), SessionDead)
    assert isinstance(translate(te.AuthKeyDuplicatedError(request=None)), SessionDead)


class FakeClient:
    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.disconnected = False

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self.disconnected = True

    async def send_code_request(self, phone: str, **_: Any) -> None:
        return None

    async def sign_in(self, *args: Any, **kwargs: Any) -> Any:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def __call__(self, request: Any) -> Any:
        return SimpleNamespace(hint="pet's name")


class FakeUserbot:
    settings = SimpleNamespace(flood_sleep_threshold=5)

    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.adopted: list[Any] = []

    def new_client(self, session: str | None = None) -> FakeClient:
        return self.client

    async def adopt(self, client: Any, me: Any, phone: str | None) -> None:
        self.adopted.append((client, me, phone))


ME = SimpleNamespace(id=7, first_name="Ann", last_name="Lee", phone="15550000001")


async def test_code_attempts_are_limited_then_flow_resets() -> None:
    bad = te.PhoneCodeInvalidError(request=None)
    flow = LoginFlow(FakeUserbot(FakeClient([bad, bad, bad])), max_attempts=3)
    flow.begin(1, "Adam")
    await flow.send_code("+15550000001")
    for left in (2, 1):
        with pytest.raises(LoginError) as info:
            await flow.submit_code("11111")
        assert info.value.code == "code_invalid"
        assert info.value.attempts_left == left  # type: ignore[attr-defined]
    with pytest.raises(LoginError) as info:
        await flow.submit_code("11111")
    assert info.value.code == "attempts_exhausted"
    assert flow.owner is None and not flow.busy_for(2)


async def test_2fa_then_adopt_and_flood_wait_message() -> None:
    client = FakeClient([te.SessionPasswordNeededError(request=None), ME])
    userbot = FakeUserbot(client)
    flow = LoginFlow(userbot)
    flow.begin(1, "Adam")
    assert flow.busy_for(2) and not flow.busy_for(1)
    with pytest.raises(LoginError) as busy:
        flow.begin(2, "Olga")
    assert busy.value.code == "busy" and busy.value.detail == "Adam"
    await flow.send_code("+15550000001")
    step = await flow.submit_code("12345")
    assert step == NeedPassword("pet's name")
    done = await flow.submit_password("secret")
    assert done == LoginDone("Ann Lee")
    assert userbot.adopted == [(client, ME, "+15550000001")]
    assert flow.owner is None

    flood = LoginFlow(FakeUserbot(FakeClient([te.FloodWaitError(request=None, capture=600)])))
    flood.begin(1, "Adam")
    await flood.send_code("+15550000001")
    with pytest.raises(LoginError) as info:
        await flood.submit_code("12345")
    assert info.value.code == "flood_wait" and info.value.seconds == 600  # type: ignore[attr-defined]


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
    settings: Any = SimpleNamespace()
    return Userbot(settings, accounts, HealthRegistry(), alerter)  # type: ignore[arg-type]


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


def test_every_login_error_and_command_has_both_languages() -> None:
    import re
    from pathlib import Path

    import parser.login
    from bot.component import COMMANDS
    from bot.texts import LANGS, t
    from bot.texts import keys as text_keys

    source = Path(parser.login.__file__).read_text()
    codes = set(re.findall(r'LoginError\("([a-z_]+)"', source))
    codes |= set(re.findall(r'\(te\.\w+, "([a-z_]+)"\)', source))
    assert {"phone_invalid", "code_expired", "password_invalid", "flood_wait"} <= codes
    for code in codes:
        assert f"login_err_{code}" in text_keys(), code
    for name in ("login", "logout"):
        assert name in COMMANDS
        assert all(t(f"cmd_{name}", lang) for lang in LANGS)


async def test_an_unknown_number_sends_the_flow_back_to_the_phone_step() -> None:
    client = FakeClient([te.PhoneNumberUnoccupiedError(request=None), ME])
    userbot = FakeUserbot(client)
    flow = LoginFlow(userbot)
    flow.begin(1, "Adam")
    await flow.send_code("+15550000009")
    with pytest.raises(LoginError) as info:
        await flow.submit_code("12345")
    assert info.value.code == "phone_unoccupied"
    # Still Adam's login, but no code is pending: the next step is another number.
    assert flow.owner == 1 and flow.phone is None and client.disconnected
    with pytest.raises(LoginError) as late:
        await flow.submit_code("12345")
    assert late.value.code == "no_flow"
    await flow.send_code("+15550000001")
    assert await flow.submit_code("12345") == LoginDone("Ann Lee")
    assert userbot.adopted == [(client, ME, "+15550000001")]


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (0, "0 seconds", "0 секунд"),
        (1, "1 second", "1 секунда"),
        (22, "22 seconds", "22 секунды"),
        (11, "11 seconds", "11 секунд"),
        (65, "1 minute 5 seconds", "1 минута 5 секунд"),
        (300, "5 minutes", "5 минут"),
        (21 * 60 + 3, "21 minutes 3 seconds", "21 минута 3 секунды"),
        (3600, "1 hour", "1 час"),
        (2 * 3600 + 4 * 60 + 59, "2 hours 4 minutes", "2 часа 4 минуты"),
        (25 * 3600, "25 hours", "25 часов"),
    ],
)
def test_login_waits_read_as_people_write_them(seconds: int, en: str, ru: str) -> None:
    from bot.routers.login import duration

    assert (duration(seconds, "en"), duration(seconds, "ru")) == (en, ru)
