"""What happens to an account's channels when Telegram ends its session (#18).

`AccountDeaths` is the account pool's `on_account_dead` (parser/pool.py): a revoked,
banned or deactivated account (401 AUTH_KEY_UNREGISTERED, SESSION_REVOKED,
USER_DEACTIVATED(_BAN): https://core.telegram.org/api/errors#401-unauthorized) gives its
public channels to the other accounts, the least loaded first and none past Telegram's
500-channel limit; its private ones go only to another account that is a member (seen
in that account's dialogs, read once each; Telegram answers CHANNEL_PRIVATE to anyone
else), the rest stay. The operators get one alert naming the account and both counts.
With no other account it is the one session's alert, as before. A /logout moves them
the same way, without an alert.
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

    async def __call__(self, bot: Userbot, reason: str | None) -> None:
        """Account `bot` died (`reason`: the 401's name) or logged out (None)."""
        others = [
            b for b in self._pool.bots()
            if b is not bot and b.state in (READY, CONNECTING) and b.account_id is not None
        ]  # fmt: skip
        if not others or bot.account_id is None:
            if reason is not None:
                self._alerter.alert(
                    f"session-dead:{bot.account_id}",
                    AlertText("alert_session_dead", reason=reason),
                )
            return
        moved, stuck = await self._move(bot.account_id, others)
        if reason is None:
            log.info("account %d logged out: %d channel(s) moved, %d could not be",
                     bot.account_id, moved, stuck)
            return
        name = account_name(bot.me) if bot.me is not None else (bot.stored_name or "?")
        log.warning(
            "account %d died (%s): %d channel(s) moved, %d could not be",
            bot.account_id, reason, moved, stuck,
        )
        key = "alert_account_dead"
        if not stuck:  # nothing left behind: no "0 could not, /login to read them"
            key = "alert_account_dead_all_moved" if moved else "alert_account_dead_empty"
        self._alerter.alert(
            f"account-dead:{bot.account_id}",
            AlertText(key, name=name, reason=reason, moved=moved, stuck=stuck),
        )


    async def _move(self, gone: int, others: list[Userbot]) -> tuple[int, int]:
        held = await self._accounts.held_counts()
        targets = {b.account_id: held.get(b.account_id, 0) for b in others if b.account_id}
        members = {b.account_id: await _channel_ids(b) for b in others if b.account_id}
        return await move_channels(gone, targets, CHANNEL_LIMIT, members)

    async def adopt_orphans(self, bot: Userbot) -> None:
        """A new account logged in (AccountPool.on_account_added): the channels still
        held by accounts that are gone (logged out, revoked) while no other could take
        them go to it now, private ones only if it is a member."""
        live = {b.account_id for b in self._pool.bots() if b.state in (READY, CONNECTING)}
        for gone in sorted(set(await self._accounts.held_counts()) - live):
            moved, stuck = await self._move(gone, [bot])
            log.info("account %d's channels: %d moved to account %s, %d stay",
                     gone, moved, bot.account_id, stuck)


async def _channel_ids(bot: Userbot) -> set[int]:
    """The channels account `bot` is a member of (its dialogs: messages.getDialogs);
    empty when it cannot say now (not connected, a flood wait, ...)."""
    client = bot.client
    if client is None or bot.state != READY:
        return set()
    try:
        dialogs = await client.get_dialogs(limit=None)
    except Exception as exc:
        log.warning("account %s: dialogs not read: %s", bot.account_id, type(exc).__name__)
        return set()
    return {d.entity.id for d in dialogs if d.is_channel}
