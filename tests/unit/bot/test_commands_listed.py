"""Every command a router registers is in the bot's menu (bot/component.py COMMANDS)
with a description in both languages, in /help in both languages, and in the README's
command table."""

from __future__ import annotations

import re
from pathlib import Path

from aiogram.filters import Command, CommandStart

from bot.component import COMMANDS
from bot.routers import build_root_router
from bot.texts import LANGS, t

README = Path(__file__).resolve().parents[3] / "README.md"


def _registered() -> set[str]:
    names: set[str] = set()
    routers = [build_root_router()]
    while routers:
        router = routers.pop()
        routers.extend(router.sub_routers)
        for handler in router.message.handlers:
            for f in handler.filters or ():
                cmd = f.callback
                if isinstance(cmd, CommandStart):
                    names.add("start")
                elif isinstance(cmd, Command) and not isinstance(cmd, CommandStart):
                    names.update(c for c in cmd.commands if isinstance(c, str))
    return names


def test_every_registered_command_is_in_the_menu_help_and_readme() -> None:
    registered = _registered()
    assert "graph" in registered and registered == set(COMMANDS)
    table = set(re.findall(r"^\| (.*?) \|", README.read_text(), re.M))
    listed = {n for row in table for n in re.findall(r"`/([a-z_]+)", row)}
    for name in COMMANDS:
        assert name in listed, f"/{name} is not in the README's command table"
        for lang in LANGS:
            assert t(f"cmd_{name}", lang), (name, lang)
            if name not in ("start", "help"):
                assert f"/{name} " in t("help", lang) or f"/{name}," in t("help", lang), (
                    name,
                    lang,
                )
