"""Review: odd operator input gets an answer in the operator's language, never a refused
request or "Something went wrong" (the app as a process against both doubles)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack
from tests.e2e.seeded import CODE, PHONE, seed

GENERIC = ("Something went wrong", "Что-то пошло не так")


async def _ask(api: BotAPIDouble, user_id: int, text: str) -> str:
    """Send `text`, return the bot's next reply in that chat."""
    await api.send_text(api.users[user_id], text)
    return (await api.wait_for_message(user_id, timeout=20)).text or ""


async def _stack_with_a_channel(stack: Stack, world: World) -> None:
    await seed(stack, [world.channels_by_username["news"]])  # type: ignore[attr-defined]
    await stack.app.start()
    await stack.botapi.wait_for_poll(timeout=60)


def _world() -> World:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="news", title="News")
    news.add_messages(3)
    world.channels_by_username = {"news": news}  # type: ignore[attr-defined]
    return world


def _refused(api: BotAPIDouble) -> list[str]:
    return [
        f"{r.method} {r.status}: {str(r.params.get('text', ''))[:80]}"
        for r in api.requests
        if (r.status or 0) >= 400
    ]


async def test_review_long_input_echoed_back_stays_within_4096(tmp_path: Path) -> None:
    """A reply that quotes what the operator typed (a search, a channel, a date) quotes
    at most a line of it: a 4,000-character argument must not make the reply too long."""
    world = _world()
    async with running_stack(tmp_path, world, start=False) as stack:
        await _stack_with_a_channel(stack, world)
        api = stack.botapi
        long = "x" * 4080
        for user_id in (ADMIN_ID, ADMIN2_ID):
            for command in (
                f"/search {long}",
                f"/stats {long}",
                f"/export {long}",
                f"/watch word {'@' + long}",
                f"/parse {long}",
                f"/schedule {long} 5",
                f"/export @news csv from {long[:4050]}",
            ):
                reply = await _ask(api, user_id, command[:4096])
                assert not any(g in reply for g in GENERIC), (command[:20], reply)
                assert len(reply) < 500, (command[:20], len(reply))
        assert _refused(api) == []
        assert await stack.app.terminate() == 0


async def test_review_numbers_that_are_not_plain_digits(tmp_path: Path) -> None:
    """`²` passes str.isdigit() but int() refuses it; a 23-digit id overflows SQLite's
    INTEGER. Both are just wrong input: the usage or "not found", in the operator's
    language."""
    world = _world()
    async with running_stack(tmp_path, world, start=False) as stack:
        await _stack_with_a_channel(stack, world)
        api = stack.botapi
        huge = "9" * 23
        cases = {
            "/stats @news ²": ("Статистика:", "/stats"),
            "/schedule @news ²": ("Интервал", "interval"),
            "/unwatch ²": ("Удалить:", "Remove:"),
            f"/unwatch {huge}": (huge, huge),
            f"/parse {huge}": (huge, huge),
            f"/parse 9{'9' * 19}": ("Такого канала нет", "No such channel"),
            f"/stats -100{huge}": ("не найден", "No stored channel"),
            "/add @news last:²": ("непонятный параметр", "unknown option"),
        }
        for user_id, lang in ((ADMIN_ID, 0), (ADMIN2_ID, 1)):
            for command, expected in cases.items():
                reply = await _ask(api, user_id, command)
                assert not any(g in reply for g in GENERIC), (command, reply)
                assert expected[lang] in reply, (command, reply)
        await asyncio.sleep(0.5)
        assert _refused(api) == []
        assert "handler failed" not in stack.app.log()
        assert await stack.app.terminate() == 0
