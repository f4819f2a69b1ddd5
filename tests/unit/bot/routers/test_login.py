"""/login and /logout fed as real Updates through the real Dispatcher, over a fake
LoginAPI; failed steps are shown by bot/errors.py's handler."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.api.login import QrShow, StepDone, StepFailed
from bot.component import ControlBot
from core.errors import LoginFailed
from core.health import HealthRegistry
from core.login import (
    AccountState,
    AccountStatus,
    AccountView,
    CodeSent,
    LoginCode,
    LoginDone,
    LoginStep,
    LogoutTarget,
    NeedPassword,
    SessionState,
    TypedCode,
)
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps


@dataclass
class FakeLogin:
    """LoginAPI: a scripted flow; `outcomes` answer submit_code/submit_password in turn."""

    outcomes: list[LoginStep | LoginFailed] = field(default_factory=list)
    owner: int | None = None
    codes: list[str] = field(default_factory=list)
    logged_out: int = 0
    has_session: bool = True
    more: list[AccountView] = field(default_factory=list)  # accounts besides Ann
    ended: list[int | None] = field(default_factory=list)  # logout()'s account ids

    def busy_for(self, operator: int) -> str | None:
        return None

    def owns(self, operator: int) -> bool:
        return self.owner == operator

    def signed_in_as(self) -> str | None:
        return None

    async def begin(self, operator: int, name: str) -> None:
        self.owner = operator

    async def cancel(self, operator: int | None = None) -> None:
        if operator is None or operator == self.owner:
            self.owner = None

    async def send_code(self, raw_phone: str) -> CodeSent:
        if not raw_phone.startswith("+"):
            raise LoginFailed(LoginCode.PHONE_FORMAT)
        return CodeSent(raw_phone)

    async def resend_code(self) -> CodeSent:
        return CodeSent("+15550000001")

    def parse_code(self, raw: str) -> TypedCode:
        digits = "".join(c for c in raw if c.isdigit())
        if len(digits) < 4:
            raise LoginFailed(LoginCode.CODE_FORMAT)
        return TypedCode(digits, digits == raw.strip())

    async def _next(self) -> LoginStep:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, LoginFailed):
            raise outcome
        return outcome

    async def submit_code(self, code: str) -> LoginStep:
        self.codes.append(code)
        return await self._next()

    async def submit_password(self, password: str) -> LoginDone:
        step = await self._next()
        assert isinstance(step, LoginDone)
        return step

    async def start_qr(self, show: QrShow, done: StepDone, failed: StepFailed) -> None:
        raise LoginFailed(LoginCode.NETWORK)

    async def status(self) -> AccountStatus:
        return AccountStatus(SessionState.READY, name="Ann (@ann)")

    async def logout_target(self) -> LogoutTarget:
        return LogoutTarget(self.has_session, "Ann (@ann)")

    async def logout(self, account_id: int | None = None) -> None:
        self.logged_out += 1
        self.ended.append(account_id)

    async def accounts(self) -> list[AccountView]:
        state = AccountState.READY if self.has_session else AccountState.LOGGED_OUT
        ann = AccountView(1, "Ann (@ann)", state, has_session=self.has_session)
        return [ann, *self.more]

    async def account(self, account_id: int) -> AccountView | None:
        return next((v for v in await self.accounts() if v.id == account_id), None)


@pytest.fixture
def login() -> FakeLogin:
    return FakeLogin()


@pytest.fixture
async def tg(login: FakeLogin) -> AsyncIterator[BotUnderTest]:
    """The `tg` of tests/unit/bot/conftest.py, with the fake login service."""
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = FakeChannels()
    deps = make_deps({ADMIN}, channels=channels, status=FakeStatus(health))
    control = ControlBot(bot, dataclasses.replace(deps, login=login), health=health)
    yield BotUnderTest(control, bot, session, Updates(), channels, health)


async def test_phone_keypad_code_and_done(tg: BotUnderTest, login: FakeLogin) -> None:
    login.outcomes = [LoginDone("Ann Lee")]
    (ask,) = await tg.send("/login")
    assert ask.buttons == [("Log in with a QR code", "login:qr")]
    sent, keypad = await tg.send("+15550000001")
    assert "+15550000001" in sent.text
    assert ("1", "lk:1") in keypad.buttons and keypad.buttons[-1][1] == "lk:resend"
    for digit in "12345":
        await tg.press(f"lk:{digit}", on=keypad)
    after_ok = await tg.press("lk:ok", on=keypad)
    assert login.codes == ["12345"]
    assert after_ok[-1].text == "✅ Logged in as Ann Lee. Parsing uses this account now."


async def test_a_login_beside_other_accounts_does_not_say_it_takes_over(
    tg: BotUnderTest, login: FakeLogin
) -> None:
    # Was "Parsing uses this account now" for a second account too: it joins the others.
    login.outcomes = [LoginDone("Bob")]
    login.more = [AccountView(2, "Bob", AccountState.READY, has_session=True)]
    await tg.send("/login")
    _, keypad = await tg.send("+15550000002")
    for digit in "54321":
        await tg.press(f"lk:{digit}", on=keypad)
    after_ok = await tg.press("lk:ok", on=keypad)
    assert after_ok[-1].text == (
        "✅ Logged in as Bob. Accounts logged in: 2; the channels are shared among them "
        "(/accounts lists them)."
    )


async def test_failed_steps_are_shown_by_the_error_handler(
    tg: BotUnderTest, login: FakeLogin
) -> None:
    login.outcomes = [
        LoginFailed(LoginCode.CODE_INVALID, attempts_left=2),
        LoginFailed(LoginCode.CODE_EXPIRED),
        NeedPassword("pet"),
        LoginDone("Ann"),
    ]
    await tg.send("/login")
    (wrong_phone,) = await tg.send("call me")
    assert wrong_phone.text.startswith("That does not look like a phone number")
    await tg.send("+15550000001")  # still at the phone step: this one goes through
    sent = await tg.send("1 2 3 4 5")
    assert [s.method for s in sent] == ["deleteMessage", "sendMessage"]  # the code goes
    assert sent[-1].text == "Wrong code. Attempts left: 2."
    (whole_warning, expired) = [s for s in await tg.send("54321") if s.method == "sendMessage"]
    assert "one piece" in whole_warning.text
    assert expired.text.startswith("The code has expired")
    assert expired.buttons == [("🔁 New code", "lk:resend")]  # bot/errors.py adds it
    asked = [s for s in await tg.send("1 1 1 1 1") if s.method == "sendMessage"]
    assert "pet" in asked[-1].text  # the password step, with its hint
    done = [s for s in await tg.send("secret") if s.method == "sendMessage"]
    assert done[-1].text.startswith("✅ Logged in as Ann.")


async def test_a_qr_login_that_cannot_start_ends_the_dialogue(tg: BotUnderTest) -> None:
    (failed,) = [s for s in await tg.send("/login qr") if s.method == "sendMessage"]
    assert failed.text == "Telegram could not be reached. Try the same step again in a minute."
    (nothing,) = await tg.send("/cancel")
    assert nothing.text == "Nothing to cancel."  # the dialogue ended with the failure


async def test_logout_asks_then_logs_out_once(tg: BotUnderTest, login: FakeLogin) -> None:
    (ask,) = await tg.send("/logout")
    assert "Ann (@ann)" in ask.text
    assert [data for _, data in ask.buttons] == ["logout:yes", "logout:no"]
    (edited,) = await tg.press("logout:yes", on=ask)
    assert edited.method == "editMessageText" and edited.text.startswith("Logged out.")
    assert login.logged_out == 1
    login.has_session = False
    (none,) = await tg.send("/logout")
    assert none.buttons == []


async def test_logout_with_several_accounts_asks_which_and_ends_only_that(
    tg: BotUnderTest, login: FakeLogin
) -> None:
    login.more = [AccountView(7, "Bob <b>", AccountState.READY, channels=3)]
    (ask,) = await tg.send("/logout")
    assert "2 accounts" in ask.text
    assert [data for _, data in ask.buttons] == ["lopick:1", "lopick:7"]
    assert ask.buttons[1][0] == "2. Bob <b>"  # a button shows text as it is
    (confirm,) = await tg.press("lopick:7", on=ask)
    assert confirm.method == "editMessageText" and "Bob &lt;b&gt;" in confirm.text
    assert [data for _, data in confirm.buttons] == ["loacc:yes:7", "loacc:no:7"]
    (done,) = await tg.press("loacc:yes:7", on=confirm)
    assert done.text.startswith("Logged out.") and "other accounts go on" in done.text
    assert login.ended == [7]


async def test_logout_pages_the_accounts_so_the_95th_can_be_picked(
    tg: BotUnderTest, login: FakeLogin
) -> None:
    """Issue #18: 95 accounts (Ann and 94 more) - 10 a page with ◀ ▶, the last reachable."""
    login.more = [
        AccountView(1000 + i, f"Acc {i} " + "x" * 60, AccountState.READY) for i in range(2, 96)
    ]
    (ask,) = await tg.send("/logout")
    assert "95 accounts" in ask.text and "page 1 of 10" in ask.text
    assert [data for _, data in ask.buttons][:10] == ["lopick:1"] + [
        f"lopick:{1000 + i}" for i in range(2, 11)
    ]
    assert [data for _, data in ask.buttons][10:] == ["lopg:1", "lopg:9"]  # ▶ and last
    (last,) = await tg.press("lopg:9", on=ask)
    assert last.method == "editMessageText" and "page 10 of 10" in last.text
    assert [data for _, data in last.buttons] == [
        "lopick:1091", "lopick:1092", "lopick:1093", "lopick:1094", "lopick:1095",
        "lopg:0", "lopg:8",
    ]  # fmt: skip
    assert last.buttons[4][0].startswith("95. Acc 95")
    (confirm,) = await tg.press("lopick:1095", on=last)
    assert "Acc 95" in confirm.text
    (done,) = await tg.press("loacc:yes:1095", on=confirm)
    assert done.text.startswith("Logged out.") and login.ended == [1095]
