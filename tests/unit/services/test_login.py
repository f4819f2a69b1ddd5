"""The login flow (services/login.py LoginService) with a fake Telethon client."""

from __future__ import annotations

import asyncio
from datetime import UTC
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from telethon import errors as te

from core.errors import LoginFailed
from core.login import LoginDone, NeedPassword, TypedCode
from parser.client import UserbotConfig
from parser.errors import SessionDead, translate
from services.login import LoginService, normalise_phone, parse_code


def test_phone_is_normalised_and_garbage_refused() -> None:
    assert normalise_phone(" +1 (555) 000-00-01 ") == "+15550000001"
    assert normalise_phone("8 999 123 45 67") == "+79991234567"
    for bad in ("call me", "+12", "++15550000001", "1555+0000001", "+1555abc0001", ""):
        with pytest.raises(LoginFailed) as info:
            normalise_phone(bad)
        assert info.value.code == "phone_format"


def test_codes_with_separators_and_in_one_piece() -> None:
    assert parse_code("1 2 3 4 5") == TypedCode("12345", False)
    assert parse_code("1-2-3-4-5") == TypedCode("12345", False)
    assert parse_code("12345") == TypedCode("12345", True)
    for bad in ("abc", "12", "1 2 x 4 5", "/cancel"):
        with pytest.raises(LoginFailed):
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
    config = UserbotConfig(1, SecretStr("x" * 32), flood_sleep_threshold=5)
    state = "no_session"

    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.adopted: list[Any] = []

    def new_client(self, session: str | None = None) -> FakeClient:
        return self.client

    async def adopt(self, client: Any, me: Any, phone: str | None) -> None:
        self.adopted.append((client, me, phone))


ME = SimpleNamespace(id=7, first_name="Ann", last_name="Lee", phone="15550000001")


def _service(userbot: FakeUserbot, **kwargs: Any) -> LoginService:
    return LoginService(userbot, SimpleNamespace(), **kwargs)  # type: ignore[arg-type]


async def test_code_attempts_are_limited_then_flow_resets() -> None:
    bad = te.PhoneCodeInvalidError(request=None)
    flow = _service(FakeUserbot(FakeClient([bad, bad, bad])), max_attempts=3)
    await flow.begin(1, "Adam")
    await flow.send_code("+15550000001")
    for left in (2, 1):
        with pytest.raises(LoginFailed) as info:
            await flow.submit_code("11111")
        assert info.value.code == "code_invalid"
        assert info.value.attempts_left == left
    with pytest.raises(LoginFailed) as info:
        await flow.submit_code("11111")
    assert info.value.code == "attempts_exhausted"
    assert flow.owner is None and flow.busy_for(2) is None


async def test_2fa_then_adopt_and_flood_wait_message() -> None:
    client = FakeClient([te.SessionPasswordNeededError(request=None), ME])
    userbot = FakeUserbot(client)
    flow = _service(userbot)
    await flow.begin(1, "Adam")
    assert flow.busy_for(2) == "Adam" and flow.busy_for(1) is None
    with pytest.raises(LoginFailed) as busy:
        await flow.begin(2, "Olga")
    assert busy.value.code == "busy" and busy.value.name == "Adam"
    await flow.send_code("+15550000001")
    step = await flow.submit_code("12345")
    assert step == NeedPassword("pet's name")
    done = await flow.submit_password("secret")
    assert done == LoginDone("Ann Lee")
    assert userbot.adopted == [(client, ME, "+15550000001")]
    assert flow.owner is None

    flood = _service(FakeUserbot(FakeClient([te.FloodWaitError(request=None, capture=600)])))
    await flood.begin(1, "Adam")
    await flood.send_code("+15550000001")
    with pytest.raises(LoginFailed) as info:
        await flood.submit_code("12345")
    assert info.value.code == "flood_wait" and info.value.retry_in == 600


async def test_an_unknown_number_sends_the_flow_back_to_the_phone_step() -> None:
    client = FakeClient([te.PhoneNumberUnoccupiedError(request=None), ME])
    userbot = FakeUserbot(client)
    flow = _service(userbot)
    await flow.begin(1, "Adam")
    await flow.send_code("+15550000009")
    with pytest.raises(LoginFailed) as info:
        await flow.submit_code("12345")
    assert info.value.code == "phone_unoccupied"
    # Still Adam's login, but no code is pending: the next step is another number.
    assert flow.owner == 1 and flow.phone is None and client.disconnected
    with pytest.raises(LoginFailed) as late:
        await flow.submit_code("12345")
    assert late.value.code == "no_flow"
    await flow.send_code("+15550000001")
    assert await flow.submit_code("12345") == LoginDone("Ann Lee")
    assert userbot.adopted == [(client, ME, "+15550000001")]




class FakeQrClient(FakeClient):
    """auth.exportLoginToken: a token, the same token again, then the accepted login."""

    def __init__(self) -> None:
        super().__init__([])
        from datetime import datetime, timedelta

        from telethon.tl import types

        expires = datetime.now(UTC) + timedelta(seconds=30)
        user = types.User(7, first_name="Ann", last_name="Lee", phone="15550000001")
        self.answers = [
            types.auth.LoginToken(expires, b"tok"),
            types.auth.LoginToken(expires, b"tok"),
            types.auth.LoginTokenSuccess(types.auth.Authorization(user)),
        ]
        self.logged_in: list[Any] = []

    async def __call__(self, request: Any) -> Any:
        return self.answers.pop(0)

    def _on_login(self, user: Any) -> None:
        self.logged_in.append(user)


async def test_qr_tokens_are_shown_once_each_then_the_login_is_adopted() -> None:
    client = FakeQrClient()
    userbot = FakeUserbot(client)
    flow = _service(userbot, qr_poll_seconds=0)
    await flow.begin(1, "Adam")
    shown: list[Any] = []
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def show(token: Any) -> None:
        shown.append(token)

    async def done(step: Any) -> None:
        finished.set_result(step)

    async def failed(err: LoginFailed) -> None:
        finished.set_exception(err)

    await flow.start_qr(show, done, failed)
    assert await asyncio.wait_for(finished, 5) == LoginDone("Ann Lee")
    assert [t.url for t in shown] == ["tg://login?token=dG9r"]  # one picture per token
    assert 1 <= shown[0].seconds <= 30
    assert client.logged_in and userbot.adopted[0][2] == "+15550000001"
    assert flow.owner is None
