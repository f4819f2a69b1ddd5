"""An account's proxy as the operator gives it: SOCKS5/SOCKS4/HTTP URLs and MTProxy links.

`parse_proxy(text)` reads what the operator sends from the bot (or TELEGRAM_PROXY):

- `socks5://user:pass@host:port`, `socks4://host:port`, `http://user:pass@host:port`
  (reserved characters in the user name or password percent-encoded);
- MTProxy as Telegram shares it: `tg://proxy?server=H&port=P&secret=S` or
  `https://t.me/proxy?server=H&port=P&secret=S`
  (https://core.telegram.org/mtproto/mtproto-transports#transport-obfuscation).
  The secret is 16 bytes in hex (32 digits) or URL-safe base64, optionally prefixed
  by `dd` (0xdd: random padding, "secure" mode); both are spoken by Telethon's
  `ConnectionTcpMTProxyRandomizedIntermediate`. An `ee` secret (0xee + 16 bytes + a
  domain: fake-TLS) is refused: Telethon cannot speak fake-TLS.

Errors are `BadProxy(reason)`, `reason` the suffix of the text key `proxy_err_<reason>`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from core.errors import ProjectError

SOCKS_SCHEMES = ("socks5", "socks4", "http")
MTPROXY = "mtproxy"
# Words that clear an account's own proxy (it then uses TELEGRAM_PROXY, if any).
NONE_WORDS = frozenset({"none", "off", "no", "-", "нет", "без"})

_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _host(text: str) -> str | None:
    """A host name, an IPv4 address or an IPv6 one (bare or in brackets) as Telethon
    takes it (IPv6 unbracketed); None when it is none of them."""
    if _HOST_RE.match(text):
        # A DNS name is at most 253 characters, a label 63 (RFC 1035 2.3.4); a longer
        # one is no host, and its reply would pass Telegram's 4,096 characters.
        if len(text) > 253 or any(len(label) > 63 for label in text.split(".")):
            return None
        return text
    try:
        return str(ipaddress.IPv6Address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


class BadProxy(ProjectError, ValueError):
    """A proxy link that cannot be used. `reason`: scheme | host | port | secret |
    fake_tls | garbage (the suffix of `proxy_err_<reason>`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProxySpec:
    """A parsed proxy. `kind`: socks5 | socks4 | http | mtproxy; `secret`: the
    MTProxy secret as hex (32 digits, or `dd` + 32); `username`/`password` of a
    SOCKS/HTTP proxy (decoded). Its repr never shows the password or the secret."""

    kind: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    secret: str | None = None

    def __repr__(self) -> str:
        return f"ProxySpec({self.kind}://{self.address})"

    @property
    def address(self) -> str:
        """`host:port` (`[v6]:port`), all that may be shown of it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The canonical form to store (holds the password/secret: encrypt it)."""
        if self.kind == MTPROXY:
            return f"tg://proxy?server={self.host}&port={self.port}&secret={self.secret}"
        creds = ""
        if self.username is not None:
            creds = quote(self.username, safe="") + ":" + quote(self.password or "", safe="")
            creds += "@"
        return f"{self.kind}://{creds}{self.address}"

    @property
    def secrets(self) -> list[str]:
        """The parts to keep out of the logs."""
        return [s for s in (self.password, self.secret) if s]


def is_none_word(text: str) -> bool:
    """Whether `text` asks to clear the proxy ("none", "нет", ...)."""
    return text.strip().lower() in NONE_WORDS


def parse_proxy(text: str) -> ProxySpec:
    """The proxy `text` names; BadProxy(reason) when it is not one that can be used."""
    raw = text.strip()
    if not raw or any(c.isspace() for c in raw):
        raise BadProxy("garbage")
    try:
        parts = urlsplit(raw)
    except ValueError:  # "Invalid IPv6 URL", "'zz' does not appear to be an IPv6 address"
        raise BadProxy("host") from None
    scheme = parts.scheme.lower()
    if (scheme == "tg" and parts.netloc.lower() == "proxy") or (
        scheme in ("https", "http") and (parts.hostname or "").lower() in ("t.me", "telegram.me")
        and parts.path.rstrip("/").lower() == "/proxy"
    ):
        return _mtproxy(parts.query)
    if scheme not in SOCKS_SCHEMES:
        raise BadProxy("scheme" if "://" in raw else "garbage")
    try:
        port = parts.port
    except ValueError:
        raise BadProxy("port") from None
    host = _host(parts.hostname or "")
    if not host or parts.path not in ("", "/") or parts.query:
        raise BadProxy("host")
    if port is None or not 1 <= port <= 65535:
        raise BadProxy("port")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password or "") if parts.username is not None else None
    return ProxySpec(scheme, host, port, username, password)


def _mtproxy(query: str) -> ProxySpec:
    params = {k.lower(): v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    host = _host(params.get("server", "").strip())
    if not host:
        raise BadProxy("host")
    port_text = params.get("port", "").strip()
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise BadProxy("port")
    return ProxySpec(MTPROXY, host, int(port_text), secret=_secret(params.get("secret", "")))


def _secret(text: str) -> str:
    """The secret as hex: 32 digits (plain) or `dd` + 32 (padded)."""
    raw = text.strip()
    data: bytes | None = None
    if re.fullmatch(r"[0-9A-Fa-f]+", raw) and len(raw) % 2 == 0:
        data = bytes.fromhex(raw)
    elif re.fullmatch(r"[A-Za-z0-9_\-+/]+=*", raw):
        try:
            data = base64.urlsafe_b64decode(
                raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4)
            )
        except (binascii.Error, ValueError):
            data = None
    if data is None:
        raise BadProxy("secret")
    if data[:1] == b"\xee" and len(data) > 17:
        raise BadProxy("fake_tls")
    if len(data) == 16:
        return data.hex()
    if len(data) == 17 and data[0] == 0xDD:
        return data.hex()
    raise BadProxy("secret")
