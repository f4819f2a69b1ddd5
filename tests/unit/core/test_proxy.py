"""Proxy links as the operator sends them (#18): SOCKS/HTTP URLs and MTProxy links."""

from __future__ import annotations

import base64

import pytest
from telethon import connection

from core.proxy import BadProxy, is_none_word, parse_proxy
from parser.client import client_proxy

HEX = "0123456789abcdef0123456789abcdef"


def test_socks5_with_credentials_keeps_them_out_of_repr() -> None:
    spec = parse_proxy("socks5://us%40er:p%40ss@10.0.0.1:1080")
    assert (spec.kind, spec.host, spec.port) == ("socks5", "10.0.0.1", 1080)
    assert (spec.username, spec.password) == ("us@er", "p@ss")
    assert spec.address == "10.0.0.1:1080"
    assert "p@ss" not in repr(spec) and "p%40ss" not in repr(spec)
    assert parse_proxy(spec.url) == spec  # the stored form reads back the same


@pytest.mark.parametrize(
    "link",
    [
        f"tg://proxy?server=mt.example.org&port=443&secret={HEX}",
        f"https://t.me/proxy?server=mt.example.org&port=443&secret=dd{HEX}",
        "tg://proxy?server=mt.example.org&port=443&secret="
        + base64.urlsafe_b64encode(bytes.fromhex("dd" + HEX)).decode().rstrip("="),
    ],
)
def test_mtproxy_links_use_the_randomized_intermediate_transport(link: str) -> None:
    spec = parse_proxy(link)
    assert (spec.kind, spec.address) == ("mtproxy", "mt.example.org:443")
    conn, proxy = client_proxy(spec.url)
    assert conn is connection.ConnectionTcpMTProxyRandomizedIntermediate
    assert proxy[:2] == ("mt.example.org", 443)
    assert proxy[2].endswith(HEX)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"tg://proxy?server=mt.example.org&port=443&secret=ee{HEX}676f6f676c652e636f6d",
         "fake_tls"),
        ("tg://proxy?server=mt.example.org&port=443&secret=zz", "secret"),
        (f"tg://proxy?server=mt.example.org&port=443&secret={HEX[:30]}", "secret"),
        (f"tg://proxy?port=443&secret={HEX}", "host"),
        (f"tg://proxy?server=mt.example.org&port=99999&secret={HEX}", "port"),
        ("socks5://host.example", "port"),
        ("socks5://host.example:70000", "port"),
        ("ftp://host.example:21", "scheme"),
        ("just some words", "garbage"),
        ("", "garbage"),
        ("x" * 5000, "garbage"),
        ("socks5://" + "a" * 5000 + ":1080", "host"),  # its reply passed 4,096 characters
        ("socks5://" + "a" * 64 + ".example:1080", "host"),
        (f"tg://proxy?server={'b.' * 130}org&port=443&secret={HEX}", "host"),
        ("<b>socks5://h:1</b>", "scheme"),
        ("socks5://<b>:1080", "host"),
        ("socks5://хост:1080", "host"),
        ("socks5://[::1:1080", "host"),  # urlsplit: "Invalid IPv6 URL"
        ("socks5://[zz]:1080", "host"),
        (f"tg://proxy?server=::g&port=443&secret={HEX}", "host"),
    ],
)
def test_a_bad_link_names_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(BadProxy) as err:
        parse_proxy(text)
    assert err.value.reason == reason


def test_none_words_clear_the_proxy() -> None:
    assert is_none_word(" None ") and is_none_word("нет")
    assert not is_none_word("socks5://h:1")


@pytest.mark.parametrize(
    ("link", "host", "address"),
    [
        ("http://[::1]:8080", "::1", "[::1]:8080"),
        ("socks5://u:p@[2001:DB8::1]:1080", "2001:db8::1", "[2001:db8::1]:1080"),
        (f"tg://proxy?server=2001:db8::2&port=443&secret={HEX}", "2001:db8::2",
         "[2001:db8::2]:443"),
        (f"tg://proxy?server=[2001:db8::2]&port=443&secret={HEX}", "2001:db8::2",
         "[2001:db8::2]:443"),
    ],
)
def test_an_ipv6_proxy_is_taken_and_stored_so_it_reads_back(
    link: str, host: str, address: str
) -> None:
    spec = parse_proxy(link)
    assert (spec.host, spec.address) == (host, address)  # Telethon takes it unbracketed
    assert parse_proxy(spec.url) == spec
    proxy = client_proxy(spec.url)[1]
    assert (proxy[0] if spec.kind == "mtproxy" else proxy["addr"]) == host
