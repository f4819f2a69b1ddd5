"""What the login handlers call: /login, /logout and the account part of /status.

Implemented by services/login.py `LoginService`. Failures are `LoginFailed`
(core/errors.py), rendered by bot/errors.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core.errors import LoginFailed
from core.login import (
    AccountStatus,
    AccountView,
    CodeSent,
    LoginDone,
    LoginStep,
    LogoutTarget,
    QrToken,
    TypedCode,
)

QrShow = Callable[[QrToken], Awaitable[None]]
StepDone = Callable[[LoginStep], Awaitable[None]]
StepFailed = Callable[[LoginFailed], Awaitable[None]]


class LoginAPI(Protocol):
    """One login flow at a time for the process, held by the operator who began it."""

    def busy_for(self, operator: int) -> str | None:
        """The name of another operator whose login holds the flow, or None."""
        ...

    def owns(self, operator: int) -> bool:
        """Whether `operator` holds the flow."""
        ...

    def signed_in_as(self) -> str | None:
        """The account's name while the userbot works with it, else None."""
        ...

    async def begin(self, operator: int, name: str) -> None:
        """Start afresh for `operator`; LoginFailed(busy) while another's login runs."""
        ...

    async def cancel(self, operator: int | None = None) -> None:
        """End the flow (only if `operator` holds it, when given)."""
        ...

    async def send_code(self, raw_phone: str) -> CodeSent: ...

    async def resend_code(self) -> CodeSent: ...

    def parse_code(self, raw: str) -> TypedCode: ...

    async def submit_code(self, code: str) -> LoginStep: ...

    async def submit_password(self, password: str) -> LoginDone: ...

    async def start_qr(self, show: QrShow, done: StepDone, failed: StepFailed) -> None:
        """Show QR tokens until one is accepted (then `done`), or `failed`; in a task."""
        ...

    async def status(self) -> AccountStatus: ...

    async def logout_target(self) -> LogoutTarget: ...

    async def logout(self, account_id: int | None = None) -> None:
        """Log account `account_id` (default: the only one) out; the others go on."""
        ...

    async def accounts(self) -> list[AccountView]:
        """Every stored account with its state, proxy and channels held."""
        ...

    async def account(self, account_id: int) -> AccountView | None: ...

    async def set_proxy(self, account_id: int, text: str) -> Any:
        """Set the account's proxy from the operator's `text` ("none" clears it): the
        proxy set (`.address`, `.kind`), or None when cleared. BadProxy(reason) for a
        text that is not one; LookupError when the account is gone."""
        ...

    async def statuses(self) -> list[AccountView]:
        """/status's accounts (each ready one asked who it is first)."""
        ...
