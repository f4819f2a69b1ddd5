"""Logging the userbot in and out: the use cases behind /login, /logout and the
account part of /status (implements bot/api/login.py `LoginAPI`).

One login flow at a time for the whole process, owned by the operator who started
it: phone -> code [-> 2FA password], or a QR code [-> password]. The Telethon calls
are parser/login.py's; the signed-in client goes to `Userbot.adopt()`, which stores
the session (encrypted, db/accounts.py). Every failure is a `LoginFailed`
(core/errors.py) whose `code` is a core.login.LoginCode.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from core.errors import LoginFailed, VaultError
from core.login import (
    AccountInfo,
    AccountState,
    AccountStatus,
    AccountView,
    CodeSent,
    LoginCode,
    LoginDone,
    LoginStep,
    LogoutTarget,
    NeedPassword,
    QrToken,
    SessionState,
    TypedCode,
)
from core.proxy import ProxySpec, is_none_word, parse_proxy
from core.redaction import add_secret
from parser.client import account_name
from parser.errors import login_error
from parser.login import LoginClient, QrOffer, SignedIn
from parser.pool import AccountPool
from parser.userbot import CONNECTING, ELSEWHERE, INVALID, PAUSED, READY, STANDBY, Userbot

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^\+?[0-9]{7,15}$")

# The steps of a flow.
IDLE, CODE, PASSWORD, QR = "idle", "code", "password", "qr"

QrShow = Callable[[QrToken], Awaitable[None]]


class AccountStore(Protocol):
    """The stored accounts (db/accounts.py AccountRepository)."""

    async def current(self) -> AccountInfo | None:
        """The stored account (the first row, whatever its status), or None when none is."""

    async def accounts(self) -> list[AccountInfo]:
        """Every stored account, oldest first."""

    async def proxy(self, account_id: int) -> str | None:
        """The account's own proxy URL; VaultError when it cannot be decrypted."""

    async def held_counts(self) -> dict[int, int]:
        """account id -> channels it holds."""


def normalise_phone(raw: str) -> str:
    """'+1 (555) 000-00-01' -> '+15550000001' ('8...' with 11 digits: Russia's trunk
    prefix, becomes +7...); 7-15 digits (ITU E.164). LoginFailed(phone_format) else."""
    text = raw.strip()
    if re.search(r"[^0-9+()\-.\s]", text) or text.count("+") > 1 or "+" in text[1:]:
        raise LoginFailed(LoginCode.PHONE_FORMAT)
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("8") and len(digits) == 11:  # Russian trunk prefix
        digits = "7" + digits[1:]
    phone = "+" + digits
    if not PHONE_RE.match(phone):
        raise LoginFailed(LoginCode.PHONE_FORMAT)
    return phone


def parse_code(raw: str) -> TypedCode:
    """The digits of a typed login code (4-8 digits, any separators) and whether it was
    typed in one piece: Telegram cancels a code it sees sent whole in a chat
    (https://core.telegram.org/api/auth#sign-in). LoginFailed(code_format) else."""
    text = raw.strip()
    if not re.fullmatch(r"[0-9][0-9\s\-_.,/·•*]*", text):
        raise LoginFailed(LoginCode.CODE_FORMAT)
    digits = re.sub(r"[^0-9]", "", text)
    if not 4 <= len(digits) <= 8:
        raise LoginFailed(LoginCode.CODE_FORMAT)
    return TypedCode(digits, digits == text)


def account_status(userbot: Userbot | AccountPool, login_by: str | None) -> AccountStatus:
    """The account part of /status from the userbot's state (no Telegram call)."""
    state = SessionState(userbot.state)
    conn = userbot.connection
    name: str | None = None
    if state is SessionState.READY and userbot.me is not None:
        name = account_name(userbot.me)
    elif state is SessionState.CONNECTING:
        name = userbot.stored_name
    trouble = conn.trouble.text() if conn.attempts and conn.trouble is not None else None
    return AccountStatus(
        state=state,
        name=name,
        reason=userbot.reason,
        connecting_attempts=conn.attempts,
        trouble=trouble,
        clock_offset=userbot.clock_offset if state is SessionState.READY else None,
        login_by=login_by,
    )


class LoginService:
    """The login flow and logout (bot/api/login.py LoginAPI).

    `max_attempts` wrong codes (or passwords) end the flow; each Telegram call is
    bounded by `request_timeout` seconds, never less than the flood-sleep threshold
    plus 30 s (Telethon may sleep through a short flood wait); the QR token is asked
    for every `qr_poll_seconds`; a flow untouched for `abandon_after` seconds no longer
    keeps other operators out.
    """

    def __init__(
        self,
        userbot: AccountPool,
        accounts: AccountStore,
        *,
        max_attempts: int = 3,
        request_timeout: float = 60.0,
        qr_poll_seconds: float = 2.0,
        abandon_after: float = 600.0,
    ) -> None:
        self._userbot = userbot
        self._accounts = accounts
        self.max_attempts = max_attempts
        config = userbot.config
        self._login = LoginClient(
            userbot.new_client,
            api_id=config.telegram_api_id,
            api_hash=config.telegram_api_hash.get_secret_value(),
            timeout=max(request_timeout, float(config.flood_sleep_threshold) + 30.0),
        )
        self._qr_poll = qr_poll_seconds
        self.abandon_after = abandon_after
        self.owner: int | None = None
        self.owner_name = ""
        self.state = IDLE
        self.phone: str | None = None
        self.attempts = 0
        self._qr_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._touched = 0.0

    # -- who holds the flow ---------------------------------------------------------

    def busy_for(self, operator: int) -> str | None:
        """The name of the other operator whose login holds the flow, or None. A flow
        untouched for `abandon_after` seconds no longer counts."""
        if self.owner is None or self.owner == operator:
            return None
        if time.monotonic() - self._touched < self.abandon_after:
            return self.owner_name
        return None

    def owns(self, operator: int) -> bool:
        """Whether `operator` holds the flow (an abandoned one may have been taken over)."""
        return self.owner == operator

    def signed_in_as(self) -> str | None:
        """The account's name while the userbot works with it, else None."""
        if self._userbot.state == SessionState.READY:
            return account_name(self._userbot.me)
        return None

    async def begin(self, operator: int, name: str) -> None:
        """Start afresh for `operator` (named `name` in other operators' /status).
        LoginFailed(busy, name=holder) while another operator's login runs."""
        holder = self.busy_for(operator)
        if holder is not None:
            raise LoginFailed(LoginCode.BUSY, name=holder)
        await self.cancel(operator)
        self.owner, self.owner_name = operator, name
        self._touched = time.monotonic()

    async def cancel(self, operator: int | None = None) -> None:
        """End the flow (only if `operator` holds it, when given); never raises."""
        if operator is not None and self.owner != operator:
            return
        await self._reset()

    async def _reset(self) -> None:
        task, self._qr_task = self._qr_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await self._login.close()
        self.owner, self.owner_name, self.state = None, "", IDLE
        self.phone, self.attempts = None, 0

    async def _back_to_phone(self) -> None:
        """The number was wrong after all: the owner keeps the flow and sends another."""
        await self._login.close()
        self.state, self.phone, self.attempts = IDLE, None, 0

    # -- phone and code ----------------------------------------------------------------

    async def send_code(self, raw_phone: str) -> CodeSent:
        """Normalise the number and have Telegram send a code to it (auth.sendCode).
        LoginFailed: phone_format, phone_invalid, phone_banned, flood_wait, network."""
        phone = normalise_phone(raw_phone)
        async with self._lock:
            self._touched = time.monotonic()
            await self._login.open()
            await self._login.send_code(phone)
            self.phone, self.state, self.attempts = phone, CODE, 0
        return CodeSent(phone)

    async def resend_code(self) -> CodeSent:
        """A new code to the same number (after «New code»); LoginFailed(no_flow)
        without one."""
        if self.phone is None:
            raise LoginFailed(LoginCode.NO_FLOW)
        async with self._lock:
            await self._login.send_code(self.phone)
            self.state, self.attempts = CODE, 0
        return CodeSent(self.phone)

    def parse_code(self, raw: str) -> TypedCode:
        """See `parse_code`."""
        return parse_code(raw)

    async def submit_code(self, code: str) -> LoginStep:
        """Sign in with `code`: LoginDone, or NeedPassword for a 2FA account.
        LoginFailed: code_invalid (attempts_left), attempts_exhausted, code_expired,
        phone_unoccupied/phone_invalid (the flow is back at the phone step), no_flow."""
        if self.state != CODE or not self._login.connected or self.phone is None:
            raise LoginFailed(LoginCode.NO_FLOW)
        async with self._lock:
            self._touched = time.monotonic()
            self.attempts += 1
            try:
                step = await self._login.sign_in_code(self.phone, code)
            except LoginFailed as err:
                if err.login_code.wrong_number:  # an unknown number is named only here
                    await self._back_to_phone()
                    raise
                raise await self._wrong(err, LoginCode.CODE_INVALID) from None
            if isinstance(step, NeedPassword):
                self.state, self.attempts = PASSWORD, 0
                return step
            return await self._finish(step)

    async def _wrong(self, err: LoginFailed, code: LoginCode) -> LoginFailed:
        """A wrong code or password counts; the last allowed one ends the flow."""
        if err.login_code is not code:
            return err
        if self.attempts >= self.max_attempts:
            await self._reset()
            return LoginFailed(LoginCode.ATTEMPTS_EXHAUSTED)
        return LoginFailed(code, attempts_left=self.max_attempts - self.attempts)

    async def submit_password(self, password: str) -> LoginDone:
        """Check the 2FA password. LoginFailed: password_invalid (attempts_left),
        attempts_exhausted, password_retry, no_flow."""
        if self.state != PASSWORD or not self._login.connected:
            raise LoginFailed(LoginCode.NO_FLOW)
        async with self._lock:
            self._touched = time.monotonic()
            self.attempts += 1
            try:
                signed = await self._login.sign_in_password(password)
            except LoginFailed as err:
                raise await self._wrong(err, LoginCode.PASSWORD_INVALID) from None
            return await self._finish(signed)

    async def _finish(self, signed: SignedIn) -> LoginDone:
        client = self._login.release()
        await self._userbot.adopt(client, signed.user, self.phone or signed.phone)
        name = signed.name
        await self._reset()
        return LoginDone(name)

    # -- QR ------------------------------------------------------------------------------

    async def start_qr(
        self,
        show: QrShow,
        done: Callable[[LoginStep], Awaitable[None]],
        failed: Callable[[LoginFailed], Awaitable[None]],
    ) -> None:
        """Show QR tokens through `show` until one is accepted in the Telegram app, then
        `done` (LoginDone, or NeedPassword); `failed` if it cannot go on. Runs in a
        task; raises LoginFailed (network, flood_wait) if it cannot start at all."""
        async with self._lock:
            try:
                await self._login.open()
            except LoginFailed:
                await self._reset()
                raise
            self.state = QR
        self._qr_task = asyncio.create_task(self._qr_loop(show, done, failed))

    async def _qr_loop(
        self,
        show: QrShow,
        done: Callable[[LoginStep], Awaitable[None]],
        failed: Callable[[LoginFailed], Awaitable[None]],
    ) -> None:
        shown_until = 0.0
        try:
            while self.state == QR and self._login.connected:
                answer = await self._login.qr_poll()
                if isinstance(answer, NeedPassword):
                    self.state, self.attempts = PASSWORD, 0
                    await done(answer)
                    return
                if isinstance(answer, SignedIn):
                    await done(await self._finish(answer))
                    return
                # Replace the picture only shortly before the shown token expires.
                if answer.url and time.time() >= shown_until - 3:
                    shown_until = answer.expires
                    await show(_token(answer))
                await asyncio.sleep(self._qr_poll)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, LoginFailed):
                log.warning("QR login failed: %s", type(exc).__name__)
            await self._reset()
            await failed(login_error(exc))

    # -- status and logout -----------------------------------------------------------

    async def status(self) -> AccountStatus:
        """The account part of /status; asks Telegram who we are first (2 s at most),
        so a revoked session shows as such."""
        await self._userbot.check(timeout=2.0)
        return account_status(self._userbot, self.owner_name if self.owner is not None else None)

    async def logout_target(self) -> LogoutTarget:
        """What /logout would end with one account: whether there is a session, and the
        account's name."""
        views = [v for v in await self.accounts() if v.has_session]
        if not views:
            return LogoutTarget(False, "?")
        return LogoutTarget(True, views[0].name)

    async def logout(self, account_id: int | None = None) -> None:
        """Log account `account_id` (default: the only one) out on Telegram's side
        (auth.logOut) and wipe its stored session; the other accounts go on."""
        views = [v for v in await self.accounts() if v.has_session]
        if account_id is None:
            if views:
                await self._userbot.logout(views[0].id)
            return
        if any(v.id == account_id for v in views):
            await self._userbot.logout(account_id)

    # -- several accounts ----------------------------------------------------------------

    async def accounts(self) -> list[AccountView]:
        """Every stored account with its state, proxy and channels held, oldest first."""
        held = await self._accounts.held_counts()
        views = []
        for info in await self._accounts.accounts():
            try:
                url = await self._accounts.proxy(info.id)
                proxy = parse_proxy(url).address if url else None
            except (VaultError, ValueError):
                proxy = "?"
            bot = self._userbot.bot(info.id)
            state, reason, until = _state_of(info, bot)
            name = _name_of(info, bot)
            views.append(
                AccountView(
                    info.id, name, state, held.get(info.id, 0), proxy, until, reason,
                    has_session=info.has_session or bot is not None,
                )
            )
        return views

    async def account(self, account_id: int) -> AccountView | None:
        return next((v for v in await self.accounts() if v.id == account_id), None)

    async def set_proxy(self, account_id: int, text: str) -> ProxySpec | None:
        """Give account `account_id` the proxy `text` names (a socks5/socks4/http URL or
        an MTProxy link, core/proxy.py), or clear it ("none": the default proxy again);
        the proxy set (None: cleared). BadProxy(reason) when `text` is not one;
        LookupError when there is no such account."""
        if await self.account(account_id) is None:
            raise LookupError(account_id)
        if is_none_word(text):
            await self._userbot.set_proxy(account_id, None)
            return None
        spec = parse_proxy(text)
        for secret in spec.secrets:
            add_secret(secret)
        await self._userbot.set_proxy(account_id, spec.url)
        return spec

    async def statuses(self) -> list[AccountView]:
        """/status's accounts: asks Telegram who each ready one is first (2 s at most)."""
        await self._userbot.check(timeout=2.0)
        return await self.accounts()


def _name_of(info: AccountInfo, bot: Userbot | None) -> str:
    if bot is not None and bot.me is not None and bot.state == READY:
        return account_name(bot.me)
    name = info.display_name or ""
    if info.username:
        name = f"{name} (@{info.username})" if name else f"@{info.username}"
    return name or info.phone or f"#{info.id}"


def _state_of(
    info: AccountInfo, bot: Userbot | None
) -> tuple[AccountState, str | None, datetime | None]:
    """The account's state for /accounts, why it is not ready, and its flood wait's end."""
    if bot is None:
        if info.status == "revoked":
            return AccountState.REVOKED, info.status_reason, None
        return AccountState.LOGGED_OUT, None, None
    if bot.state == INVALID:
        return AccountState.REVOKED, bot.reason, None
    if bot.state == PAUSED:
        return AccountState.PAUSED, bot.reason, None
    if bot.flooded():
        return AccountState.FLOOD, None, datetime.fromtimestamp(bot.flood_until, UTC)
    if bot.state == READY:
        return AccountState.READY, None, None
    if bot.state == CONNECTING:
        return AccountState.CONNECTING, bot.reason, None
    if bot.state in (STANDBY, ELSEWHERE):
        return AccountState.ELSEWHERE, bot.reason, None
    return AccountState.LOGGED_OUT, None, None


def _token(offer: QrOffer) -> QrToken:
    return QrToken(offer.url, offer.seconds_left())
