"""`tg-parser check --online` asks Telegram (here: both doubles) about the token and api_id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.doubles.botapi import BotAPIDouble
from tests.doubles.mtproto import PUBLIC_KEY_PATH, MTProtoServer, World
from tests.integration.cli_env import TG_PARSER, clean_env, full_env

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"


async def _check(tmp: Path, world: World, token: str) -> tuple[int, str, str]:
    async with MTProtoServer(world) as mtproto, BotAPIDouble(
        token=TOKEN, bot_username="archive_bot"
    ) as botapi:
        env = clean_env(tmp, **full_env(tmp))
        env.update(
            BOT_TOKEN=token,
            BOT_API_URL=botapi.base_url,
            TELEGRAM_DC=f"2@127.0.0.1:{mtproto.port}",
            TELEGRAM_SERVER_KEY=str(PUBLIC_KEY_PATH),
        )
        proc = await asyncio.create_subprocess_exec(
            TG_PARSER,
            "check",
            "--online",
            cwd=tmp,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


async def test_accepted_token_and_api_id_name_the_bot_to_open(tmp_path: Path) -> None:
    world = World()
    world.api_ids = {12345}
    code, out, _ = await _check(tmp_path, world, TOKEN)
    assert code == 0
    assert "✓ bot token accepted: open https://t.me/archive_bot and send /start" in out
    assert "✓ api_id accepted" in out


async def test_a_refused_token_and_an_unknown_api_id_are_named(tmp_path: Path) -> None:
    world = World()
    world.api_ids = {999}
    code, out, err = await _check(tmp_path, world, "123456:REVOKED-TOKEN-abcdefghijklmnop")
    assert code == 2
    assert "✗ BOT_TOKEN was refused by Telegram: get a new one from @BotFather" in err
    assert "✗ TELEGRAM_API_ID was refused by Telegram (API_ID_INVALID)" in err
    assert "REVOKED-TOKEN" not in out + err
