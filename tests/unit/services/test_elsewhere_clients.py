"""Counters and media with accounts open in other processes (#18): a channel whose
account another process holds is left to it (its access hash is that account's: sent
with another client it is refused, CHANNEL_INVALID), while a channel of an account
flood-waited here, or of no known account, keeps the old fallback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from services.counters.service import CountersService
from services.media.service import MediaService


class _Pool:
    """What the services ask of parser/pool.py AccountPool: account 1 open here,
    account 2 open in process b/2, account 3 flood-waited here."""

    state = "ready"
    client = object()

    def client_of(self, account_id: int | None) -> Any:
        return self.client if account_id == 1 else None

    def held_elsewhere(self, account_id: int | None) -> str | None:
        return {2: "b/2", 3: "flood"}.get(account_id or 0)

    def open_elsewhere(self, account_id: int | None) -> bool:  # as AccountPool's
        return self.held_elsewhere(account_id) not in (None, "flood")


class _Followed:
    def __init__(self, account_id: int | None) -> None:
        self.account_id = account_id


def test_counters_leave_channels_of_accounts_open_elsewhere() -> None:
    svc = CountersService(
        object(), _Pool(), ages=[timedelta(hours=1)], subscribers_interval=None  # type: ignore[arg-type]
    )
    assert [svc._elsewhere(_Followed(a)) for a in (1, 2, 3, None)] == [  # type: ignore[arg-type]
        False, True, False, False,
    ]


def test_media_defers_files_of_accounts_open_elsewhere(tmp_path: Path) -> None:
    pool = _Pool()
    svc = MediaService(object(), object(), pool, object(), root=tmp_path)  # type: ignore[arg-type]
    assert svc._client_for(1) is pool.client
    assert svc._client_for(2) is None  # deferred here: downloaded where it is open
    assert svc._client_for(3) is pool.client  # flood-waited here: the old fallback
    assert svc._client_for(None) is pool.client
