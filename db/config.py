"""Tortoise configuration built from a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

APP_LABEL = "tg_parser"


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    connection: str | dict[str, Any] = url
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path not in ("", ":memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The same settings Tortoise derives from the URL, on a client that survives
        # cancelled bulk writes (see db/sqlite_engine.py).
        connection = {**expand_db_url(url), "engine": "db.sqlite_engine"}
    elif url.startswith("postgres://"):
        # JIT off: with fresh statistics PostgreSQL compiled /stats's statement over a
        # big channel's year for 0.5 s and ran it for 0.35 s (bench/RESULTS.md #17);
        # the app's statements are short or I/O-bound, where JIT only costs.
        expanded = expand_db_url(url)
        settings = {**expanded["credentials"].get("server_settings", {}), "jit": "off"}
        expanded["credentials"] = {**expanded["credentials"], "server_settings": settings}
        connection = expanded
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["db.models"],
                "default_connection": "default",
                "migrations": "db.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For `tortoise -c db.config.TORTOISE_ORM makemigrations` during development.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
