"""/status names components and their states in the operator's language, never raw."""

from __future__ import annotations

from app import health
from app.maintenance import ArchiveMaintenance
from bot.component import ControlBot
from bot.delivery import AlertDelivery
from bot.session import CONFLICT
from bot.texts import keys
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
