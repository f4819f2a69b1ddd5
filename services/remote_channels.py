"""What a bot-only process needs a Telegram client for, done by the workers (#18).

`tg-parser run --no-parser` opens no client: the workers (`tg-parser worker`) hold the
accounts, each under its lease (services/leases.py). So that /add (and /graph's Add
buttons, which go through it) and /parse read as in one process:

- `AccountRoutes` says which worker a request goes to: the one with a given account's
  client open (db/bus.py `account_recipient`: whichever worker holds its lease now),
  or any worker. /parse of a channel goes to its account's worker at once (a worker
  without that account would only answer "open elsewhere"), to another account's
  while its own is flood-waited and the channel is public, and to any worker when
  nobody holds its account or its worker does not take it within `fallback_seconds`
  (it may have died: any worker then, which takes the account once its lease expires).
- `RemoteResolvers` gives services/channels.py ChannelService resolvers of the least
  loaded account some worker holds; each lookup (`resolve`, `check_invite`,
  `join_invite`) is one `resolve` request to that account's worker, which asks Telegram
  with the same parser/resolver.py code as one process and answers the outcome or the
  error; the bot stores the channel and asks about history and invites itself.
- `register_resolve_handler` serves those requests on a worker.

With no worker holding any account the bot says so (AddCode.NO_WORKER: start `tg-parser
worker`); with no account at all, /login first (NOT_READY).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core.channels import AddCode, Channel
from core.errors import (
    ChannelUnavailable,
    NotAChannel,
    RateLimited,
    SessionDead,
    TelegramError,
    error_text,
)
from db.bus import WORKER, account_recipient
from parser.pool import least_loaded
from parser.resolver import ChannelRef, ChannelResolver, InvitePreview, Resolved
from services.bus import Bus, Request
from services.channels import Pick, Resolver

log = logging.getLogger(__name__)

RESOLVE = "resolve"
OPS = ("resolve", "check_invite", "join_invite")
# A /parse for an account's worker that nobody took by then goes to any worker.
ROUTE_FALLBACK_SECONDS = 5.0


class AccountView(Protocol):
    """An account as the bot-only process's AccountPool lists it (parser/userbot.py)."""

    account_id: int | None

    def flooded(self) -> bool: ...


class Accounts(Protocol):
    """The bot-only process's parser/pool.py AccountPool (it opens no client but lists
    the accounts and follows their flood waits, read from their rows every 5 s)."""

    def bots(self) -> list[Any]: ...

    def bot(self, account_id: int) -> Any: ...


class AccountRoutes:
    """Which worker a request goes to (see the module's docstring).

    `held()`: the accounts a live process has open (services/leases.py LeaseKeeper
    `held_accounts`); `counts()`: channels per account (db/accounts.py `held_counts`).
    """

    def __init__(
        self,
        accounts: Accounts,
        held: Callable[[], Awaitable[set[int]]],
        counts: Callable[[], Awaitable[dict[int, int]]],
    ) -> None:
        self._accounts = accounts
        self._held = held
        self._counts = counts

    def _flooded(self, account_id: int) -> bool:
        bot = self._accounts.bot(account_id)
        return bot is not None and bool(bot.flooded())

    def stored(self) -> bool:
        """Whether any account with a session is stored."""
        return bool(self._accounts.bots())

    async def held(self) -> set[int]:
        """The stored accounts a live worker has open now; empty when that cannot be
        read (logged)."""
        try:
            held = await self._held()
        except Exception as exc:
            log.warning("cannot read which worker holds which account: %s", error_text(exc))
            return set()
        return held & {b.account_id for b in self._accounts.bots()}

    async def for_parse(self, ch: Channel) -> str:
        """The recipient of a /parse of `ch`: its account's worker; while that account
        is flood-waited, a public channel goes to another account's (that worker reads
        it with its own account); any worker when nobody holds it."""
        held = await self.held()
        own = ch.account_id
        if own is not None and own in held and not self._flooded(own):
            return account_recipient(own)
        if ch.username and (own is None or self._flooded(own)):
            others = sorted(a for a in held if a != own and not self._flooded(a))
            if others:
                return account_recipient(others[0])
        if own is not None and own in held:
            return account_recipient(own)
        return WORKER

    async def least_loaded(self, skip: frozenset[int] = frozenset()) -> tuple[int | None, bool]:
        """The held account with the fewest channels, below CHANNEL_LIMIT, not one of
        `skip` (flood-waited ones after the others: a flood wait is per method);
        `(None, True)` when every held one is full, `(None, False)` when none is held."""
        held = await self.held()
        if not held:
            return None, False
        counts = await self._counts()
        best = least_loaded([a for a in held if a not in skip], counts, self._flooded)
        return best, best is None


# -- the bot's side -----------------------------------------------------------------------


def _raise(error: dict[str, Any]) -> None:
    """Raise the project error a worker's answer carries (as parser/errors.py made it)."""
    kind = error.get("type")
    if kind == "flood":
        raise RateLimited(int(error.get("seconds") or 0))
    if kind == "unavailable":
        raise ChannelUnavailable(str(error.get("reason") or "not_found"))
    if kind == "not_channel":
        raise NotAChannel(str(error.get("kind") or "user"))
    if kind == "session_dead":
        raise SessionDead(str(error.get("reason") or "?"))
    raise TelegramError(str(error.get("detail") or kind or "?"))


def _resolved(d: dict[str, Any]) -> Resolved:
    fields = {f.name for f in dataclasses.fields(Resolved)}
    return Resolved(**{k: v for k, v in d.items() if k in fields})


class RemoteResolver:
    """services/channels.py Resolver asked of the worker holding account `account_id`:
    each call is one `resolve` request there. Raises what the worker's resolver raised
    (RateLimited, ChannelUnavailable, NotAChannel, SessionDead, TelegramError), or the
    bus's NoWorker / BusUnavailable."""

    def __init__(self, bus: Bus, account_id: int) -> None:
        self._bus = bus
        self.account_id = account_id

    async def _ask(self, op: str, arg: Any) -> Any:
        answer = await self._bus.call(
            RESOLVE, {"op": op, "account_id": self.account_id, "arg": arg},
            to=account_recipient(self.account_id),
        )  # fmt: skip
        if "error" in answer:
            _raise(answer["error"])
        return answer["ok"]

    async def resolve(self, ref: ChannelRef) -> Resolved:
        return _resolved(await self._ask("resolve", [ref.kind, ref.value]))

    async def check_invite(self, invite_hash: str) -> InvitePreview:
        d = await self._ask("check_invite", invite_hash)
        resolved = _resolved(d["resolved"]) if d.get("resolved") else None
        return InvitePreview(str(d["title"]), bool(d["already_member"]), resolved)

    async def join_invite(self, invite_hash: str) -> Resolved:
        return _resolved(await self._ask("join_invite", invite_hash))


class RemoteResolvers:
    """services/channels.py Resolvers of a bot-only process: the least loaded account
    a worker holds, asked through the bus."""

    def __init__(self, bus: Bus, routes: AccountRoutes) -> None:
        self._bus = bus
        self._routes = routes

    async def open(self) -> Resolver | None:
        """None when no worker holds an account; `pick` chooses the account line by line."""
        held = await self._routes.held()
        return RemoteResolver(self._bus, min(held)) if held else None

    def why_not(self) -> AddCode:
        """No account stored: /login first; accounts but no worker holding one."""
        return AddCode.NO_WORKER if self._routes.stored() else AddCode.NOT_READY

    async def pick(self, resolver: Resolver, skip: frozenset[int]) -> Pick:
        account, full = await self._routes.least_loaded(skip)
        if account is None:
            return Pick(resolver, full=full)
        if isinstance(resolver, RemoteResolver) and resolver.account_id == account:
            return Pick(resolver, account)
        return Pick(RemoteResolver(self._bus, account), account)


# -- the workers' side --------------------------------------------------------------------


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, RateLimited):
        return {"type": "flood", "seconds": exc.seconds}
    if isinstance(exc, ChannelUnavailable):
        return {"type": "unavailable", "reason": exc.reason}
    if isinstance(exc, NotAChannel):
        return {"type": "not_channel", "kind": exc.kind}
    if isinstance(exc, SessionDead):
        return {"type": "session_dead", "reason": exc.reason}
    return {"type": "telegram", "detail": error_text(exc, 200)}


class Clients(Protocol):
    """A worker's parser/pool.py AccountPool, as the resolve handler needs it."""

    def client_of(self, account_id: int | None) -> Any: ...


def register_resolve_handler(
    bus: Bus,
    pool: Clients,
    resolver_of: Callable[[Any], Any] = ChannelResolver,
) -> None:
    """Serve `resolve` requests on a worker with the client of the account they name
    (requests come only for accounts open here: Bus.serve_addresses); a resolver per
    client, kept (its dialogs and flood state, as one process's /add keeps them)."""
    resolvers: dict[int, tuple[Any, Any]] = {}

    async def on_resolve(req: Request) -> dict[str, Any]:
        account_id, op, arg = int(req.payload["account_id"]), req.payload["op"], req.payload["arg"]
        client = pool.client_of(account_id)
        if client is None or op not in OPS:
            # The account's lease moved between the claim and now: the bot tries again.
            return {"error": {"type": "telegram", "detail": f"account {account_id} not open"}}
        kept = resolvers.get(account_id)
        if kept is None or kept[0] is not client:
            kept = resolvers[account_id] = (client, resolver_of(client))
        resolver = kept[1]
        try:
            if op == "resolve":
                resolved = await resolver.resolve(ChannelRef(str(arg[0]), str(arg[1])))
                return {"ok": dataclasses.asdict(resolved)}
            if op == "check_invite":
                return {"ok": dataclasses.asdict(await resolver.check_invite(str(arg)))}
            return {"ok": dataclasses.asdict(await resolver.join_invite(str(arg)))}
        except TelegramError as exc:
            return {"error": _error(exc)}

    bus.handle(RESOLVE, on_resolve)
