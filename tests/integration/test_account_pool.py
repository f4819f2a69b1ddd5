"""The account pool in-process against the MTProto double (#18): one client per account,
each account's own proxy (a SOCKS5 double in between for one, not the other), who
reads a channel while an account is flood-waited, and a logout of one account only:
its channels go to the other, a private one only if that one is a member (its dialogs)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from app.health import HealthRegistry
from core.alerts import Alerter
from core.channels import AddCode
from db.accounts import AccountRepository
from db.channels import ChannelRepository
from db.database import close_db, init_db
from db.models import Channel
from db.vault import SessionVault
from parser.client import UserbotConfig
from parser.pool import AccountPool
from parser.userbot import READY
from services.accounts import AccountDeaths
from services.channels import ChannelService
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World, signed_in_client
from tests.doubles.socks5 import Socks5Proxy

ANN, BOB = ("+15550000001", "12345"), ("+15550000002", "54321")


async def _until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_each_account_its_own_client_and_proxy(tmp_path: Path) -> None:
    from telethon.sessions import StringSession

    world = World()
    ann_user = world.add_account(phone=ANN[0], code=ANN[1], first_name="Ann")
    bob_user = world.add_account(phone=BOB[0], code=BOB[1], first_name="Bob")
    public = world.add_channel(username="news", title="News")
    shared = world.add_channel(title="Shared", private=True, invite_hash="shared1")
    own = world.add_channel(title="Own", private=True, invite_hash="own1")
    world.join(ann_user, shared)
    club = world.add_channel(title="Club", private=True, invite_hash="ClubInvite1234")
    world.add_channel(username="daily", title="Daily")
    for ch in (public, shared, own):
        world.join(bob_user, ch)
    await init_db(f"sqlite://{tmp_path / 'db.sqlite3'}")
    async with MTProtoServer(world) as server, Socks5Proxy("user", "p@ss") as socks:
        repo = AccountRepository(SessionVault([SessionVault.generate_key()]))
        rows = {}
        for phone, code in (ANN, BOB):
            async with signed_in_client(server.port, phone, code) as (client, me):
                session = StringSession.save(client.session)
            info = await repo.save_session(
                session, phone=phone, user_id=me.id, display_name=me.first_name, username=None
            )
            rows[phone] = info.id
        config = UserbotConfig(
            1, SecretStr("x" * 32), telegram_server_key=PUBLIC_KEY_PATH,
            dc=(server.dc_id, server.host, server.port), flood_sleep_threshold=5,
        )  # fmt: skip
        alerter = Alerter(600)
        pool = AccountPool(config, repo, HealthRegistry(), alerter)
        pool.on_account_dead = AccountDeaths(pool, repo, alerter)
        for ch in (public, shared, own):
            await Channel.create(tg_id=ch.id, username=ch.username, title=ch.title,
                                 account_id=rows[BOB[0]])
        task = asyncio.create_task(pool.run())
        try:
            await _until(lambda: len(pool.ready()) == 2)
            ann, bob = pool.bot(rows[ANN[0]]), pool.bot(rows[BOB[0]])
            assert ann is not None and bob is not None and ann.client is not bob.client
            assert socks.destinations == []  # no proxy yet
            bob_client = bob.client

            # Ann's own proxy: she reconnects through it; Bob keeps his connection.
            url = f"socks5://user:p%40ss@{socks.host}:{socks.port}"
            await pool.set_proxy(ann.account_id or 0, url)
            await _until(lambda: ann.state == READY and ann.client is not None)
            assert socks.auth_attempts == [("user", "p@ss")]
            assert socks.destinations == [(server.host, server.port)]
            assert bob.client is bob_client
            assert await repo.proxy(ann.account_id or 0) == url

            # A proxy that refuses: once an attempt failed, Ann's private channel is left
            # (nobody can read it now) instead of held waiting; her public one goes to Bob.
            refused = socket.socket()
            refused.bind(("127.0.0.1", 0))
            await pool.set_proxy(ann.account_id, f"socks5://127.0.0.1:{refused.getsockname()[1]}")
            assert await pool.reader_for(ann.account_id, public=False) == (None, True)
            await _until(lambda: ann.connection.attempts > 0)
            assert await pool.reader_for(ann.account_id, public=False) == (None, False)
            assert await pool.reader_for(ann.account_id, public=True) == (bob, False)
            refused.close()

            # A dead proxy (it takes the connection and never answers), then the good one
            # again while Ann still waits on the dead one: she connects through the new
            # one at once, not after the dead attempt's open timeout (60 s).
            held: list[asyncio.StreamWriter] = []
            dead = await asyncio.start_server(lambda _r, w: held.append(w), "127.0.0.1", 0)
            dead_port = dead.sockets[0].getsockname()[1]
            await pool.set_proxy(ann.account_id or 0, f"socks5://127.0.0.1:{dead_port}")
            await _until(lambda: bool(held))
            await pool.set_proxy(ann.account_id or 0, url)
            await _until(lambda: ann.state == READY and ann.client is not None)
            assert len(held) == 1 and len(socks.auth_attempts) == 2
            for writer in held:
                writer.close()
            dead.close()

            # Another process (the bot's, /accounts) clears her proxy in the database:
            # this one, holding her session, reconnects without it at its next look.
            await repo.set_proxy(ann.account_id or 0, None)
            await pool._sync()
            assert ann.config.telegram_proxy is None
            await _until(lambda: ann.state == READY and ann.client is not None)
            assert bob.client is bob_client

            # Ann flood-waited: a public channel of hers is read by Bob; a private one
            # still by her (Bob is no member: her run defers it as one account does).
            ann.flood_waited(600)
            assert await pool.reader_for(ann.account_id, public=True) == (bob, False)
            assert await pool.reader_for(ann.account_id, public=False) == (ann, False)
            assert await pool.reader_for(bob.account_id, public=False) == (bob, False)
            # Bob flood-waited too: nobody stands in for anybody.
            bob.flood_waited(600)
            assert await pool.reader_for(ann.account_id, public=True) == (ann, False)
            bob.flood_until = 0.0

            # /add: the least loaded account (Ann: Bob holds 3) resolves and then reads a
            # public channel; joining an invite she is refused (CHANNELS_TOO_MUCH: in
            # 500 channels, not all of them archived here), Bob joins instead.
            ann.flood_until = 0.0
            channels = ChannelService(pool, ChannelRepository(), None)
            (added,) = await channels.add_lines("@daily last:1")
            assert added.code is AddCode.ADDED
            assert (await Channel.get(username="daily")).account_id == ann.account_id
            server.faults.add("messages.importChatInvite", "CHANNELS_TOO_MUCH", user=ann_user.id)
            (invite,) = await channels.add_lines("https://t.me/+ClubInvite1234 last:1")
            assert invite.code is AddCode.INVITE and invite.token is not None
            joined = await channels.join(invite.token)
            assert joined.code is AddCode.ADDED, joined
            assert (await Channel.get(tg_id=club.id)).account_id == bob.account_id
            assert bob_user.id in club.members and ann_user.id not in club.members
            await Channel.filter(username="daily").delete()

            # Bob logs out: only he does. His public channel and the private one Ann is
            # in go to her; the one she is not in stays his. No alert: he logged out.
            await pool.logout(bob.account_id)
            assert server.counters["auth.logOut"] == 1
            assert [b.account_id for b in pool.bots()] == [ann.account_id]
            held = dict(await Channel.all().values_list("title", "account_id"))
            assert held == {"News": ann.account_id, "Shared": ann.account_id,
                            "Own": bob.account_id, "Club": bob.account_id}
            assert server.counters["messages.getDialogs"] >= 1
            assert alerter.pending() == []
            assert await repo.load_session_of(bob.account_id or 0) is None
            assert await repo.load_session_of(ann.account_id or 0) is not None
            assert ann.state == READY
        finally:
            await pool.stop()
            await task
            await pool.close()
            await close_db()
