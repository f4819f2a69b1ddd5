"""Several accounts in the database (#18): one row per Telegram user, each account's
proxy encrypted and bound to its row, channels held, a dead account's channels moved."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db.accounts import AccountRepository, move_channels
from db.models import Channel
from db.vault import SessionVault, VaultError

KEY = SessionVault.generate_key()


async def _login(repo: AccountRepository, user_id: int, session: str) -> int:
    info = await repo.save_session(
        session, phone=None, user_id=user_id, display_name=f"U{user_id}", username=None
    )
    return info.id


async def test_a_new_user_adds_a_row_and_the_same_user_refreshes_its_own(db: Path) -> None:
    repo = AccountRepository(SessionVault([KEY]))
    ann = await _login(repo, 1, "ann-1")
    bob = await _login(repo, 2, "bob-1")
    assert ann != bob
    assert await _login(repo, 1, "ann-2") == ann  # no duplicate row
    assert [a.user_id for a in await repo.accounts()] == [1, 2]
    assert await repo.load_session_of(ann) == "ann-2"
    assert await repo.load_session_of(bob) == "bob-1"
    await repo.bound(ann).wipe_session()
    assert await repo.load_session_of(ann) is None
    assert await repo.load_session_of(bob) == "bob-1"  # the other account is untouched


async def test_a_proxy_is_stored_encrypted_and_bound_to_its_account(db: Path) -> None:
    repo = AccountRepository(SessionVault([KEY]))
    ann = await _login(repo, 1, "ann")
    bob = await _login(repo, 2, "bob")
    url = "socks5://user:s3cret-pass@10.0.0.1:1080"
    await repo.set_proxy(ann, url)
    assert await repo.proxy(ann) == url and await repo.proxy(bob) is None
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT id, proxy_ciphertext FROM account").fetchall()
        stored = dict(rows)
        assert "s3cret-pass" not in str(stored[ann])
        # Bob's row given Ann's ciphertext does not open: the binding is the row.
        conn.execute("UPDATE account SET proxy_ciphertext = ? WHERE id = ?", (stored[ann], bob))
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(VaultError):
        await repo.proxy(bob)
    await repo.set_proxy(ann, None)
    assert await repo.proxy(ann) is None


async def test_a_dead_accounts_public_channels_go_to_the_least_loaded(db: Path) -> None:
    repo = AccountRepository(SessionVault([KEY]))
    dead, light, heavy = [await _login(repo, u, str(u)) for u in (1, 2, 3)]
    for n in range(4):  # dead: 3 public, 1 private
        await Channel.create(tg_id=100 + n, username=f"pub{n}" if n < 3 else None,
                             account_id=dead)
    for n in range(2):
        await Channel.create(tg_id=200 + n, username=f"h{n}", account_id=heavy)
    assert await repo.held_counts() == {dead: 4, heavy: 2}
    moved, stuck = await move_channels(dead, {light: 0, heavy: 2}, limit=500)
    assert (moved, stuck) == (3, 1)
    assert await repo.held_counts() == {dead: 1, light: 3, heavy: 2}  # evened out


async def test_moving_respects_the_channel_limit(db: Path) -> None:
    repo = AccountRepository(SessionVault([KEY]))
    dead, full = await _login(repo, 1, "a"), await _login(repo, 2, "b")
    await Channel.create(tg_id=1, username="pub", account_id=dead)
    assert await move_channels(dead, {full: 500}, limit=500) == (0, 1)
