"""The app as a process: answers operators, refuses strangers."""

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
        await api.send_text(api.users[STRANGER_ID], "/login")
        again = await api.wait_for_message(STRANGER_ID, timeout=15)
        assert again.text == "Sorry, this bot is private."
        assert "/login" not in again.text
        rc = await stack.app.terminate()
        assert rc == 0, stack.app.log()
