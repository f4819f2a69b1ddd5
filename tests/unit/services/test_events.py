"""The event bus: every subscriber gets each run, whatever another one does."""

from __future__ import annotations

from services.events import EventBus, RunCompleted


async def test_a_failing_subscriber_does_not_stop_others() -> None:
    bus = EventBus()
    got: list[RunCompleted] = []

    async def broken(event: RunCompleted) -> None:
        raise RuntimeError("boom")

    async def good(event: RunCompleted) -> None:
        got.append(event)

    bus.subscribe(broken)
    bus.subscribe(good)
    await bus.publish(RunCompleted(1, 1, 2, 2))
    assert len(got) == 1


async def test_a_run_that_stored_nothing_is_not_published() -> None:
    bus = EventBus()
    got: list[RunCompleted] = []

    async def good(event: RunCompleted) -> None:
        got.append(event)

    bus.subscribe(good)
    await bus.publish(RunCompleted(1, 0, 0, 0))
    assert got == []
