"""No handler of the bot is guarded by a synchronous first filter ahead of a command.

aiogram runs a filter that is not a coroutine function in a thread (asyncio.to_thread):
a dialogue state used directly as a filter (`LoginStates.phone`) is one, and every
command was checked against each such handler registered before its own, a thread hop
each (6 for /status, ~26 ms of its ~120 ms while a backfill, media and a views refresh
ran: #20 P2). States go through aiogram's StateFilter (async). Catch-alls registered
after every command (common.py: unknown commands, stray text) are the exception."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from bot.routers import build_root_router

# Registered last: only a message no command matched reaches them.
CATCH_ALLS = {"unknown_command", "stray_text"}


def test_no_handler_starts_with_a_filter_run_in_a_thread() -> None:
    routers = [build_root_router()]
    checked = 0
    while routers:
        router = routers.pop()
        routers.extend(router.sub_routers)
        for observer in (router.message, router.callback_query):
            for handler in observer.handlers:
                filters = handler.filters or []
                for f in filters:
                    assert not isinstance(f.callback, State | StatesGroup), (
                        f"{handler.callback.__name__}: a state used as a filter "
                        "(wrap it in StateFilter)"
                    )
                if filters and handler.callback.__name__ not in CATCH_ALLS:
                    assert filters[0].awaitable, (
                        f"{handler.callback.__name__}: its first filter "
                        f"{filters[0].callback!r} runs in a thread"
                    )
                checked += 1
    assert checked > 20
