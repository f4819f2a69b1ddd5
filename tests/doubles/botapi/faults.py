"""Fault injection for the Bot API double."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_DESCRIPTIONS", "Fault", "FaultRegistry"]

DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@dataclass
class Fault:
    """One injected fault. ``times=None`` means it never wears out."""

    method: str | None
    status: int | None = None
    retry_after: int | None = None
    description: str | None = None
    times: int | None = 1
    delay: float | None = None
    match: Callable[[dict[str, Any]], bool] | None = None
    drop: bool = False
    raw_body: str | None = None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def applies_to(self, method: str, params: dict[str, Any]) -> bool:
        if self.exhausted:
            return False
        if self.method not in (None, "*") and self.method.lower() != method.lower():
            return False
        return self.match is None or bool(self.match(params))

    def error_description(self, method: str) -> str:
        if self.description is not None:
            return self.description
        status = self.status or 500
        if status == 429:
            return f"Too Many Requests: retry after {self.retry_after}"
        if status == 409 and method.lower() == "getupdates":
            return GET_UPDATES_CONFLICT
        return DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")


class FaultRegistry:
    """Ordered list of faults; the first one that applies to a request is used."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        status: int | None = None,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        times: int | None = 1,
        delay: float | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
        drop: bool = False,
        raw_body: str | None = None,
    ) -> Fault:
        """Inject a fault for ``method`` (None or "*" = every method).

        ``status``: HTTP status / error_code of the error answer (429 gets
        ``retry_after`` = 1 unless given); ``delay``: seconds to stall before
        answering (alone: a slow but correct answer); ``drop``: close the
        connection without answering (aiogram raises TelegramNetworkError);
        ``raw_body``: send this text instead of JSON (a proxy's HTML error page);
        ``match``: only requests whose decoded params satisfy it; ``times``: how
        many requests it hits, None = forever.
        """
        if status is None and delay is None and not drop and raw_body is None:
            raise ValueError("a fault needs status, delay, drop or raw_body")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            method=method,
            status=status,
            retry_after=retry_after,
            description=description,
            times=times,
            delay=delay,
            match=match,
            drop=drop,
            raw_body=raw_body,
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def remove(self, fault: Fault) -> None:
        self._faults.remove(fault)

    def take(self, method: str, params: dict[str, Any]) -> Fault | None:
        """The fault for this request, counting the hit; None if nothing applies."""
        for fault in self._faults:
            if fault.applies_to(method, params):
                fault.hits += 1
                return fault
        return None

    @property
    def active(self) -> list[Fault]:
        return [f for f in self._faults if not f.exhausted]

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self.active)
