"""The `tg-parser` command as a user runs it, with a clean environment (integration tests)."""

from __future__ import annotations

import sys
from pathlib import Path

from cryptography.fernet import Fernet

TG_PARSER = str(Path(sys.executable).parent / "tg-parser")


def clean_env(tmp: Path, **values: str) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell or .env leaks in."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "LANG": "C.UTF-8", **values}


def full_env(tmp: Path) -> dict[str, str]:
    return {
        "BOT_TOKEN": "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz",
        "TELEGRAM_API_ID": "12345",
        "TELEGRAM_API_HASH": "0123456789abcdef0123456789abcdef",
        "ADMIN_IDS": "1001",
        "SESSION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite://{tmp / 'data' / 'tg.sqlite3'}",
    }
