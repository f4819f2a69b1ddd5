"""TELEGRAM_PROXY with a password holding `@` and `:` (percent-encoded, the only way a URL
can hold them) reaches both the bot's and the userbot's proxy decoded."""

from __future__ import annotations

from pathlib import Path

from tests.doubles.mtproto import World
from tests.doubles.socks5 import Socks5Proxy
from tests.e2e.harness import running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, parse, seed, wait_until

USER, PASSWORD = "ops@lab", "p@ss:w/rd%1"
ENCODED = "ops%40lab:p%40ss%3Aw%2Frd%251"


async def test_both_clients_authenticate_through_a_socks5_proxy(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(250)
    async with Socks5Proxy(USER, PASSWORD) as proxy, running_stack(
        tmp_path, world, start=False
    ) as stack:
        ids = await seed(stack, [news])
        stack.app.env["TELEGRAM_PROXY"] = f"socks5://{ENCODED}@127.0.0.1:{proxy.port}"
        await stack.app.start()
        await stack.botapi.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, ids["news"], news), "news", stack)
        text = await parse(stack, "@news")
        assert "@news" in text
        assert proxy.auth_attempts and set(proxy.auth_attempts) == {(USER, PASSWORD)}
        ports = {port for _, port in proxy.destinations}
        assert {stack.botapi.port, stack.mtproto.port} <= ports
        assert PASSWORD not in stack.app.log() and ENCODED not in stack.app.log()
