"""The routing tree: one router per feature, order decided here.

`build_root_router()` builds fresh routers each call (aiogram attaches a router to one
parent only), so a Dispatcher can be built many times per process.
"""

from __future__ import annotations

import functools

from aiogram import Router

from bot.api import BotDeps
from bot.dialogues import DialogueMiddleware
from bot.routers import (
    account,
    channels,
    common,
    export,
    graph,
    login,
    media,
    parse,
    search,
    stats,
    watch,
)
from bot.status import StatusPage, StatusSection


def build_root_router() -> Router:
    root = Router(name="root")
    # A command ends any dialogue before routing, so it reaches its own handler.
    dialogues = DialogueMiddleware()
    root.message.outer_middleware(dialogues)
    root.callback_query.outer_middleware(dialogues)
    # Order matters: conversation routers (FSM states) before catch-all ones.
    root.include_router(login.build_router())
    root.include_router(account.build_router())
    root.include_router(channels.build_router())
    root.include_router(export.build_router())
    root.include_router(parse.build_router())
    root.include_router(search.build_router())
    root.include_router(stats.build_router())
    root.include_router(graph.build_router())
    root.include_router(watch.build_router())
    root.include_router(media.build_router())
    root.include_router(common.build_router())
    return root


def build_status_page(deps: BotDeps, transport: StatusSection) -> StatusPage:
    """/status: the account (login), the bot's own `transport` line, parsing, then the
    archive's maintenance and the components (StatusAPI); each section is rendered by
    its feature's module from its API."""
    return StatusPage(
        deps.status,
        functools.partial(account.status_section, deps.login, tz=deps.tz),
        (
            functools.partial(parse.status_section, deps.parsing, tz=deps.tz),
            functools.partial(search.status_section, deps.archive),
            functools.partial(media.status_section, deps.media_status),
        ),
        transport,
        deps.tz,
    )
