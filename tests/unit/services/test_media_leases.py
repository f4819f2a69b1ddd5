"""Media downloads across processes (#18): each download under its row's lease; a
process starting (or its periodic requeue) puts back in the queue only the rows left
downloading that no live process holds, not those another worker is downloading now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.alerts import Alerter
from db.media_queue import MediaQueue
from db.media_store import LocalMediaStore
from db.models import MediaDownload
from services.media import MediaService
from tests.unit.db.test_media_queue import _channel, _row


class _Session:
    def __init__(self) -> None:
        self.client: Any = object()
        self.state = "ready"

    async def session_dead(self, reason: str) -> None:
        pass


class _Gate:
    """This process's leases; `others` are held by another live process."""

    retry_seconds = 0.05

    def __init__(self, others: set[str]) -> None:
        self.others, self.mine, self.released = others, set(), []

    async def take(self, kind: str, key: str, on_lost: Any) -> bool:
        if key in self.others:
            return False
        self.mine.add(key)
        return True

    async def release(self, kind: str, key: str) -> None:
        self.mine.discard(key)
        self.released.append(key)

    async def holder(self, kind: str, key: str) -> str | None:
        return None

    async def live(self) -> set[str]:
        return self.others | self.mine


def _service(tmp_path: Path, gate: _Gate | None) -> MediaService:
    return MediaService(
        MediaQueue(), LocalMediaStore(tmp_path / "media"), _Session(), Alerter(600),
        root=tmp_path / "media", poll_seconds=0.05, free=lambda _p: 10**12,
        leases=gate, leased=gate.live if gate is not None else None,
    )


async def _status(row_id: int) -> str:
    return (await MediaDownload.get(id=row_id)).status


async def test_rows_another_worker_downloads_are_left_to_it(db: Path, tmp_path: Path) -> None:
    ch = await _channel()
    live = await _row(ch, 1, 11, status="downloading")  # another worker's, leased
    dead = await _row(ch, 2, 12, status="downloading")  # a dead worker's: no lease
    fresh = await _row(ch, 3, 13, status="downloading")  # claimed just now elsewhere
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    await MediaDownload.filter(id__in=[live.id, dead.id]).update(updated_at=long_ago)
    gate = _Gate({str(live.id)})
    svc = _service(tmp_path, gate)
    assert await svc._requeue(start=True) == 1
    assert [await _status(r.id) for r in (live, dead, fresh)] == [
        "downloading", "queued", "downloading"
    ]
    # A row claimed here whose lease another process holds is not downloaded here.
    await MediaDownload.filter(id=dead.id).update(status="queued")
    await MediaDownload.filter(id=live.id).update(status="queued")
    await svc._tick()
    assert set(svc._tasks) == {dead.id} and gate.mine == {str(dead.id)}
    task = svc._tasks[dead.id][0]
    await task  # fails (no real client): deferred; its lease given back
    assert gate.released == [str(dead.id)] and not gate.mine
    # One process (SQLite, no leases): every row left downloading goes back at start.
    assert await _service(tmp_path, None)._requeue(start=True) == 2
