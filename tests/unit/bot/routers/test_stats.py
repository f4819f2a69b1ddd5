"""/stats fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from tests.unit.bot.archive_fakes import report
from tests.unit.bot.conftest import Sent
from tests.unit.bot.routers.conftest import DataBot


def _methods(sent: list[Sent]) -> list[str]:
    return [s.method for s in sent if s.method != "sendChatAction"]


async def test_chart_caption_and_top_posts(data_bot: DataBot) -> None:
    data_bot.archive.report = report(views=10)
    sent = await data_bot.tg.send("/stats @c1 7")
    assert _methods(sent) == ["sendPhoto", "sendMessage"]
    assert ("stats", (1, 7)) in data_bot.archive.calls
    assert ("stats_tz", data_bot.tg.control.deps.tz) in data_bot.archive.calls
    assert "Top by views" in sent[-1].text


async def test_no_top_by_views_when_nothing_was_viewed(data_bot: DataBot) -> None:
    data_bot.archive.report = report(views=0)
    sent = await data_bot.tg.send("/stats @c1")
    assert _methods(sent) == ["sendPhoto"]


async def test_usage_and_unknown_channel(data_bot: DataBot) -> None:
    (usage,) = await data_bot.tg.send("/stats @c1 ²")
    assert "/stats" in usage.text
    sent = await data_bot.tg.send("/stats @nope")
    assert "@nope" in sent[-1].text


@pytest.mark.parametrize("zone", [ZoneInfo("Europe/Moscow")])
async def test_the_caption_names_the_zone_whose_days_the_bars_are(data_bot: DataBot) -> None:
    data_bot.archive.report = report(views=10)
    sent = await data_bot.tg.send("/stats @c1 7")
    assert ("stats_tz", ZoneInfo("Europe/Moscow")) in data_bot.archive.calls
    photo = next(s for s in sent if s.method == "sendPhoto")
    assert str(photo.params["caption"]).endswith("by day, Europe/Moscow (UTC+03:00)")
