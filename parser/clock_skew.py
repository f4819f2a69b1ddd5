"""Clock skew between this machine and Telegram, as Telethon sees it.

Telethon 1.x drops every server message whose msg_id time is more than 30 s ahead of
its own clock ("Server sent a very new message with ID %d, ignoring", in
telethon/network/mtprotostate.py) and nothing corrects it when Telegram is 30-300 s
ahead: Telegram accepts client msg_ids up to 300 s in the past, so it never sends the
bad_msg_notification (codes 16/17) that makes Telethon adjust its time offset, and the
handshake's `server_time` only sets the offset of a *new* auth key. A client restored
from a saved session then waits forever: `connect()` itself waits for the answer to
help.getConfig.

The dropped message was decrypted with our auth key and its msg_key checked, so its
msg_id is Telegram's word: its upper 32 bits are Telegram's unix time. `SkewWatch`
reads it from Telethon's own log record (the only place Telethon reports it), and
`set_time_offset` gives the measured offset to a client, as Telethon itself does on
bad_msg_notification 16/17.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

TELETHON_STATE_LOGGER = "telethon.network.mtprotostate"
_TOO_NEW = "Server sent a very new message"


class SkewWatch(logging.Filter):
    """Watches Telethon's 'very new message' warnings; `skew` is Telegram's clock minus
    this machine's, in seconds, at the last one, and `sightings` counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.skew: float | None = None
        self.sightings = 0
        self.on_sighting: Callable[[], None] | None = None  # called on the loop's thread

    def filter(self, record: logging.LogRecord) -> bool:
        """Note the skew (seconds) of a 'very new message' record: msg_id's upper 32 bits are
        Telegram's unix time (https://core.telegram.org/mtproto/description, msg_id).
        Always True: the record is logged as usual."""
        msg_id = _too_new_msg_id(record)
        if msg_id is not None:
            self.skew = msg_id / 2**32 - record.created
            self.sightings += 1
            if self.on_sighting is not None:
                self.on_sighting()
        return True

    def install(self) -> None:
        """Attach to Telethon's telethon.network.mtprotostate logger (once), raising its level
        to WARNING if it was higher, so the records are made whatever LOG_LEVEL says."""
        logger = logging.getLogger(TELETHON_STATE_LOGGER)
        if self not in logger.filters:
            logger.addFilter(self)
        # The record must exist for the filter to see it, whatever LOG_LEVEL says.
        if not logger.isEnabledFor(logging.WARNING):
            logger.setLevel(logging.WARNING)

    def uninstall(self) -> None:
        """Detach from Telethon's logger; nothing happens if not attached."""
        logging.getLogger(TELETHON_STATE_LOGGER).removeFilter(self)


def _too_new_msg_id(record: logging.LogRecord) -> int | None:
    if not isinstance(record.msg, str) or not record.msg.startswith(_TOO_NEW):
        return None
    args = record.args
    if isinstance(args, tuple) and args and isinstance(args[0], int):
        return args[0]
    return None


def _state(client: Any) -> Any:
    state = getattr(getattr(client, "_sender", None), "_state", None)
    return state if state is not None and hasattr(state, "time_offset") else None


def get_time_offset(client: Any) -> int | None:
    """Telegram's clock minus ours as `client` (a TelegramClient) uses it now: learnt in
    a handshake, from a bad_msg_notification, or given by `set_time_offset`."""
    state = _state(client)
    return int(state.time_offset) if state is not None else None


def set_time_offset(client: Any, seconds: float) -> bool:
    """Make `client` (a TelegramClient) date its messages and check Telegram's by
    Telegram's clock. False if this Telethon has no such state (a future version)."""
    state = _state(client)
    if state is None:
        return False
    state.time_offset = round(seconds)
    return True


def resend_pending(client: Any) -> bool:
    """Have Telethon reconnect in the background and send again the requests whose
    answers it dropped (its own reconnection resends every pending request, with new
    msg_ids). False if this Telethon cannot."""
    start = getattr(getattr(client, "_sender", None), "_start_reconnect", None)
    if not callable(start):
        return False
    start(None)
    return True


async def attempt_watching_skew(
    attempt: Callable[[], Awaitable[Any]],
    watch: SkewWatch,
    seen: int,
    timeout: float,
    stopping: Callable[[], bool],
) -> tuple[bool, Any]:
    """Run `attempt()` for at most `timeout` seconds, cut short as soon as `watch` has
    more than `seen` sightings (Telethon dropped an answer as 'very new': waiting on
    would be waiting forever) or `stopping()`. (True, its result) when it finished (its
    exception raised here), (False, None) when it was cut short or ran out of time."""
    task = asyncio.ensure_future(attempt())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not task.done() and watch.sightings == seen and not stopping():
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.wait({task}, timeout=min(0.25, left))
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task.cancelled():
        return False, None
    return True, task.result()


def resync(client: Any, skew: float) -> int | None:
    """Telegram's answers started to look 'very new' on a working `client`: make it go by
    Telegram's clock (`skew` s ahead of ours) and send again what it still waits for.
    The offset now used, or None when nothing changed (a late answer to a connection
    already corrected: less than 10 s off) or this Telethon cannot."""
    current = get_time_offset(client)
    if current is not None and abs(skew - current) < 10:
        return None
    if not set_time_offset(client, skew):
        return None
    resend_pending(client)
    return round(skew)
