"""/start, /help, /cancel, /status and the catch-alls, fed as real Updates."""

from __future__ import annotations

from tests.unit.bot.conftest import STRANGER, BotUnderTest


async def test_start_and_help_answer_in_the_operators_language(tg: BotUnderTest) -> None:
    (start,) = await tg.send("/start")
    assert start.method == "sendMessage" and start.params["chat_id"] == "100"
    (help_,) = await tg.send("/help")
    assert "/add" in help_.text and help_.text != start.text
    tg.updates.lang = "ru"
    (ru,) = await tg.send("/start")
    assert ru.text != start.text


async def test_strangers_get_no_command(tg: BotUnderTest) -> None:
    sent = await tg.send("/status", user_id=STRANGER)
    assert all("Components" not in s.text for s in sent)


async def test_cancel_says_whether_there_was_something(tg: BotUnderTest) -> None:
    (nothing,) = await tg.send("/cancel")
    await tg.send("/add")  # opens the /add prompt
    (cancelled,) = await tg.send("/cancel")
    assert nothing.text != cancelled.text
    (again,) = await tg.send("/cancel")
    assert again.text == nothing.text


async def test_status_sections_in_order(tg: BotUnderTest) -> None:
    tg.health.set("scheduler", "failed", "boom <b>")
    tg.health.component("scheduler").restarts = 2
    (status,) = await tg.send("/status")
    lines = status.text.splitlines()
    assert lines[:3] == [
        "<b>Status</b>",
        "Account: not logged in (/login)",  # the login API's section
        "Channels (0): 0 ok, 0 failing, 0 deferred, 0 disabled, 0 paused",  # parsing's
    ]
    assert lines.index("Components:") > 3
    assert "• bot: running" in status.text
    assert "scheduler" in status.text and "boom &lt;b&gt;" in status.text


async def test_unknown_commands_and_stray_text(tg: BotUnderTest) -> None:
    (unknown,) = await tg.send("/nosuch arg")
    assert "/nosuch" in unknown.text
    (stray,) = await tg.send("hello there")
    assert stray.text and "/nosuch" not in stray.text
