"""Encrypts Telethon session strings at rest.

MultiFernet encrypts with the first key and decrypts with any. Fernet has no
associated data, so the row id is put inside the payload and checked on decrypt:
a ciphertext copied to another row does not decrypt there.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import VaultError

__all__ = ["SessionVault", "VaultError"]


class SessionVault:
    """Fernet keys (SESSION_KEYS), newest first; raises core.errors.VaultError."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise VaultError("no encryption key configured (SESSION_KEYS)")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, row_id: int | str, plaintext: str) -> str:
        payload = f"{row_id}|{plaintext}".encode()
        return self._fernet.encrypt(payload).decode()

    def decrypt(self, row_id: int | str, token: str) -> str:
        payload = self._open(token)
        prefix, sep, plaintext = payload.partition("|")
        if not sep or prefix != str(row_id):
            raise VaultError(f"the stored session does not belong to row {row_id}")
        return plaintext

    def rotate(self, row_id: int | str, token: str) -> str:
        """Re-encrypt with the first key, after checking the row binding."""
        self.decrypt(row_id, token)
        return self._fernet.rotate(token.encode()).decode()

    def _open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "the stored session cannot be decrypted with SESSION_KEYS "
                "(wrong or missing key); nothing was changed"
            ) from None
