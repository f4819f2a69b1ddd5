"""What happens to an account's channels when Telegram ends its session (#18).

`AccountDeaths` is the account pool's `on_account_dead` (parser/pool.py): a revoked,
banned or deactivated account (401 AUTH_KEY_UNREGISTERED, SESSION_REVOKED,
USER_DEACTIVATED(_BAN): https://core.telegram.org/api/errors#401-unauthorized) gives its
public channels to the other accounts, the least loaded first and none past Telegram's
500-channel limit; its private ones stay (only a member can read them, and the other
accounts are not). The operators get one alert naming the account and both counts. With
no other account it is the one session's alert, as before.
"""

from __future__ import annotations

import logging

from core.alerts import AlertText
from core.ports import AlertSink
from db.accounts import AccountRepository, move_channels
from parser.client import account_name
from parser.pool import CHANNEL_LIMIT, AccountPool
from parser.userbot import CONNECTING, READY, Userbot

log = logging.getLogger(__name__)


class AccountDeaths:
    """Moves a dead account's channels and alerts once (AccountPool.on_account_dead)."""

    def __init__(
        self, pool: AccountPool, accounts: AccountRepository, alerter: AlertSink
    ) -> None:
        self._pool = pool
        self._accounts = accounts
        self._alerter = alerter

    async def __call__(self, bot: Userbot, reason: str) -> None:
        others = [
            b for b in self._pool.bots()
            if b is not bot and b.state in (READY, CONNECTING) and b.account_id is not None
        ]  # fmt: skip
        if not others or bot.account_id is None:
            self._alerter.alert(
                f"session-dead:{bot.account_id}", AlertText("alert_session_dead", reason=reason)
            )
            return
        held = await self._accounts.held_counts()
        targets = {b.account_id: held.get(b.account_id, 0) for b in others if b.account_id}
        moved, stuck = await move_channels(bot.account_id, targets, CHANNEL_LIMIT)
        name = account_name(bot.me) if bot.me is not None else (bot.stored_name or "?")
        log.warning(
            "account %d died (%s): %d channel(s) moved, %d could not be",
            bot.account_id, reason, moved, stuck,
        )
        self._alerter.alert(
            f"account-dead:{bot.account_id}",
            AlertText("alert_account_dead", name=name, reason=reason, moved=moved, stuck=stuck),
        )
