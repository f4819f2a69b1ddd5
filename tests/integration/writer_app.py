"""Test helper: the real `tg-parser run` plus one extra component that writes rows.

Only the test adds the writer (by wrapping `build_app`); the shutdown path - signal,
supervisor stop, cancel what does not stop in time, close the DB, release the lock -
is the product's own. Every batch the writer sees committed is reported, one line
per batch, to the file named by WRITER_REPORT.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import app.service as service
from app.cli import main
from app.settings import Settings
from app.supervisor import FunctionComponent
from db.database import shielded_write
from db.models import Channel, Message

BATCH = int(os.environ.get("WRITER_BATCH", "2000"))
SHIELDED = os.environ.get("WRITER_SHIELDED") == "1"
REPORT = os.environ["WRITER_REPORT"]


async def write_forever() -> None:
    channel, _ = await Channel.get_or_create(tg_id=777, defaults={"title": "writer"})
    now = dt.datetime.now(dt.UTC)
    next_id = 1
    with open(REPORT, "a", buffering=1) as report:
        while True:
            rows = [
                Message(channel=channel, msg_id=i, date=now, text="x" * 100)
                for i in range(next_id, next_id + BATCH)
            ]
            if SHIELDED:
                await shielded_write(Message.bulk_create(rows))
            else:
                await Message.bulk_create(rows)
            report.write(f"{next_id + BATCH - 1}\n")
            next_id += BATCH


_build = service.build_app


def build_with_writer(settings: Settings, role: str = service.ALL) -> Any:
    app = _build(settings, role)
    # A FunctionComponent ignores stop(): the supervisor must cancel it mid-write.
    app.components.append(FunctionComponent("writer", write_forever))
    return app


service.build_app = build_with_writer  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(main(["run"]))
