"""The Telethon steps of a login: send a code, sign in, 2FA password, QR tokens.

No flow state here (who logs in, attempts, which step is next: services/login.py).
One `LoginClient` is one login attempt's connection; once signed in it is handed to
`Userbot.adopt()`, so the connection that logged in is the one that parses. Every
failure is a `LoginFailed` (parser/errors.py `login_error`), except that a 2FA account
answers a code or a QR token with `NeedPassword`.

Telegram's rules: https://core.telegram.org/api/auth (code, 2FA: /api/srp, QR: /api/qr-login).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telethon import TelegramClient, functions, types
from telethon import errors as te

from core.login import NeedPassword
from core.redaction import add_secret
from parser.errors import login_error

T = TypeVar("T")


@dataclass(frozen=True)
class SignedIn:
    """A signed-in client: the Telethon `user` (types.User) and its display `name`
    (first and last name, or the user id)."""

    client: TelegramClient
    user: Any

    @property
    def name(self) -> str:
        """First and last name joined by a space, or the user id when both are empty."""
        u = self.user
        return " ".join(p for p in (u.first_name, u.last_name) if p) or str(u.id)

    @property
    def phone(self) -> str | None:
        """The account's number as Telegram gives it (`+` and digits), if it does."""
        phone = self.user.phone
        return f"+{phone}" if phone else None


@dataclass(frozen=True)
class QrOffer:
    """A QR login token: `url` (tg://login?token=...) and when it expires (unix time)."""

    url: str
    expires: float

    def seconds_left(self) -> int:
        """Whole seconds until the token expires, at least 1 (Telegram: auth.loginToken
        `expires`, https://core.telegram.org/api/qr-login)."""
        return max(1, int(self.expires - time.time()))


QrAnswer = QrOffer | SignedIn | NeedPassword


class LoginClient:
    """One login attempt's Telethon client and its steps.

    `new_client` builds a client (Userbot.new_client); `api_id`/`api_hash` are the app's
    credentials (auth.exportLoginToken needs them); every call is bounded by `timeout`
    seconds. Raises LoginFailed (code_invalid, flood_wait with retry_in, network, ...).
    """

    def __init__(
        self,
        new_client: Callable[[], TelegramClient],
        *,
        api_id: int,
        api_hash: str,
        timeout: float,
    ) -> None:
        self._new_client = new_client
        self._api_id = api_id
        self._api_hash = api_hash
        self._timeout = timeout
        self._client: TelegramClient | None = None

    @property
    def connected(self) -> bool:
        """True while this object holds a client: opened, not yet closed or released."""
        return self._client is not None

    async def _call(self, coro: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(coro, self._timeout)
        except te.SessionPasswordNeededError:
            raise
        except Exception as exc:
            raise login_error(exc) from None

    def _live(self) -> TelegramClient:
        if self._client is None:
            raise RuntimeError("login client is not connected")
        return self._client

    async def open(self) -> None:
        """A fresh connection (the previous one, if any, is closed)."""
        await self.close()
        self._client = self._new_client()
        await self._call(self._client.connect())

    async def close(self) -> None:
        """Disconnect; never raises."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                pass

    def release(self) -> TelegramClient:
        """Hand the signed-in client over (to Userbot.adopt); this object forgets it."""
        client = self._live()
        self._client = None
        return client

    async def send_code(self, phone: str) -> None:
        """auth.sendCode to `phone` (+digits) on the open connection (opened if none):
        a fresh code, also after one expired (auth.resendCode needs a live hash)."""
        if self._client is None:
            await self.open()
        await self._call(self._live().send_code_request(phone, force_sms=False))

    async def sign_in_code(self, phone: str, code: str) -> SignedIn | NeedPassword:
        """auth.signIn with the code; NeedPassword when the account has 2FA
        (SESSION_PASSWORD_NEEDED)."""
        add_secret(code)
        client = self._live()
        try:
            user = await self._call(client.sign_in(phone, code))
        except te.SessionPasswordNeededError:
            return NeedPassword(await self.password_hint())
        return SignedIn(client, user)

    async def sign_in_password(self, password: str) -> SignedIn:
        """auth.checkPassword (SRP) with the 2FA password."""
        add_secret(password)
        client = self._live()
        user = await self._call(client.sign_in(password=password))
        return SignedIn(client, user)

    async def password_hint(self) -> str | None:
        """The hint of the account's 2FA password (account.getPassword); None if none
        or if asking failed."""
        client = self._live()
        try:
            pwd = await self._call(client(functions.account.GetPasswordRequest()))
        except Exception:
            return None
        hint = pwd.hint  # account.Password
        return str(hint) if hint else None

    async def qr_poll(self) -> QrAnswer:
        """auth.exportLoginToken once: a token to show, or the account that accepted the
        last one (SignedIn), or NeedPassword (2FA). Polled instead of waiting for
        updateLoginToken: the client runs with receive_updates=False."""
        client = self._live()
        try:
            resp = await self._call(
                client(functions.auth.ExportLoginTokenRequest(self._api_id, self._api_hash, []))
            )
        except te.SessionPasswordNeededError:
            return NeedPassword(await self.password_hint())
        if isinstance(resp, types.auth.LoginTokenSuccess):
            user = resp.authorization.user
            client._on_login(user)
            return SignedIn(client, user)
        if isinstance(resp, types.auth.LoginToken):
            url = "tg://login?token=" + base64.urlsafe_b64encode(resp.token).decode()
            return QrOffer(url, resp.expires.timestamp())
        # auth.loginTokenMigrateTo: not used by this app's single DC; ask again.
        return QrOffer("", 0.0)
