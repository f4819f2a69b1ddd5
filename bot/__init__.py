"""The control bot (aiogram 3): routers, texts, keyboards and the polling component."""

from bot.aiogram_lazy import defer_aiogram_models

# Before any module of this package imports aiogram (see bot/aiogram_lazy.py).
defer_aiogram_models()
