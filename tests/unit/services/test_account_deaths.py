"""The alert of an account Telegram ended (#18) says what became of its channels,
without "0 could not: /login again to read them" when nothing was left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.texts import t
from core.alerts import Alerter
from db.models import Channel
from parser.userbot import CONNECTING, INVALID, READY
from services.accounts import AccountDeaths


class Bot:
    def __init__(self, account_id: int, state: str) -> None:
        self.account_id, self.state, self.client = account_id, state, None
        self.me: Any = None
        self.stored_name = f"Acc{account_id}"


class Pool:
    def __init__(self, *bots: Bot) -> None:
        self._bots = bots

    def bots(self) -> list[Bot]:
        return list(self._bots)


class Accounts:
    async def held_counts(self) -> dict[int, int]:
        return {}


@pytest.mark.parametrize(
    ("held", "ru", "en"),
    [
        (2, "⚠️ Аккаунт Acc1 больше не работает (AuthKeyUnregistered). Все его каналы (2) "
            "переданы другим аккаунтам.",
         "⚠️ Account Acc1 is no longer usable (AuthKeyUnregistered). All 2 of its channels "
         "moved to other accounts."),
        (0, "⚠️ Аккаунт Acc1 больше не работает (AuthKeyUnregistered). Каналов за ним не было.",
         "⚠️ Account Acc1 is no longer usable (AuthKeyUnregistered). It held no channels."),
    ],
    ids=["all-moved", "none-held"],
)
async def test_a_dead_account_whose_channels_all_moved_says_just_that(
    db: Path, held: int, ru: str, en: str
) -> None:
    for i in range(held):
        await Channel.create(tg_id=100 + i, username=f"pub{i}", account_id=1)
    dead, other = Bot(1, INVALID), Bot(2, READY)
    alerter = Alerter(600)
    deaths = AccountDeaths(Pool(dead, other, Bot(3, CONNECTING)), Accounts(), alerter)  # type: ignore[arg-type]
    await deaths(dead, "AuthKeyUnregistered")  # type: ignore[arg-type]
    (alert,) = alerter.pending()
    assert t(alert.body.key, "ru", **alert.body.args) == ru
    assert t(alert.body.key, "en", **alert.body.args) == en
    assert await Channel.filter(account_id=1).count() == 0
