"""Several accounts in one process (#18, Must 1 and 2), the app against both doubles.

Ann and Bob logged in: /add shares four public channels out (least loaded, 2 + 2) and
each account reads its own with its own access hash. /accounts lists both; a fake-TLS
MTProxy link is refused with the reason. Ann is flood-waited on history: her channels
are read by Bob, exact, and /accounts shows her wait. Ann's session is revoked: her
channels move to Bob and the operators get one alert naming her and the count.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, running_stack, store_logged_in_session
from tests.e2e.seeded import CODE, PHONE, caught_up, db, wait_until

pytestmark = pytest.mark.e2e

BOB_PHONE, BOB_CODE = "+15550000002", "54321"
FAKE_TLS = (
    "tg://proxy?server=mt.example.org&port=443&secret=ee0123456789abcdef0123456789abcdef"
    "676f6f676c652e636f6d"
)


def _readers(stack: object) -> dict[int, int]:
    with db(stack) as conn:  # type: ignore[arg-type]
        return dict(conn.execute("SELECT tg_id, account_id FROM channel").fetchall())


async def test_two_accounts_share_channels_cover_a_flood_wait_and_a_death(
    tmp_path: Path,
) -> None:
    world = World()
    ann = world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    bob = world.add_account(phone=BOB_PHONE, code=BOB_CODE, first_name="Bob")
    chans = [world.add_channel(username=f"pub{i}", title=f"Pub {i}") for i in range(4)]
    for ch in chans:
        ch.add_messages(30)
    async with running_stack(tmp_path, world, start=False) as stack:
        await store_logged_in_session(stack, PHONE, CODE)
        await store_logged_in_session(stack, BOB_PHONE, BOB_CODE)
        with db(stack) as conn:
            rows = dict(conn.execute("SELECT user_id, id FROM account").fetchall())
        ann_row, bob_row = rows[ann.id], rows[bob.id]
        await stack.app.start()
        api, mt = stack.botapi, stack.mtproto
        adam = api.users[ADMIN2_ID]
        await api.wait_for_poll(timeout=60)

        # -- /add: shared out, least loaded first ------------------------------------
        await api.send_text(adam, "/add " + "\n".join(f"@pub{i}" for i in range(4)))
        await api.wait_for_message(ADMIN2_ID, r"4 channels added", timeout=30)
        ask = await api.wait_for_message(ADMIN2_ID, r"How much history", timeout=15)
        await api.press_button(adam, ask, text="✓ all history")  # the first runs go now
        readers = _readers(stack)
        assert Counter(readers.values()) == {ann_row: 2, bob_row: 2}, readers

        def all_caught_up() -> bool:
            with db(stack) as conn:
                got = dict(conn.execute("SELECT tg_id, id FROM channel").fetchall())
            return all(caught_up(stack, got[ch.id], ch) for ch in chans)

        await wait_until(all_caught_up, "the first runs", stack, 60)
        with db(stack) as conn:
            hashes = conn.execute("SELECT tg_id, access_hash, account_id FROM channel")
            for tg_id, access_hash, account in hashes.fetchall():
                ch = next(c for c in chans if c.id == tg_id)
                owner = ann if account == ann_row else bob
                assert access_hash == ch.access_hash_for(owner)  # each its own hash

        # -- /accounts, and a proxy Telethon cannot speak ------------------------------
        await api.send_text(adam, "/accounts")
        page = await api.wait_for_message(ADMIN2_ID, r"Accounts", timeout=15)
        assert (page.text or "").count("2 channels") == 2, page.text
        assert "Ann" in (page.text or "") and "Bob" in (page.text or "")
        await api.press_button(adam, page, f"accpx:{ann_row}")
        await api.wait_for_message(ADMIN2_ID, r"Send the proxy for Ann", timeout=15)
        await api.send_text(adam, FAKE_TLS)
        await api.wait_for_message(ADMIN2_ID, r"fake-TLS", timeout=15)
        await api.send_text(adam, "none")
        await api.wait_for_message(ADMIN2_ID, r"no proxy of its own", timeout=15)

        # -- Ann flood-waited: Bob reads her channels ---------------------------------
        mt.faults.add("messages.getHistory", "FLOOD_WAIT_600", user=ann.id, times=None)
        for ch in chans:
            ch.add_messages(5)
        mt.counters.clear()
        await api.send_text(adam, "/parse all")
        done = await api.wait_for_message(ADMIN2_ID, r"Done: ", timeout=60)
        assert re.search(r"✅ 4 ok", done.text or ""), done.text
        assert all_caught_up()
        # Bob resolved Ann's two channels himself (her access hashes are never sent
        # from his account) and stored his own.
        assert mt.counters["contacts.resolveUsername"] == 2
        assert mt.errors["messages.getHistory CHANNEL_INVALID"] == 0
        with db(stack) as conn:
            for tg_id, access_hash in conn.execute("SELECT tg_id, access_hash FROM channel"):
                ch = next(c for c in chans if c.id == tg_id)
                assert access_hash == ch.access_hash_for(bob)
        await api.send_text(adam, "/accounts")
        await api.wait_for_message(ADMIN2_ID, r"flood wait until \d\d:\d\d", timeout=15)

        # -- Ann revoked: her channels move to Bob, one alert -------------------------
        mt.faults.clear()
        world.revoke_sessions(PHONE)
        await api.send_text(adam, "/status")  # asks every account who it is
        alert = await api.wait_for_message(ADMIN2_ID, r"no longer usable", timeout=30)
        assert "Ann" in (alert.text or "")
        assert re.search(r"2 of its channels moved", alert.text or ""), alert.text
        assert set(_readers(stack).values()) == {bob_row}
        await api.send_text(adam, "/status")
        status = await api.wait_for_message(ADMIN2_ID, r"Accounts: 2", timeout=15)
        assert "• Bob: ready, 4 channels" in (status.text or ""), status.text
        assert "• Ann: revoked" in (status.text or ""), status.text
        alerts = [
            m for m in api.transcript(ADMIN2_ID) if "no longer usable" in (m.text or "")
        ]
        assert len(alerts) == 1
        assert stack.app.alive()
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
