"""Edits kept, deletions detected (issue #15, Must 7 and 8) through both doubles, one
app stack: the refresh window re-reads recent posts; an edit keeps the previous
version (a views-only change makes none), a deleted post is marked (its row stays),
the per-channel alert (toggled in /channels) names the channel, exports show the
`deleted` column and the `versions` option, /stats gives the deleted posts apart, /search
finds the current text only; request cost from the MTProto double's counters."""

from __future__ import annotations

import json
from pathlib import Path

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, parse, seed, wait_until
from tests.unit.export_fixtures import read_back


def _save(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


async def test_edits_and_deletions_end_to_end(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="edits", title="Edits Daily")
    news.add_messages(10, text_fn=lambda i: "черновик" if i == 3 else f"пост {i}")
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [news])
        row = ids["edits"]
        await stack.app.start()
        api = stack.botapi
        en = api.users[ADMIN2_ID]
        await api.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, row, news), "backfill", stack)

        # The deletion alert is off by default; the channel's view toggles it.
        await api.send_text(en, "/channels")
        page = await api.wait_for_message(ADMIN2_ID, r"Channels \(1\)", timeout=15)
        await api.press_button(en, page, text="🟢 Edits Daily · @edits")
        view = await api.wait_for_message(ADMIN2_ID, r"Deletion alerts: off", timeout=15)
        await api.press_button(en, view, text="🗑 Deletion alerts: off")
        await api.wait_for_message(ADMIN2_ID, r"Deletion alerts: on", timeout=15)

        # An edit, a views-only change, two deletions (one of them the newest post).
        news.edit_message(3, text="исправлено")
        news.edit_message(4, views=999)
        news.delete_message(5)
        news.delete_message(10)
        stack.mtproto.counters.clear()
        await parse(stack, "@edits")
        alert = await api.wait_for_message(ADMIN2_ID, r"posts deleted: 2", timeout=15)
        assert "Edits Daily (@edits)" in alert.text
        assert "https://t.me/edits/5" in alert.text and "https://t.me/edits/10" in alert.text
        await api.wait_for_message(ADMIN_ID, r"Edits Daily \(@edits\)")  # every operator
        # The newest post gone: the history ends on an empty page (2 requests) this once.
        counts = stack.mtproto.counters
        assert counts["messages.getHistory"] == 2 and counts["channels.getMessages"] == 1
        with db(stack) as conn:
            versions = conn.execute(
                "SELECT msg_id, text, seen_at IS NOT NULL, replaced_at IS NOT NULL"
                " FROM message_version"
            ).fetchall()
            assert versions == [(3, "черновик", 1, 1)]
            rows = dict(
                conn.execute(
                    "SELECT msg_id, deleted_at IS NOT NULL FROM message WHERE channel_id = ?",
                    (row,),
                ).fetchall()
            )
            assert rows == {i: i in (5, 10) for i in range(1, 11)}  # the rows stay

        # Nothing changed since: one history request, no getMessages, no new version.
        counts.clear()
        await parse(stack, "@edits")
        assert counts["messages.getHistory"] == 1 and counts["channels.getMessages"] == 0
        with db(stack) as conn:
            assert conn.execute("SELECT COUNT(*) FROM message_version").fetchone() == (1,)

        # Exports: `deleted` always; `versions` on request.
        before = len(api.uploads)
        await api.send_text(en, "/export @edits jsonl versions")
        await api.wait_for_message(ADMIN2_ID, r"Done: 10 messages", timeout=30)
        (jsonl,) = api.uploads[before:]
        by = {r["msg_id"]: r for r in read_back(_save(tmp_path, "v.jsonl", jsonl.data))}
        assert [k for k, r in sorted(by.items()) if r["deleted"]] == [5, 10]
        assert by[3]["text"] == "исправлено"
        (old,) = by[3]["versions"]
        assert old["text"] == "черновик" and old["edit_date"] is None and old["seen_at"]
        assert by[4]["versions"] is None and by[4]["views"] == 999
        before = len(api.uploads)
        await api.send_text(en, "/export @edits csv")
        await api.wait_for_message(ADMIN2_ID, r"Done: 10 messages", timeout=30)
        (csv_file,) = api.uploads[before:]
        plain = read_back(_save(tmp_path, "p.csv", csv_file.data))
        assert "versions" not in plain[0] and plain[4]["deleted"] and not plain[3]["deleted"]
        assert json.loads(json.dumps(plain[0]))["msg_id"] == "1"

        # /stats gives the deleted posts apart (8 posts + 2); /search finds the current
        # text only.
        await api.send_text(en, "/stats @edits 2")
        stats = await api.wait_for_message(ADMIN2_ID, r"Deleted since, not counted: 2", timeout=30)
        assert "8 posts" in (stats.caption or stats.text or "")
        await api.send_text(en, "/search черновик")
        await api.wait_for_message(ADMIN2_ID, r"Nothing found", timeout=15)
        await api.send_text(en, "/search исправлено")
        await api.wait_for_message(ADMIN2_ID, r"https://t.me/edits/3", timeout=15)
        # One deletion alert per operator, in all.
        for chat in (ADMIN_ID, ADMIN2_ID):
            told = [e for e in api.transcript(chat) if e.text and "@edits)" in e.text]
            assert len(told) == 1, told
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]


async def test_deletions_of_a_run_that_then_fails_are_still_alerted(tmp_path: Path) -> None:
    """The deletion check comes before the comments; a flood wait on the comments defers
    the run after post 3 was marked deleted: the alert is sent all the same (the next
    run no longer sees post 3 live, so nothing else would ever tell)."""
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    ch = world.add_channel(username="chat_news", title="Chat News")
    group = world.add_channel(title="Chat News chat", megagroup=True)
    world.link_discussion(ch, group)
    ch.add_messages(10)
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [ch], comments=("chat_news",))
        row = ids["chat_news"]
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, row, ch), "backfill", stack)
        with db(stack) as conn:
            conn.execute("UPDATE channel SET alert_deletions = 1 WHERE id = ?", (row,))
        group.add_comment(9, "коммент")
        ch.delete_message(3)
        fault = stack.mtproto.faults.add("messages.getReplies", "FLOOD_WAIT_30", code=420, times=1)
        await api.send_text(api.users[ADMIN2_ID], "/parse @chat_news")
        done = await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=60)
        assert "deferred" in done.text and fault.hits == 1
        with db(stack) as conn:
            runs = conn.execute("SELECT status FROM parse_run ORDER BY id").fetchall()
            marked = conn.execute(
                "SELECT msg_id FROM message WHERE deleted_at IS NOT NULL"
            ).fetchall()
        assert [r[0] for r in runs] == ["ok", "deferred"] and marked == [(3,)]

        def alerted() -> bool:
            return any("posts deleted" in (e.text or "") for e in api.transcript(ADMIN2_ID))

        await wait_until(alerted, "the deletion alert", stack)
        told = [e.text for e in api.transcript(ADMIN2_ID) if "posts deleted" in (e.text or "")]
        assert told == ["🗑 Chat News (@chat_news): posts deleted: 1\n• https://t.me/chat_news/3"]
        await stack.app.terminate()
