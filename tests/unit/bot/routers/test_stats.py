"""/stats fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.texts import t
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


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_days_outside_the_range_answer_the_usage(data_bot: DataBot, lang: str) -> None:
    # #17 review B5: 0 and 100000 were clamped to 1 and 3650 days without a word.
    data_bot.tg.updates.lang = lang
    data_bot.archive.report = report(views=10)
    for days in ("0", "3651", "100000"):
        (usage,) = await data_bot.tg.send(f"/stats @c1 {days}")
        assert "/stats" in usage.text and "3650" in usage.text and "30" in usage.text
        assert ("дней" in usage.text) == (lang == "ru")
    assert not any(c[0] == "stats" for c in data_bot.archive.calls)
    for days in ("1", "3650"):
        sent = await data_bot.tg.send(f"/stats @c1 {days}")
        assert _methods(sent)[0] == "sendPhoto"
    assert ("stats", (1, 1)) in data_bot.archive.calls
    assert ("stats", (1, 3650)) in data_bot.archive.calls


def test_help_and_the_readme_give_days_to_a_channel_only() -> None:
    # #17 review C7: the README gave [days] to a post link too; /help gave it to nothing.
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text()
    assert "| `/stats <channel> [days]`, `/stats <post link>` |" in readme
    for lang, channel, link in (("en", "channel", "post link"), ("ru", "канал", "ссылка на пост")):
        help_text = t("help", lang)
        assert (
            f"/stats &lt;{channel}&gt; [" in help_text and f"/stats &lt;{link}&gt; —" in help_text
        )


def test_the_readme_lists_every_ad_hashtag_the_code_accepts() -> None:
    # h2-findings 2: #advert, #advertising, #spon and #партнёрство were missing.
    from core.ads import _HASHTAG

    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text()
    tags = _HASHTAG.pattern.split("#(?:")[1].split(")")[0].replace("\n", "").split("|")
    for tag in tags:
        if tag != "рекламa":  # the Latin-a spelling: named in words
            assert f"`#{tag}`" in readme, tag
    assert "Latin `a`" in readme
