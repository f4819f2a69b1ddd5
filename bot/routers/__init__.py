"""The routing tree: one router per feature, order decided here."""

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
    for module in (login, channels, export, parse, search, stats, watch, common):
        root.include_router(module.router)
    return root
