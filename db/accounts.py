"""Repository for the userbot accounts, their encrypted sessions and proxies
(core.ports.SessionStore: `AccountRepository.bound(id)` for one account)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from tortoise.expressions import Q
from tortoise.functions import Count

from core.login import AccountInfo
from db.models import Account, Channel
from db.vault import SessionVault, VaultError

# Channels that an account holds (joined or reads): every status but removed/linked.
_HELD_STATUSES = ("active", "paused", "disabled")


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
        flood_until=row.flood_until,
        proxy_stamp=(
            hashlib.sha256(row.proxy_ciphertext.encode()).hexdigest()[:16]
            if row.proxy_ciphertext is not None
            else None
        ),
    )


class AccountRepository:
    """The one place that reads and writes `Account` rows; the session string is
    stored encrypted (db/vault.py). Implements core.ports.SessionStore."""

    def __init__(self, vault: SessionVault) -> None:
        self._vault = vault

    async def current(self) -> AccountInfo | None:
        row = await Account.all().order_by("id").first()
        return _info(row) if row else None

    async def accounts(self) -> list[AccountInfo]:
        """Every stored account, oldest first."""
        return [_info(row) for row in await Account.all().order_by("id")]

    async def get(self, account_id: int) -> AccountInfo | None:
        row = await Account.get_or_none(id=account_id)
        return _info(row) if row else None

    def bound(self, account_id: int) -> AccountSession:
        """The SessionStore of account `account_id` alone."""
        return AccountSession(self, account_id)

    async def claim(self, user_id: int | None) -> int:
        """The row of Telegram user `user_id`: its own (user_id is unique), else a row
        no user has logged in to yet, else a new one."""
        row = None
        if user_id is not None:
            row = await Account.get_or_none(user_id=user_id)
        if row is None:
            row = await Account.filter(user_id__isnull=True).order_by("id").first()
        if row is None:
            row = await Account.create(status="logged_out")
        return row.id

    async def save_session(
        self,
        session: str,
        *,
        phone: str | None,
        user_id: int | None,
        display_name: str | None,
        username: str | None,
        account_id: int | None = None,
    ) -> AccountInfo:
        """Store a signed-in session in row `account_id` (default: the user's row,
        `claim`); the account becomes active."""
        row_id = account_id if account_id is not None else await self.claim(user_id)
        row = await Account.get(id=row_id)
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

    # -- one account --------------------------------------------------------------------

    async def load_session_of(self, account_id: int) -> str | None:
        """Account `account_id`'s session string while it is active; VaultError if it
        cannot be opened."""
        row = await Account.get_or_none(id=account_id)
        if row is None or row.status != "active" or row.session_ciphertext is None:
            return None
        return self._vault.decrypt(row.id, row.session_ciphertext)

    async def update_session_of(self, account_id: int, session: str) -> None:
        token = self._vault.encrypt(account_id, session)
        await Account.filter(id=account_id).update(session_ciphertext=token)

    async def mark_one(self, account_id: int, status: str, reason: str | None = None) -> None:
        await Account.filter(id=account_id).update(status=status, status_reason=reason)

    async def set_flood_until(self, account_id: int, until: datetime) -> None:
        """Note account `account_id` flood-waited until `until` (UTC), for the other
        processes on the database (a later end only)."""
        await Account.filter(id=account_id).filter(
            Q(flood_until__isnull=True) | Q(flood_until__lt=until)
        ).update(flood_until=until)

    async def wipe_one(self, account_id: int, reason: str = "logged out") -> None:
        await Account.filter(id=account_id).update(
            session_ciphertext=None, status="logged_out", status_reason=reason
        )

    # -- proxies -------------------------------------------------------------------------

    async def set_proxy(self, account_id: int, url: str | None) -> None:
        """Store (encrypted) or clear account `account_id`'s own proxy."""
        token = self._vault.encrypt(_proxy_binding(account_id), url) if url else None
        await Account.filter(id=account_id).update(proxy_ciphertext=token)

    async def proxy(self, account_id: int) -> str | None:
        """Account `account_id`'s own proxy URL (None: the default); VaultError if it
        cannot be opened."""
        row = await Account.get_or_none(id=account_id)
        if row is None or row.proxy_ciphertext is None:
            return None
        return self._vault.decrypt(_proxy_binding(account_id), row.proxy_ciphertext)

    # -- channels held -------------------------------------------------------------------

    async def held_counts(self) -> dict[int, int]:
        """account id -> channels it holds (active, paused or disabled)."""
        rows = (
            await Channel.filter(account_id__isnull=False, status__in=_HELD_STATUSES)
            .annotate(n=Count("id"))
            .group_by("account_id")
            .values_list("account_id", "n")
        )
        return {int(a): int(n) for a, n in rows}

    async def rotate_keys(self) -> int:
        """Re-encrypt every stored session and proxy with the first key; all or nothing."""
        rows = await Account.all()
        rotated = []
        for row in rows:
            session = proxy = None
            if row.session_ciphertext is not None:
                session = self._vault.rotate(row.id, row.session_ciphertext)
            if row.proxy_ciphertext is not None:
                proxy = self._vault.rotate(_proxy_binding(row.id), row.proxy_ciphertext)
            if session is not None or proxy is not None:
                rotated.append((row, session, proxy))
        for row, session, proxy in rotated:
            row.session_ciphertext = session
            row.proxy_ciphertext = proxy
            await row.save(update_fields=["session_ciphertext", "proxy_ciphertext"])
        return sum(1 for _, session, _ in rotated if session is not None)


def _proxy_binding(account_id: int) -> str:
    """What a proxy ciphertext is bound to: not a session's binding (the row id), so
    neither can stand in for the other."""
    return f"account-proxy:{account_id}"


class AccountSession:
    """One account's session store (core.ports.SessionStore), for its Userbot."""

    def __init__(self, repo: AccountRepository, account_id: int) -> None:
        self._repo = repo
        self.account_id = account_id

    async def current(self) -> AccountInfo | None:
        return await self._repo.get(self.account_id)

    async def load_session(self) -> str | None:
        return await self._repo.load_session_of(self.account_id)

    async def save_session(
        self,
        session: str,
        *,
        phone: str | None,
        user_id: int | None,
        display_name: str | None,
        username: str | None,
    ) -> AccountInfo:
        return await self._repo.save_session(
            session, phone=phone, user_id=user_id, display_name=display_name,
            username=username, account_id=self.account_id,
        )  # fmt: skip

    async def update_session(self, session: str) -> None:
        await self._repo.update_session_of(self.account_id, session)

    async def mark(self, status: str, reason: str | None = None) -> None:
        await self._repo.mark_one(self.account_id, status, reason)

    async def wipe_session(self, reason: str = "logged out") -> None:
        await self._repo.wipe_one(self.account_id, reason)


__all__ = ["AccountInfo", "AccountRepository", "AccountSession", "VaultError"]


async def move_channels(
    dead: int,
    targets: dict[int, int],
    limit: int,
    members: dict[int, set[int]] | None = None,
) -> tuple[int, int]:
    """Give account `dead`'s channels to the accounts `targets` (account id -> channels
    it holds now), the least loaded first, none past `limit` channels: a public one
    (with a username) to any, a private one only to an account `members` says is in it
    (account id -> Telegram channel ids). Returns (moved, stuck: left with `dead`)."""
    rows = await Channel.filter(account_id=dead, status__in=_HELD_STATUSES).order_by("id")
    load = dict(targets)
    moved = stuck = 0
    for row in rows:
        free = [
            a for a, n in load.items()
            if n < limit and (row.username or row.tg_id in (members or {}).get(a, ()))
        ]  # fmt: skip
        if not free:
            stuck += 1
            continue
        target = min(free, key=lambda a: (load[a], a))
        load[target] += 1
        await Channel.filter(id=row.id).update(account_id=target)
        moved += 1
    return moved, stuck
