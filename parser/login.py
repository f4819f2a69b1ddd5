"""The login flow: phone, code, 2FA password, or QR; no aiogram here.

One flow at a time for the whole process. The client that logs in is handed to
`Userbot.adopt()`, so the connection that logged in is the one that parses.
Telethon errors become `LoginError(code)`; the bot maps codes to texts.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telethon import TelegramClient, functions, types
from telethon import errors as te

from core.redaction import REDACTOR
from parser.errors import LoginError, RateLimited, SessionDead, TransportError, translate

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^\+?[0-9]{7,15}$")

# States of a flow
IDLE, CODE, PASSWORD, QR = "idle", "code", "password", "qr"
# Errors about the number itself: the flow goes back to asking for one.
PHONE_ERRORS = ("phone_unoccupied", "phone_invalid")


@dataclass(frozen=True)
class LoginDone:
    name: str


@dataclass(frozen=True)
class NeedPassword:
    hint: str | None


LoginStep = LoginDone | NeedPassword

QrSender = Callable[[str, int], Awaitable[None]]  # (tg://login?token=..., seconds left)


def normalise_phone(raw: str) -> str:
    """'+1 (555) 000-00-01' -> '+15550000001'; LoginError('phone_format') for garbage."""
    text = raw.strip()
    if re.search(r"[^0-9+()\-.\s]", text) or text.count("+") > 1 or "+" in text[1:]:
        raise LoginError("phone_format")
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("8") and len(digits) == 11:  # Russian trunk prefix
        digits = "7" + digits[1:]
    phone = "+" + digits
    if not PHONE_RE.match(phone):
        raise LoginError("phone_format")
    return phone


def parse_code(raw: str) -> tuple[str, bool]:
    """Digits of a typed code and whether it was typed in one piece (likely cancelled)."""
    text = raw.strip()
    if not re.fullmatch(r"[0-9][0-9\s\-_.,/·•*]*", text):
        raise LoginError("code_format")
    digits = re.sub(r"[^0-9]", "", text)
    if not 4 <= len(digits) <= 8:
        raise LoginError("code_format")
    return digits, digits == text


def _login_error(exc: BaseException) -> LoginError:
    if isinstance(exc, LoginError):
        return exc
    mapping: list[tuple[type[BaseException], str]] = [
        (te.PhoneNumberInvalidError, "phone_invalid"),
        (te.PhoneNumberBannedError, "phone_banned"),
        (te.PhoneNumberUnoccupiedError, "phone_unoccupied"),
        (te.PhoneCodeInvalidError, "code_invalid"),
        (te.PhoneCodeEmptyError, "code_invalid"),
        (te.PhoneCodeExpiredError, "code_expired"),
        (te.PasswordHashInvalidError, "password_invalid"),
        (te.SrpIdInvalidError, "password_retry"),
    ]
    for cls, code in mapping:
        if isinstance(exc, cls):
            return LoginError(code)
    err = translate(exc)
    if isinstance(err, RateLimited):
        out = LoginError("flood_wait")
        out.seconds = err.seconds  # type: ignore[attr-defined]
        return out
    if isinstance(err, TransportError) or isinstance(exc, asyncio.TimeoutError):
        return LoginError("network")
    if isinstance(err, SessionDead):
        return LoginError("session_dead", err.detail)
    return LoginError("unknown", type(exc).__name__)


class LoginFlow:
    """One login at a time: `begin` -> `send_code` -> `submit_code` [-> `submit_password`]."""

    def __init__(
        self,
        userbot: Any,  # parser.userbot.Userbot
        *,
        max_attempts: int = 3,
        request_timeout: float = 60.0,
        qr_poll_seconds: float = 2.0,
    ) -> None:
        self._userbot = userbot
        self.max_attempts = max_attempts
        # Longer than the flood-sleep threshold: Telethon may sleep through a short wait.
        self._timeout = max(request_timeout, float(userbot.settings.flood_sleep_threshold) + 30.0)
        self._qr_poll = qr_poll_seconds
        self.owner: int | None = None
        self.owner_name: str = ""
        self.state = IDLE
        self.phone: str | None = None
        self.attempts = 0
        self._client: TelegramClient | None = None
        self._qr_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._touched = 0.0
        self.abandon_after = 600.0

    # -- ownership -----------------------------------------------------------------

    def busy_for(self, operator: int) -> bool:
        if self.owner is None or self.owner == operator:
            return False
        # An abandoned flow does not block the other operators forever.
        return time.monotonic() - self._touched < self.abandon_after

    def begin(self, operator: int, name: str) -> None:
        if self.busy_for(operator):
            raise LoginError("busy", self.owner_name)
        self.owner, self.owner_name = operator, name
        self._touched = time.monotonic()

    async def cancel(self, operator: int | None = None) -> None:
        if operator is not None and self.owner != operator:
            return
        await self._reset()

    async def _reset(self) -> None:
        task, self._qr_task = self._qr_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await self._drop_client()
        self.owner, self.owner_name, self.state = None, "", IDLE
        self.phone, self.attempts = None, 0

    async def _back_to_phone(self) -> None:
        """The number was wrong after all: the owner keeps the flow and sends another."""
        await self._drop_client()
        self.state, self.phone, self.attempts = IDLE, None, 0

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                log.debug("login client disconnect failed", exc_info=True)

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(coro, self._timeout)
        except te.SessionPasswordNeededError:
            raise
        except Exception as exc:
            raise _login_error(exc) from None

    async def _fresh_client(self) -> TelegramClient:
        if self._client is not None:
            await self._client.disconnect()
        self._client = self._userbot.new_client()
        await self._call(self._client.connect())
        return self._client

    # -- phone and code --------------------------------------------------------------

    async def send_code(self, raw_phone: str) -> str:
        phone = normalise_phone(raw_phone)
        async with self._lock:
            self._touched = time.monotonic()
            client = await self._fresh_client()
            await self._call(client.send_code_request(phone))
            self.phone, self.state, self.attempts = phone, CODE, 0
        return phone

    async def resend_code(self) -> None:
        if self.phone is None:
            raise LoginError("no_flow")
        async with self._lock:
            client = self._client or await self._fresh_client()
            # A fresh sendCode after expiry (resendCode needs a live hash).
            await self._call(client.send_code_request(self.phone, force_sms=False))
            self.state, self.attempts = CODE, 0

    async def submit_code(self, code: str) -> LoginStep:
        if self.state != CODE or self._client is None or self.phone is None:
            raise LoginError("no_flow")
        REDACTOR.add(code)
        async with self._lock:
            self._touched = time.monotonic()
            self.attempts += 1
            try:
                me = await self._call(self._client.sign_in(self.phone, code))
            except te.SessionPasswordNeededError:
                self.state, self.attempts = PASSWORD, 0
                return NeedPassword(await self._hint())
            except LoginError as err:
                if err.code in PHONE_ERRORS:  # an unknown number is named only here
                    await self._back_to_phone()
                    raise
                if err.code == "code_invalid" and self.attempts >= self.max_attempts:
                    await self._reset()
                    raise LoginError("attempts_exhausted") from None
                err.attempts_left = self.max_attempts - self.attempts  # type: ignore[attr-defined]
                raise
            return await self._finish(me)

    async def _hint(self) -> str | None:
        assert self._client is not None
        try:
            pwd = await self._call(self._client(functions.account.GetPasswordRequest()))
        except LoginError:
            return None
        hint = getattr(pwd, "hint", None)
        return str(hint) if hint else None

    async def submit_password(self, password: str) -> LoginDone:
        if self.state != PASSWORD or self._client is None:
            raise LoginError("no_flow")
        REDACTOR.add(password)
        async with self._lock:
            self._touched = time.monotonic()
            self.attempts += 1
            try:
                me = await self._call(self._client.sign_in(password=password))
            except LoginError as err:
                if err.code == "password_invalid" and self.attempts >= self.max_attempts:
                    await self._reset()
                    raise LoginError("attempts_exhausted") from None
                err.attempts_left = self.max_attempts - self.attempts  # type: ignore[attr-defined]
                raise
            return await self._finish(me)

    async def _finish(self, me: Any) -> LoginDone:
        client, self._client = self._client, None
        assert client is not None
        phone = self.phone or (f"+{me.phone}" if getattr(me, "phone", None) else None)
        await self._userbot.adopt(client, me, phone)
        name = " ".join(p for p in (me.first_name, me.last_name) if p) or str(me.id)
        await self._reset()
        return LoginDone(name)

    # -- QR ---------------------------------------------------------------------------

    async def start_qr(
        self,
        send: QrSender,
        on_done: Callable[[LoginStep], Awaitable[None]],
        on_error: Callable[[LoginError], Awaitable[None]],
    ) -> None:
        """Show tokens through `send` until confirmed; then `on_done`. Runs in a task."""
        async with self._lock:
            await self._fresh_client()
            self.state = QR
        self._qr_task = asyncio.create_task(self._qr_loop(send, on_done, on_error))

    async def _qr_loop(
        self,
        send: QrSender,
        on_done: Callable[[LoginStep], Awaitable[None]],
        on_error: Callable[[LoginError], Awaitable[None]],
    ) -> None:
        # Polling exportLoginToken instead of waiting for updateLoginToken: the client
        # runs with receive_updates=False, and the adopted client must stay that way.
        shown_until = 0.0
        s = self._userbot.settings
        try:
            while self.state == QR and self._client is not None:
                client = self._client
                try:
                    resp = await self._call(
                        client(
                            functions.auth.ExportLoginTokenRequest(
                                s.telegram_api_id, s.telegram_api_hash.get_secret_value(), []
                            )
                        )
                    )
                except te.SessionPasswordNeededError:
                    self.state, self.attempts = PASSWORD, 0
                    await on_done(NeedPassword(await self._hint()))
                    return
                if isinstance(resp, types.auth.LoginTokenSuccess):
                    user = resp.authorization.user  # type: ignore[union-attr]
                    client._on_login(user)
                    done = await self._finish(user)
                    await on_done(done)
                    return
                expires = (
                    resp.expires.timestamp() if isinstance(resp, types.auth.LoginToken) else 0
                )
                # Replace the picture only shortly before the shown token expires.
                if isinstance(resp, types.auth.LoginToken) and time.time() >= shown_until - 3:
                    shown_until = expires
                    url = "tg://login?token=" + base64.urlsafe_b64encode(resp.token).decode()
                    await send(url, max(1, int(resp.expires.timestamp() - time.time())))
                await asyncio.sleep(self._qr_poll)
        except asyncio.CancelledError:
            raise
        except LoginError as err:
            await self._reset()
            await on_error(err)
        except Exception as exc:
            log.warning("QR login failed: %s", type(exc).__name__)
            await self._reset()
            await on_error(_login_error(exc))
