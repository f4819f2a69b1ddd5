"""The transport circuit breaker: opens after repeated failures, probes, closes."""

from __future__ import annotations

from services.parsing.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_opens_after_threshold_probes_after_cooldown_and_closes() -> None:
    clock = Clock()
    seen: list[str] = []

    async def listener(state: str, error: str | None) -> None:
        seen.append(state)

    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    breaker.on_change(listener)
    for _ in range(2):
        await breaker.failure("ConnectionError")
    assert breaker.state == CLOSED and breaker.allow()
    await breaker.failure("ConnectionError")
    assert breaker.state == OPEN and not breaker.allow()
    assert breaker.probe()["healthy"] is False and breaker.retry_in() == 30
    clock.now += 30
    assert breaker.allow() and breaker.state == HALF_OPEN
    # A failed probe re-opens with a doubled cool-down.
    await breaker.failure("TimeoutError")
    assert breaker.state == OPEN and breaker.retry_in() == 60
    clock.now += 60
    assert breaker.allow()
    await breaker.success()
    assert breaker.state == CLOSED and breaker.cooldown == 30 and breaker.probe()["healthy"]
    assert seen == [OPEN, OPEN, CLOSED]


async def test_success_while_closed_does_not_notify() -> None:
    calls: list[str] = []

    async def listener(state: str, error: str | None) -> None:
        calls.append(state)

    breaker = CircuitBreaker(threshold=1)
    breaker.on_change(listener)
    await breaker.success()
    assert calls == []
