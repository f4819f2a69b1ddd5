"""A tiny in-process event bus: "a run of a channel was committed" -> its subscribers.

The parse worker publishes `RunCompleted` after each run of a channel has been
committed (app/service.py wires it); subscribers (the keyword watches'
`services.watches.WatchNotifier`, ...) run in order; one failing subscriber is logged
and never stops the others or the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunCompleted:
    """One committed run: `channel_id` is the channel's database id; `first_id`..
    `last_id` (inclusive) the Telegram message ids this run stored, `count` of them."""

    channel_id: int
    first_id: int
    last_id: int
    count: int


Subscriber = Callable[[RunCompleted], Awaitable[None]]


class EventBus:
    """Delivers each published event to every subscriber, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback` with every later event."""
        self._subscribers.append(callback)

    async def publish(self, event: RunCompleted) -> None:
        """Await each subscriber in turn (a run that stored nothing is not published);
        a subscriber's exception is logged, never raised."""
        if event.count <= 0:
            return
        for callback in list(self._subscribers):
            try:
                await callback(event)
            except Exception:
                log.exception("event subscriber %r failed", callback)
