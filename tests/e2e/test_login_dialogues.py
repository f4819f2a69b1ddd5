"""The login dialogue from the operator's side, the app running as a process.

A command typed at any login step ends the login and gets its usual answer; a wrong
number is asked again; only codes and passwords are deleted; double taps and refused
callback answers change nothing; a Russian-speaking operator reads only Russian.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, Stack, running_stack

PHONE = "+15550000001"
UNKNOWN = "+15550000009"
CODE = "55087"  # a digit twice: a double tap on a digit is two digits
PASSWORD = "Sesame-Horse-42!"
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# Each command with the start of its usual answer (Adam, English, no account, no channels).
COMMANDS = [
    ("/start", r"^Hello!"),
    ("/help", r"^Commands:"),
    ("/status", r"Account: not logged in"),
    ("/add", r"^Send channels, one per line"),
    ("/channels", r"^No channels yet"),
    ("/parse all", r"^No active channels"),  # looked up before the session
    ("/export", r"^Export:"),
    ("/search x", r"^Nothing found"),
    ("/login", r"^Send the phone number"),
    ("/logout", r"^No account is logged in"),
    ("/cancel", r"^Cancelled\.$"),
    ("/foo", r"^There is no command /foo\."),
]
STRAY = "hello there"
NOT_UNDERSTOOD = r"^I only take commands here"


def _sent_to(stack: Stack, chat_id: int, since: int) -> list[str]:
    return [
        str(r.params["text"])
        for r in stack.botapi.requests[since:]
        if r.method == "sendMessage" and r.params.get("chat_id") == chat_id
    ]


async def _reach(stack: Stack, step: str) -> tuple[int | None, int | None]:
    """Start a login and go as far as `step`: (keypad id, id of the typed code message)."""
    api, adam = stack.botapi, stack.botapi.users[ADMIN2_ID]
    await api.send_text(adam, "/login")
    await api.wait_for_message(ADMIN2_ID, r"^Send the phone number", timeout=15)
    if step == "phone":
        return None, None
    await api.send_text(adam, PHONE)
    keypad = await api.wait_for_message(ADMIN2_ID, r"^Code: —", timeout=15)
    if step == "code":
        return keypad.message_id, None
    typed = await api.send_text(adam, "-".join(CODE))
    await api.wait_for_message(ADMIN2_ID, r"two-step verification", timeout=15)
    return keypad.message_id, typed.message_id


async def _command_ends_login(stack: Stack, step: str, command: str, answer: str) -> int | None:
    """One command at one step; returns the id of the code message typed on the way."""
    api, adam = stack.botapi, stack.botapi.users[ADMIN2_ID]
    keypad, typed = await _reach(stack, step)
    since = len(api.requests)
    sent = await api.send_text(adam, command)
    await api.wait_for_message(ADMIN2_ID, answer, timeout=15)
    where = f"{command} at the {step} step"
    if keypad is not None:
        assert not api.message(ADMIN2_ID, keypad).callback_datas, f"{where}: keypad kept"
    # Over: a stray text is not a phone number, a code or a password any more. /login and
    # /add start dialogues of their own: another command ends those.
    follow, expected = ("/help", r"^Commands:") if command in ("/login", "/add") else (
        STRAY,
        NOT_UNDERSTOOD,
    )
    await api.send_text(adam, follow)
    await api.wait_for_message(ADMIN2_ID, expected, timeout=15)
    replies = _sent_to(stack, ADMIN2_ID, since)
    assert len(replies) == 2, f"{where}: {replies}"
    assert re.search(answer, replies[0]) and re.search(expected, replies[1]), f"{where}: {replies}"
    assert "login in progress" not in replies[0], f"{where}: the flow was not freed"
    assert sent.message_id not in api.messages_deleted(ADMIN2_ID), f"{where}: deleted"
    return typed


async def test_every_command_ends_the_login_dialogue_at_every_step(tmp_path: Path) -> None:
    world = World()
    world.add_account(PHONE, code=CODE, password=PASSWORD, first_name="Ann")
    async with running_stack(tmp_path, world) as stack:
        api, mt = stack.botapi, stack.mtproto
        typed_codes = []
        for step in ("phone", "code", "password"):
            for command, answer in COMMANDS:
                typed = await _command_ends_login(stack, step, command, answer)
                if typed is not None:
                    typed_codes.append(typed)
        # Only the typed codes were deleted; no command ever went in as a code or password.
        assert sorted(api.messages_deleted(ADMIN2_ID)) == sorted(typed_codes)
        assert mt.counters["auth.signIn"] == len(COMMANDS)  # one per password-step round
        assert mt.counters["auth.checkPassword"] == 0
        # Every ended login let go of its Telegram client and of the login lock.
        for _ in range(100):
            if mt.connections == 0:
                break
            await asyncio.sleep(0.05)
        assert mt.connections == 0, "a login client was left connected"
        await api.send_text(api.users[ADMIN_ID], "/login")
        await api.wait_for_message(ADMIN_ID, r"^Пришлите номер телефона", timeout=15)
        assert stack.app.alive()
        assert "Traceback" not in stack.app.log()


async def test_an_unknown_number_is_asked_again_and_only_the_code_is_deleted(
    tmp_path: Path,
) -> None:
    world = World()
    world.add_account(PHONE, code=CODE, first_name="Ann")
    async with running_stack(tmp_path, world) as stack:
        api, adam = stack.botapi, stack.botapi.users[ADMIN2_ID]
        await api.send_text(adam, "/login")
        await api.wait_for_message(ADMIN2_ID, r"^Send the phone number", timeout=15)
        unknown = await api.send_text(adam, UNKNOWN)
        keypad = await api.wait_for_message(ADMIN2_ID, r"^Code: —", timeout=15)
        for key in (*CODE, "ok"):
            await api.press_button(adam, keypad, f"lk:{key}")
        await api.wait_for_message(ADMIN2_ID, r"no Telegram account with this number", timeout=15)
        assert not api.message(ADMIN2_ID, keypad.message_id).callback_datas
        # The next message is a phone number again, and this one exists.
        known = await api.send_text(adam, PHONE)
        await api.wait_for_message(ADMIN2_ID, r"Telegram sent a code", timeout=15)
        await api.wait_for_message(ADMIN2_ID, r"^Code: —", timeout=15)
        code = await api.send_text(adam, " ".join(CODE))
        await api.wait_for_message(ADMIN2_ID, r"^✅ Logged in as Ann", timeout=15)
        assert api.messages_deleted(ADMIN2_ID) == [code.message_id]
        assert unknown.message_id != known.message_id
        texts = [m.text or "" for m in api.transcript(ADMIN2_ID)]
        assert not [x for x in texts if re.search(r"digits with separators|Wrong code", x)]


async def _tap(stack: Stack, message: Any, *datas: str) -> list[Any]:
    """Press buttons one right after the other, without waiting for the bot."""
    api, adam = stack.botapi, stack.botapi.users[ADMIN2_ID]
    return [await api.press_button(adam, message, data) for data in datas]


async def test_double_taps_and_refused_callback_answers(tmp_path: Path) -> None:
    world = World()
    world.add_account(PHONE, code=CODE, password=PASSWORD, first_name="Ann")
    async with running_stack(tmp_path, world) as stack:
        api, mt, adam = stack.botapi, stack.mtproto, stack.botapi.users[ADMIN2_ID]
        await api.send_text(adam, "/login")
        await api.wait_for_message(ADMIN2_ID, r"^Send the phone number", timeout=15)
        await api.send_text(adam, PHONE)
        keypad = await api.wait_for_message(ADMIN2_ID, r"^Code: —", timeout=15)
        # The first answer comes late and every later one is refused as too old.
        slow = api.faults.add("answerCallbackQuery", delay=0.5, times=1)
        refused = api.faults.add("answerCallbackQuery", 400, description=TOO_OLD, times=None)
        await _tap(stack, keypad, *(f"lk:{d}" for d in CODE), "lk:ok", "lk:ok")
        await api.wait_for_message(ADMIN2_ID, r"two-step verification", timeout=30)
        assert slow.hits == 1 and refused.hits >= len(CODE)
        assert mt.counters["auth.signIn"] == 1  # both taps on OK, one sign-in
        await api.send_text(adam, PASSWORD)
        await api.wait_for_message(ADMIN2_ID, r"^✅ Logged in as Ann", timeout=15)

        await api.send_text(adam, "/logout")
        confirm = await api.wait_for_message(ADMIN2_ID, r"^Log Ann out", timeout=15)
        await _tap(stack, confirm, "logout:yes", "logout:yes")
        await api.wait_for_message(ADMIN2_ID, r"^Logged out", timeout=15)
        api.faults.clear()

        # A double tap on «Log in with a QR code»: one login client, one picture.
        await api.send_text(adam, "/login")
        prompt = await api.wait_for_message(ADMIN2_ID, r"^Send the phone number", timeout=15)
        before = mt.total_connections
        await _tap(stack, prompt, "login:qr", "login:qr")
        qr = await api.wait_for_message(ADMIN2_ID, r"^Scan this", timeout=15)
        await api.send_text(adam, "/cancel")
        await api.wait_for_message(ADMIN2_ID, r"^Cancelled\.$", timeout=15)
        assert mt.total_connections - before == 1
        assert api.request_count("sendPhoto") == 1
        assert qr.message_id in api.messages_deleted(ADMIN2_ID)  # the QR picture goes

        assert mt.counters["auth.logOut"] == 1  # both taps on «Yes», one logout
        texts = [m.text or "" for m in api.transcript(ADMIN2_ID)]
        for wrong in ("Something went wrong", "digits with separators", "no login in progress"):
            assert not [x for x in texts if wrong in x], api.format_transcript(ADMIN2_ID)
        assert stack.app.alive()


# Latin script a Russian reply may hold: commands (and /login qr), the brand, QR, the
# account's name, phone numbers.
_NOT_ENGLISH = re.compile(r"/login qr|/\w+|Telegram|QR|\bAnn\b|\+\d+")


def _english(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{2,}", _NOT_ENGLISH.sub(" ", text))


async def _russian_login(stack: Stack) -> None:
    api, mt, olga = stack.botapi, stack.mtproto, stack.botapi.users[ADMIN_ID]

    async def say(text: str, answer: str) -> Any:
        await api.send_text(olga, text)
        return await api.wait_for_message(ADMIN_ID, answer, timeout=15)

    await say("/login", r"^Пришлите номер телефона")
    await say("позвоните мне", r"^Это не похоже на номер телефона")
    mt.faults.add("auth.sendCode", "FLOOD_WAIT_65")
    await say(PHONE, r"Осталось ждать: 1 минута 5 секунд\.$")
    await say(UNKNOWN, r"^Код: —")
    await say("1 1 1 1 1", r"^Аккаунта Telegram с этим номером нет")
    keypad = await say(PHONE, r"^Код: —")
    await say("9-9-9-9-9", r"^Неверный код\. Осталось попыток: 2\.$")
    for key in (*CODE, "del", CODE[-1], "ok"):
        await api.press_button(olga, keypad, f"lk:{key}")
    await api.wait_for_message(ADMIN_ID, r"двухэтапная проверка", timeout=15)
    await say("не тот пароль", r"^Неверный пароль\. Осталось попыток: 2\.$")
    await say(PASSWORD, r"^✅ Вход выполнен: Ann")
    confirm = await say("/logout", r"^Выйти из аккаунта Ann")
    await api.press_button(olga, confirm, "logout:yes")
    await api.wait_for_message(ADMIN_ID, r"^Выход выполнен", timeout=15)
    await say("/login qr", r"Код действует \d+ секунд")
    await say("/cancel", r"^Отменено\.$")
    await say("/cancel", r"^Нечего отменять\.$")
    await say("/foo", r"^Команды /foo нет")
    await say("/logout", r"^Ни один аккаунт не подключён")


async def test_a_russian_speaking_operator_reads_only_russian(tmp_path: Path) -> None:
    world = World()
    world.add_account(PHONE, code=CODE, password=PASSWORD, first_name="Ann")
    async with running_stack(tmp_path, world) as stack:
        api = stack.botapi
        await _russian_login(stack)
        shown: list[str] = []
        for entry in api.transcript(ADMIN_ID):
            for version in entry.history:
                shown.append(version.text or "")
                shown += [text for row in version.reply_markup for text, _ in row]
        shown += [a.text or "" for a in api.answered_callbacks.values()]
        english = {text: _english(text) for text in shown if _english(text)}
        assert not english, english
        assert "Проверяю…" in shown  # the OK tap is answered before the sign-in
