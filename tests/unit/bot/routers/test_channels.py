"""/add, /channels and /schedule fed as real Updates through the real Dispatcher."""

from __future__ import annotations

import pytest

from bot.channel_buttons import ChannelItem, ChannelPage, HistoryPick, InviteBatch, ItemAction
from core.channels import AddCode, AddResult
from tests.doubles.botapi import ApiError
from tests.unit.bot.conftest import ADMIN, BotUnderTest

HOSTILE = '<b>&amp; "Q" </i> שלום ' + "Канал «Новости» " * 20


def _added(n: int) -> list[AddResult]:
    return [
        AddResult(f"@c{i}", AddCode.ADDED, f"@c{i}", channel_id=i + 1, kind="channel")
        for i in range(n)
    ]


async def test_add_reports_every_line_and_asks_the_history_once(tg: BotUnderTest) -> None:
    tg.channels.add_answers = [
        *_added(2),
        AddResult("!!!", AddCode.GARBAGE),
        AddResult("@f", AddCode.FLOOD, "@f", seconds=300),
    ]
    sent = [s for s in await tg.send("/add @c0 @c1 !!! @f") if s.method != "sendChatAction"]
    assert [s.method for s in sent] == ["sendMessage", "sendMessage"]
    report, question = sent
    assert "@c0" in report.text and "!!!" in report.text and "5 min" in report.text
    assert tg.channels.calls == [("add_lines", "@c0 @c1 !!! @f")]
    datas = [d for _, d in question.buttons]
    assert HistoryPick(batch="h0", mode="default").pack() in datas
    (done,) = await tg.press(HistoryPick(batch="h0", mode="last", arg="100").pack(), on=question)
    assert done.method == "editMessageText" and "2" in done.text
    assert ("choose_history", ("h0", "last:100")) in tg.channels.calls


async def test_add_without_arguments_prompts_then_takes_the_next_text(tg: BotUnderTest) -> None:
    (prompt,) = await tg.send("/add")
    tg.channels.add_answers = _added(1)
    sent = await tg.send("@c0")
    assert tg.channels.calls == [("add_lines", "@c0")]
    assert sent[-1].text != prompt.text
    # The prompt is over: more text is not taken for channels.
    await tg.send("@c1")
    assert tg.channels.calls == [("add_lines", "@c0")]


async def test_not_ready_says_so(tg: BotUnderTest) -> None:
    tg.channels.add_answers = [AddResult("@a", AddCode.NOT_READY, "@a")]
    sent = await tg.send("/add @a")
    assert "/login" in sent[-1].text


async def test_open_elsewhere_says_so(tg: BotUnderTest) -> None:
    tg.channels.add_answers = [AddResult("@a", AddCode.ELSEWHERE, "@a")]
    sent = await tg.send("/add @a")
    assert "open in another process" in sent[-1].text and "/login" not in sent[-1].text
    tg.channels.add_answers = [
        AddResult("@a", AddCode.ELSEWHERE, "@a"), AddResult("@b", AddCode.ADDED, "@b")
    ]
    sent = await tg.send("/add @a\n@b")
    assert "1 not checked: the account is open in another process" in sent[-1].text


async def test_no_worker_says_to_start_one(tg: BotUnderTest) -> None:
    """A bot-only process with no worker up (#18): the cause and the fix, not /login."""
    tg.channels.add_answers = [AddResult("@a", AddCode.NO_WORKER, "@a")]
    sent = await tg.send("/add @a")
    assert "No worker is running" in sent[-1].text and "tg-parser worker" in sent[-1].text
    assert "/login" not in sent[-1].text
    tg.channels.add_answers = [
        AddResult("@a", AddCode.NO_WORKER, "@a"), AddResult("@b", AddCode.ADDED, "@b")
    ]
    sent = await tg.send("/add @a\n@b")
    assert "1 not checked: no worker is running (start <code>tg-parser worker</code>" in (
        sent[-1].text
    )


async def test_invites_are_asked_and_joined(tg: BotUnderTest) -> None:
    tg.channels.invites = {"tok1": HOSTILE, "tok2": "Second"}
    tg.channels.add_answers = [
        AddResult("t.me/+a", AddCode.INVITE, HOSTILE, token="tok1"),
        AddResult("t.me/+b", AddCode.INVITE, "Second", token="tok2"),
    ]
    sent = await tg.send("/add t.me/+a t.me/+b")
    question = sent[-1]
    datas = [d for _, d in question.buttons]
    assert datas[-2:] == [
        InviteBatch(action="ja", batch="b0").pack(),
        InviteBatch(action="jn", batch="b0").pack(),
    ]
    joined = await tg.press(datas[0], on=question)  # the first invite alone
    assert joined[0].method == "sendMessage"
    assert joined[-1].method == "editMessageText" and "Second" in str(joined[-1].buttons)
    rest = await tg.press(InviteBatch(action="jn", batch="b0").pack(), on=question)
    assert rest[-1].method == "editMessageText"
    assert tg.channels.invites == {}


async def test_channels_pages_views_and_actions(tg: BotUnderTest) -> None:
    for i in range(23):
        tg.channels.add(title=f"{HOSTILE} {i}" if i % 2 else f"Chan {i}", username=f"c{i}")
    (first,) = await tg.send("/channels")
    datas = [d for _, d in first.buttons]
    assert ChannelItem(action=ItemAction.VIEW, channel_id=1, page=0).pack() in datas
    assert ChannelPage(page=2).pack() in datas  # the last page, 23 channels
    (last,) = await tg.press(ChannelPage(page=2).pack(), on=first)
    assert last.method == "editMessageText" and "Chan 22" in last.text
    view = ChannelItem(action=ItemAction.VIEW, channel_id=23, page=2)
    (item,) = await tg.press(view.pack(), on=last)
    pause = ChannelItem(action=ItemAction.PAUSE, channel_id=23, page=2).pack()
    assert pause in [d for _, d in item.buttons]
    await tg.press(pause, on=item)
    assert tg.channels.channels[23].status == "paused"
    # The deletion alert: off by default, toggled from the view (issue #15).
    assert "Deletion alerts: off" in item.text
    alerts = ChannelItem(action=ItemAction.DELETIONS, channel_id=23, page=2).pack()
    (toggled,) = await tg.press(alerts, on=item)
    assert tg.channels.channels[23].alert_deletions and "Deletion alerts: on" in toggled.text
    assert ("🗑 Deletion alerts: on", alerts) in toggled.buttons
    ask = ChannelItem(action=ItemAction.REMOVE, channel_id=23, page=2)
    (question,) = await tg.press(ask.pack(), on=item)
    yes = ChannelItem(action=ItemAction.REMOVE_YES, channel_id=23, page=2).pack()
    (gone,) = await tg.press(yes, on=question)
    assert 23 not in tg.channels.channels and "Chan 21" not in gone.text
    assert ("pause", 23) in tg.channels.calls and ("remove", 23) in tg.channels.calls
    # A second tap on a removed channel: the list again, saying it is gone.
    (again,) = await tg.press(view.pack(), on=item)
    assert again.method == "editMessageText"


async def test_no_channels(tg: BotUnderTest) -> None:
    (empty,) = await tg.send("/channels")
    assert empty.buttons == [] and empty.text


async def test_schedule(tg: BotUnderTest) -> None:
    ch = tg.channels.add(title="News", username="news")
    (usage,) = await tg.send("/schedule")
    (bad,) = await tg.send("/schedule @news 0")
    (missing,) = await tg.send("/schedule @nobody 30")
    assert len({usage.text, bad.text, missing.text}) == 3
    (done,) = await tg.send("/schedule @news 30")
    assert tg.channels.channels[ch.id].interval_minutes == 30 and "30" in done.text
    (default,) = await tg.send("/schedule @news default")
    assert tg.channels.channels[ch.id].interval_minutes is None and "60" in default.text


async def test_the_session_refuses_what_telegram_would(tg: BotUnderTest) -> None:
    with pytest.raises(ApiError, match="can't parse entities"):
        await tg.bot.send_message(ADMIN, "<b>open")
    with pytest.raises(ApiError, match="too long"):
        await tg.bot.send_message(ADMIN, "x" * 4097)
