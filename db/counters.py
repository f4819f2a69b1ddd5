"""Counter snapshots (table `counter_snapshot`) written with the messages they belong
to: `store_batch` (db/messages.py) calls `snapshot_sqlite` / `snapshot_pg` in its
transaction, BEFORE the upsert (they compare the stored counters with the new ones).

OWNER: H1 (issue #17 plan). Contract:
- a row is written for each message of `rows` dated at or after `young_since` (None:
  none) that is new, or whose views, forwards, replies or reactions total differ from
  the stored row's; `taken_at` is the batch's fetched_at; `age_mark` NULL.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from core.parsing import Row


def snapshot_sqlite(
    raw: sqlite3.Connection,
    channel_id: int,
    rows: list[Row],
    taken_at: str,
    young_since: datetime | None,
) -> None:
    """SQLite side of the contract above (inside the caller's transaction)."""
    return None


async def snapshot_pg(
    tx: Any, channel_id: int, rows: list[Row], taken_at: datetime, young_since: datetime | None
) -> None:
    """PostgreSQL side of the contract above (inside the caller's transaction)."""
    return None
