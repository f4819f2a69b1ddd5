"""Repository for the userbot account and its encrypted session (core.ports.SessionStore)."""

from __future__ import annotations

from core.login import AccountInfo
from db.models import Account
from db.vault import SessionVault, VaultError


def _info(row: Account) -> AccountInfo:
    return AccountInfo(
        id=row.id,
        phone=row.phone,
        user_id=row.user_id,
        display_name=row.display_name,
        username=row.username,
        status=row.status,
        status_reason=row.status_reason,
        has_session=row.session_ciphertext is not None,
    )


class AccountRepository:
    """The one place that reads and writes `Account` rows; the session string is
    stored encrypted (db/vault.py). Implements core.ports.SessionStore."""

    def __init__(self, vault: SessionVault) -> None:
        self._vault = vault

    async def current(self) -> AccountInfo | None:
        row = await Account.all().order_by("id").first()
        return _info(row) if row else None

    async def save_session(
        self,
        session: str,
        *,
        phone: str | None,
        user_id: int | None,
        display_name: str | None,
        username: str | None,
    ) -> AccountInfo:
        row = await Account.all().order_by("id").first()
        if row is None:
            row = await Account.create(status="logged_out")
        row.session_ciphertext = self._vault.encrypt(row.id, session)
        row.phone = phone
        row.user_id = user_id
        row.display_name = display_name
        row.username = username
        row.status = "active"
        row.status_reason = None  # type: ignore[assignment]
        await row.save()
        return _info(row)

    async def update_session(self, session: str) -> None:
        """Store a changed session string (after a DC switch) for the active account."""
        row = await Account.filter(status="active").order_by("id").first()
        if row is not None:
            row.session_ciphertext = self._vault.encrypt(row.id, session)
            await row.save(update_fields=["session_ciphertext", "updated_at"])

    async def load_session(self) -> str | None:
        """The active account's session string; raises VaultError if it cannot be opened."""
        row = await Account.filter(status="active").order_by("id").first()
        if row is None or row.session_ciphertext is None:
            return None
        return self._vault.decrypt(row.id, row.session_ciphertext)

    async def mark(self, status: str, reason: str | None = None) -> None:
        """Change the status; the ciphertext is kept (a revoked session may be inspected)."""
        await Account.all().update(status=status, status_reason=reason)

    async def wipe_session(self, reason: str = "logged out") -> None:
        await Account.all().update(
            session_ciphertext=None, status="logged_out", status_reason=reason
        )

    async def rotate_keys(self) -> int:
        """Re-encrypt every stored session with the first key; all or nothing."""
        rows = await Account.filter(session_ciphertext__not_isnull=True)
        rotated = []
        for row in rows:
            assert row.session_ciphertext is not None
            rotated.append((row, self._vault.rotate(row.id, row.session_ciphertext)))
        for row, token in rotated:
            row.session_ciphertext = token
            await row.save(update_fields=["session_ciphertext"])
        return len(rotated)


__all__ = ["AccountInfo", "AccountRepository", "VaultError"]
