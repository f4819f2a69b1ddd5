"""Per-method fault injection for the MTProto double."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DROP = "DROP"
STALL = "STALL"

_CODES_401 = {
    "AUTH_KEY_UNREGISTERED",
    "AUTH_KEY_INVALID",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "SESSION_PASSWORD_NEEDED",
    "USER_DEACTIVATED",
    "USER_DEACTIVATED_BAN",
    "AUTH_KEY_PERM_EMPTY",
}
_CODES_403 = {"CHAT_WRITE_FORBIDDEN", "USER_PRIVACY_RESTRICTED", "CHAT_ADMIN_REQUIRED"}
_CODES_406 = {"AUTH_KEY_DUPLICATED", "FRESH_RESET_AUTHORISATION_FORBIDDEN", "CHANNEL_PRIVATE_406"}
_CODES_500 = {"RPC_CALL_FAIL", "INTERNAL", "MEMBER_OCCUPY_PRIMARY_LOC_FAILED"}


def error_code(message: str) -> int:
    """The RPC error code Telegram uses for `message` (400 unless known otherwise)."""
    if re.fullmatch(
        r"(FLOOD_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT|TAKEOUT_INIT_DELAY)_\d+", message
    ):
        return 420
    if re.fullmatch(r"(PHONE|NETWORK|USER|FILE|STATS)_MIGRATE_\d+", message):
        return 303
    if message in _CODES_401:
        return 401
    if message in _CODES_403:
        return 403
    if message in _CODES_406:
        return 406
    if message in _CODES_500 or message.endswith("_INTERNAL"):
        return 500
    return 400


@dataclass
class Fault:
    method: str
    error: str | None
    times: int | None = 1
    when: Callable[[Any], bool] | None = None
    delay: float = 0.0
    code: int | None = None
    hits: int = 0
    user: int | None = None  # only requests of this logged-in user (None: anyone's)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """`add("messages.getHistory", "FLOOD_WAIT_30", times=1, when=lambda req: ...)`.

    `error` is an RPC error message ("FLOOD_WAIT_30", "CHANNEL_PRIVATE", ...),
    "DROP" (close the TCP connection when the request arrives), "STALL" (never
    answer it) or None with `delay` (answer normally, late). `method` is a TL name
    such as "messages.getHistory" or "*" for any; `times=None` means forever; `user`:
    only the requests of that account (a user id: per-account flood waits, #18).
    """

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        error: str | None,
        *,
        times: int | None = 1,
        when: Callable[[Any], bool] | None = None,
        delay: float = 0.0,
        code: int | None = None,
        user: int | None = None,
    ) -> Fault:
        fault = Fault(method, error, times, when, delay, code, user=user)
        self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        if fault in self._faults:
            self._faults.remove(fault)

    def clear(self, method: str | None = None) -> None:
        self._faults = [f for f in self._faults if method is not None and f.method != method]

    def __len__(self) -> int:
        return len(self._faults)

    def match(self, method: str, request: Any, user_id: int | None = None) -> Fault | None:
        """The first live fault for this request of user `user_id` (its use is
        counted), or None."""
        for fault in self._faults:
            if fault.exhausted or fault.method not in (method, "*"):
                continue
            if fault.user is not None and fault.user != user_id:
                continue
            if fault.when is not None and not fault.when(request):
                continue
            fault.hits += 1
            if fault.exhausted:
                self._faults.remove(fault)
            return fault
        return None
