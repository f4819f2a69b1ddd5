"""Identity over time, the app as a process against both doubles (issue #15, Must 1, 2).

One app stack: an archive collected by Ann; /logout and /login as Bob (every stored
access hash is Ann's, refused for Bob): every channel Bob can read is repaired and
keeps going, with exact rows and no duplicates; one he cannot read is disabled with
its reason, and /add of it once he can re-enables it. Then a rename seen on the next
run, a username taken over by another channel, /stats and /export by a former name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, channel_row, db, seed, wait_until

pytestmark = pytest.mark.e2e

BOB_PHONE, BOB_CODE = "+15550000002", "54321"


def ids_of(stack: Stack, row_id: int) -> list[int]:
    with db(stack) as conn:
        rows = conn.execute(
            "SELECT msg_id FROM message WHERE channel_id = ? ORDER BY msg_id", (row_id,)
        ).fetchall()
    return [r[0] for r in rows]


def aliases(stack: Stack, row_id: int) -> list[str]:
    with db(stack) as conn:
        rows = conn.execute(
            "SELECT username FROM channel_alias WHERE channel_id = ? ORDER BY first_seen, id",
            (row_id,),
        ).fetchall()
    return [r[0] for r in rows]


async def export_csv(stack: Stack, command: str) -> list[dict[str, str]]:
    api = stack.botapi
    before = len(api.uploads)
    await api.send_text(api.users[ADMIN2_ID], command)
    await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=30)
    (doc,) = api.uploads[before:]
    return list(csv.DictReader(io.StringIO(doc.data.decode("utf-8-sig"))))


async def parse_done(stack: Stack, target: str) -> str:
    api = stack.botapi
    await api.send_text(api.users[ADMIN2_ID], f"/parse {target}")
    return (await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=60)).text or ""


def texts(key: str) -> Callable[[int], str]:
    return lambda i: f"{key} {i}"


def build_world() -> tuple[World, dict[str, Channel]]:
    world = World()
    ann = world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    bob = world.add_account(phone=BOB_PHONE, code=BOB_CODE, first_name="Bob")
    chans = {
        "news": world.add_channel(username="news", title="News"),
        "tech": world.add_channel(username="tech", title="Tech"),
        "rival": world.add_channel(username="rival", title="Rival"),
        "Secret": world.add_channel(title="Secret", private=True, invite_hash="secret123"),
        "Closed": world.add_channel(title="Closed", private=True, invite_hash="closed123"),
    }
    for (key, ch), n in zip(chans.items(), (120, 40, 15, 30, 10), strict=True):
        ch.add_messages(n, text_fn=texts(key))
    for member in (ann, bob):
        world.join(member, chans["Secret"])
    world.join(ann, chans["Closed"])
    return world, chans


async def relogin_as_bob(stack: Stack) -> None:
    api = stack.botapi
    adam = api.users[ADMIN2_ID]
    await api.send_text(adam, "/logout")
    confirm = await api.wait_for_message(ADMIN2_ID, r"Log Ann out", timeout=10)
    await api.press_button(adam, confirm, "logout:yes")
    await api.wait_for_message(ADMIN2_ID, r"Logged out", timeout=15)
    await api.send_text(adam, "/login")
    await api.wait_for_message(ADMIN2_ID, r"phone number", timeout=15)
    await api.send_text(adam, BOB_PHONE)
    await api.wait_for_message(ADMIN2_ID, r"Code: —", timeout=15)
    await api.send_text(adam, "-".join(BOB_CODE))
    await api.wait_for_message(ADMIN2_ID, r"Logged in as Bob", timeout=15)


async def test_identity_over_time(tmp_path: Path) -> None:
    world, chans = build_world()
    ann, bob = world.account(PHONE), world.account(BOB_PHONE)
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, list(chans.values()))
        await stack.app.start()
        api, mt = stack.botapi, stack.mtproto
        await api.wait_for_poll(timeout=60)
        for key, ch in chans.items():
            await wait_until(lambda r=ids[key], c=ch: caught_up(stack, r, c), key, stack, 60)

        # -- another account: every stored access hash is Ann's -----------------------
        await relogin_as_bob(stack)
        for key, n in (("news", 5), ("tech", 3), ("rival", 1), ("Secret", 2)):
            chans[key].add_messages(n, text_fn=texts(key))
        mt.counters.clear()
        done = await parse_done(stack, "all")
        assert re.search(r"✅ 4 ok", done) and re.search(r"🚫 1 disabled", done), done
        for key in ("news", "tech", "rival", "Secret"):
            ch, row = chans[key], channel_row(stack, ids[key])
            assert ids_of(stack, ids[key]) == ch.ids, key  # exact, no duplicates
            assert (row["status"], row["messages_count"]) == ("active", len(ch)), key
            assert row["access_hash"] == ch.access_hash_for(bob), key
        # Resolved again once each: the public ones by username, the private one from
        # the dialogs (read once, also for the one Bob cannot read).
        assert mt.counters["contacts.resolveUsername"] == 3
        assert mt.counters["messages.getDialogs"] == 1
        closed = channel_row(stack, ids["Closed"])
        assert (closed["status"], closed["disabled_reason"]) == ("disabled", "private")
        assert closed["access_hash"] == chans["Closed"].access_hash_for(ann)
        alert = await api.wait_for_message(ADMIN2_ID, r"was disabled", timeout=15)
        assert "Channel Closed was disabled: the channel is private" in (alert.text or "")
        with db(stack) as conn:
            (running,) = conn.execute(
                "SELECT count(*) FROM parse_run WHERE status = 'running'"
            ).fetchone()
        assert running == 0

        # -- /add of the disabled channel once Bob can read it: enabled, runs now -------
        world.join(bob, chans["Closed"])  # type: ignore[arg-type]
        chans["Closed"].add_messages(1, text_fn=texts("Closed"))
        await api.send_text(api.users[ADMIN2_ID], f"/add -100{chans['Closed'].id}")
        enabled = r"disabled channel enabled again, collecting now: Closed"
        await api.wait_for_message(ADMIN2_ID, enabled, timeout=30)
        await wait_until(lambda: caught_up(stack, ids["Closed"], chans["Closed"]), "Closed", stack)
        closed = channel_row(stack, ids["Closed"])
        assert (closed["status"], closed["disabled_reason"]) == ("active", None)
        assert closed["access_hash"] == chans["Closed"].access_hash_for(bob)
        assert ids_of(stack, ids["Closed"]) == chans["Closed"].ids == list(range(1, 12))

        # -- a rename and a username taken over ----------------------------------------
        tech, rival = chans["tech"], chans["rival"]
        tech.rename("Tech Daily")  # the service message (id 44) Telegram shows
        tech.set_username("techdaily")
        world.take_username("tech", rival)  # @rival is free now, Rival is @tech
        mt.counters.clear()
        await parse_done(stack, "@rival")  # the stored name still finds it
        # The history answer names the channel: no request to learn its name.
        learn = ("contacts.resolveUsername", "channels.getFullChannel", "messages.getDialogs")
        assert [mt.counters[m] for m in learn] == [0, 0, 0]
        assert channel_row(stack, ids["rival"])["username"] == "tech"
        assert channel_row(stack, ids["tech"])["username"] is None  # lost it to Rival
        assert aliases(stack, ids["tech"]) == ["tech"]
        # ("Tech" would be @tech, Rival now.) Its next run sees the new name.
        await parse_done(stack, f"-100{tech.id}")
        row = channel_row(stack, ids["tech"])
        assert (row["title"], row["username"]) == ("Tech Daily", "techdaily")
        assert aliases(stack, ids["tech"]) == ["tech", "techdaily"]
        assert aliases(stack, ids["rival"]) == ["rival", "tech"]
        assert ids_of(stack, ids["tech"]) == tech.ids == list(range(1, 45))
        with db(stack) as conn:
            (holders,) = conn.execute(
                "SELECT count(*) FROM channel WHERE lower(username) = 'tech'"
            ).fetchone()
        assert holders == 1

        # /stats and /export by a former username; links use the current one.
        await api.send_text(api.users[ADMIN2_ID], "/stats @rival 3650")
        stats = await api.wait_for_message(ADMIN2_ID, r"@tech: ", timeout=30)
        assert "@tech: 16 posts" in (stats.text or ""), stats.text
        rows = await export_csv(stack, "/export @rival csv")
        assert [int(r["msg_id"]) for r in rows] == rival.ids
        assert {r["channel"] for r in rows} == {"tech"}
        assert rows[0]["link"] == f"https://t.me/tech/{rival.ids[0]}"
        rows = await export_csv(stack, "/export @techdaily csv")
        assert [int(r["msg_id"]) for r in rows] == tech.ids
        assert rows[-1]["link"] == "https://t.me/techdaily/44"
        # The new holder of @tech is what @tech means now.
        rows = await export_csv(stack, "/export @tech csv")
        assert [int(r["msg_id"]) for r in rows] == rival.ids
        with db(stack) as conn:
            (dupes,) = conn.execute(
                "SELECT count(*) FROM (SELECT channel_id, msg_id FROM message "
                "GROUP BY channel_id, msg_id HAVING count(*) > 1)"
            ).fetchone()
            (running,) = conn.execute(
                "SELECT count(*) FROM parse_run WHERE status = 'running'"
            ).fetchone()
        assert (dupes, running) == (0, 0)
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
