"""The real Telethon against the MTProto double with Telegram's clock 40 s ahead.

What a user saw: with a saved session, Telethon drops every answer as 'very new' and
`connect()` never returns, while /status said 'not logged in'. The userbot now measures
the difference from the dropped answers, reports it, and corrects the client's offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from parser.userbot import CONNECTING, READY, Userbot
from tests.account_status import login_status_section as status_section
from tests.doubles.mtproto import MTProtoServer, World, signed_in_client
from tests.integration.double_userbot import double_userbot
from tests.integration.double_userbot import until as _until

pytestmark = pytest.mark.timeout(60)

PHONE, CODE = "+15550000001", "12345"


@pytest.fixture
async def skewed() -> AsyncIterator[tuple[MTProtoServer, str]]:
    """A saved session, then the server's clock set 40 s ahead."""
    from telethon.sessions import StringSession

    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    world.add_channel(username="news", title="News").add_messages(30)
    async with MTProtoServer(world) as server:
        async with signed_in_client(server.port, PHONE, CODE) as (client, _me):
            session = StringSession.save(client.session)
        server.clock_offset = 40
        yield server, session


def _userbot(server: MTProtoServer, session: str, **kwargs: Any) -> Userbot:
    return double_userbot(server, session, **kwargs)


async def _status(userbot: Userbot, lang: str) -> str:
    return await status_section(userbot, SimpleNamespace(owner=None), lang)


async def test_without_correction_it_never_becomes_ready_and_says_why(
    skewed: tuple[MTProtoServer, str],
) -> None:
    server, session = skewed
    userbot = _userbot(server, session, correct_clock=False)
    task = asyncio.create_task(userbot.run())
    try:
        await _until(lambda: userbot.connection.attempts >= 2)
        assert userbot.state == CONNECTING and userbot.client is None
        trouble = userbot.connection.trouble
        assert trouble is not None and trouble.key == "conn_clock_behind"
        assert 39 <= trouble.args["seconds"] <= 41
        seconds = trouble.args["seconds"]
        en, ru = await _status(userbot, "en"), await _status(userbot, "ru")
        assert "Account: Ann (not connected to Telegram yet)" in en
        assert "failed attempts, last error: this machine's clock is" in en
        assert f"{seconds} s behind Telegram's" in en and "Sync the system clock" in en
        assert f"отстают от часов Telegram на {seconds} с" in ru
        assert "Синхронизируйте системное время" in ru
        assert server.counters["help.getConfig"] >= 2  # Telegram did answer, every time
    finally:
        await userbot.stop()
        await task
        await userbot.close()


async def test_the_offset_is_corrected_from_telegrams_dropped_answers(
    skewed: tuple[MTProtoServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, session = skewed
    userbot = _userbot(server, session)
    task = asyncio.create_task(userbot.run())
    try:
        client = await userbot.wait_ready(timeout=20)
        assert userbot.state == READY and userbot.me.first_name == "Ann"
        assert userbot.time_offset in (39, 40, 41)
        assert len(await client.get_messages("news", limit=10)) == 10
        assert userbot.connection.attempts == 0
        offset = userbot.time_offset
        assert f"Telegram's clock is {offset:+d} s off this machine's" in caplog.text
        en, ru = await _status(userbot, "en"), await _status(userbot, "ru")
        assert "Session: active" in en
        assert f"clock is {offset} s behind Telegram's" in en and "sync the system clock" in en
        assert f"отстают от часов Telegram на {offset} с" in ru
        # A client built afterwards starts with the offset: no answer is dropped.
        sightings = userbot._skew.sightings
        other = userbot.new_client(session)
        await asyncio.wait_for(other.connect(), 10)
        assert (await other.get_me()).first_name == "Ann"
        assert userbot._skew.sightings == sightings
        await other.disconnect()
    finally:
        await userbot.stop()
        await task
        await userbot.close()


async def test_a_clock_step_while_working_is_caught_up(caplog: pytest.LogCaptureFixture) -> None:
    """Connected with the clocks agreeing; then Telegram's answers come 40 s ahead (this
    machine's clock stepped back): the request in flight is answered, not left waiting."""
    from telethon.sessions import StringSession

    world = World()
    world.add_account(phone=PHONE, code=CODE, first_name="Ann")
    world.add_channel(username="news", title="News").add_messages(30)
    async with MTProtoServer(world) as server:
        async with signed_in_client(server.port, PHONE, CODE) as (client, _me):
            session = StringSession.save(client.session)
        userbot = _userbot(server, session)
        task = asyncio.create_task(userbot.run())
        try:
            client = await userbot.wait_ready(timeout=20)
            assert len(await client.get_messages("news", limit=5)) == 5
            server.clock_offset = 40
            messages = await asyncio.wait_for(client.get_messages("news", limit=7), 20)
            assert len(messages) == 7
            assert userbot.time_offset in (39, 40, 41) and userbot.state == READY
            assert "sending the waiting requests again" in caplog.text
        finally:
            await userbot.stop()
            await task
            await userbot.close()
