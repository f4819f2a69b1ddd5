"""Adding and managing channels end to end: the app as a process against both doubles.

The operator's session is stored in the app database before start (the login flow is
proven in test_login.py); every channel goes in through /add.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.doubles.botapi.server import MessageSnapshot
from tests.doubles.mtproto import World
from tests.e2e.harness import (
    ADMIN2_ID,
    ADMIN_ID,
    Stack,
    running_stack,
    store_logged_in_session,
)

PHONE, CODE = "+15550000001", "12345"


async def store_session(stack: Stack) -> None:
    await store_logged_in_session(stack, PHONE, CODE)


def rows(stack: Stack) -> dict[str, dict[str, Any]]:
    """Own channel rows by username (or title)."""
    with sqlite3.connect(stack.app.db_path, timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute(
            "SELECT * FROM channel WHERE status IN ('active', 'paused', 'disabled')"
        ).fetchall()
    return {r["username"] or r["title"]: dict(r) for r in found}


def button(snap: MessageSnapshot, ending: str) -> str:
    """The callback data of the button whose text ends with `ending`."""
    for row in snap.buttons:
        for text, data in row:
            if text.endswith(ending):
                return str(data)
    raise AssertionError(f"no button ending {ending!r}: {snap.buttons}")


async def wait_until(cond: Any, stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, stack.app.log()[-3000:]
        assert stack.app.alive(), stack.app.log()[-3000:]
        await asyncio.sleep(0.05)


def with_buttons(title: str) -> Any:
    """The invite question (the report mentions the invite without buttons)."""
    return lambda snap: f"Join «{title}»" in snap.button_texts


def build_world() -> World:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(20)
    chat = world.add_channel(title="News chat", megagroup=True)
    world.link_discussion(news, chat)
    # The double tests `if channel.linked` and Channel has __len__: an empty discussion
    # group would read as no link at all.
    chat.add_comment(news.last_id, "first comment")
    world.add_channel(username="talk", title="Talk", megagroup=True).add_messages(5)
    world.add_channel(username="secret", title="Secret")  # made unreadable by a fault
    world.add_channel(title="Hidden", private=True, invite_hash="InviteHash1234").add_messages(3)
    world.add_channel(title="Crowded", private=True, invite_hash="InviteHash5678")
    world.add_user("Bob", username="bob_user")
    world.add_channel(username="dated", title="Dated")  # added with since: at the end
    for i in range(1, 13):
        world.add_channel(username=f"ch{i:02d}", title=f"Channel {i}").add_messages(2)
    return world


async def test_add_list_manage_schedule(tmp_path: Path) -> None:
    world = build_world()
    # The operators' zone: India, UTC+05:30 all year (a half-hour offset, no DST).
    async with running_stack(tmp_path, world, start=False, TIMEZONE="Asia/Kolkata") as stack:
        await store_session(stack)
        # Telegram answers CHANNEL_PRIVATE for a channel that went private or banned us.
        secret = world.find_username("secret")
        assert secret is not None
        stack.mtproto.faults.add(
            "channels.getFullChannel",
            "CHANNEL_PRIVATE",
            times=None,
            when=lambda req: req.channel.channel_id == secret.id,
        )
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        en = api.users[ADMIN2_ID]

        # A public channel by @name with an inline history suffix: no history question.
        await api.send_text(en, "/add @news last:5")
        await api.wait_for_message(ADMIN2_ID, r"✅ 1 channel added: @news", timeout=30)
        news = rows(stack)["news"]
        ch_news = world.find_username("news")
        assert ch_news is not None
        assert (news["tg_id"], news["access_hash"]) == (ch_news.id, ch_news.access_hash)  # type: ignore[union-attr]
        assert news["kind"] == "channel" and news["title"] == "News"
        assert news["history_mode"] == "last" and news["history_limit"] == 5
        assert news["linked_chat_id"] == ch_news.linked.id  # type: ignore[union-attr]
        assert news["linked_access_hash"] == ch_news.linked.access_hash  # type: ignore[union-attr]

        # The scheduler hook runs a new channel at once, honouring its history depth.
        await wait_until(lambda: rows(stack)["news"]["last_run_at"] is not None, stack)
        assert rows(stack)["news"]["messages_count"] == 5

        # A megagroup by t.me link: the history question with the default preselected.
        await api.send_text(en, "/add https://t.me/talk")
        await api.wait_for_message(ADMIN2_ID, r"✅ 1 channel added: @talk", timeout=30)
        ask = await api.wait_for_message(ADMIN2_ID, r"How much history", timeout=15)
        assert "✓ all history" in ask.button_texts
        await api.press_button(en, ask, text="last 100")
        await api.wait_for_message(ADMIN2_ID, r"@talk: history — last 100", timeout=15)
        talk = rows(stack)["talk"]
        assert talk["kind"] == "megagroup" and talk["history_mode"] == "last"
        assert talk["history_limit"] == 100 and talk["linked_chat_id"] is None

        # Another command abandons the /add prompt: a stray line later is not a channel.
        await api.send_text(en, "/add")
        await api.wait_for_message(ADMIN2_ID, r"one per line", timeout=15)
        await api.send_text(en, "/status")
        await api.wait_for_message(ADMIN2_ID, r"Account:", timeout=15)
        await api.send_text(en, "@news")
        await api.wait_for_message(ADMIN2_ID, r"only take commands", timeout=15)
        # /cancel still says what it ended.
        await api.send_text(en, "/add")
        await api.wait_for_message(ADMIN2_ID, r"one per line", timeout=15)
        await api.send_text(en, "/cancel")
        await api.wait_for_message(ADMIN2_ID, r"^Cancelled", timeout=15)

        # /add alone asks; then many lines at once, reported by outcome.
        await api.send_text(en, "/add")
        await api.wait_for_message(ADMIN2_ID, r"one per line", timeout=15)
        channel_lines = [f"t.me/s/ch{i:02d} all" for i in range(1, 7)]
        channel_lines += [f"https://t.me/ch{i:02d}/1 all" for i in range(7, 13)]
        lines = [
            *channel_lines,
            "@nobody_here",
            "@secret",
            "@bob_user",
            "@news",
            "!!! nonsense",
            "@news someday",
            "t.me/+InviteHash1234",
        ]
        await api.send_text(en, "\n".join(lines))
        report = await api.wait_for_message(ADMIN2_ID, r"@nobody_here", timeout=60)
        text = report.text or ""
        assert text.startswith(f"Checked {len(lines)} lines:"), text
        assert "✅ 12 channels added: @ch01, @ch02, @ch03, @ch04, @ch05 …and 7 more" in text
        assert "❌ 1 not found: @nobody_here" in text
        assert "🔒 1 private channel (join by an invite link): @secret" in text
        assert "🚫 1 is not a channel or group: @bob_user" in text
        assert "☑️ 1 was already added: @news" in text
        assert "❓ 1 line is not a channel link: !!! nonsense" in text
        assert "❓ 1 line has an unknown option" in text and ": @news someday" in text
        assert "🔗 1 invite link, to confirm below: Hidden" in text
        assert len(text.splitlines()) == 9  # a title and one line per outcome
        assert {f"ch{i:02d}" for i in range(1, 13)} <= set(rows(stack))
        assert "secret" not in rows(stack) and "bob_user" not in rows(stack)

        # The invite: nothing is joined until the operator confirms.
        hidden = next(c for c in world.channels.values() if c.title == "Hidden")
        invite = await api.wait_for_message(ADMIN2_ID, with_buttons("Hidden"), timeout=15)
        me = world.account(PHONE)
        assert me is not None
        assert me.id not in hidden.members
        await api.press_button(en, invite, text="Join «Hidden»")
        await api.wait_for_message(ADMIN2_ID, r"✅ Hidden: added", timeout=30)
        assert me.id in hidden.members
        ask = await api.wait_for_message(ADMIN2_ID, r"How much history", timeout=15)
        await api.press_button(en, ask, text="✓ all history")
        await api.wait_for_message(ADMIN2_ID, r"Hidden: history — all history", timeout=15)
        assert rows(stack)["Hidden"]["tg_id"] == hidden.id

        # A resolution flood wait is reported with its length; the other line still works
        # (a -100 id is found among the account's dialogs).
        stack.mtproto.faults.add("contacts.resolveUsername", "FLOOD_WAIT_300", times=1)
        # (An invite of a channel already joined needs no confirmation.)
        await api.send_text(en, f"/add @floody\n-100{hidden.id}\nt.me/+InviteHash1234")
        flood = await api.wait_for_message(ADMIN2_ID, r"@floody", timeout=30)
        assert "⏳ 1 not checked: Telegram asks to wait 5 min" in (flood.text or "")
        assert "☑️ 2 were already added: Hidden, Hidden" in (flood.text or "")

        # The account's channel limit (CHANNELS_TOO_MUCH) on joining.
        stack.mtproto.faults.add("messages.importChatInvite", "CHANNELS_TOO_MUCH", times=1)
        await api.send_text(en, "/add https://t.me/joinchat/InviteHash5678")
        invite = await api.wait_for_message(ADMIN2_ID, with_buttons("Crowded"), timeout=30)
        await api.press_button(en, invite, text="Join «Crowded»")
        await api.wait_for_message(ADMIN2_ID, r"channel limit \(500\)", timeout=30)
        assert "Crowded" not in rows(stack)

        # /channels: 15 channels, 10 per page.
        await api.send_text(en, "/channels")
        page1 = await api.wait_for_message(ADMIN2_ID, r"Channels \(15\), page 1/2", timeout=15)
        assert "News · @news — messages: 5, last: 20" in (page1.text or "")
        # Times in TIMEZONE: the stored UTC run time, shown in Kolkata.
        last_run = datetime.fromisoformat(rows(stack)["news"]["last_run_at"])
        shown = last_run.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
        assert f"last: {shown:%Y-%m-%d %H:%M} IST" in (page1.text or ""), page1.text
        assert (
            "@news" in (page1.text or "")
            and "@ch08" in (page1.text or "")
            and "@ch09" not in (page1.text or "")
        )
        await api.press_button(en, page1, text="Next »")
        page2 = await api.wait_for_message(ADMIN2_ID, r"page 2/2", timeout=15)
        assert (
            page2.kind == "edited"
            and "@ch12" in (page2.text or "")
            and "Hidden" in (page2.text or "")
        )
        await api.press_button(en, page2, button(page2, "@ch12"))
        view = await api.wait_for_message(ADMIN2_ID, r"Status: active", timeout=15)
        assert "Comments: off" in (view.text or "")
        await api.press_button(en, view, text="⏸ Pause")
        view = await api.wait_for_message(ADMIN2_ID, r"Status: paused", timeout=15)
        assert rows(stack)["ch12"]["status"] == "paused"
        await api.press_button(en, view, text="▶️ Resume")
        view = await api.wait_for_message(ADMIN2_ID, r"Status: active", timeout=15)
        assert rows(stack)["ch12"]["status"] == "active"
        await api.press_button(en, view, text="💬 Comments: off")
        view = await api.wait_for_message(ADMIN2_ID, r"Comments: on", timeout=15)
        assert rows(stack)["ch12"]["comments_enabled"] == 1
        await api.press_button(en, view, text="🗑 Remove")
        confirm = await api.wait_for_message(ADMIN2_ID, r"Remove @ch12", timeout=15)
        assert "ch12" in rows(stack)  # nothing removed before the confirmation
        await api.press_button(en, confirm, text="Yes, remove")
        await api.wait_for_message(ADMIN2_ID, r"@ch12 removed", timeout=15)
        assert "ch12" not in rows(stack) and len(rows(stack)) == 14

        # /schedule by @name, by title, back to default; bad input answered precisely.
        await api.send_text(en, "/schedule @news 15")
        await api.wait_for_message(ADMIN2_ID, r"@news: every 15 min", timeout=15)
        assert rows(stack)["news"]["interval_minutes"] == 15
        await api.send_text(en, "/schedule talk 30")
        await api.wait_for_message(ADMIN2_ID, r"@talk: every 30 min", timeout=15)
        assert rows(stack)["talk"]["interval_minutes"] == 30
        await api.send_text(en, "/schedule https://t.me/news default")
        await api.wait_for_message(ADMIN2_ID, r"@news: default interval", timeout=15)
        assert rows(stack)["news"]["interval_minutes"] is None
        await api.send_text(en, "/schedule @nope 5")
        await api.wait_for_message(ADMIN2_ID, r"No such channel.*@nope", timeout=15)
        await api.send_text(en, "/schedule @news soon")
        await api.wait_for_message(ADMIN2_ID, r"whole number of minutes", timeout=15)

        # A typed day is the operators' day: since:2026-09-01 in Kolkata starts at
        # 2026-08-31 18:30 UTC.
        await api.send_text(en, "/add @dated since:2026-09-01")
        await api.wait_for_message(ADMIN2_ID, r"✅ 1 channel added: @dated", timeout=30)
        since = datetime.fromisoformat(rows(stack)["dated"]["history_since"])
        typed_day = datetime(2026, 8, 31, 18, 30, tzinfo=UTC)
        assert since.replace(tzinfo=since.tzinfo or UTC) == typed_day

        # The Russian operator gets Russian answers.
        ru = api.users[ADMIN_ID]
        await api.send_text(ru, "/add @nobody_else\n@news")
        answer = await api.wait_for_message(ADMIN_ID, r"nobody_else", timeout=30)
        assert "❌ Не найдена 1 ссылка: @nobody_else" in (answer.text or "")
        assert "☑️ Уже был добавлен 1 канал: @news" in (answer.text or "")

        assert stack.app.alive(), stack.app.log()[-3000:]
        assert await stack.app.terminate() == 0


async def test_add_without_login_asks_to_log_in(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    world.add_channel(username="news", title="News")
    async with running_stack(tmp_path, world) as stack:
        api = stack.botapi
        en = api.users[ADMIN2_ID]
        await api.send_text(en, "/add @news")
        await api.wait_for_message(ADMIN2_ID, r"not connected: /login first", timeout=30)
        assert stack.mtproto.counters["contacts.resolveUsername"] == 0
        await api.send_text(en, "/channels")
        await api.wait_for_message(ADMIN2_ID, r"No channels yet", timeout=15)
