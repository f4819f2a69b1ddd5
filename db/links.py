"""The repost and mention graph's edges (table `message_link`) written with the
messages they come from: `store_batch` (db/messages.py) calls `links_sqlite` /
`links_pg` in its transaction, AFTER the upsert.

OWNER: H3 (issue #17 plan). Contract:
- one row per (message, kind, target) of `rows` (core.analytics `Link`, extracted by
  core/links.py); a message among `changed` (its content was edited) first loses its
  old rows; repeats of a row are harmless (the unique key).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from core.parsing import Row


def links_sqlite(
    raw: sqlite3.Connection, channel_id: int, rows: list[Row], changed: list[int]
) -> None:
    """SQLite side of the contract above (inside the caller's transaction)."""
    return None


async def links_pg(tx: Any, channel_id: int, rows: list[Row], changed: list[int]) -> None:
    """PostgreSQL side of the contract above (inside the caller's transaction)."""
    return None
