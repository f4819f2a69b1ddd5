"""parser/pool.py `reader_for` at the start: an account that becomes ready while the
database is asked for the accounts' loads reads its public channel then."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from core.alerts import Alerter
from core.health import HealthRegistry
from parser.client import UserbotConfig
from parser.pool import AccountPool
from parser.userbot import CONNECTING, READY


class _Bot:
    account_id = 1

    def __init__(self) -> None:
        self.state, self.client = CONNECTING, None

    def flooded(self) -> bool:
        return False


class _Book:
    """The accounts' loads; asking them takes long enough for the account to connect."""

    def __init__(self, bot: _Bot) -> None:
        self.bot = bot

    async def held_counts(self) -> dict[int, int]:
        self.bot.state, self.bot.client = READY, object()
        return {1: 2}


async def test_an_account_ready_meanwhile_reads_its_public_channel() -> None:
    bot = _Bot()
    pool = AccountPool(
        UserbotConfig(1, SecretStr("x" * 32)), _Book(bot), HealthRegistry(),  # type: ignore[arg-type]
        Alerter(600),
    )
    pool._bots[1] = bot  # type: ignore[assignment]
    pool._loaded = True
    reader: Any
    reader, wait = await pool.reader_for(1, True)
    # Before: (None, False) while the pool said "ready": the run was left for a "ready"
    # that had already been told, an hour late.
    assert reader is bot and not wait


def test_least_loaded_rule() -> None:
    from parser.pool import CHANNEL_LIMIT, least_loaded

    counts = {1: 5, 2: 3, 3: CHANNEL_LIMIT, 4: 3}
    never = lambda _a: False  # noqa: E731
    assert least_loaded([1, 2, 3, 4], counts, never) == 2  # fewest, then lowest id
    assert least_loaded([1, 2, 3, 4], counts, lambda a: a in (2, 4)) == 1  # flooded last
    assert least_loaded([2, 4], counts, lambda a: True) == 2  # all flooded: still one
    assert least_loaded([3], counts, never) is None  # full
    assert least_loaded([], counts, never) is None
    assert least_loaded([9], counts, never) == 9  # holds none yet
