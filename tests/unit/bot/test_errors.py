"""bot/errors.py: every login error has a text in both languages; waits read well."""

from __future__ import annotations

import pytest

from bot.component import COMMANDS
from bot.errors import render
from bot.labels import duration
from bot.texts import LANGS, t
from bot.texts import keys as text_keys
from core.errors import LoginFailed, ProjectError, RateLimited
from core.login import LoginCode


def test_every_login_error_and_command_has_both_languages() -> None:
    for code in LoginCode:
        assert f"login_err_{code.value}" in text_keys(), code
        for lang in LANGS:
            assert render(LoginFailed(code), lang).text
    for name in ("login", "logout"):
        assert name in COMMANDS
        assert all(t(f"cmd_{name}", lang) for lang in LANGS)


def test_login_errors_render_their_fields() -> None:
    left = render(LoginFailed(LoginCode.CODE_INVALID, attempts_left=2), "en")
    assert left.text == "Wrong code. Attempts left: 2." and left.markup is None
    wait = render(LoginFailed(LoginCode.FLOOD_WAIT, retry_in=65), "en")
    assert "1 minute 5 seconds" in wait.text
    busy = render(LoginFailed(LoginCode.BUSY, name="Olga"), "ru")
    assert "Olga" in busy.text
    expired = render(LoginFailed(LoginCode.CODE_EXPIRED), "en")
    assert expired.markup is not None
    assert expired.markup.inline_keyboard[0][0].callback_data == "lk:resend"
    assert "5 minutes" in render(RateLimited(300), "en").text
    assert render(ProjectError("x"), "en").text == t("error_generic", "en")


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (0, "0 seconds", "0 секунд"),
        (1, "1 second", "1 секунда"),
        (22, "22 seconds", "22 секунды"),
        (11, "11 seconds", "11 секунд"),
        (65, "1 minute 5 seconds", "1 минута 5 секунд"),
        (300, "5 minutes", "5 минут"),
        (21 * 60 + 3, "21 minutes 3 seconds", "21 минута 3 секунды"),
        (3600, "1 hour", "1 час"),
        (2 * 3600 + 4 * 60 + 59, "2 hours 4 minutes", "2 часа 4 минуты"),
        (25 * 3600, "25 hours", "25 часов"),
    ],
)
def test_login_waits_read_as_people_write_them(seconds: int, en: str, ru: str) -> None:
    assert (duration(seconds, "en", words=True), duration(seconds, "ru", words=True)) == (en, ru)
