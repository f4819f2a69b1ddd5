"""The app as a process: answers operators, refuses strangers (once per 10 minutes)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, STRANGER_ID, running_stack


async def test_start_answers_operator_and_refuses_stranger(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        api = stack.botapi
        await api.send_text(api.users[ADMIN_ID], "/start")
        reply = await api.wait_for_message(ADMIN_ID, r"/login", timeout=15)
        assert "Здравствуйте" in reply.text  # the operator's Telegram speaks Russian
        await api.send_text(api.users[ADMIN2_ID], "/start")
        reply_en = await api.wait_for_message(ADMIN2_ID, r"/login", timeout=15)
        assert "Hello" in reply_en.text
        await api.send_text(api.users[STRANGER_ID], "/start")
        refusal = await api.wait_for_message(STRANGER_ID, timeout=15)
        assert refusal.text == "Sorry, this bot is private."
        # One refusal per 10 minutes, then silence.
        await api.send_text(api.users[STRANGER_ID], "/login")
        await api.send_text(api.users[ADMIN2_ID], "/start")
        await api.wait_for_message(ADMIN2_ID, r"/login", timeout=15)
        assert [e.text for e in api.transcript(STRANGER_ID)] == ["Sorry, this bot is private."]
        log = stack.app.log()
        assert f"refused user id={STRANGER_ID} username=@eve" in log
        # The log names the bot to open, once.
        hello = "bot @test_bot is up: open https://t.me/test_bot and send /start"
        assert log.count(hello) == 1, log
        rc = await stack.app.terminate()
        assert rc == 0, stack.app.log()
