"""A real Telethon client signed in against the double: for fixtures and benches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .crypto import PUBLIC_KEY_PATH


@asynccontextmanager
async def signed_in_client(
    port: int,
    phone: str,
    code: str,
    *,
    dc_id: int = 2,
    host: str = "127.0.0.1",
    **client_args: Any,
) -> AsyncIterator[tuple[Any, Any]]:
    """`(client, me)`: a fresh session logged in with `phone`/`code`; disconnected on exit.
    `client_args` go to TelegramClient (e.g. flood_sleep_threshold=0, retry_delay=0.1).

    Save the session with `StringSession.save(client.session)` to hand it to the app.
    """
    from telethon import TelegramClient
    from telethon.crypto import rsa
    from telethon.sessions import StringSession

    rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)
    client = TelegramClient(
        StringSession(), 1, "x" * 32, receive_updates=False, **client_args
    )
    client.session.set_dc(dc_id, host, port)
    await client.connect()
    try:
        await client.send_code_request(phone)
        me = await client.sign_in(phone, code)
        yield client, me
    finally:
        await client.disconnect()
