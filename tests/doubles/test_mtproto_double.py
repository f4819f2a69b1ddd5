"""The MTProto double against the real, unmodified Telethon client over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, errors, functions, types
from telethon.crypto import rsa
from telethon.network import ConnectionTcpAbridged, ConnectionTcpIntermediate
from telethon.sessions import StringSession

from parser.content import describe_document
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World

pytestmark = pytest.mark.timeout(60)

PHONE = "+15550000001"
CODE = "12345"
REPO_ROOT = Path(__file__).resolve().parents[2]

rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)

ClientFactory = Callable[..., Awaitable[TelegramClient]]


@pytest.fixture
def world() -> World:
    w = World()
    w.add_account(phone=PHONE, code=CODE, first_name="Ann", username="ann_test")
    w.add_account(phone="+15550000002", code="22222", password="secret", first_name="Bob")
    return w


@pytest.fixture
async def server(world: World) -> AsyncIterator[MTProtoServer]:
    async with MTProtoServer(world, host="127.0.0.1", port=0) as srv:
        yield srv


@pytest.fixture
async def make_client(server: MTProtoServer) -> AsyncIterator[ClientFactory]:
    clients: list[TelegramClient] = []

    async def factory(session: str = "", *, connect: bool = True, **kwargs: Any) -> TelegramClient:
        kwargs.setdefault("receive_updates", False)
        kwargs.setdefault("flood_sleep_threshold", 5)
        kwargs.setdefault("retry_delay", 0.2)
        client = TelegramClient(StringSession(session), api_id=1, api_hash="x" * 32, **kwargs)
        client.session.set_dc(server.dc_id, server.host, server.port)
        clients.append(client)
        if connect:
            await client.connect()
        return client

    yield factory
    for client in clients:
        await client.disconnect()


async def login(client: TelegramClient, phone: str = PHONE, code: str = CODE) -> types.User:
    await client.send_code_request(phone)
    return await client.sign_in(phone, code)


@pytest.fixture
async def client(make_client: ClientFactory) -> TelegramClient:
    c = await make_client()
    await login(c)
    return c


# -- connection and login -----------------------------------------------------------


async def test_handshake_and_connect(make_client: ClientFactory, server: MTProtoServer) -> None:
    c = await make_client()
    assert c.is_connected()
    assert not await c.is_user_authorized()
    assert server.counters["help.getConfig"] == 1
    assert server.connections == 1
    assert len(server.auth_keys) == 1


@pytest.mark.parametrize("connection", [ConnectionTcpIntermediate, ConnectionTcpAbridged])
async def test_other_transports(make_client: ClientFactory, connection: type) -> None:
    c = await make_client(connection=connection)
    me = await login(c)
    assert (await c.get_me()).id == me.id


async def test_login_with_code(make_client: ClientFactory, world: World) -> None:
    c = await make_client()
    sent = await c.send_code_request(PHONE)
    assert isinstance(sent.type, types.auth.SentCodeTypeApp)
    me = await c.sign_in(PHONE, CODE)
    assert me.id == _uid(world, PHONE)
    assert await c.is_user_authorized()
    assert (await c.get_me()).username == "ann_test"


async def test_wrong_code(make_client: ClientFactory) -> None:
    c = await make_client()
    await c.send_code_request(PHONE)
    with pytest.raises(errors.PhoneCodeInvalidError):
        await c.sign_in(PHONE, "00000")
    assert (await c.sign_in(PHONE, CODE)).first_name == "Ann"


async def test_expired_code(make_client: ClientFactory, world: World) -> None:
    c = await make_client()
    await c.send_code_request(PHONE)
    world.expire_codes()
    with pytest.raises(errors.PhoneCodeExpiredError):
        await c.sign_in(PHONE, CODE)
    world.code_ttl = 0.0
    await c.send_code_request(PHONE, _retry_count=0)
    await asyncio.sleep(0.01)
    with pytest.raises(errors.PhoneCodeExpiredError):
        await c.sign_in(PHONE, CODE)


async def test_resend_code(
    make_client: ClientFactory, world: World, server: MTProtoServer
) -> None:
    c = await make_client()
    first = await c.send_code_request(PHONE)
    second = await c.send_code_request(PHONE)  # Telethon resends (auth.resendCode)
    assert server.counters["auth.resendCode"] == 1
    assert second.phone_code_hash != first.phone_code_hash
    assert (await c.sign_in(PHONE, CODE)).id == _uid(world, PHONE)


async def test_unknown_phone_and_invalid_phone(make_client: ClientFactory) -> None:
    c = await make_client()
    await c.send_code_request("+15559999999")
    with pytest.raises(errors.PhoneNumberUnoccupiedError):
        await c.sign_in("+15559999999", CODE)
    with pytest.raises(errors.PhoneNumberInvalidError):
        await c(functions.auth.SendCodeRequest("12", 1, "x" * 32, types.CodeSettings()))


async def test_two_factor_login(make_client: ClientFactory) -> None:
    c = await make_client()
    await c.send_code_request("+15550000002")
    with pytest.raises(errors.SessionPasswordNeededError):
        await c.sign_in("+15550000002", "22222")
    with pytest.raises(errors.PasswordHashInvalidError):
        await c.sign_in(password="wrong")
    me = await c.sign_in(password="secret")
    assert me.first_name == "Bob"
    assert await c.is_user_authorized()


async def test_qr_login(make_client: ClientFactory, world: World) -> None:
    c = await make_client(receive_updates=True)
    qr = await c.qr_login()
    assert qr.url.startswith("tg://login?token=")
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, world.confirm_qr, qr.token, PHONE)
    user = await qr.wait(timeout=10)
    assert user.id == _uid(world, PHONE)
    assert await c.is_user_authorized()


async def test_qr_login_with_2fa(make_client: ClientFactory, world: World) -> None:
    c = await make_client(receive_updates=True)
    qr = await c.qr_login()
    asyncio.get_running_loop().call_later(0.1, world.confirm_qr, qr.token, "+15550000002")
    with pytest.raises(errors.SessionPasswordNeededError):
        await qr.wait(timeout=10)
    assert (await c.sign_in(password="secret")).first_name == "Bob"


async def test_saved_session_stays_authorized(
    make_client: ClientFactory, server: MTProtoServer, world: World
) -> None:
    first = await make_client()
    await login(first)
    saved = first.session.save()
    await first.disconnect()
    assert server.connections == 0 or await _eventually(lambda: server.connections == 0)
    second = await make_client(saved)
    assert await second.is_user_authorized()
    assert (await second.get_me()).id == _uid(world, PHONE)
    assert server.connections == 1


async def test_key_store_survives_server_restart(tmp_path: Path, world: World) -> None:
    store = tmp_path / "keys.json"
    async with MTProtoServer(world, key_store_path=store) as srv:
        c = TelegramClient(StringSession(), 1, "x" * 32, receive_updates=False)
        c.session.set_dc(2, "127.0.0.1", srv.port)
        await c.connect()
        await login(c)
        saved = c.session.save()
        await c.disconnect()
    async with MTProtoServer(world, key_store_path=store) as srv2:
        c2 = TelegramClient(StringSession(saved), 1, "x" * 32, receive_updates=False)
        c2.session.set_dc(2, "127.0.0.1", srv2.port)
        await c2.connect()
        try:
            assert await c2.is_user_authorized()
        finally:
            await c2.disconnect()


async def test_service_messages(make_client: ClientFactory) -> None:
    # With receive_updates=False Telethon wraps every request in invokeWithoutUpdates
    # and then cannot match destroy_session's answer to it: use updates here.
    client = await make_client(receive_updates=True)
    await login(client)
    pong = await client(functions.PingRequest(ping_id=77))
    assert isinstance(pong, types.Pong) and pong.ping_id == 77
    pong = await client(functions.PingDelayDisconnectRequest(ping_id=78, disconnect_delay=75))
    assert pong.ping_id == 78
    salts = await client(functions.GetFutureSaltsRequest(num=3))
    assert isinstance(salts, types.FutureSalts) and len(salts.salts) == 3
    gone = await client(functions.DestroySessionRequest(session_id=12345))
    assert isinstance(gone, types.DestroySessionNone)
    assert (await client.get_me()).first_name == "Ann"


async def test_log_out(client: TelegramClient, server: MTProtoServer) -> None:
    assert await client.log_out()
    assert all(r.user_id is None for r in server.auth_keys.values())


# -- clocks -------------------------------------------------------------------------


async def _saved_session(make_client: ClientFactory) -> str:
    first = await make_client()
    await login(first)
    saved: str = first.session.save()
    await first.disconnect()
    return saved


async def test_a_fresh_key_learns_the_server_clock(
    make_client: ClientFactory, server: MTProtoServer
) -> None:
    server.clock_offset = 40
    client = await make_client()  # the handshake's server_time sets Telethon's offset
    assert client._sender._state.time_offset == 40
    assert (await login(client)).first_name == "Ann"
    assert not server.bad_msg_ids


async def test_a_saved_session_with_the_server_40_s_ahead_gets_no_answer(
    make_client: ClientFactory, server: MTProtoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """What a user saw: Telegram answers, Telethon drops every answer as 'very new'
    (more than 30 s ahead of its clock), and nothing tells the client to correct it:
    a msg_id 40 s in the past is within the 300 s Telegram accepts. `connect()` itself
    waits for the answer to help.getConfig, so it never returns."""
    saved = await _saved_session(make_client)
    server.clock_offset = 40
    server.counters.clear()
    client = await make_client(saved, connect=False)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.connect(), 2)
    assert server.counters["help.getConfig"] == 1 and not server.bad_msg_ids
    assert "Server sent a very new message" in caplog.text


@pytest.mark.parametrize(
    ("offset", "code"),
    [(400, 16), (-400, 17), (-40, 17)],
    ids=["client-400s-behind", "client-400s-ahead", "client-40s-ahead"],
)
async def test_a_client_clock_out_of_the_window_gets_bad_msg_and_corrects_itself(
    make_client: ClientFactory, server: MTProtoServer, offset: int, code: int
) -> None:
    saved = await _saved_session(make_client)
    server.clock_offset = offset
    client = await make_client(saved)
    assert (await asyncio.wait_for(client.get_me(), 30)).first_name == "Ann"
    assert server.bad_msg_ids[code] >= 1
    # Telethon takes the offset from the notification's msg_id in whole seconds, on
    # arrival: a busy machine that delivers it a second or two late shifts it that much.
    assert abs(client._sender._state.time_offset - offset) <= 3


# -- reading channels ---------------------------------------------------------------


async def test_iter_messages_min_id_reverse_and_counters(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    big = world.add_channel(username="bigchan", title="Big")
    big.add_messages(10_000)
    server.counters.clear()
    ids = [m.id async for m in client.iter_messages("bigchan", min_id=2_500, wait_time=0)]
    assert ids == list(range(10_000, 2_500, -1))
    # Telethon sends no min_id: 75 full pages, then one that crosses min_id.
    assert server.counters["messages.getHistory"] == 76
    ids = [m.id async for m in client.iter_messages("bigchan", reverse=True, wait_time=0)]
    assert ids == list(range(1, 10_001))
    ids = [
        m.id
        async for m in client.iter_messages(
            "bigchan", reverse=True, min_id=9_000, max_id=9_500, wait_time=0
        )
    ]
    assert ids == list(range(9_001, 9_500))
    ids = [m.id async for m in client.iter_messages("bigchan", limit=250, offset_id=5_000)]
    assert ids == list(range(4_999, 4_749, -1))
    total = (await client.get_messages("bigchan", limit=0)).total
    assert total == 10_000


async def test_history_filters_and_offset_date(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="datechan", title="Dates")
    ch.add_messages(300, start_date=1_700_000_000, interval=10)
    got = await client.get_messages("datechan", limit=5, max_id=100, min_id=90)
    assert [m.id for m in got] == [99, 98, 97, 96, 95]
    cutoff = ch.message(150).date
    import datetime as dt

    got = await client.get_messages(
        "datechan", limit=3, offset_date=dt.datetime.fromtimestamp(cutoff, dt.UTC)
    )
    assert [m.id for m in got] == [149, 148, 147]


async def test_message_fields(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="richchan", title="Rich")
    ch.add_message("plain")
    ch.add_message(
        "bold text",
        views=1234,
        forwards=7,
        entities=[types.MessageEntityBold(offset=0, length=4)],
        reactions={"👍": 3, "🔥": 1},
        post_author="Editor",
        grouped_id=42,
        media="photo",
    )
    ch.add_message("with doc", media={"type": "document", "file_name": "a.pdf"}, fwd_from="Anon")
    ch.add_message("link", media={"type": "webpage", "url": "https://example.org/x"})
    ch.edit_message(1, text="plain edited", views=5)
    msgs = {m.id: m async for m in client.iter_messages("richchan")}
    assert msgs[1].text == "plain edited" and msgs[1].edit_date is not None
    assert msgs[1].views == 5
    rich = msgs[2]
    assert (rich.views, rich.forwards, rich.post_author, rich.grouped_id) == (
        1234,
        7,
        "Editor",
        42,
    )
    assert isinstance(rich.entities[0], types.MessageEntityBold)
    assert {r.reaction.emoticon: r.count for r in rich.reactions.results} == {"👍": 3, "🔥": 1}
    assert rich.photo is not None
    assert msgs[3].document is not None and msgs[3].file.name == "a.pdf"
    assert msgs[3].fwd_from.from_name == "Anon"
    assert msgs[4].web_preview.url == "https://example.org/x"
    blob = await client.download_media(msgs[3], file=bytes)
    assert isinstance(blob, bytes) and len(blob) == 12345
    assert len(await client.download_media(rich, file=bytes)) == 54321
    ch.delete_message(3)
    assert [m.id async for m in client.iter_messages("richchan")] == [4, 2, 1]
    by_id = await client.get_messages("richchan", ids=[2, 3])
    assert by_id[0].id == 2 and by_id[1] is None


async def test_get_entity_and_full_channel(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="newsfeed", title="News Feed", participants_count=321)
    entity = await client.get_entity("@newsfeed")
    assert isinstance(entity, types.Channel)
    assert (entity.id, entity.access_hash, entity.title) == (ch.id, ch.access_hash, "News Feed")
    full = await client(functions.channels.GetFullChannelRequest(entity))
    assert full.full_chat.participants_count == 321
    user = await client.get_entity("ann_test")
    assert user.id == _uid(world, PHONE)
    with pytest.raises((ValueError, errors.UsernameNotOccupiedError)):
        await client.get_entity("@nobody_here")
    with pytest.raises(errors.UsernameNotOccupiedError):
        await client(functions.contacts.ResolveUsernameRequest("nobody_here"))
    chans = await client(functions.channels.GetChannelsRequest([entity]))
    assert chans.chats[0].id == ch.id


async def test_access_hashes_belong_to_the_account(
    client: TelegramClient, make_client: ClientFactory, world: World
) -> None:
    ch = world.add_channel(username="hashes", title="Hashes")
    ch.add_messages(3)
    carl = world.add_account(phone="+15550000003", code="33333", first_name="Carl")
    ann = world.account(PHONE)
    assert ch.access_hash == ch.access_hash_for(ann) != ch.access_hash_for(carl)
    mine = await client.get_entity("hashes")
    assert mine.access_hash == ch.access_hash_for(ann)
    other = await make_client()
    await login(other, "+15550000003", "33333")
    theirs = await other.get_entity("hashes")
    assert theirs.access_hash == ch.access_hash_for(carl)
    # Ann's hash sent by Carl (a session of another account): refused, both ways in.
    stale = types.InputPeerChannel(ch.id, mine.access_hash)
    with pytest.raises(errors.ChannelInvalidError):
        await other(functions.messages.GetHistoryRequest(stale, 0, None, 0, 10, 0, 0, 0))
    with pytest.raises(errors.ChannelInvalidError):
        stale_input = types.InputChannel(ch.id, mine.access_hash)
        await other(functions.channels.GetFullChannelRequest(stale_input))
    world.stale_hash_error = "PEER_ID_INVALID"
    with pytest.raises(errors.PeerIdInvalidError):
        await other(functions.messages.GetHistoryRequest(stale, 0, None, 0, 10, 0, 0, 0))
    fresh = types.InputPeerChannel(ch.id, theirs.access_hash)
    assert len(await other.get_messages(fresh, limit=10)) == 3
    # The dialogs give each account its own hash too.
    world.join(carl, ch)
    (dialog,) = await other.get_dialogs()
    assert dialog.entity.access_hash == ch.access_hash_for(carl)
    world.shared_access_hashes = True
    assert ch.access_hash_for(ann) == ch.access_hash_for(carl) == ch.access_hash_for(None)


async def test_rename_and_username_taken_over(client: TelegramClient, world: World) -> None:
    old = world.add_channel(username="oldname", title="Old title")
    old.add_messages(2)
    renamed = old.rename("New title")
    assert renamed is not None and renamed.id == 3 and old.rename("Quiet", service=False) is None
    old.set_username("newname")
    with pytest.raises(errors.UsernameNotOccupiedError):
        await client(functions.contacts.ResolveUsernameRequest("oldname"))
    page = await client(
        functions.messages.GetHistoryRequest(
            types.InputPeerChannel(old.id, old.access_hash), 0, None, 0, 10, 0, 0, 0
        )
    )
    (chat,) = page.chats
    assert (chat.title, chat.username) == ("Quiet", "newname")
    service = page.messages[0]
    assert isinstance(service.action, types.MessageActionChatEditTitle)
    assert service.action.title == "New title"
    other = world.add_channel(username="thief", title="Other")
    with pytest.raises(ValueError, match="taken"):
        other.set_username("newname")
    assert world.take_username("newname", other, old_holder_gets="renamed_again") is old
    assert (old.username, other.username) == ("renamed_again", "newname")
    found = await client(functions.contacts.ResolveUsernameRequest("newname"))
    assert found.peer.channel_id == other.id
    assert world.take_username("renamed_again", other) is old and old.username is None


async def test_comments_through_discussion_group(client: TelegramClient, world: World) -> None:
    channel = world.add_channel(username="postschan", title="Posts")
    group = world.add_channel(title="Posts chat", megagroup=True)
    world.link_discussion(channel, group)
    post = channel.add_message("first post")
    channel.add_message("second post")
    commenter = world.add_user("Carl", username="carl_c")
    c1 = group.add_comment(post.id, "nice", from_id=commenter)
    group.add_comment(post.id, "agreed")
    group.add_comment(post.id, "reply to nice", reply_to=c1.id)
    full = await client(functions.channels.GetFullChannelRequest("postschan"))
    assert full.full_chat.linked_chat_id == group.id
    posts = await client.get_messages("postschan", limit=10)
    by_id = {m.id: m for m in posts}
    assert by_id[post.id].replies.replies == 3
    assert by_id[post.id].replies.channel_id == group.id
    assert by_id[2].replies.replies == 0
    comments = [m async for m in client.iter_messages("postschan", reply_to=post.id)]
    assert [m.text for m in comments] == ["reply to nice", "agreed", "nice"]
    assert comments[-1].sender_id == commenter.id
    assert comments[0].reply_to.reply_to_msg_id == c1.id
    assert all(m.chat_id == -1_000_000_000_000 - group.id for m in comments)
    assert [m async for m in client.iter_messages("postschan", reply_to=2)] == []


async def test_private_channel_by_invite(client: TelegramClient, world: World) -> None:
    secret = world.add_channel(title="Secret", private=True, invite_hash="AbCdEf123")
    secret.add_messages(30)
    invite = await client(functions.messages.CheckChatInviteRequest("AbCdEf123"))
    assert isinstance(invite, types.ChatInvite) and invite.title == "Secret"
    joined = await client(functions.messages.ImportChatInviteRequest("AbCdEf123"))
    chat = joined.updates.chats[0]
    assert chat.id == secret.id
    again = await client(functions.messages.CheckChatInviteRequest("AbCdEf123"))
    assert isinstance(again, types.ChatInviteAlready)
    with pytest.raises(errors.UserAlreadyParticipantError):
        await client(functions.messages.ImportChatInviteRequest("AbCdEf123"))
    peer = types.InputPeerChannel(chat.id, chat.access_hash)
    assert len(await client.get_messages(peer, limit=100)) == 30
    dialogs = await client.get_dialogs()
    assert [d.id for d in dialogs] == [-1_000_000_000_000 - secret.id]
    await client(functions.channels.LeaveChannelRequest(peer))
    with pytest.raises(errors.ChannelPrivateError):
        await client.get_messages(peer, limit=1)
    with pytest.raises(errors.InviteHashInvalidError):
        await client(functions.messages.CheckChatInviteRequest("nope"))


async def test_join_public_channel(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="joinme", title="Join me")
    await client(functions.channels.JoinChannelRequest("joinme"))
    assert _uid(world, PHONE) in ch.members
    entity = await client.get_entity("joinme")
    assert entity.left is False


async def test_bulk_build_is_fast_and_gzip_answers(world: World, tmp_path: Path) -> None:
    started = time.perf_counter()
    world.add_channel(username="hugechan", title="Huge").add_messages(100_000)
    assert time.perf_counter() - started < 15.0  # ~0.2 s alone; the e2e benches need it
    async with MTProtoServer(world, gzip_responses=True) as srv:
        c = TelegramClient(StringSession(), 1, "x" * 32, receive_updates=False)
        c.session.set_dc(2, "127.0.0.1", srv.port)
        await c.connect()
        try:
            await login(c)
            ids = [m.id async for m in c.iter_messages("hugechan", limit=1_000, wait_time=0)]
            assert ids == list(range(100_000, 99_000, -1))
        finally:
            await c.disconnect()


# -- faults -------------------------------------------------------------------------


async def test_flood_wait_below_threshold_is_slept(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    world.add_channel(username="floody", title="F").add_messages(10)
    await client.get_entity("floody")
    server.counters.clear()
    server.faults.add("messages.getHistory", "FLOOD_WAIT_1", times=1)
    started = time.monotonic()
    msgs = await client.get_messages("floody", limit=5)
    assert len(msgs) == 5
    assert time.monotonic() - started >= 1.0
    assert server.counters["messages.getHistory"] == 2


async def test_flood_wait_above_threshold_raises(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    world.add_channel(username="floody", title="F").add_messages(10)
    server.faults.add("messages.getHistory", "FLOOD_WAIT_30", when=lambda req: req.limit > 0)
    with pytest.raises(errors.FloodWaitError) as info:
        await client.get_messages("floody", limit=5)
    assert info.value.seconds == 30
    assert info.value.code == 420
    server.faults.add("auth.sendCode", "FLOOD_WAIT_600")
    with pytest.raises(errors.FloodWaitError):
        await client.send_code_request("+15550000002")


async def test_dropped_connection_reconnects(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    world.add_channel(username="dropchan", title="D").add_messages(50)
    assert len(await client.get_messages("dropchan", limit=10)) == 10
    before = server.total_connections
    assert server.drop_connections() == 1
    await asyncio.sleep(0.1)
    assert len(await client.get_messages("dropchan", limit=10)) == 10
    assert server.total_connections > before
    server.faults.add("messages.getHistory", "DROP")
    assert len(await client.get_messages("dropchan", limit=20)) == 20
    assert await _eventually(lambda: server.connections == 1)


async def test_stalled_request(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    world.add_channel(username="stallchan", title="S").add_messages(5)
    await client.get_entity("stallchan")
    server.faults.add("messages.getHistory", "STALL")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.get_messages("stallchan", limit=1), 0.5)
    assert len(await client.get_messages("stallchan", limit=5)) == 5


async def test_delayed_answer(client: TelegramClient, world: World, server: MTProtoServer) -> None:
    world.add_channel(username="slowchan", title="S").add_messages(5)
    await client.get_entity("slowchan")
    server.faults.add("messages.getHistory", None, delay=0.3)
    started = time.monotonic()
    assert len(await client.get_messages("slowchan", limit=5)) == 5
    assert time.monotonic() - started >= 0.3


async def test_auth_key_unregistered_and_revoked(
    make_client: ClientFactory, world: World, server: MTProtoServer
) -> None:
    c = await make_client()
    await login(c)
    server.faults.add("users.getFullUser", "AUTH_KEY_UNREGISTERED")
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await c(functions.users.GetFullUserRequest(types.InputUserSelf()))
    assert (await c(functions.users.GetFullUserRequest(types.InputUserSelf()))).users
    saved = c.session.save()
    world.revoke_sessions(PHONE)
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await c(functions.updates.GetStateRequest())
    # Telethon caches is_user_authorized(); a fresh client asks the server.
    assert not await (await make_client(saved)).is_user_authorized()
    world.revoke_sessions(PHONE, error="SESSION_REVOKED")
    with pytest.raises(errors.SessionRevokedError):
        await c(functions.updates.GetStateRequest())
    await login(c)
    assert await c.is_user_authorized()


async def test_other_injected_errors(client: TelegramClient, server: MTProtoServer) -> None:
    server.faults.add("updates.getState", "AUTH_KEY_DUPLICATED")
    with pytest.raises(errors.AuthKeyDuplicatedError):
        await client(functions.updates.GetStateRequest())
    server.faults.add("updates.getState", "USER_DEACTIVATED_BAN")
    with pytest.raises(errors.UserDeactivatedBanError):
        await client(functions.updates.GetStateRequest())
    server.faults.add("contacts.resolveUsername", "CHANNEL_PRIVATE")
    with pytest.raises(errors.ChannelPrivateError):
        await client(functions.contacts.ResolveUsernameRequest("whatever"))


async def test_unknown_method_is_loud(client: TelegramClient, server: MTProtoServer) -> None:
    with pytest.raises(errors.RPCError, match=r"METHOD_NOT_IMPLEMENTED_messages\.getAllStickers"):
        await client(functions.messages.GetAllStickersRequest(hash=0))
    assert server.unknown_methods["messages.getAllStickers"] == 1


# -- separate process -----------------------------------------------------------------


async def test_cli_process(tmp_path: Path) -> None:
    ready = tmp_path / "port"
    stats = tmp_path / "stats.json"
    scenario = tmp_path / "media.py"
    scenario.write_text(
        "def fill(world):\n"
        "    ch = world.add_channel(username='climedia', title='Media')\n"
        "    ch.add_media_post('document', size=300_000)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.doubles.mtproto",
        "--port",
        "0",
        "--ready-file",
        str(ready),
        "--channel",
        "clichan:500",
        "--account",
        f"{PHONE}:{CODE}",
        "--scenario",
        f"{scenario}:fill",
        "--file-delay",
        "0.01",
        "--stats-file",
        str(stats),
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert await _eventually(ready.exists, within=15)
        port = int(ready.read_text())
        c = TelegramClient(StringSession(), 1, "x" * 32, receive_updates=False)
        c.session.set_dc(2, "127.0.0.1", port)
        await c.connect()
        try:
            await login(c)
            ids = [m.id async for m in c.iter_messages("clichan", wait_time=0)]
            assert ids == list(range(500, 0, -1))
            (post,) = await c.get_messages("climedia", ids=[1])
            assert len(await c.download_media(post, file=bytes)) == 300_000
            # SIGUSR1: the figures so far, the server still running.
            proc.send_signal(signal.SIGUSR1)
            assert await _eventually(stats.exists, within=10)
            live = json.loads(stats.read_text())
            assert live["bytes_served"] == {str(post.document.id): 300_000}
            (chan,) = [int(k) for k in live["history_requests"]]
            assert live["history_requests"][str(chan)] == 5  # 500 messages, pages of 100
            assert (await c.get_input_entity("clichan")).channel_id == chan
        finally:
            await c.disconnect()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    counted = json.loads(stats.read_text())
    assert counted["bytes_served"] == {str(post.document.id): 300_000}
    assert counted["counters"]["upload.getFile"] == 3  # 128 KB parts


def _uid(world: World, phone: str) -> int:
    user = world.account(phone)
    assert user is not None
    return user.id


async def _eventually(predicate: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_service_messages_and_forward_sources(client: TelegramClient, world: World) -> None:
    source = world.add_channel(username="sourcechan", title="Source")
    author = world.add_user("Dora", username="dora_d")
    ch = world.add_channel(username="eventchan", title="Events")
    ch.add_service("channel_create", title="Events")
    post = ch.add_message("pinned post")
    ch.add_service("pin_message", reply_to=post.id)
    ch.add_service("chat_edit_title", title="Events 2")
    ch.add_message("repost", fwd_from={"from": source, "channel_post": 42, "post_author": "Ed"})
    ch.add_message("from a user", fwd_from=author)
    ch.add_message("hidden", fwd_from="Secret Sam")
    r = await client(
        functions.messages.GetHistoryRequest(
            peer=await client.get_input_entity("eventchan"), offset_id=0, offset_date=None,
            add_offset=0, limit=100, max_id=0, min_id=0, hash=0,
        )
    )
    by_id = {m.id: m for m in r.messages}
    assert isinstance(by_id[1], types.MessageService)
    assert by_id[1].action == types.MessageActionChannelCreate(title="Events")
    assert isinstance(by_id[3].action, types.MessageActionPinMessage)
    assert by_id[3].reply_to.reply_to_msg_id == post.id
    assert by_id[4].action.title == "Events 2" and by_id[4].post
    fwd = by_id[5].fwd_from
    assert (fwd.from_id, fwd.channel_post, fwd.post_author) == (
        types.PeerChannel(source.id), 42, "Ed"
    )
    assert by_id[6].fwd_from.from_id == types.PeerUser(author.id)
    assert by_id[7].fwd_from.from_name == "Secret Sam"
    chats = {c.id: c for c in r.chats}
    assert chats[source.id].title == "Source" and chats[source.id].username == "sourcechan"
    assert {u.id: u.username for u in r.users} == {author.id: "dora_d"}
    # Telethon's own iteration sees the same (service messages included).
    msgs = [m async for m in client.iter_messages("eventchan", reverse=True)]
    assert [type(m).__name__ for m in msgs[:3]] == ["MessageService", "Message", "MessageService"]
    assert msgs[4].forward.chat.title == "Source"
    with pytest.raises(ValueError):
        ch.add_service("no_such_action")


async def test_media_sizes_videos_and_tl_media(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="mediachan", title="Media")
    ch.add_message("p", media={"type": "photo", "width": 1280, "height": 960, "progressive": True})
    ch.add_message("v", media={"type": "video", "duration": 7.5, "width": 640, "height": 360})
    geo = types.MessageMediaGeo(geo=types.GeoPoint(long=37.6, lat=55.7, access_hash=0))
    ch.add_message("", media=geo)
    msgs = {m.id: m async for m in client.iter_messages("mediachan")}
    largest = msgs[1].photo.sizes[-1]
    assert isinstance(largest, types.PhotoSizeProgressive) and (largest.w, largest.h) == (
        1280, 960
    )
    assert len(await client.download_media(msgs[1], file=bytes)) == 54321
    video = next(
        a for a in msgs[2].document.attributes if isinstance(a, types.DocumentAttributeVideo)
    )
    assert (video.duration, video.w, video.h) == (7.5, 640, 360)
    assert msgs[2].file.name == "clip.mp4" and msgs[2].file.mime_type == "video/mp4"
    assert msgs[3].geo.lat == 55.7
    # A story's channel is named in the answer's chats, as Telegram does.
    source = world.add_channel(username="storychan", title="Stories")
    ch.add_message("", media=types.MessageMediaStory(peer=types.PeerChannel(source.id), id=3))
    r = await client(
        functions.messages.GetHistoryRequest(
            peer=await client.get_input_entity("mediachan"), offset_id=0, offset_date=None,
            add_offset=0, limit=1, max_id=0, min_id=0, hash=0,
        )
    )
    assert {c.id for c in r.chats} == {ch.id, source.id}


async def test_basic_group_migrated_to_a_supergroup(client: TelegramClient, world: World) -> None:
    me = world.account(PHONE)
    assert me is not None
    old = world.add_chat("Old group", members=[PHONE])
    for mid in (3, 4, 9, 10, 250):  # a user's shared message counter: ids with gaps
        old.add_message(f"old {mid}", msg_id=mid, from_id=me)
    group = world.migrate(old, username="upgraded", title="Upgraded")
    group.add_messages(150)
    assert old.ids[-1] == old.last_id and old.last_id > 250  # chatMigrateTo appended
    full = await client(functions.channels.GetFullChannelRequest("upgraded"))
    assert full.full_chat.migrated_from_chat_id == old.id
    assert full.full_chat.migrated_from_max_id == old.last_id
    first = (await client.get_messages("upgraded", ids=[1]))[0]
    assert isinstance(first.action, types.MessageActionChannelMigrateFrom)
    assert first.action.chat_id == old.id

    peer = types.InputPeerChat(old.id)
    msgs = [m async for m in client.iter_messages(peer, reverse=True)]
    assert [m.id for m in msgs] == old.ids
    assert [m.text for m in msgs[:5]] == ["old 3", "old 4", "old 9", "old 10", "old 250"]
    assert isinstance(msgs[-1].action, types.MessageActionChatMigrateTo)
    assert msgs[-1].action.channel_id == group.id
    assert msgs[0].chat_id == -old.id and msgs[0].sender_id == me.id
    page = await client(functions.messages.GetHistoryRequest(
        peer, offset_id=0, offset_date=None, add_offset=0, limit=2, max_id=0, min_id=0, hash=0,
    ))
    assert isinstance(page, types.messages.MessagesSlice) and page.count == 6
    chats = {type(c).__name__: c for c in page.chats}
    assert chats["Chat"].deactivated and chats["Chat"].migrated_to.channel_id == group.id
    assert chats["Channel"].id == group.id
    whole = await client(functions.messages.GetHistoryRequest(
        peer, offset_id=0, offset_date=None, add_offset=0, limit=100, max_id=0, min_id=0, hash=0,
    ))
    assert isinstance(whole, types.messages.Messages) and len(whole.messages) == 6
    got = await client(functions.messages.GetChatsRequest([old.id]))
    assert got.chats[0].title == "Old group"

    world.leave(PHONE, old)  # not a member: the old group cannot be read
    with pytest.raises(errors.PeerIdInvalidError):
        await client(functions.messages.GetHistoryRequest(
            peer, offset_id=0, offset_date=None, add_offset=0, limit=1, max_id=0, min_id=0,
            hash=0,
        ))
    old.denied_error = "CHAT_ID_INVALID"
    with pytest.raises(errors.ChatIdInvalidError):
        await client(functions.messages.GetHistoryRequest(
            peer, offset_id=0, offset_date=None, add_offset=0, limit=1, max_id=0, min_id=0,
            hash=0,
        ))
    got = await client(functions.messages.GetChatsRequest([old.id]))
    assert isinstance(got.chats[0], types.ChatForbidden)
    with pytest.raises(errors.PeerIdInvalidError):
        await client(functions.messages.GetHistoryRequest(
            types.InputPeerChat(123), offset_id=0, offset_date=None, add_offset=0, limit=1,
            max_id=0, min_id=0, hash=0,
        ))
    plain = world.add_channel(username="notmigrated", megagroup=True)
    full = await client(functions.channels.GetFullChannelRequest("notmigrated"))
    assert full.full_chat.migrated_from_chat_id is None and plain.migrated_from is None


def test_auth_key_keeps_its_leading_zero_bytes_through_a_saved_session() -> None:
    """Once in 256 handshakes the DH secret has a leading zero byte. The double keeps the
    key 256 bytes long, as Telegram does, so a session saved with it (a string session
    stores 256 bytes) names the same key id when it comes back; the short form the
    double used to keep gave another key id, and the app was answered -404."""
    from telethon.crypto import AuthKey
    from telethon.crypto import rsa as trsa

    from tests.doubles.mtproto.crypto import DH_PRIME, auth_key_bytes

    shared = pow(3, 12345, DH_PRIME) >> 8  # below 2**2040: its first byte is zero
    key = AuthKey(auth_key_bytes(shared))
    assert len(key.key) == 256 and key.key[0] == 0
    saved = StringSession()
    saved.set_dc(2, "127.0.0.1", 443)
    saved.auth_key = key
    assert StringSession(saved.save()).auth_key.key_id == key.key_id
    short = AuthKey(trsa.get_byte_array(shared))  # what Telethon's client side computes
    saved.auth_key = short
    assert StringSession(saved.save()).auth_key.key_id != short.key_id


# -- media: upload.getFile -------------------------------------------------------------


async def _get_file(client: TelegramClient, location: Any, offset: int, limit: int,
                    precise: bool = False) -> bytes:
    result = await client(
        functions.upload.GetFileRequest(location, offset=offset, limit=limit, precise=precise)
    )
    return result.bytes


async def test_download_media_of_a_photo_takes_its_largest_size(
    client: TelegramClient, world: World
) -> None:
    ch = world.add_channel(username="pics", title="Pics")
    fid = ch.add_media_post("photo", width=1280, height=960, size=300_000, text="caption")
    (msg,) = await client.get_messages("pics", ids=[ch.last_id])
    assert msg.photo.id == fid and msg.text == "caption"
    largest = max(msg.photo.sizes, key=lambda s: s.w * s.h)
    assert (largest.type, largest.w, largest.h, largest.size) == ("y", 1280, 960, 300_000)
    data = await client.download_media(msg, file=bytes)
    assert data == world.file_bytes(fid) and len(data) == 300_000
    assert world.bytes_served[fid] == 300_000
    # The smaller "m" thumb is another content, of the size the message says.
    thumb = await client.download_media(msg, file=bytes, thumb=0)
    assert len(thumb) == msg.photo.sizes[0].size and thumb != data[: len(thumb)]


async def test_a_5_mb_document_in_parts_and_lazy_huge_files(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    ch = world.add_channel(username="docs", title="Docs")
    fid = ch.add_media_post("document", size=5 * 2**20 + 123, file_name="report.pdf")
    (msg,) = await client.get_messages("docs", ids=[ch.last_id])
    assert msg.file.name == "report.pdf" and msg.file.size == 5 * 2**20 + 123
    data = await client.download_media(msg, file=bytes)
    assert len(data) == 5 * 2**20 + 123
    assert hashlib.sha256(data).hexdigest() == world.file_sha256(fid)
    assert world.bytes_served[fid] == len(data)
    assert server.counters["upload.getFile"] == world.getfile_requests[fid] > 5
    # Every 4 KiB page differs: a part written at the wrong offset changes the hash.
    assert data[:4096] != data[4096:8192]
    # A 2 GB video is generated on demand: its last part is served without building it.
    big = ch.add_media_post("video", size=2 * 2**30)
    loc = types.InputDocumentFileLocation(
        id=big, access_hash=world.files[big].access_hash,
        file_reference=world.files[big].file_reference, thumb_size="",
    )
    tail = await _get_file(client, loc, 2 * 2**30 - 2**20, 2**20)
    assert tail == world.file_bytes(big, 2 * 2**30 - 2**20) and len(tail) == 2**20
    # Past the end: no bytes, no error (as Telegram).
    assert await _get_file(client, loc, 2 * 2**30, 2**20) == b""


async def test_getfile_part_rules(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="rules", title="Rules")
    fid = ch.add_media_post("document", size=3 * 2**20)
    stored = world.files[fid]
    loc = types.InputDocumentFileLocation(
        id=fid, access_hash=stored.access_hash, file_reference=stored.file_reference,
        thumb_size="",
    )
    assert len(await _get_file(client, loc, 2**20, 512 * 1024)) == 512 * 1024
    for offset, limit, precise, error in [
        (1024, 4096, False, errors.OffsetInvalidError),  # offset not a 4 KB multiple
        (0, 1024, False, errors.LimitInvalidError),  # limit not a 4 KB multiple
        (0, 12 * 1024, False, errors.LimitInvalidError),  # 1 MB not a multiple of limit
        (0, 2 * 2**20, False, errors.LimitInvalidError),  # over 1 MB
        (2**20 - 4096, 8192, False, errors.LimitInvalidError),  # crosses a 1 MB boundary
        (1536, 1024, True, errors.OffsetInvalidError),  # precise: 1 KB multiples
        (2**20 - 1024, 2048, True, errors.LimitInvalidError),  # precise still one chunk
    ]:
        with pytest.raises(error):
            await _get_file(client, loc, offset, limit, precise)
    # Any slice of the generated content agrees with the whole.
    whole = world.file_bytes(fid)
    assert len(whole) == 3 * 2**20 and whole[5000:13000] == world.file_bytes(fid, 5000, 8000)
    assert world.file_bytes(fid, 3 * 2**20 - 10, 100) == whole[-10:]
    # precise: 1 KB multiples that do not divide 1 MB are fine.
    assert await _get_file(client, loc, 3072, 3072, True) == world.file_bytes(fid, 3072, 3072)
    assert world.bytes_served[fid] == 512 * 1024 + 3072


async def test_file_reference_expires_and_refused_files(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    ch = world.add_channel(username="refs", title="Refs")
    photo = ch.add_media_post("photo")
    photo_msg = ch.last_id
    doc = ch.add_media_post("document", size=100_000)
    doc_msg = ch.last_id
    old_photo, old_doc = await client.get_messages("refs", ids=[photo_msg, doc_msg])
    world.expire_file_reference(photo)
    world.expire_file_reference(doc)
    with pytest.raises(errors.FileReferenceExpiredError):
        await client.download_media(old_photo, file=bytes)
    # A fresh reference from channels.getMessages works.
    server.counters.clear()
    (fresh,) = await client.get_messages("refs", ids=[photo_msg])
    assert server.counters["channels.getMessages"] == 1
    assert fresh.photo.file_reference != old_photo.photo.file_reference
    assert await client.download_media(fresh, file=bytes) == world.file_bytes(photo)
    # History pages carry the new reference too.
    latest = {m.id: m async for m in client.iter_messages("refs")}
    assert latest[doc_msg].document.file_reference == world.files[doc].file_reference
    # Telethon refreshes a document's reference by itself (channels.getMessages).
    server.counters.clear()
    assert await client.download_media(old_doc, file=bytes) == world.file_bytes(doc)
    assert server.counters["channels.getMessages"] == 1
    # A wrong access hash, then files Telegram refuses.
    stored = world.files[doc]
    wrong = types.InputDocumentFileLocation(
        id=doc, access_hash=stored.access_hash ^ 1, file_reference=stored.file_reference,
        thumb_size="",
    )
    with pytest.raises(errors.FileIdInvalidError):
        await _get_file(client, wrong, 0, 4096)
    world.refuse_file(doc, "FILE_ID_INVALID")
    with pytest.raises(errors.FileIdInvalidError):
        await client.download_media(latest[doc_msg], file=bytes)
    world.refuse_file(photo, "FLOOD_WAIT_30")
    with pytest.raises(errors.FloodWaitError):
        await client.download_media(fresh, file=bytes)
    world.refuse_file(doc, None)
    assert await client.download_media(latest[doc_msg], file=bytes) == world.file_bytes(doc)
    # Flood waits injected on upload.getFile work like on any method (here: one file).
    server.faults.add("upload.getFile", "FLOOD_WAIT_31", when=lambda req: req.location.id == doc)
    with pytest.raises(errors.FloodWaitError) as flood:
        await client.download_media(latest[doc_msg], file=bytes)
    assert flood.value.seconds == 31


async def test_media_kinds_reposts_and_twins(client: TelegramClient, world: World) -> None:
    ch = world.add_channel(username="kinds", title="Kinds")
    other = world.add_channel(username="kinds2", title="Kinds 2")
    ids = {}
    for kind in ("video", "round", "voice", "audio", "document", "animation", "sticker"):
        ids[kind] = ch.add_media_post(kind, size=5000)
    msgs = {m.document.id: m async for m in client.iter_messages("kinds")}
    for kind, fid in ids.items():
        assert describe_document(msgs[fid].document)[0] == kind, kind
    # The same media re-posted elsewhere: one id, one access hash, the same bytes.
    pic = ch.add_media_post("photo", content=b"\xff\xd8 tiny jpeg")
    assert other.add_media_post("photo", media_id=pic, text="again") == pic
    assert world.media_posts(pic) == [(ch, ch.last_id), (other, other.last_id)]
    (again,) = await client.get_messages("kinds2", ids=[other.last_id])
    assert again.photo.id == pic and again.text == "again"
    assert await client.download_media(again, file=bytes) == b"\xff\xd8 tiny jpeg"
    # Another media id with byte-identical content.
    twin = other.add_media_post("video", same_content_as=ids["video"])
    assert twin != ids["video"] and world.file_sha256(twin) == world.file_sha256(ids["video"])
    with pytest.raises(ValueError):
        other.add_media_post("video", media_id=pic)


async def test_file_delay_delays_every_part(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    ch = world.add_channel(username="slow", title="Slow")
    ch.add_media_post("document", size=3 * 128 * 1024)
    (msg,) = await client.get_messages("slow", ids=[ch.last_id])
    server.file_delay = 0.1
    started = time.monotonic()
    assert len(await client.download_media(msg, file=bytes)) == 3 * 128 * 1024
    assert time.monotonic() - started >= 0.3  # three sequential parts, 0.1 s each


async def test_get_messages_views_and_subscribers(
    client: TelegramClient, world: World, server: MTProtoServer
) -> None:
    ch = world.add_channel(username="viewschan", title="Views", participants_count=1000)
    group = world.add_channel(title="Talk", megagroup=True, username="viewstalk")
    first = ch.add_message("one", views=10, forwards=2)
    second = ch.add_message("two")
    pin = ch.add_service("pin_message", reply_to=first.id)
    world.set_counters(ch, second.id, views=7, forwards=1, replies=3, reactions={"👍": 4})
    talk = group.add_message("group message")
    peer = await client.get_input_entity("viewschan")
    server.counters.clear()

    async def views(p: Any, ids: list[int], increment: bool = False) -> list[Any]:
        r = await client(functions.messages.GetMessagesViewsRequest(p, ids, increment))
        return list(r.views)

    got = await views(peer, [first.id, second.id, pin.id, 999])
    assert [(v.views, v.forwards) for v in got] == [(10, 2), (7, 1), (None, None), (None, None)]
    assert got[0].replies is None and got[1].replies.replies == 3
    # increment=True counts one view per account, increment=False only reads.
    assert (await views(peer, [first.id], increment=True))[0].views == 11
    assert (await views(peer, [first.id], increment=True))[0].views == 11
    assert (await views(peer, [first.id]))[0].views == 11
    # History pages carry the counters set.
    msg = await client.get_messages("viewschan", ids=second.id)
    assert (msg.views, msg.forwards, msg.replies.replies) == (7, 1, 3)
    assert msg.reactions.results[0].count == 4
    # A megagroup's messages have no views; more than 100 ids are refused.
    assert (await views(await client.get_input_entity("viewstalk"), [talk.id]))[0].views is None
    with pytest.raises(errors.LimitInvalidError):
        await views(peer, list(range(1, 102)))
    assert server.counters["messages.getMessagesViews"] == 6
    # The subscriber count changes and channels.getFullChannel answers it.
    full = await client(functions.channels.GetFullChannelRequest(peer))
    assert full.full_chat.participants_count == 1000 == ch.subscribers
    ch.subscribers = 1042
    full = await client(functions.channels.GetFullChannelRequest(peer))
    assert full.full_chat.participants_count == 1042
