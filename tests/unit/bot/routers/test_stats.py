"""/stats fed as real Updates through the real Dispatcher, over a fake archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.texts import t
from tests.unit.bot.conftest import Sent
from tests.unit.bot.routers.conftest import DataBot


def _methods(sent: list[Sent]) -> list[str]:
    return [s.method for s in sent if s.method != "sendChatAction"]


async def test_without_analytics_wired_stats_says_it_is_not_available(data_bot: DataBot) -> None:
    # bot.api.BotDeps.analytics None (the pre-#17 chart is gone): said, in the language.
    sent = await data_bot.tg.send("/stats @c1 7")
    assert _methods(sent) == ["sendMessage"]
    assert sent[-1].text == t("stats_unavailable", "en")
    data_bot.tg.updates.lang = "ru"
    sent = await data_bot.tg.send("/stats @c1 7")
    assert sent[-1].text == "Статистика каналов в этой сборке недоступна."


async def test_usage_and_unknown_channel(data_bot: DataBot) -> None:
    (usage,) = await data_bot.tg.send("/stats @c1 ²")
    assert "/stats" in usage.text
    sent = await data_bot.tg.send("/stats @nope")
    assert "@nope" in sent[-1].text


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_days_outside_the_range_answer_the_usage(data_bot: DataBot, lang: str) -> None:
    # #17 review B5: 0 and 100000 were clamped to 1 and 3650 days without a word.
    data_bot.tg.updates.lang = lang
    for days in ("0", "3651", "100000"):
        (usage,) = await data_bot.tg.send(f"/stats @c1 {days}")
        assert "/stats" in usage.text and "3650" in usage.text and "30" in usage.text
        assert ("дней" in usage.text) == (lang == "ru")
    for days in ("1", "3650"):  # accepted: past the usage (no analytics here)
        sent = await data_bot.tg.send(f"/stats @c1 {days}")
        assert sent[-1].text == t("stats_unavailable", lang)


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
