"""Session encryption at rest: wrong key fails closed, rotation, row binding."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db.accounts import AccountRepository
from db.models import Account
from db.vault import SessionVault, VaultError

SESSION = "1BVtsOHgBu7dVhYvC3cFq0xKpWz9sLmNoPqRsTuVwXyZ-session-string"
KEY_A = SessionVault.generate_key()
KEY_B = SessionVault.generate_key()


def _ciphertexts(path: Path) -> list[tuple[int, bytes]]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes
    try:
        rows = conn.execute("SELECT id, session_ciphertext FROM account ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(int(r[0]), r[1]) for r in rows]


async def _store(keys: list[str]) -> AccountRepository:
    repo = AccountRepository(SessionVault(keys))
    await repo.save_session(
        SESSION, phone="+10000000000", user_id=42, display_name="Op", username="op"
    )
    return repo


async def test_round_trip_and_nothing_readable_at_rest(db: Path) -> None:
    repo = await _store([KEY_A])
    assert await repo.load_session() == SESSION
    [(_, stored)] = _ciphertexts(db)
    assert SESSION.encode() not in stored
    assert SESSION[:16].encode() not in stored


async def test_wrong_key_clear_error_and_ciphertext_unchanged(db: Path) -> None:
    await _store([KEY_A])
    before = _ciphertexts(db)
    wrong = AccountRepository(SessionVault([KEY_B]))
    with pytest.raises(VaultError) as info:
        await wrong.load_session()
    message = str(info.value)
    assert "SESSION_KEYS" in message and "cannot be decrypted" in message
    assert KEY_A not in message and KEY_B not in message and SESSION not in message
    with pytest.raises(VaultError):
        await wrong.rotate_keys()
    assert _ciphertexts(db) == before  # byte for byte
    assert (await Account.get(id=before[0][0])).status == "active"
    assert await AccountRepository(SessionVault([KEY_A])).load_session() == SESSION


async def test_rotation_then_the_old_key_can_go(db: Path) -> None:
    await _store([KEY_A])
    before = _ciphertexts(db)
    assert await AccountRepository(SessionVault([KEY_B, KEY_A])).rotate_keys() == 1
    after = _ciphertexts(db)
    assert after != before
    only_new = AccountRepository(SessionVault([KEY_B]))
    assert await only_new.load_session() == SESSION
    with pytest.raises(VaultError):
        await AccountRepository(SessionVault([KEY_A])).load_session()


async def test_ciphertext_copied_to_another_row_does_not_decrypt(db: Path) -> None:
    repo = await _store([KEY_A])
    first = await Account.all().order_by("id").first()
    assert first is not None and first.session_ciphertext is not None
    other = await Account.create(status="logged_out")
    other.session_ciphertext = first.session_ciphertext
    other.status = "active"
    await other.save()
    first.status = "logged_out"
    await first.save()
    with pytest.raises(VaultError, match="does not belong"):
        await repo.load_session()
    # Rotation checks the binding too and leaves everything as it was.
    before = _ciphertexts(db)
    with pytest.raises(VaultError):
        await AccountRepository(SessionVault([KEY_B, KEY_A])).rotate_keys()
    assert _ciphertexts(db) == before


def test_vault_binding_and_tampering() -> None:
    vault = SessionVault([KEY_A])
    token = vault.encrypt(1, SESSION)
    assert vault.decrypt(1, token) == SESSION
    with pytest.raises(VaultError):
        vault.decrypt(2, token)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(VaultError):
        vault.decrypt(1, tampered)
    # A session string containing the separator survives.
    assert vault.decrypt(7, vault.encrypt(7, "a|b|c")) == "a|b|c"


def test_no_key_is_an_error() -> None:
    with pytest.raises(VaultError, match="SESSION_KEYS"):
        SessionVault([])
