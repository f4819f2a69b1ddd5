"""Building the Telethon client: the app's credentials, a test server's DC and key, the
proxy, flood waits. `new_client` is what the userbot, the login flow and
`tg-parser check --online` connect with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telethon import TelegramClient, connection
from telethon.crypto import rsa
from telethon.sessions import StringSession

from core.ports import SecretValue
from core.proxy import MTPROXY, parse_proxy

_keys_loaded: set[Path] = set()


@dataclass(frozen=True)
class UserbotConfig:
    """What the userbot needs to reach Telegram (app/service.py builds it from Settings).

    `telegram_api_id`/`telegram_api_hash`: the app's credentials (my.telegram.org);
    `telegram_proxy`: a socks5/socks4/http proxy URL or an MTProxy link
    (core/proxy.py), or None; `telegram_server_key`: an
    extra RSA public key (PEM file) and `dc`: (dc id, host, port) of a test server, for
    a Telegram other than the real one; `flood_sleep_threshold`: flood waits up to this
    many seconds are slept through by Telethon (FLOOD_WAIT_X,
    https://core.telegram.org/api/errors#420-flood); `connection_alert_seconds`: how
    long connecting may fail before the admins are alerted.
    """

    telegram_api_id: int
    telegram_api_hash: SecretValue
    telegram_proxy: str | None = None
    telegram_server_key: Path | None = None
    dc: tuple[int, str, int] | None = None
    flood_sleep_threshold: int = 60
    connection_alert_seconds: float = 180.0


def account_name(me: Any) -> str:
    """'First Last (@username)' of a Telethon user; '?' for None."""
    if me is None:
        return "?"
    name = " ".join(p for p in (me.first_name, me.last_name) if p)
    return name + (f" (@{me.username})" if me.username else "")


def new_client(s: UserbotConfig, session: str | None = None) -> TelegramClient:
    """A Telethon client for `s` (DC, server key, proxy, flood threshold); `session` a
    StringSession string, or None for a new one. Updates are not received
    (receive_updates=False): nothing here listens to them."""
    if s.telegram_server_key and s.telegram_server_key not in _keys_loaded:
        rsa.add_key(s.telegram_server_key.read_text(), old=False)
        _keys_loaded.add(s.telegram_server_key)
    string_session = StringSession(session or None)
    if s.dc and not session:
        dc_id, host, port = s.dc
        string_session.set_dc(dc_id, host, port)
    conn, proxy = client_proxy(s.telegram_proxy)
    client = TelegramClient(
        string_session,
        s.telegram_api_id,
        s.telegram_api_hash.get_secret_value(),
        connection=conn,
        proxy=proxy,
        flood_sleep_threshold=s.flood_sleep_threshold,
        receive_updates=False,
        request_retries=3,
        connection_retries=3,
        retry_delay=1,
        auto_reconnect=True,
        device_model="tg-parser",
        app_version="0.1",
    )
    return client


def client_proxy(url: str | None) -> tuple[type[connection.Connection], Any]:
    """Telethon's connection class and `proxy` argument for a proxy URL or MTProxy link
    (core/proxy.py `parse_proxy`; ValueError (BadProxy) when it is not one).

    SOCKS/HTTP: the default transport and python-socks keywords (the user name and
    password decoded from their percent-encoding, as the bot's aiohttp-socks session
    decodes them). MTProxy: `ConnectionTcpMTProxyRandomizedIntermediate` and
    `(host, port, secret)`; it speaks plain and `dd` secrets alike.
    """
    if not url:
        return connection.ConnectionTcpFull, None
    spec = parse_proxy(url)
    if spec.kind == MTPROXY:
        return (
            connection.ConnectionTcpMTProxyRandomizedIntermediate,
            (spec.host, spec.port, spec.secret),
        )
    proxy: dict[str, Any] = {
        "proxy_type": spec.kind,
        "addr": spec.host,
        "port": spec.port,
        "rdns": True,
    }
    if spec.username is not None:
        proxy.update(username=spec.username, password=spec.password or "")
    return connection.ConnectionTcpFull, proxy


def _proxy(url: str | None) -> Any:
    """Telethon's `proxy` argument alone for `url` (see `client_proxy`)."""
    return client_proxy(url)[1]
