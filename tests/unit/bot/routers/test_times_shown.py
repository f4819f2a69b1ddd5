"""Every time the bot shows is in the operators' zone (TIMEZONE), through the real
Dispatcher: /channels (list and view), /status (next runs, last backup), alerts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.channel_buttons import ChannelItem, ItemAction
from bot.component import ControlBot
from bot.delivery import render_alert
from core.alerts import AlertLines, AlertText
from core.channels import AddCode, AddResult, HistoryDepth
from core.parsing import BreakerState, NextRun, ParseStatus
from core.status import BackupStatus, StatusReport
from tests.unit.bot.conftest import BotUnderTest
from tests.unit.bot.fakes import FakeStatus

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
LAST = datetime(2026, 9, 1, 21, 30, tzinfo=UTC)  # 2 Sept 00:30 in Moscow
NEXT = datetime(2026, 9, 1, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone", [MOSCOW])
async def test_channels_list_and_view_show_runs_in_the_zone(tg: BotUnderTest) -> None:
    since = datetime(2026, 8, 31, 21, 0, tzinfo=UTC)  # typed as since:2026-09-01 in Moscow
    ch = tg.channels.add(
        title="News",
        username="news",
        last_run_at=LAST,
        history_mode="since",
        history_since=since,
    )
    tg.channels.runs[ch.id] = NEXT
    (page,) = await tg.send("/channels")
    assert "last: 2026-09-02 00:30 MSK" in page.text
    assert "next: 2026-09-02 01:30 MSK" in page.text
    view = ChannelItem(action=ItemAction.VIEW, channel_id=ch.id, page=0).pack()
    (item,) = await tg.press(view, on=page)
    assert "Last run: 2026-09-02 00:30 MSK" in item.text
    assert "Next run: 2026-09-02 01:30 MSK" in item.text
    assert "2026-09-01" in item.text and "2026-08-31" not in item.text  # the day typed


@pytest.mark.parametrize("zone", [NEW_YORK])
async def test_the_default_depth_names_its_day_in_the_zone(tg: BotUnderTest) -> None:
    # HISTORY_DEFAULT=2026-01-10 read in New York: 05:00 UTC that day.
    tg.channels.default_history = HistoryDepth(
        "since", since=datetime(2026, 1, 10, 5, 0, tzinfo=UTC)
    )
    tg.channels.add_answers = [AddResult("@c", AddCode.ADDED, "@c", channel_id=1, kind="channel")]
    sent = await tg.send("/add @c")
    assert "2026-01-10" in sent[-1].text and "2026-01-09" not in sent[-1].text


@dataclass
class _Parsing:
    async def status(self) -> ParseStatus:
        return ParseStatus(
            ready=True,
            session="ready",
            breaker=BreakerState("closed"),
            counts={},
            named={},
            messages=0,
            db_size=None,
            next_runs=(NextRun("@news", NEXT),),
        )


@dataclass
class _Status(FakeStatus):
    async def report(self) -> StatusReport:
        base = await super().report()
        return replace(base, backup=BackupStatus(last_at=LAST, size_bytes=2_000_000))


@pytest.mark.parametrize("zone", [MOSCOW, ZoneInfo("UTC")])
async def test_status_shows_next_runs_and_the_backup_in_the_zone(
    tg: BotUnderTest, zone: ZoneInfo
) -> None:
    deps = replace(tg.control.deps, parsing=_Parsing(), status=_Status(tg.health))
    tg.control = ControlBot(tg.bot, deps, health=tg.health)
    (status,) = await tg.send("/status")
    if zone is MOSCOW:
        assert "@news: 2026-09-02 01:30 MSK" in status.text
        assert "Last backup: 2026-09-02 00:30 MSK" in status.text
    else:
        assert "@news: 2026-09-01 22:30 UTC" in status.text
        assert "Last backup: 2026-09-01 21:30 UTC" in status.text


def test_a_time_in_an_alert_is_shown_in_the_zone() -> None:
    body = AlertLines((AlertText("status_backup", when=LAST, size=1),))
    assert "2026-09-01 17:30 EDT" in render_alert(body, "en", NEW_YORK)
    assert "2026-09-02 00:30 MSK" in render_alert(body, "ru", MOSCOW)
    assert "2026-09-01 21:30 UTC" in render_alert(body, "en")


@pytest.mark.parametrize("zone", [NEW_YORK])
async def test_schedule_names_the_next_run_in_the_zone(tg: BotUnderTest) -> None:
    ch = tg.channels.add(title="News", username="news")
    tg.channels.runs[ch.id] = NEXT
    (done,) = await tg.send("/schedule @news 30")
    assert "every 30 min" in done.text and "Next run: 2026-09-01 18:30 EDT" in done.text
    await tg.channels.pause(ch.id)
    (paused,) = await tg.send("/schedule @news default")
    assert "Next run" not in paused.text
