"""/parse all and /status at scale, and honest status, end to end.

The app runs as a process against the MTProto double (1,000 tiny channels, some of
them in trouble) and the Bot API double, which refuses what Telegram refuses: a reply
over 4,096 characters or with broken markup is answered 400, so every request the bot
made must have been accepted.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, parse, seed_caught_up

# As long as Telegram allows (128), with markup characters and emoji.
LONG_TITLE = ('<b>&"Канал «Новости» 🎉 ' * 6)[:128]
SENT = ("sendMessage", "editMessageText")



def refused(api: BotAPIDouble) -> list[Any]:
    return [(r.method, r.status, r.params.get("text", "")[:80]) for r in api.requests
            if r.method in SENT and r.status != 200]


def versions(api: BotAPIDouble, chat_id: int) -> list[str]:
    """Every text the chat was shown, every edit included."""
    return [v.text or "" for e in api.transcript(chat_id) for v in e.history]


async def connected(stack: Stack) -> None:
    """Once the userbot has connected with the stored session (/status says so)."""
    api = stack.botapi
    for _ in range(100):
        await api.send_text(api.users[ADMIN2_ID], "/status")
        reply = await api.wait_for_message(ADMIN2_ID, r"Account:", timeout=30)
        if "Session: active" in reply.text:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the userbot never connected\n" + stack.app.log()[-3000:])


def build_world() -> tuple[World, list[Channel], dict[str, set[int]], list[Channel]]:
    """1,000 channels to run (every 50th deferred, private or failing) and 20 paused."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    channels: list[Channel] = []
    trouble: dict[str, set[int]] = {"flood": set(), "failing": set()}
    for i in range(1000):
        if i % 50 == 20:  # private, not joined: CHANNEL_PRIVATE disables it
            ch = world.add_channel(title=f"{i} {LONG_TITLE}", private=True)
        else:
            ch = world.add_channel(username=f"c{i:04d}", title=f"Channel {i}")
            ch.add_messages(3)
        if i % 50 == 10:
            trouble["flood"].add(ch.id)
        elif i % 50 == 30:
            trouble["failing"].add(ch.id)
        channels.append(ch)
    paused = [world.add_channel(username=f"p{i:02d}", title=LONG_TITLE) for i in range(20)]
    return world, channels, trouble, paused


def inject_trouble(stack: Stack, trouble: dict[str, set[int]]) -> None:
    def peer(req: Any) -> int | None:
        return getattr(getattr(req, "peer", None), "channel_id", None)

    faults = stack.mtproto.faults
    faults.add("messages.getHistory", "FLOOD_WAIT_3600", times=None,
               when=lambda req: peer(req) in trouble["flood"])
    faults.add("messages.getHistory", "SOME_INTERNAL_PROBLEM", code=400, times=None,
               when=lambda req: peer(req) in trouble["failing"])


async def test_parse_all_and_status_over_1000_channels_stay_within_telegram_limits(
    tmp_path: Path,
) -> None:
    world, channels, trouble, paused = build_world()
    # With the counters job (#17) at its defaults: paced, it reads 84 of the 1,000
    # channels' subscriber counts a round (the first at start), the rest wait their
    # turn; /status shows it.
    async with running_stack(tmp_path, world, start=False) as stack:
        inject_trouble(stack, trouble)
        await seed_caught_up(stack, channels + paused, paused=tuple(paused))
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await connected(stack)
        adam = api.users[ADMIN2_ID]

        await api.send_text(adam, "/parse all")
        await api.wait_for_message(ADMIN2_ID, r"Parsing 1000 channels", timeout=30)
        await api.wait_for_message(ADMIN2_ID, r"⏳ Channels: \d+ / 1000 · ", timeout=60)
        # One /parse all at a time: a second one says so and leaves the first alone.
        await api.send_text(adam, "/parse all")
        busy = await api.wait_for_message(ADMIN2_ID, r"already under way", timeout=30)
        assert re.search(r"\(channels done: \d+ of 1000\)", busy.text), busy.text

        done = await api.wait_for_message(ADMIN2_ID, r"^Done: 1000 channels", timeout=240)
        summary = done.text.splitlines()
        assert "2820 new messages" in summary[0], summary  # 940 channels × 3 posts
        assert summary[1] == "✅ 940 ok · ⚠️ 20 failed · ⏸ 20 deferred · 🚫 20 disabled"
        named = summary[2:-1]
        assert len(named) == 5 and summary[-1] == "…and 55 more", summary
        assert "⏸ @c0010: Telegram asked to wait" in named[0]
        # A long title with markup characters: shown as written, cut at 64 characters.
        cut = re.fullmatch(
            r'🚫 (20 <b>&"Канал .*)…: disabled \(the channel is private, or the account is '
            r"not a member\)",
            named[1],
        )
        assert cut is not None and len(cut[1]) == 63, named
        assert "⚠️ @c0030: failed (SOME_INTERNAL_PROBLEM)" in named[2]  # Telegram's name
        # 20 channels met the same unknown error: the admins are told once, by its name.
        told = [v for v in versions(api, ADMIN2_ID) if "SOME_INTERNAL_PROBLEM" in v
                and v.startswith("⚠️ Parsing ")]
        assert len(told) == 1 and "SOME_INTERNAL_PROBLEM (400)" in told[0], told
        live = [v for v in versions(api, ADMIN2_ID) if v.startswith("⏳ Channels:")]
        assert live and all(v.count("\n") <= 1 for v in live), live

        await api.send_text(adam, "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Channels \(1020\)", timeout=30)
        assert (
            "Channels (1020): 940 ok, 20 failing, 20 deferred, 20 disabled, 20 paused"
            in status.text
        )
        assert status.text.count("…and 17 more") == 4, status.text
        assert status.text.count("Account:") == 1 and "Account: Ann" in status.text
        assert "Telegram connection: ok" in status.text and "Next runs:" in status.text
        # The counters job at 1,000 channels: one message within Telegram's limit, with
        # its lines (the Bot API double refuses a longer one: refused() below).
        assert len(status.text) < 4096, len(status.text)
        assert "Counters over time: last round" in status.text, status.text
        assert re.search(r"Subscribers: .*\d+ channels wait their turn", status.text), (
            status.text
        )
        assert "counters and subscribers: running" in status.text, status.text
        await api.send_text(api.users[ADMIN_ID], "/status")
        ru = await api.wait_for_message(ADMIN_ID, r"Каналы \(1020\)", timeout=30)
        assert "с ошибками — 20, отложены — 20, отключены — 20, на паузе — 20" in ru.text
        assert ru.text.count("…и ещё 17") == 4 and "планировщик: работает" in ru.text
        # "891 канал ждёт", "890 каналов ждут": the count decides the verb's form.
        assert len(ru.text) < 4096 and re.search(r"\d+ канал\w* жд\w+ своей очереди", ru.text), (
            ru.text
        )
        assert refused(api) == []
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_new_and_re_read_counts_then_a_session_revoked_part_way(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(250, interval=60.0)  # all inside the 24 h refresh window
    channels = [news] + [world.add_channel(username=f"c{i:02d}") for i in range(39)]
    for ch in channels[1:]:
        ch.add_messages(2)
    victim = channels[15]

    def revoke_on_victim(req: Any) -> bool:
        if getattr(getattr(req, "peer", None), "channel_id", None) == victim.id:
            world.revoke_sessions(PHONE)  # as if the account's owner ended the session
        return False  # the request itself then meets the revoked key

    async with running_stack(tmp_path, world, start=False) as stack:
        await seed_caught_up(stack, channels)
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await connected(stack)

        first = await parse(stack, "@news")
        assert "✅ @news: 250 new messages in " in first, first
        news.add_messages(10)
        again = await parse(stack, "@news")
        assert "✅ @news: 10 new messages, 250 re-read, in " in again, again
        assert again.startswith("Done: 1 channel in ") and "10 new messages, 250 re-read." in again

        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Channels \(40\)", timeout=30)
        assert status.text.count("Account:") == 1 and "Account: Ann" in status.text
        assert "Telegram connection: ok" in status.text and "Next runs:" in status.text
        # The counters job at 1,000 channels: one message within Telegram's limit, with
        # its lines (the Bot API double refuses a longer one: refused() below).
        assert len(status.text) < 4096, len(status.text)
        assert "Counters over time: last round" in status.text, status.text
        assert re.search(r"Subscribers: .*\d+ channels wait their turn", status.text), (
            status.text
        )
        assert "counters and subscribers: running" in status.text, status.text

        stack.mtproto.faults.add("messages.getHistory", None, times=None, when=revoke_on_victim)
        text = await parse(stack, "all")
        lines = text.splitlines()
        assert lines[0].startswith("Done: 16 of 40 channels in "), text
        assert lines[1] == "✅ 15 ok · ⚠️ 1 failed · ⏭ 24 not run", text
        assert lines[2] == (
            "⛔ The Telegram session stopped working (Telegram no longer accepts this session): "
            "24 channels "
            "were not run. Log in again with /login, then /parse all."
        ), text
        assert lines[3].startswith("⚠️ @c14: failed (Telegram no longer accepts this session)"), (
            text
        )
        assert "went wrong" not in text

        # Revoked: no stale account, no connection to speak of, no runs to come.
        await api.send_text(api.users[ADMIN2_ID], "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Channels \(40\)", timeout=30)
        assert "Account: Ann" not in status.text and "Account: not logged in" in status.text
        assert "Session: revoked (Telegram no longer accepts this session)" in status.text
        assert "Telegram connection" not in status.text and "Next runs" not in status.text
        assert refused(api) == []
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
