"""Lists at scale, the app as a process against both doubles: a 150-line /add, and
/channels, the /export menu, /watches and /stats over an archive of 1,000 channels.

Every reply goes through the Bot API double, which refuses what Telegram refuses (bad
HTML, more than 4,096 characters, more than 100 buttons, callback data over 64 bytes).
"""

from __future__ import annotations

import random
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db.database import close_db, init_db
from db.models import Channel, Message, Watch
from tests.doubles.botapi import BotAPIDouble
from tests.doubles.botapi.server import MessageSnapshot
from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, db, seed, wait_until

HOSTILE = ('<b>&amp; "Q" </i> שלום 🎉 ' + "Канал «Новости» " * 14)[:200]
N_CHANNELS = 1000
PARENT_TG, LINKED_TG = 5_000_002, 7_770_001


def own_rows(stack: Stack) -> dict[str, sqlite3.Row]:
    with db(stack) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM channel WHERE status != 'linked'").fetchall()
    return {r["username"] or r["title"]: r for r in found}


def bot_messages_since(api: BotAPIDouble, chat_id: int, first_id: int) -> list[str]:
    return [e.text or "" for e in api.transcript(chat_id) if e.message_id > first_id]


async def test_a_150_line_add_is_one_report_and_one_history_question(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    for i in range(1, 111):
        world.add_channel(username=f"bulk{i:03d}", title=f"Bulk {i}").add_messages(2)
    for i in range(3):
        world.add_channel(
            title=f"Hidden {i}", private=True, invite_hash=f"Invite{i:04d}x"
        ).add_messages(1)
    async with running_stack(tmp_path, world, start=False) as stack:
        await seed(stack, [])
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        en = api.users[ADMIN2_ID]
        await api.send_text(en, "/add " + "\n".join(f"@bulk{i:03d} all" for i in range(1, 11)))
        await api.wait_for_message(ADMIN2_ID, r"✅ 10 channels added", timeout=60)

        lines = [f"@bulk{i:03d}" for i in range(1, 11)]  # already added
        lines += [f"t.me/bulk{i:03d}" for i in range(11, 106)]  # new, default depth
        lines += [f"@bulk{i:03d} last:5" for i in range(106, 111)]  # new, own depth
        lines += [f"!!! junk {i}" for i in range(20)]
        lines += [f"@missing_{i:02d}" for i in range(7)]
        lines += [f"https://t.me/+Invite{i:04d}x" for i in range(3)]
        lines += [f"@bulk{i:03d} someday" for i in range(11, 16)]  # an unknown option
        random.Random(7).shuffle(lines)
        lines += [f"@BULK{i:03d}" for i in range(11, 16)]  # the same channels again
        assert len(lines) == 150
        stack.mtproto.counters.clear()
        sent = await api.send_text(en, "/add\n" + "\n".join(lines))
        report = await api.wait_for_message(ADMIN2_ID, r"^Checked 150 lines:", timeout=120)
        text = report.text or ""
        assert "✅ 100 channels added: " in text and "…and 95 more" in text
        assert "☑️ 10 were already added: " in text
        assert "↩️ 5 repeated lines skipped: @BULK011, @BULK012" in text
        assert "❌ 7 not found: " in text
        assert "🔗 3 invite links, to confirm below: Hidden" in text
        assert "❓ 20 lines are not channel links: !!! junk" in text
        assert "❓ 5 lines have an unknown option" in text
        assert len(text.splitlines()) == 8
        invites = await api.wait_for_message(ADMIN2_ID, r"Join 3 chats", timeout=15)
        assert sorted(invites.button_texts[:3]) == [f"Join «Hidden {i}»" for i in range(3)]
        assert invites.button_texts[3:] == ["Join all (3)", "Skip"]
        ask = await api.wait_for_message(ADMIN2_ID, r"How much history", timeout=15)
        assert "from the 95 new channels? (default: all history)" in (ask.text or "")
        # The names were each asked once: no request for a repeated or broken line.
        assert stack.mtproto.counters["contacts.resolveUsername"] == 117
        assert stack.mtproto.counters["messages.importChatInvite"] == 0  # not before a yes

        await api.press_button(en, ask, text="last 100")
        done = await api.wait_for_message(ADMIN2_ID, r"History of 95 new channels", timeout=30)
        assert "last 100" in (done.text or "")
        replies = bot_messages_since(api, ADMIN2_ID, sent.message_id or 0)
        assert len(replies) == 3  # the report, the invites, the one question (answered)

        await api.press_button(en, invites, text="Join all (3)")
        joined = await api.wait_for_message(ADMIN2_ID, r"✅ 3 channels added", timeout=60)
        assert all(f"Hidden {i}" in (joined.text or "") for i in range(3))
        assert stack.mtproto.counters["messages.importChatInvite"] == 3
        await api.wait_for_message(ADMIN2_ID, r"from the 3 new channels", timeout=15)
        answered = api.message(ADMIN2_ID, invites.message_id)
        assert answered.text == "Joining 3 chats…" and not answered.button_texts
        rows = own_rows(stack)
        assert len(rows) == 113
        depths = {
            name: (r["history_mode"], r["history_limit"]) for name, r in rows.items()
        }
        assert all(depths[f"bulk{i:03d}"] == ("last", 100) for i in range(11, 106))
        assert all(depths[f"bulk{i:03d}"] == ("last", 5) for i in range(106, 111))
        assert all(depths[f"bulk{i:03d}"] == ("all", None) for i in range(1, 11))
        await wait_until(
            lambda: own_rows(stack)["bulk105"]["last_run_at"] is not None, "runs", stack
        )
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


def _title(i: int) -> str:
    return f"{HOSTILE[:-4]}{i:04d}" if i % 5 == 0 else f"Channel {i:04d}"


async def _seed_archive(stack: Stack) -> None:
    """1,000 channels (some with 200-character hostile titles), a channel with comments
    read through its discussion group, posts for /stats and 45 keyword alerts."""
    await init_db(stack.app.env["DATABASE_URL"])
    try:
        rows = [
            Channel(
                tg_id=5_000_000 + i,
                title=_title(i),
                username=f"chan_{i:04d}" if i % 3 == 0 else None,
                status="disabled" if i % 7 == 0 else "paused",
                disabled_reason=HOSTILE * 3 if i % 7 == 0 else None,
            )
            for i in range(1, N_CHANNELS + 1)
        ]
        rows[0].title, rows[0].username = "Статистика", "stats_chan"
        rows[1].title, rows[1].username = "Новости", "novosti"
        rows[1].comments_enabled, rows[1].linked_chat_id = True, LINKED_TG
        rows.append(Channel(tg_id=LINKED_TG, title="", status="linked", messages_count=42))
        await Channel.bulk_create(rows)
        stats = await Channel.get(username="stats_chan")
        now = datetime.now(UTC)
        days = [*range(200, 190, -1), *range(9, -1, -1)]  # a quiet half year between
        await Message.bulk_create(
            [
                Message(
                    channel=stats, msg_id=n * 2 + k, date=now - timedelta(days=d, hours=k),
                    text=f"post {n}", views=100 + n,
                )
                for n, d in enumerate(days)
                for k in (1, 2)
            ]
        )  # fmt: skip
        await Watch.bulk_create(
            [Watch(pattern=f"{HOSTILE} {i}", created_by=ADMIN_ID) for i in range(45)]
        )
    finally:
        await close_db()


def _assert_within_limits(snap: MessageSnapshot) -> None:
    buttons = [b for row in snap.buttons for b in row]
    assert len(buttons) <= 100
    assert all(data and len(str(data).encode()) <= 64 for _, data in buttons)
    assert len((snap.text or "").encode("utf-16-le")) // 2 <= 4096


async def _walk_channel_pages(api: BotAPIDouble, page2: MessageSnapshot) -> MessageSnapshot:
    """Next » from page 2 to the last, checking each page's names."""
    page = page2
    for n in range(3, 101):
        await api.press_button(ADMIN2_ID, page, text="Next »")
        page = await api.wait_for_message(ADMIN2_ID, rf"page {n}/100\b", timeout=15)
        _assert_within_limits(page)
        text = page.text or ""
        assert len(re.findall(r"^[⏸🚫] ", text, re.M)) == 10
        for i in range((n - 1) * 10 + 1, n * 10 + 1):
            title = _title(i)
            assert (title if i % 5 else HOSTILE[:20]) in text, (i, text)
            if i % 3 == 0:
                assert f"@chan_{i:04d}" in text
    return page


async def test_lists_page_through_a_thousand_channels(tmp_path: Path) -> None:
    async with running_stack(tmp_path, start=False) as stack:
        await _seed_archive(stack)
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        en = api.users[ADMIN2_ID]

        await api.send_text(en, "/channels")
        page1 = await api.wait_for_message(ADMIN2_ID, r"Channels \(1000\), page 1/100", timeout=15)
        _assert_within_limits(page1)
        text = page1.text or ""
        assert "Новости · @novosti — messages: 0" in text and "💬 comments: 42" in text
        assert str(LINKED_TG) not in text

        # Two quick taps on Next: one page 2, no error, both presses answered.
        taps = [await api.press_button(en, page1, text="Next »") for _ in range(2)]
        page2 = await api.wait_for_message(ADMIN2_ID, r"page 2/100\b", timeout=15)
        for tap in taps:
            await api.wait_for_callback_answer(tap, timeout=15)
        await wait_until(
            lambda: [r.status for r in api.requests_for("editMessageText")].count(None) == 0
            and len(api.requests_for("editMessageText")) == 2,
            "both edits answered",
            stack,
            timeout=15,
        )
        edits = [r.status for r in api.requests_for("editMessageText")]
        assert sorted(edits) == [200, 400]  # the second, same page: "message is not modified"
        last = await _walk_channel_pages(api, page2)
        assert "page 100/100" in (last.text or "")
        assert "Next »" not in last.button_texts and "⏮ 1" in last.button_texts

        # Channels removed meanwhile: a page past the new end shows the last one, and a
        # removed channel's button says it is gone.
        with db(stack) as conn:
            conn.execute(
                "DELETE FROM channel WHERE tg_id > ? AND status != 'linked'", (5_000_000 + 980,)
            )
        await api.press_button(en, last, text="« Back")  # page 99 of what was 100
        page98 = await api.wait_for_message(ADMIN2_ID, r"Channels \(980\), page 98/98", timeout=15)
        with db(stack) as conn:
            conn.execute("DELETE FROM channel WHERE tg_id = ?", (5_000_000 + 975,))
        removed = next(t for t in page98.button_texts if "0975" in t)
        await api.press_button(en, page98, text=removed)
        gone = await api.wait_for_message(ADMIN2_ID, r"no longer stored", timeout=15)
        assert "Channels (979), page 98/98" in (gone.text or "")

        await _check_export_menu(stack, en)
        await _check_stats_and_formats(stack, en)
        await _check_watches(stack, en)
        assert "handler failed" not in stack.app.log()
        assert not [e for e in api.transcript(ADMIN2_ID) if "went wrong" in (e.text or "")]
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def _check_export_menu(stack: Stack, en: object) -> None:
    api = stack.botapi
    await api.send_text(en, "/export")  # type: ignore[arg-type]
    menu = await api.wait_for_message(ADMIN2_ID, r"Channels, page 1/98", timeout=15)
    _assert_within_limits(menu)
    assert menu.button_texts[:3] == [
        "All channels",
        "Статистика · @stats_chan",
        "Новости · @novosti",
    ]
    await api.press_button(en, menu, text="Next »")  # type: ignore[arg-type]
    page2 = await api.wait_for_message(ADMIN2_ID, r"Channels, page 2/98", timeout=15)
    assert page2.kind == "edited" and "Channel 0011" in page2.button_texts
    await api.press_button(en, page2, text="98 ⏭")  # type: ignore[arg-type]
    last = await api.wait_for_message(ADMIN2_ID, r"Channels, page 98/98", timeout=15)
    _assert_within_limits(last)
    assert last.buttons[-2][0][0] == "💬 Comments: Новости"  # the discussion group, last
    assert not [t for t in last.button_texts if re.fullmatch(r"-?\d+", t)]
    await api.press_button(en, last, text="💬 Comments: Новости")  # type: ignore[arg-type]
    await api.wait_for_message(ADMIN2_ID, r"^Export 💬 Comments: Новости: choose", timeout=15)


async def _check_stats_and_formats(stack: Stack, en: object) -> None:
    api = stack.botapi
    await api.send_text(en, "/export @stats_chan pdf")  # type: ignore[arg-type]
    bad = await api.wait_for_message(ADMIN2_ID, r"not an export format", timeout=15)
    assert (bad.text or "").startswith(
        "«pdf» is not an export format. Formats: csv, csv;, jsonl, xlsx."
    )
    assert not api.requests_for("sendDocument")

    before = len(api.requests)
    await api.send_text(en, "/stats @stats_chan 365")  # type: ignore[arg-type]
    photo = await api.wait_for_message(ADMIN2_ID, r"posts in 365 days", timeout=60)
    assert photo.caption == "Статистика · @stats_chan: 40 posts in 365 days, by week"
    methods = [(r.method, r.params.get("action")) for r in api.requests[before:]]
    action = methods.index(("sendChatAction", "upload_photo"))
    assert action < methods.index(("sendMediaGroup", None))  # the charts' album
    assert api.uploads[-1].data.startswith(b"\x89PNG")


async def _check_watches(stack: Stack, en: object) -> None:
    api = stack.botapi
    await api.send_text(en, "/watches")  # type: ignore[arg-type]
    page1 = await api.wait_for_message(ADMIN2_ID, r"Keyword alerts \(45\), page 1/3", timeout=15)
    _assert_within_limits(page1)
    assert len(re.findall(r"^#\d+ ", page1.text or "", re.M)) == 20
    await api.press_button(en, page1, text="3 ⏭")  # type: ignore[arg-type]
    page3 = await api.wait_for_message(ADMIN2_ID, r"page 3/3", timeout=15)
    assert len(re.findall(r"^#\d+ ", page3.text or "", re.M)) == 5
    assert "— in all channels" in (page3.text or "")
    ru = api.users[ADMIN_ID]
    await api.send_text(ru, "/watch /(нефть|газ/ all")
    bad = await api.wait_for_message(ADMIN_ID, r"Ошибка в шаблоне", timeout=15)
    assert bad.text == (
        "Ошибка в шаблоне: скобка не закрыта или не открыта (символ 1). Ничего не сохранено."
    )
