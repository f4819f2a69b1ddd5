"""A tiny in-process event bus: "a run of a channel was committed" -> its subscribers.

The parse worker publishes `RunCompleted` after each run of a channel has been
committed, and `PostsDeleted` when that run found posts deleted (app/service.py wires
it); subscribers (the keyword watches' `services.watches.WatchNotifier`, the deletion
alert `services.deletion_alerts.DeletionNotifier`, ...) run in order; one failing
subscriber is logged and never stops the others or the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunCompleted:
    """One committed run: `channel_id` is the channel's database id; `first_id`..
    `last_id` (inclusive) the Telegram message ids this run stored, `count` of them."""

    channel_id: int
    first_id: int
    last_id: int
    count: int


@dataclass(frozen=True)
class PostsDeleted:
    """A run found `count` posts of channel row `channel_id` deleted (marked, never
    erased); `ids`: the first few of their Telegram message ids, ascending."""

    channel_id: int
    ids: tuple[int, ...]
    count: int


Event = RunCompleted | PostsDeleted
E = TypeVar("E", RunCompleted, PostsDeleted)
Subscriber = Callable[[Any], Awaitable[None]]


class EventBus:
    """Delivers each published event to every subscriber of its kind, in subscription
    order."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[type, Subscriber]] = []

    def subscribe(
        self, callback: Callable[[E], Awaitable[None]], kind: type[E] = RunCompleted  # type: ignore[assignment]
    ) -> None:
        """Call `callback` with every later event of `kind` (default RunCompleted)."""
        self._subscribers.append((kind, callback))

    async def publish(self, event: Event) -> None:
        """Await each subscriber of the event's kind in turn (an event counting nothing
        is not published); a subscriber's exception is logged, never raised."""
        if event.count <= 0:
            return
        for kind, callback in list(self._subscribers):
            if not isinstance(event, kind):
                continue
            try:
                await callback(event)
            except Exception:
                log.exception("event subscriber %r failed", callback)
