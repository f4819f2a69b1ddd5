"""A tiny in-process event bus.

The fetcher (parser/) publishes `RunCompleted` after each run of a channel has been
committed: `await events.publish(RunCompleted(channel_id, first_id, last_id, count))`,
where `events` is `services.extras["events"]` / `App.events` (built in
app/service.py). `channel_id` is the database id of the channel; `first_id`..`last_id`
(inclusive) the Telegram message ids stored by this run. Subscribers (keyword
alerts, ...) run in order; one failing subscriber is logged and never stops the others
or the fetcher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunCompleted:
    channel_id: int
    first_id: int
    last_id: int
    count: int


Subscriber = Callable[[RunCompleted], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    async def publish(self, event: RunCompleted) -> None:
        if event.count <= 0:
            return
        for callback in list(self._subscribers):
            try:
                await callback(event)
            except Exception:
                log.exception("event subscriber %r failed", callback)
