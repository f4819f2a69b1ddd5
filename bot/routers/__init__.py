"""The routing tree: one router per feature, order decided here.

`build_root_router()` builds fresh routers each call (aiogram attaches a router to one
parent only), so a Dispatcher can be built many times per process.
"""

from __future__ import annotations

from aiogram import Router

from bot.dialogues import DialogueMiddleware
from bot.routers import channels, common, export, login, parse, search, stats, watch


def build_root_router() -> Router:
    root = Router(name="root")
    # A command ends any dialogue before routing, so it reaches its own handler.
    dialogues = DialogueMiddleware()
    root.message.outer_middleware(dialogues)
    root.callback_query.outer_middleware(dialogues)
    # Order matters: conversation routers (FSM states) before catch-all ones.
    # login still has one module-level router (until it gets a build_router()): one
    # Dispatcher per process with it.
    root.include_router(login.router)
    root.include_router(channels.build_router())
    root.include_router(export.build_router())
    root.include_router(parse.build_router())
    root.include_router(search.build_router())
    root.include_router(stats.build_router())
    root.include_router(watch.build_router())
    root.include_router(common.build_router())
    return root
