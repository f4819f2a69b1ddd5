"""Dialogues (FSM states): a command typed in the middle of one ends it, then runs.

`DialogueMiddleware` sits on the root router, after operator gating and after aiogram
has read the FSM state. For a command sent while a state is set it runs the cleanup
the dialogue registered with `on_end` (the login flow releases its lock and its
Telegram client there), forgets the state and hands the command on with
`raw_state=None`, so the state filters of the dialogue no longer match and the
command's own handler runs, once. The handler sees which dialogue ended in
`ended_dialogue` (/cancel says "Cancelled" rather than "Nothing to cancel").

It also gives every handler `dialogue_lock`, one lock per operator: steps of one
dialogue that read and write its state (keypad taps, a double tap on a button) take it
so that they run one after the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import StatesGroup
from aiogram.types import Message, TelegramObject, User

log = logging.getLogger(__name__)

DialogueEnd = Callable[[FSMContext, dict[str, Any]], Awaitable[None]]

# State group name ("LoginStates") -> what ending that dialogue must undo.
_ENDS: dict[str, DialogueEnd] = {}


def on_end(group: type[StatesGroup]) -> Callable[[DialogueEnd], DialogueEnd]:
    """Register what to undo when a dialogue of `group` is ended by a command."""

    def register(fn: DialogueEnd) -> DialogueEnd:
        _ENDS[group.__full_group_name__] = fn
        return fn

    return register


def is_command(message: Message) -> bool:
    """A `/command` as Telegram marks it: a bot_command entity at offset 0."""
    text = message.text or ""
    return text.startswith("/") and any(
        e.type == "bot_command" and e.offset == 0 for e in message.entities or ()
    )


async def end_dialogue(state: FSMContext, raw_state: str, data: dict[str, Any]) -> None:
    """Undo what the dialogue holds, then forget its state (other FSM data stays)."""
    cleanup = _ENDS.get(raw_state.split(":", 1)[0])
    if cleanup is not None:
        try:
            await cleanup(state, data)
        except Exception:  # the command must run even if the cleanup fails
            log.exception("ending the dialogue %s failed", raw_state)
    await state.set_state(None)


class DialogueMiddleware(BaseMiddleware):
    """Outer middleware for messages and callback queries of the root router."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    def lock_for(self, user_id: int) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock = data["dialogue_lock"] = self.lock_for(user.id)
        state: FSMContext | None = data.get("state")
        if state is None or not data.get("raw_state"):
            return await handler(event, data)
        if isinstance(event, Message) and is_command(event):
            # Wait for a step in progress (a sign-in) to finish: it may end the dialogue
            # itself, and its client must not be taken away in the middle.
            async with lock:
                raw_state = await state.get_state()
                if raw_state is not None:
                    await end_dialogue(state, raw_state, data)
                    data["ended_dialogue"] = raw_state
            data["raw_state"] = None
        return await handler(event, data)
