"""/status names components and their states in the operator's language, never raw."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app import health
from app.maintenance import ArchiveMaintenance
from bot.component import ControlBot
from bot.delivery import AlertDelivery
from bot.session import CONFLICT
from bot.texts import LANGS, keys, t
from parser.userbot import Userbot
from services.media.service import MediaService
from services.parsing.worker import ParseWorker
from services.search_index import SearchIndexRebuild


def test_every_component_and_state_has_a_text() -> None:
    states = {
        health.STARTING, health.RUNNING, health.RESTARTING, health.FAILED, health.STOPPED,
        CONFLICT,
    }
    names = {c.name for c in (ControlBot, Userbot, ParseWorker, ArchiveMaintenance)}
    names |= {MediaService.name, AlertDelivery.name, SearchIndexRebuild.name}
    missing = {f"status_state_{s}" for s in states} | {f"status_component_{n}" for n in names}
    assert missing - keys() == set()


def _supervised_names() -> set[str]:
    """The `name` of every class of the app that runs under the supervisor (a string
    class attribute `name` and `async def run` and `stop`), read from the source (no
    import: cheap)."""
    root = Path(__file__).resolve().parents[3]
    names: set[str] = set()
    for pkg in ("app", "bot", "parser", "services"):
        for path in (root / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef):
                    continue
                methods = {
                    b.name for b in node.body if isinstance(b, ast.AsyncFunctionDef)
                }
                for b in node.body:
                    if (
                        isinstance(b, ast.Assign)
                        and [getattr(x, "id", None) for x in b.targets] == ["name"]
                        and isinstance(b.value, ast.Constant)
                        and isinstance(b.value.value, str)
                        and {"run", "stop"} <= methods
                    ):
                        names.add(b.value.value)
    return names


@pytest.mark.parametrize("lang", LANGS)
def test_every_supervised_component_has_a_name_in_both_languages(lang: str) -> None:
    names = _supervised_names()
    assert {"counters", "links_backfill", "search_index", "bot"} <= names
    for name in sorted(names):
        text = t(f"status_component_{name}", lang)  # KeyError when missing
        assert text.strip()
