"""The real ControlBot with fake archive and watches services (tests/unit/bot/conftest.py
gives the rest: the recording session, the Update builders)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties

from bot.component import ControlBot
from core.health import HealthRegistry
from tests.unit.bot.archive_fakes import FakeArchive, FakeWatches, channel
from tests.unit.bot.conftest import ADMIN, TOKEN, BotUnderTest, RecordingSession, Updates
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps


@dataclass
class DataBot:
    tg: BotUnderTest
    archive: FakeArchive
    watches: FakeWatches


@pytest.fixture
async def data_bot(tmp_path: Path, zone: ZoneInfo) -> AsyncIterator[DataBot]:
    """The real ControlBot over FakeArchive and FakeWatches, two channels @c1 and @c2."""
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    channels = [channel(1), channel(2)]
    archive = FakeArchive(tmp_path, channels=channels)
    watches = FakeWatches(channels=channels)
    deps = replace(
        make_deps({ADMIN}, status=FakeStatus(health), tz=zone), archive=archive, watches=watches
    )
    control = ControlBot(bot, deps, health=health)
    tg = BotUnderTest(control, bot, session, Updates(), FakeChannels(), health)
    yield DataBot(tg, archive, watches)
