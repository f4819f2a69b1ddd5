"""A channel's identity over time: its name as Telegram gives it, and its access.

Two jobs, both for the fetcher (ingest.py), neither costing a request on a normal run:

* `observe`: every `messages.getHistory` answer lists the channel itself in `chats`
  with its current title and username (https://core.telegram.org/method/messages.getHistory);
  when they differ from what is stored, the row follows (db/channels.py `set_identity`:
  a former username stays an alias, another row holding the new one loses it).
* `repair`: an access hash belongs to the account that received it
  (https://core.telegram.org/api/peers): after a log-in with another account every
  stored hash is refused with CHANNEL_INVALID or PEER_ID_INVALID (ChannelUnavailable
  "invalid"). The channel is resolved again, once, from the account's dialogs
  (read once for all its channels) or else by its username (parser/resolver.py
  `resolve_again`), the new hash is stored and the run goes on; when that fails
  its error ends the run (the worker then disables the channel, defers it on a flood
  wait, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from telethon import TelegramClient

from core.channels import Channel, IdentityChange
from core.errors import ChannelUnavailable, TelegramError
from db.database import shielded_write
from parser.resolver import ChannelResolver, Resolved, chat_identity

log = logging.getLogger(__name__)


class IdentityStore(Protocol):
    """Channel rows as identity keeps them (db/channels.py ChannelStateRepository)."""

    async def set_identity(
        self, channel_id: int, title: str, username: str | None
    ) -> IdentityChange | None:
        """Store the title and username Telegram gives now; None when the row is gone."""

    async def store_access(
        self,
        channel_id: int,
        *,
        access_hash: int,
        title: str,
        username: str | None,
        linked_chat_id: int | None,
        linked_access_hash: int | None = None,
    ) -> Channel | None:
        """Store a channel resolved anew; its fresh snapshot (None: the row is gone)."""

    async def by_tg_id(self, tg_id: int) -> Channel | None:
        """The stored row of Telegram channel `tg_id`, None when none is."""


def stale_access(error: BaseException) -> bool:
    """Whether a run's error means the stored access hash is not this account's (or
    the channel is gone): CHANNEL_INVALID / PEER_ID_INVALID (parser/errors.py)."""
    return isinstance(error, ChannelUnavailable) and error.reason == "invalid"


class ChannelIdentity:
    """Keeps stored channels named as Telegram names them and their access hashes the
    logged-in account's. `resolver_of(client)` builds the resolver (one is kept per
    client, so the dialogs it read serve the next private channel too)."""

    def __init__(
        self,
        store: IdentityStore,
        *,
        resolver_of: Callable[[TelegramClient], ChannelResolver] = ChannelResolver,
    ) -> None:
        self._store = store
        self._resolver_of = resolver_of
        self._resolver: ChannelResolver | None = None

    @staticmethod
    def seen(ch: Channel, chat: Any) -> tuple[str, str | None] | None:
        """`(title, username)` when `chat` (the TL Channel a history answer lists for
        `ch`) names it otherwise than stored; None when nothing changed."""
        found = chat_identity(chat)
        if found is None or found == (ch.title, ch.username):
            return None
        return found

    async def observe(self, ch: Channel, chat: Any) -> IdentityChange | None:
        """Store the title and username `chat` gives when they changed; the change."""
        found = self.seen(ch, chat)
        if found is None:
            return None
        change = await self._store.set_identity(ch.id, *found)
        if change is not None:
            log.info(
                "channel %d is now %r (@%s), was %r (@%s)%s", ch.id, change.title,
                change.username, change.old_title, change.old_username,
                f"; rows {list(change.took_from)} lost @{change.username}"
                if change.took_from else "",
            )  # fmt: skip
        return change

    async def _by_other_name(
        self, resolver: ChannelResolver, ch: Channel, error: ChannelUnavailable
    ) -> Resolved:
        """`ch`'s username leads to another channel now: when that one is stored too
        (two archived channels swapped usernames, or one took the other's), it is
        repaired with what the answer gave (access hash, title, username: no request
        of its own), and `ch` is looked for under the name that row had (`error` again
        when there is none, or it does not lead to `ch` either)."""
        holder = resolver.holder_of(ch.username or "")
        other = await self._store.by_tg_id(holder.tg_id) if holder is not None else None
        if holder is None or other is None or other.id == ch.id or other.status == "linked":
            raise error
        await shielded_write(
            self._store.store_access(
                other.id, access_hash=holder.access_hash, title=holder.title,
                username=holder.username, linked_chat_id=None,
            )
        )  # fmt: skip
        log.info("channel %d: access hash renewed from @%s's answer", other.id, ch.username)
        if not other.username or other.username.lower() == (ch.username or "").lower():
            raise error
        return await resolver.resolve_again(ch.tg_id, other.username, full=ch.comments_enabled)

    async def repair(self, client: TelegramClient, ch: Channel) -> Channel:
        """Resolve `ch` again for the account of `client` and store its new access hash
        (and, for a channel with comments on, its discussion group's: one
        channels.getFullChannel), title and username; the fresh snapshot. A channel the
        account is a member of comes from its dialogs, read once for all channels.

        Raises the project error of the resolution (ChannelUnavailable not_found or
        private, RateLimited, SessionDead, TransportError...), or ChannelUnavailable
        "invalid" when the row is gone meanwhile.
        """
        resolver = self._resolver
        if resolver is None or resolver.client is not client:
            resolver = self._resolver = self._resolver_of(client)
        try:
            try:
                found = await resolver.resolve_again(
                    ch.tg_id, ch.username, full=ch.comments_enabled
                )
            except ChannelUnavailable as exc:
                if exc.reason != "not_found" or not ch.username:
                    raise
                found = await self._by_other_name(resolver, ch, exc)
        except TelegramError as exc:
            log.warning("channel %d: access not repaired: %s", ch.id, exc.code)
            raise
        # Never cancelled half-way (db/database.py shielded_write).
        fresh = await shielded_write(
            self._store.store_access(
                ch.id, access_hash=found.access_hash, title=found.title,
                username=found.username, linked_chat_id=found.linked_chat_id,
                linked_access_hash=found.linked_access_hash,
            )
        )  # fmt: skip
        if fresh is None:
            raise ChannelUnavailable("invalid")
        log.info("channel %d: access hash renewed for this account", ch.id)
        return fresh
