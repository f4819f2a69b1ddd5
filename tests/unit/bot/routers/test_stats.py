"""/stats fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

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
