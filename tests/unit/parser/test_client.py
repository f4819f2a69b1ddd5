"""TELEGRAM_PROXY reaches both the userbot's client and the bot's HTTP session."""

from __future__ import annotations

from bot.component import build_bot
from parser.client import _proxy


def test_userbot_proxy_dict_from_socks5_url_with_credentials() -> None:
    assert _proxy("socks5://user:pa55@10.0.0.1:1080") == {
        "proxy_type": "socks5",
        "addr": "10.0.0.1",
        "port": 1080,
        "rdns": True,
        "username": "user",
        "password": "pa55",
    }
    assert _proxy("http://proxy.local:3128/") == {
        "proxy_type": "http",
        "addr": "proxy.local",
        "port": 3128,
        "rdns": True,
    }
    assert _proxy(None) is None and _proxy("") is None


async def test_bot_session_uses_the_proxy() -> None:
    bot = build_bot("123:ABC", "http://127.0.0.1:1", "socks5://u:p@10.0.0.2:1080")
    try:
        session = bot.session
        assert session.proxy == "socks5://u:p@10.0.0.2:1080"  # type: ignore[attr-defined]
        # aiohttp_socks builds the connector from it on first use.
        await session.create_session()  # type: ignore[attr-defined]
        connector = session._session.connector  # type: ignore[attr-defined]
        assert type(connector).__name__ == "ProxyConnector"
        assert connector._proxy_host == "10.0.0.2" and connector._proxy_port == 1080
    finally:
        await bot.session.close()
    plain = build_bot("123:ABC", "http://127.0.0.1:1", None)
    assert plain.session.proxy is None  # type: ignore[attr-defined]
    await plain.session.close()


def test_percent_encoded_credentials_reach_the_userbot_decoded() -> None:
    proxy = _proxy("socks5://us%40er:p%40ss%3Aw%2Fo%25rd@127.0.0.1:1080")
    assert proxy is not None
    assert proxy["username"] == "us@er" and proxy["password"] == "p@ss:w/o%rd"
    assert proxy["addr"] == "127.0.0.1" and proxy["port"] == 1080


def test_both_spellings_of_a_proxy_password_are_redacted() -> None:
    from app.settings import Settings

    settings = Settings(
        bot_token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz",
        telegram_api_id=1,
        telegram_api_hash="0123456789abcdef0123456789abcdef",
        admin_ids="1",
        session_keys="ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        telegram_proxy="socks5://user:p%40ss%3Aword@127.0.0.1:1080",
    )
    secrets = settings.secret_values()
    assert "p@ss:word" in secrets and "p%40ss%3Aword" in secrets
