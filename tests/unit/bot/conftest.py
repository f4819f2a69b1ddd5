"""In-process handler tests, aiogram's own pattern: real `Update`s fed through a real
Dispatcher (built by the real ControlBot and router functions) with fake services.

Every request the handlers make goes to `RecordingSession`, which checks it with the
Bot API double's own rules (HTML that Telegram parses, 4096 characters, buttons and
their callback data) and answers with a plausible result; nothing leaves the process.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)

from bot.component import ControlBot
from core.health import HealthRegistry
from tests.doubles.botapi import BotAPIDouble
from tests.doubles.botapi.server import MAX_CAPTION, MAX_TEXT, MAX_UPLOAD, Params
from tests.unit.bot.fakes import FakeChannels, FakeStatus, make_deps

ADMIN = 100
STRANGER = 200
TOKEN = "42:TEST-TOKEN"

# The double's checks read only their `params`: an instance without a server applies them.
_RULES = BotAPIDouble.__new__(BotAPIDouble)


@dataclass
class Sent:
    """One request the bot made (its method name and JSON-ready parameters)."""

    method: str
    params: dict[str, Any]
    result: Any = None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback data) of every inline button, row after row."""
        markup = self.result.reply_markup if isinstance(self.result, Message) else None
        if markup is None:
            return []
        return [(b.text, b.callback_data or "") for row in markup.inline_keyboard for b in row]


class RecordingSession(BaseSession):
    """An aiogram session that records and checks requests instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Sent] = []
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise AssertionError("handlers under test download nothing")
        yield b""  # pragma: no cover

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        files: dict[str, Any] = {}
        data = {
            k: self.prepare_value(v, bot=bot, files=files)
            for k, v in method.model_dump(warnings=False).items()
            if v is not None
        }
        name = method.__api_method__
        self._check(name, data)
        self._check_files(name, files)
        result = self._result(method, data)
        if isinstance(result, Message):  # as aiogram's own sessions do: it can be edited
            result = result.as_(bot)
        sent = Sent(name, data, result)
        self.requests.append(sent)
        return cast(TelegramType, sent.result)

    @staticmethod
    def _check(name: str, data: dict[str, Any]) -> None:
        """What the Bot API double would refuse with a 400, raised here as it is."""
        params = Params(name, data, {}, 0.0)
        if name in ("sendMessage", "editMessageText"):
            _RULES._format(params, "text", "entities", limit=MAX_TEXT, is_caption=False)
        elif "caption" in data:
            _RULES._format(
                params, "caption", "caption_entities", limit=MAX_CAPTION, is_caption=True
            )
        if "reply_markup" in data:
            _RULES._markup(params)

    @staticmethod
    def _check_files(name: str, files: dict[str, Any]) -> None:
        """Uploads Telegram refuses: a file over the Bot API's 50 MB, a photo over 10 MB."""
        for value in files.values():
            path = getattr(value, "path", None)
            if path is None:
                continue
            size = Path(path).stat().st_size
            if size > MAX_UPLOAD:
                raise AssertionError(f"{name}: {size} bytes: Request Entity Too Large")
            if name == "sendPhoto" and size > 10 * 1024 * 1024:
                raise AssertionError(f"sendPhoto: {size} bytes: PHOTO_INVALID_DIMENSIONS")

    def _result(self, method: TelegramMethod[Any], data: dict[str, Any]) -> Any:
        name = method.__api_method__
        if name not in ("sendMessage", "editMessageText"):
            return True
        markup = getattr(method, "reply_markup", None)
        return Message(
            message_id=int(data.get("message_id") or next(self._ids)),
            date=datetime.now(UTC),
            chat=Chat(id=int(data["chat_id"]), type="private"),
            text=str(data["text"]),
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )

    def sent(self, method: str = "sendMessage") -> list[Sent]:
        return [r for r in self.requests if r.method == method]

    def texts(self) -> list[str]:
        """The text of every message sent or edited, in order."""
        return [r.text for r in self.requests if r.method in ("sendMessage", "editMessageText")]


@dataclass
class Updates:
    """Builders of the `Update`s Telegram sends."""

    lang: str = "en"
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def user(self, user_id: int = ADMIN) -> User:
        return User(id=user_id, is_bot=False, first_name="Op", language_code=self.lang)

    def message(self, text: str, user_id: int = ADMIN) -> Update:
        """A private message; a leading /command gets its bot_command entity."""
        entities = None
        if m := re.match(r"/\w+(@\w+)?", text):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(m.group(0)))]
        n = next(self._ids)
        msg = Message(
            message_id=n,
            date=datetime.now(UTC),
            chat=Chat(id=user_id, type="private"),
            from_user=self.user(user_id),
            text=text,
            entities=entities,
        )
        return Update(update_id=n, message=msg)

    def press(self, data: str, on: Sent | None = None, user_id: int = ADMIN) -> Update:
        """A press of the button carrying `data`, on the message `on` (a sent one)."""
        n = next(self._ids)
        shown = on.result if on is not None and isinstance(on.result, Message) else None
        query = CallbackQuery(
            id=str(n),
            from_user=self.user(user_id),
            chat_instance="ci",
            data=data,
            message=shown
            or Message(
                message_id=n, date=datetime.now(UTC), chat=Chat(id=user_id, type="private")
            ),
        )
        return Update(update_id=n, callback_query=query)


@dataclass
class BotUnderTest:
    control: ControlBot
    bot: Bot
    session: RecordingSession
    updates: Updates
    channels: FakeChannels
    health: HealthRegistry

    async def send(self, text: str, user_id: int = ADMIN) -> list[Sent]:
        """Feed one message; the requests it caused."""
        return await self._feed(self.updates.message(text, user_id))

    async def press(self, data: str, on: Sent | None = None) -> list[Sent]:
        """Press a button: the press is answered once (Telegram shows a spinner until
        then); the other requests it caused."""
        sent = await self._feed(self.updates.press(data, on))
        answers = [s for s in sent if s.method == "answerCallbackQuery"]
        assert len(answers) == 1, [s.method for s in sent]
        return [s for s in sent if s.method != "answerCallbackQuery"]

    async def _feed(self, update: Update) -> list[Sent]:
        start = len(self.session.requests)
        await self.control.dp.feed_update(self.bot, update)
        return self.session.requests[start:]


@pytest.fixture
def channels() -> FakeChannels:
    return FakeChannels()


@pytest.fixture
def zone() -> ZoneInfo:
    """The operators' zone (TIMEZONE) the bot under test runs with; a test picks
    another with `@pytest.mark.parametrize("zone", [ZoneInfo("Europe/Moscow")])`."""
    return ZoneInfo("UTC")


@pytest.fixture
def tg(channels: FakeChannels, zone: ZoneInfo) -> BotUnderTest:
    """The real ControlBot (operator gate, dialogues, every router) over fakes."""
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    health = HealthRegistry()
    health.set("bot", "running")
    deps = make_deps({ADMIN}, channels=channels, status=FakeStatus(health), tz=zone)
    # Every router is built by a function: each test gets its own Dispatcher tree.
    control = ControlBot(bot, deps, health=health)
    return BotUnderTest(control, bot, session, Updates(), channels, health)
