"""An in-process Telegram Bot API server double for the real, unmodified aiogram 3.

See tests/doubles/README.md ("Bot API double") for the public API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Self

from aiohttp import BodyPartReader, hdrs, web

from .faults import GET_UPDATES_CONFLICT, FaultRegistry
from .formatting import EntityParseError, find_bot_commands, parse_text, utf16_len
from .models import (
    AnsweredCallback,
    Chat,
    EventKind,
    FilePart,
    Incoming,
    MessageSnapshot,
    RecordedRequest,
    StoredMessage,
    TranscriptEntry,
    UploadedFile,
    User,
    clock,
)

__all__ = ["ApiError", "BotAPIDouble", "Params"]

log = logging.getLogger(__name__)

Handler = Callable[["Params"], Awaitable[Any]]
Match = str | re.Pattern[str] | Callable[[MessageSnapshot], bool] | None
MessageRef = int | MessageSnapshot | TranscriptEntry | dict[str, Any] | Any

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
MAX_TEXT = 4096
MAX_INLINE_BUTTONS = 100
MAX_COMMANDS = 100
CALLBACK_ANSWER_TIMEOUT = 15.0  # seconds Telegram waits for answerCallbackQuery
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_PHOTO = 10 * 1024 * 1024  # sendPhoto: at most 10 MB (else PHOTO_SAVE_FILE_INVALID)
# What a bot can send, and the kind of file each method carries.
FILE_KINDS = ("photo", "document", "video", "audio", "voice", "animation")
# Per kind: (file_id prefix, folder of file_path, default mime type).
_KIND_FILES = {
    "photo": ("AgACAgIAAxkBAAI", "photos", None),
    "document": ("BQACAgIAAxkBAAI", "documents", "application/octet-stream"),
    "video": ("BAACAgIAAxkBAAI", "videos", "video/mp4"),
    "audio": ("CQACAgIAAxkBAAI", "music", "audio/mpeg"),
    "voice": ("AwACAgIAAxkBAAI", "voice", "audio/ogg"),
    "animation": ("CgACAgIAAxkBAAI", "animations", "video/mp4"),
}
MAX_DOWNLOAD = 20 * 1024 * 1024
ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_UPDATE_TYPES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
        "media",
        "allowed_updates",
        "message_ids",
        "menu_button",
        "explanation_entities",
        "options",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "from_chat_id",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "user_id",
        "max_connections",
        "duration",
        "width",
        "height",
    }
)
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
        "for_channels",
    }
)
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")


class ApiError(Exception):
    """An error answer: HTTP status = error_code, with Telegram's description."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class Params:
    """Decoded request parameters with typed getters that raise Telegram-like 400s."""

    def __init__(
        self, method: str, data: dict[str, Any], files: dict[str, FilePart], at: float
    ) -> None:
        self.method = method
        self.data = data
        self.files = files
        self.at = at

    def has(self, name: str) -> bool:
        return self.data.get(name) not in (None, "")

    def get_str(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise _bad(f"{name} is empty")
            return None if value is None else ""
        return value if isinstance(value, str) else json.dumps(value)

    def get_int(
        self, name: str, *, required: bool = False, default: int | None = None
    ) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise _bad(f"{name} is empty")
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_json(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(f"can't parse {name} JSON object") from None
        return value

    def file(self, name: str) -> FilePart | str | None:
        """A file part (multipart upload or attach://), or a file_id/URL string."""
        value = self.data.get(name)
        if name in self.files and value in (None, ""):
            return self.files[name]
        return self.resolve_file(value)

    def resolve_file(self, value: Any) -> FilePart | str | None:
        if isinstance(value, str) and value.startswith("attach://"):
            key = value.removeprefix("attach://")
            if key not in self.files:
                raise _bad(f"file of field {key} not found in the request")
            return self.files[key]
        if value is None or value == "":
            return None
        return str(value)


def _int_field(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Form values are strings: decode JSON fields, numbers and booleans we know."""
    result: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str):
            if key in JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError:
                    pass  # left as a string: the handler answers 400
            elif key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
                value = int(value)
            elif key in BOOL_FIELDS and value.lower() in ("true", "false"):
                value = value.lower() == "true"
        result[key] = value
    return result


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF, BMP or WebP image; None if not an image."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 512, 512
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


def _json_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)


def _error_response(error: ApiError) -> web.Response:
    payload: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.retry_after is not None:
        payload["parameters"] = {"retry_after": error.retry_after}
    return _json_response(payload, status=error.status)


class BotAPIDouble:
    """A Telegram Bot API server on 127.0.0.1 plus a scriptable world of users.

    Use ``await double.start()`` / ``await double.stop()`` or ``async with``; point
    aiogram at ``double.base_url`` with
    ``AiohttpSession(api=TelegramAPIServer.from_base(double.base_url))``.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "test_bot",
        bot_first_name: str = "Test Bot",
        max_upload_size: int = MAX_UPLOAD,
        conflict_on_concurrent_polls: bool = True,
        callback_answer_timeout: float = CALLBACK_ANSWER_TIMEOUT,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.max_upload_size = max_upload_size
        self.conflict_on_concurrent_polls = conflict_on_concurrent_polls
        # answerCallbackQuery later than this after the query was delivered: 400.
        self.callback_answer_timeout = callback_answer_timeout
        self.faults = FaultRegistry()

        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.requests: list[RecordedRequest] = []
        self.incoming: list[Incoming] = []
        self.deliveries: list[tuple[int, float]] = []
        self.dropped_updates: list[Incoming] = []
        self.uploads: list[UploadedFile] = []
        self.files: dict[str, UploadedFile] = {}
        self.answered_callbacks: dict[str, AnsweredCallback] = {}
        self.chat_actions: list[tuple[int, str, float]] = []
        self.webhook_url: str | None = None
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES

        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self._events: list[MessageSnapshot] = []
        self._cursors: dict[int, int] = {}
        self._pending: list[Incoming] = []
        self._next_update_id = 100_000
        self._callback_queries: dict[str, Incoming] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._file_seq = 0
        self._files_by_path: dict[str, UploadedFile] = {}
        self._media_group_seq = 0
        self._poll_generation = 0
        self._polls_waiting = 0
        self._change = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Handler]] = {}
        self._register_builtin_methods()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the Bot API double is not started")
        return f"http://{self.host}:{self.port}"

    def api_server(self) -> Any:
        """An aiogram ``TelegramAPIServer`` pointing at this double."""
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.base_url)

    async def start(self) -> Self:
        if self._runner is not None:
            return self
        self._closing = False
        app = web.Application(client_max_size=self.max_upload_size + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        log.debug("Bot API double listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def make_bot(self, **kwargs: Any) -> Any:
        """A real aiogram ``Bot`` with this double's token and server (close its session)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        return Bot(self.token, session=AiohttpSession(api=self.api_server()), **kwargs)

    @asynccontextmanager
    async def polling(
        self,
        dispatcher: Any,
        bot: Any,
        *,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Run ``dispatcher.start_polling(bot)`` until the block ends.

        Waits until the bot's first long poll is waiting (raises what polling raised
        if it died first, e.g. TelegramUnauthorizedError from getMe); on exit calls
        ``stop_polling()`` and awaits the task. The bot session stays open.
        """
        kwargs.setdefault("handle_signals", False)
        kwargs.setdefault("close_bot_session", False)
        task: asyncio.Task[None] = asyncio.create_task(dispatcher.start_polling(bot, **kwargs))
        try:
            deadline = clock() + timeout
            while self._polls_waiting == 0 and not task.done():
                remaining = deadline - clock()
                if remaining <= 0:
                    raise AssertionError(f"the bot did not start polling within {timeout}s")
                await asyncio.wait({task}, timeout=min(remaining, 0.05))
            if task.done():
                await task
                raise AssertionError("polling stopped before the first getUpdates")
            yield task
        finally:
            if not task.done():
                await dispatcher.stop_polling()
            await task

    # ---------------------------------------------------------------- the world

    def add_user(
        self,
        user_id: int,
        first_name: str = "Alice",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> User:
        """A user with a private chat (chat id = user id). ``started=False``: the
        bot gets 403 "can't initiate conversation" until the user writes first."""
        user = User(
            id=user_id,
            first_name=first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
            started=started,
        )
        self.users[user_id] = user
        self.chats[user_id] = Chat(
            id=user_id,
            type="private",
            username=username,
            first_name=first_name,
            last_name=last_name,
        )
        return user

    def add_chat(
        self,
        chat_id: int,
        type: str = "supergroup",
        title: str = "Test chat",
        *,
        username: str | None = None,
    ) -> Chat:
        """A group, supergroup or channel the bot can write to."""
        chat = Chat(id=chat_id, type=type, title=title, username=username)
        self.chats[chat_id] = chat
        return chat

    def block_bot(self, user: User | int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sends answer 403 Forbidden."""
        self._user(user).blocked_bot = blocked

    def _user(self, user: User | int) -> User:
        user_id = user if isinstance(user, int) else user.id
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}; add it with add_user()")
        return self.users[user_id]

    async def send_text(
        self,
        user: User | int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> Incoming:
        """The user sends ``text``; enqueues a ``message`` update for getUpdates.

        A leading (or any) /command gets a ``bot_command`` entity like Telegram adds.
        """
        sender = self._user(user)
        sender.started = True
        message = self._store_user_message(sender, chat_id, reply_to, "sendText")
        message.text = text
        message.entities = entities if entities is not None else find_bot_commands(text)
        return self._enqueue_message(message)

    async def send_document(
        self,
        user: User | int,
        filename: str,
        data: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        chat_id: int | None = None,
    ) -> Incoming:
        """The user sends a file; the bot can fetch it with getFile + download."""
        sender = self._user(user)
        sender.started = True
        message = self._store_user_message(sender, chat_id, None, "sendDocument")
        part = FilePart(data=data, filename=filename, content_type=mime_type)
        message.document = self._new_file(part, "document", {})
        message.caption = caption
        return self._enqueue_message(message)

    async def press_button(
        self,
        user: User | int,
        message: MessageRef,
        callback_data: str | None = None,
        *,
        text: str | None = None,
        chat_id: int | None = None,
    ) -> Incoming:
        """The user presses an inline button of a bot message (by data or by text).

        ``message`` is a message_id (in the user's private chat unless ``chat_id``),
        a snapshot, a transcript entry or a Message dict/object. The button must be
        in the message's *current* inline keyboard, else AssertionError.
        """
        presser = self._user(user)
        if (callback_data is None) == (text is None):
            raise ValueError("pass exactly one of callback_data or text")
        stored = self._find_message_ref(message, chat_id if chat_id is not None else presser.id)
        if stored.deleted:
            raise AssertionError(f"message {stored.message_id} was deleted; nothing to press")
        if not stored.from_bot:
            raise AssertionError(f"message {stored.message_id} is not a bot message")
        rows = (stored.markup or {}).get("inline_keyboard") or []
        buttons = [button for row in rows for button in row]
        if text is not None:
            found = [b for b in buttons if b.get("text") == text]
        else:
            found = [b for b in buttons if b.get("callback_data") == callback_data]
        if not found:
            available = [(b.get("text"), b.get("callback_data")) for b in buttons]
            wanted = f"text={text!r}" if text is not None else f"callback_data={callback_data!r}"
            raise AssertionError(
                f"message {stored.message_id} in chat {stored.chat.id} has no inline button "
                f"with {wanted}; buttons: {available}"
            )
        data = found[0].get("callback_data")
        if data is None:
            raise AssertionError(f"button {found[0].get('text')!r} is not a callback button")
        query_id = str(secrets.randbits(63))
        query = {
            "id": query_id,
            "from": presser.to_api(),
            "message": stored.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, stored.chat.id))) % 10**18),
            "data": data,
        }
        incoming = self._enqueue(
            {"callback_query": query},
            chat_id=stored.chat.id,
            message_id=stored.message_id,
            callback_query_id=query_id,
        )
        self._callback_queries[query_id] = incoming
        return incoming

    def _store_user_message(
        self, sender: User, chat_id: int | None, reply_to: int | None, method: str
    ) -> StoredMessage:
        chat = self.chats[chat_id if chat_id is not None else sender.id]
        now = clock()
        message = StoredMessage(
            chat=chat,
            message_id=self._take_message_id(chat.id),
            from_bot=False,
            sender=sender.to_api(),
            date=int(time.time()),
            created_at=now,
            method=method,
        )
        if reply_to is not None:
            message.reply_to = self._messages.get(chat.id, {}).get(reply_to)
        self._messages.setdefault(chat.id, {})[message.message_id] = message
        return message

    def _enqueue_message(self, message: StoredMessage) -> Incoming:
        self._record_event(message, "sent", message.created_at, message.method)
        return self._enqueue(
            {"message": message.to_api()},
            chat_id=message.chat.id,
            message_id=message.message_id,
            callback_query_id=None,
        )

    def _enqueue(
        self,
        payload: dict[str, Any],
        *,
        chat_id: int | None,
        message_id: int | None,
        callback_query_id: str | None,
    ) -> Incoming:
        update_id = self._next_update_id
        self._next_update_id += 1
        incoming = Incoming(
            update_id=update_id,
            update={"update_id": update_id, **payload},
            chat_id=chat_id,
            message_id=message_id,
            callback_query_id=callback_query_id,
            enqueued_at=clock(),
        )
        self.incoming.append(incoming)
        self._pending.append(incoming)
        self._notify()
        return incoming

    def enqueue_update(self, payload: dict[str, Any]) -> Incoming:
        """Enqueue any raw update body (without update_id), e.g. ``{"my_chat_member": ...}``."""
        return self._enqueue(payload, chat_id=None, message_id=None, callback_query_id=None)

    # ------------------------------------------------------------- observations

    def mark(self) -> int:
        """A marker for ``wait_for_message(after=...)``: only later events count."""
        return self._events[-1].seq if self._events else 0

    async def wait_for_message(
        self,
        chat_id: int | User,
        match: Match = None,
        *,
        timeout: float = 5.0,
        after: int | MessageSnapshot | None = None,
        kind: EventKind | Iterable[EventKind] | None = None,
        from_bot: bool | None = True,
    ) -> MessageSnapshot:
        """The next bot message event (sent or edited) in ``chat_id`` that matches.

        ``match``: regex (searched in text/caption), compiled pattern, or a
        predicate on the snapshot. ``after``: a ``mark()`` or a snapshot; by
        default the search starts after the event the previous wait in this chat
        returned (each wait moves that cursor). ``kind``: "sent", "edited",
        "deleted" or several (default sent+edited). AssertionError on timeout,
        with the chat's transcript.
        """
        chat = chat_id.id if isinstance(chat_id, User) else chat_id
        if after is None:
            start = self._cursors.get(chat, 0)
        elif isinstance(after, MessageSnapshot):
            start = after.seq
        else:
            start = after
        kinds: set[str]
        if kind is None:
            kinds = {"sent", "edited"}
        elif isinstance(kind, str):
            kinds = {kind}
        else:
            kinds = set(kind)
        deadline = clock() + timeout
        index = 0
        while True:
            for index_ in range(index, len(self._events)):
                event = self._events[index_]
                if (
                    event.seq > start
                    and event.chat_id == chat
                    and event.kind in kinds
                    and (from_bot is None or event.from_bot == from_bot)
                    and self._matches(event, match)
                ):
                    self._cursors[chat] = max(self._cursors.get(chat, 0), event.seq)
                    return event
            index = len(self._events)
            remaining = deadline - clock()
            if remaining <= 0:
                raise AssertionError(
                    f"no bot message in chat {chat} matching {match!r} ({sorted(kinds)}) "
                    f"within {timeout}s after event {start}; transcript:\n"
                    + self.format_transcript(chat, include_user=True)
                )
            await self._wait_change(remaining)

    @staticmethod
    def _matches(snapshot: MessageSnapshot, match: Match) -> bool:
        if match is None:
            return True
        if isinstance(match, str):
            return snapshot.text is not None and re.search(match, snapshot.text) is not None
        if isinstance(match, re.Pattern):
            return snapshot.text is not None and match.search(snapshot.text) is not None
        return bool(match(snapshot))

    def transcript(
        self, chat_id: int | User, *, include_user: bool = False
    ) -> list[TranscriptEntry]:
        """Every bot message of the chat in order: current state plus all versions."""
        chat = chat_id.id if isinstance(chat_id, User) else chat_id
        entries = []
        for message in sorted(self._messages.get(chat, {}).values(), key=lambda m: m.message_id):
            if not (message.from_bot or include_user) or not message.versions:
                continue
            entries.append(
                TranscriptEntry(current=message.versions[-1], history=list(message.versions))
            )
        return entries

    def format_transcript(self, chat_id: int | User, *, include_user: bool = True) -> str:
        lines = [
            entry.current.describe()
            for entry in self.transcript(chat_id, include_user=include_user)
        ]
        return "\n".join(lines) if lines else "(no messages)"

    def message(self, chat_id: int, message_id: int) -> MessageSnapshot:
        """Current state of one message (AssertionError if it never existed)."""
        stored = self._messages.get(chat_id, {}).get(message_id)
        if stored is None or not stored.versions:
            raise AssertionError(f"no message {message_id} in chat {chat_id}")
        return stored.versions[-1]

    def messages_deleted(self, chat_id: int | User) -> list[int]:
        """Ids of the chat's messages the bot deleted, in deletion order."""
        chat = chat_id.id if isinstance(chat_id, User) else chat_id
        return [e.message_id for e in self._events if e.chat_id == chat and e.kind == "deleted"]

    def request_count(self, method: str) -> int:
        return len(self.requests_for(method))

    def requests_for(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    async def wait_for_request(
        self,
        method: str,
        match: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 5.0,
        since: int = 0,
    ) -> RecordedRequest:
        """The first request for ``method`` at index >= ``since`` in ``requests``."""
        deadline = clock() + timeout
        while True:
            for request in self.requests[since:]:
                if request.method.lower() == method.lower() and (
                    match is None or match(request.params)
                ):
                    return request
            remaining = deadline - clock()
            if remaining <= 0:
                raise AssertionError(f"no {method} request within {timeout}s")
            await self._wait_change(remaining)

    async def wait_for_callback_answer(
        self,
        query: Incoming | str,
        *,
        timeout: float = 5.0,
    ) -> AnsweredCallback:
        """Wait until the bot answered the callback query of ``press_button``."""
        query_id = query.callback_query_id if isinstance(query, Incoming) else query
        if query_id is None:
            raise ValueError("not a callback query")
        deadline = clock() + timeout
        while query_id not in self.answered_callbacks:
            remaining = deadline - clock()
            if remaining <= 0:
                raise AssertionError(f"callback query {query_id} not answered within {timeout}s")
            await self._wait_change(remaining)
        return self.answered_callbacks[query_id]

    async def wait_for_poll(self, *, timeout: float = 5.0) -> None:
        """Wait until a getUpdates long poll is waiting (the bot is idle and polling)."""
        deadline = clock() + timeout
        while self._polls_waiting == 0:
            remaining = deadline - clock()
            if remaining <= 0:
                raise AssertionError(f"no getUpdates long poll within {timeout}s")
            await self._wait_change(remaining)

    @property
    def pending_updates(self) -> list[Incoming]:
        """Updates not yet acknowledged by a getUpdates offset."""
        return list(self._pending)

    @property
    def commands(self) -> dict[str, list[tuple[str, str]]]:
        """Default-scope commands by language_code ("" = all languages)."""
        return {
            lang: [(c["command"], c["description"]) for c in commands]
            for (scope, lang), commands in self._commands.items()
            if scope == '{"type":"default"}'
        }

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        key = (self._scope_key(scope), language_code)
        return [(c["command"], c["description"]) for c in self._commands.get(key, [])]

    @property
    def all_commands(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Every setMyCommands result by (canonical scope JSON, language_code)."""
        return {
            key: [(c["command"], c["description"]) for c in commands]
            for key, commands in self._commands.items()
        }

    # ------------------------------------------------------------- extension

    def register_method(self, name: str, handler: Handler) -> None:
        """Add or replace a Bot API method: ``async def handler(params) -> result``.

        Raise ``ApiError(status, description)`` for error answers.
        """
        self._methods[name.lower()] = (name, handler)

    # --------------------------------------------------------------- internals

    def _notify(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _wait_change(self, timeout: float) -> None:
        event = self._change
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def _record_event(
        self, message: StoredMessage, kind: EventKind, at: float, method: str
    ) -> MessageSnapshot:
        seq = (self._events[-1].seq if self._events else 0) + 1
        snapshot = message.snapshot(kind, seq, at, method)
        message.versions.append(snapshot)
        self._events.append(snapshot)
        self._notify()
        return snapshot

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _find_message_ref(self, ref: MessageRef, default_chat: int) -> StoredMessage:
        chat_id: int = default_chat
        if isinstance(ref, int):
            message_id = ref
        elif isinstance(ref, (MessageSnapshot, TranscriptEntry)):
            message_id = ref.message_id
            chat_id = ref.current.chat_id if isinstance(ref, TranscriptEntry) else ref.chat_id
        elif isinstance(ref, dict):
            message_id = int(ref["message_id"])
            chat_id = int(ref.get("chat", {}).get("id", default_chat))
        else:  # an aiogram Message or anything alike
            message_id = int(ref.message_id)
            chat_id = int(ref.chat.id)
        stored = self._messages.get(chat_id, {}).get(message_id)
        if stored is None:
            raise AssertionError(f"no message {message_id} in chat {chat_id}")
        return stored

    def _new_file(self, part: FilePart, kind: str, fields: dict[str, Any]) -> UploadedFile:
        self._file_seq += 1
        seq = self._file_seq
        filename = part.filename
        mime_type = part.content_type
        prefix, folder, default_mime = _KIND_FILES[kind]
        if kind != "photo" and filename:
            guessed = mimetypes.guess_type(filename)[0]
            if guessed or mime_type in (None, "application/octet-stream"):
                mime_type = guessed or default_mime
        if kind != "photo" and mime_type in (None, "application/octet-stream"):
            mime_type = default_mime
        width = height = None
        if kind == "photo":
            if len(part.data) > MAX_PHOTO:
                raise _bad("PHOTO_SAVE_FILE_INVALID")
            size = _image_size(part.data)
            if size is None:
                raise _bad("IMAGE_PROCESS_FAILED")
            width, height = size
            if (
                width + height > 10000
                or min(width, height) == 0
                or max(width, height) / min(width, height) > 20
            ):
                raise _bad("PHOTO_INVALID_DIMENSIONS")
            filename = None
            mime_type = None
        elif kind in ("video", "animation"):
            width = _int_field(fields, "width")
            height = _int_field(fields, "height")
        if kind == "voice":
            filename = None
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1]
        uploaded = UploadedFile(
            data=part.data,
            filename=filename,
            mime_type=mime_type,
            file_id=f"{prefix}{seq:05d}{secrets.token_urlsafe(12)}",
            file_unique_id=f"AgAD{seq:05d}",
            kind=kind,
            file_path=f"{folder}/file_{seq}{'.jpg' if kind == 'photo' else ext}",
            width=width,
            height=height,
            fields=fields,
        )
        self.files[uploaded.file_id] = uploaded
        self._files_by_path[uploaded.file_path] = uploaded
        return uploaded

    def _file_from_param(
        self, value: FilePart | str | None, kind: str, fields: dict[str, Any], name: str
    ) -> UploadedFile:
        if value is None:
            raise _bad(f"there is no {name} in the request")
        if isinstance(value, str):
            known = self.files.get(value)
            if known is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            return known
        if not value.data:
            raise _bad("file must be non-empty")
        uploaded = self._new_file(value, kind, fields)
        self.uploads.append(uploaded)
        return uploaded

    # ------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        at = clock()
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        if token != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            data, files = await self._decode(request)
        except ApiError as error:
            return _error_response(error)
        canonical, handler = self._methods.get(method_name.lower(), (method_name, None))
        record = RecordedRequest(method=canonical, params=data, at=at, files=files)
        self.requests.append(record)
        self._notify()
        response = await self._answer(request, record, handler)
        record.status = response.status
        self._notify()
        return response

    async def _answer(
        self, request: web.Request, record: RecordedRequest, handler: Handler | None
    ) -> web.StreamResponse:
        fault = self.faults.take(record.method, record.params)
        if fault is not None:
            log.debug("fault for %s: %s", record.method, fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            if fault.raw_body is not None:
                return web.Response(
                    status=fault.status or 502, text=fault.raw_body, content_type="text/html"
                )
            if fault.status is not None:
                return _error_response(
                    ApiError(
                        fault.status,
                        fault.error_description(record.method),
                        retry_after=fault.retry_after,
                    )
                )
        if handler is None:
            return _error_response(ApiError(404, "Not Found"))
        params = Params(record.method, record.params, record.files, record.at)
        try:
            result = await handler(params)
        except ApiError as error:
            log.debug("%s -> %s %s", record.method, error.status, error.description)
            return _error_response(error)
        return _json_response({"ok": True, "result": result})

    async def _decode(self, request: web.Request) -> tuple[dict[str, Any], dict[str, FilePart]]:
        data: dict[str, Any] = dict(request.query)
        files: dict[str, FilePart] = {}
        if request.method not in ("POST", "PUT") or not request.body_exists:
            return _normalize(data), files
        content_type = request.content_type
        if content_type == "multipart/form-data":
            reader = await request.multipart()
            total = 0
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    payload = await part.read(decode=True)
                    total += len(payload)
                    if total > self.max_upload_size:
                        raise ApiError(413, "Request Entity Too Large")
                    files[part.name] = FilePart(
                        data=bytes(payload),
                        filename=part.filename,
                        content_type=part.headers.get(hdrs.CONTENT_TYPE),
                    )
                else:
                    data[part.name] = await part.text()
        elif content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise _bad("JSON request body must be an object")
            data.update(body)
        else:
            form = await request.post()
            for key in form:
                value = form.getall(key)[-1]
                if isinstance(value, str):
                    data[key] = value
                elif isinstance(value, web.FileField):
                    files[key] = FilePart(
                        data=value.file.read(),
                        filename=value.filename,
                        content_type=value.content_type,
                    )
        return _normalize(data), files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        uploaded = self._files_by_path.get(request.match_info["path"])
        if uploaded is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(
            body=uploaded.data, content_type=uploaded.mime_type or "application/octet-stream"
        )

    # --------------------------------------------------------- method helpers

    def _chat(self, params: Params, name: str = "chat_id") -> Chat:
        value = params.data.get(name)
        if value is None or value == "":
            raise _bad(f"{name} is empty")
        if isinstance(value, str) and value.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == value[1:].lower():
                    return chat
            raise _bad("chat not found")
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        found = self.chats.get(chat_id)
        if found is None:
            raise _bad("chat not found")
        return found

    def _check_can_write(self, chat: Chat) -> None:
        if chat.type != "private":
            return
        user = self.users.get(chat.id)
        if user is None:
            return
        if user.blocked_bot:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not user.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")

    def _format(
        self, params: Params, text_field: str, entities_field: str, *, limit: int, is_caption: bool
    ) -> tuple[str | None, list[dict[str, Any]]]:
        text = params.get_str(text_field)
        if text is None or (is_caption and text == ""):
            return None, []
        entities = params.get_json(entities_field)
        if entities:
            if not isinstance(entities, list):
                raise _bad(f"can't parse {entities_field} JSON object")
            plain, parsed = text, entities
        else:
            try:
                plain, parsed = parse_text(text, params.get_str("parse_mode"))
            except EntityParseError as error:
                raise _bad(f"can't parse entities: {error}") from None
            except ValueError:
                raise _bad(f"unsupported parse_mode {params.get_str('parse_mode')!r}") from None
        if not plain.strip() and not is_caption:
            raise _bad("message text is empty")
        if utf16_len(plain) > limit:
            raise _bad("message caption is too long" if is_caption else "message is too long")
        return plain, parsed

    def _markup(self, params: Params) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup")
        if markup in (None, ""):
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
                raise _bad(
                    'can\'t parse inline keyboard button: field "inline_keyboard" '
                    "of the InlineKeyboardMarkup must be an Array of Arrays"
                )
            if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
                raise _bad("reply markup is too long")
            for row in rows:
                for button in row:
                    self._check_inline_button(button)
        elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise _bad("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_inline_button(button: Any) -> None:
        if not isinstance(button, dict) or not button.get("text"):
            raise _bad("can't parse inline keyboard button: Text must be non-empty")
        actions = [key for key in BUTTON_ACTIONS if key in button]
        if not actions:
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the "
                "inline keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
        if "url" in button:
            url = str(button["url"])
            if not re.match(r"(https?|tg)://\S+$", url):
                raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _reply_target(self, params: Params, chat: Chat) -> StoredMessage | None:
        reply = params.get_json("reply_parameters")
        message_id: int | None = None
        allow_without = params.get_bool("allow_sending_without_reply")
        if isinstance(reply, dict):
            message_id = int(reply.get("message_id", 0)) or None
            allow_without = allow_without or bool(reply.get("allow_sending_without_reply"))
        elif params.has("reply_to_message_id"):
            message_id = params.get_int("reply_to_message_id")
        if message_id is None:
            return None
        target = self._messages.get(chat.id, {}).get(message_id)
        if target is None or target.deleted:
            if allow_without:
                return None
            raise _bad("message to be replied not found")
        return target

    def _new_bot_message(self, params: Params, chat: Chat) -> StoredMessage:
        message = StoredMessage(
            chat=chat,
            message_id=self._take_message_id(chat.id),
            from_bot=True,
            sender=dict(self.bot_user),
            date=int(time.time()),
            created_at=params.at,
            method=params.method,
        )
        return message

    def _commit_new(self, message: StoredMessage, params: Params) -> dict[str, Any]:
        self._messages.setdefault(message.chat.id, {})[message.message_id] = message
        self._record_event(message, "sent", params.at, params.method)
        return message.to_api()

    def _message_to_edit(self, params: Params) -> StoredMessage:
        if params.has("inline_message_id"):
            raise _bad("inline messages are not supported by the Bot API double")
        chat = self._chat(params)
        message_id = params.get_int("message_id", required=True)
        assert message_id is not None
        stored = self._messages.get(chat.id, {}).get(message_id)
        if stored is None or stored.deleted:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return stored

    def _commit_edit(self, message: StoredMessage, params: Params) -> dict[str, Any]:
        message.edit_date = int(time.time())
        message.edited_at = params.at
        self._record_event(message, "edited", params.at, params.method)
        return message.to_api()

    # ---------------------------------------------------------------- methods

    def _register_builtin_methods(self) -> None:
        methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendVideo": self._send_video,
            "sendAudio": self._send_audio,
            "sendVoice": self._send_voice,
            "sendAnimation": self._send_animation,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "close": self._true,
            "logOut": self._true,
            "setMyDescription": self._true,
            "setMyShortDescription": self._true,
            "setMyName": self._true,
            "setChatMenuButton": self._true,
        }
        for name, handler in methods.items():
            self.register_method(name, handler)

    async def _true(self, params: Params) -> bool:
        return True

    async def _get_me(self, params: Params) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get_int("offset")
        limit = min(max(params.get_int("limit", default=100) or 100, 1), 100)
        timeout = max(params.get_int("timeout", default=0) or 0, 0)
        allowed = params.get_json("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        self._poll_generation += 1
        generation = self._poll_generation
        self._acknowledge(offset)
        deadline = clock() + timeout
        self._polls_waiting += 1
        # Wakes an older long poll (it answers 409 like Telegram) and wait_for_poll().
        self._notify()
        try:
            while True:
                if self._closing:
                    return []
                if self.conflict_on_concurrent_polls and generation != self._poll_generation:
                    raise ApiError(409, GET_UPDATES_CONFLICT)
                batch = self._deliverable(limit)
                remaining = deadline - clock()
                if batch or remaining <= 0:
                    return self._deliver(batch)
                await self._wait_change(remaining)
        finally:
            self._polls_waiting -= 1

    def _acknowledge(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset > 0:
            keep = [u for u in self._pending if u.update_id >= offset]
        else:
            keep = self._pending[offset:]
        for incoming in self._pending:
            if incoming not in keep:
                incoming.acknowledged = True
        self._pending = keep

    def _deliverable(self, limit: int) -> list[Incoming]:
        batch: list[Incoming] = []
        for incoming in list(self._pending):
            if incoming.type not in self.allowed_updates:
                incoming.dropped = True
                self._pending.remove(incoming)
                self.dropped_updates.append(incoming)
                continue
            batch.append(incoming)
            if len(batch) >= limit:
                break
        return batch

    def _deliver(self, batch: list[Incoming]) -> list[dict[str, Any]]:
        now = clock()
        for incoming in batch:
            incoming.delivered_at = now
            incoming.delivery_count += 1
            incoming.delivered.set()
            self.deliveries.append((incoming.update_id, now))
        return [incoming.update for incoming in batch]

    async def _send_message(self, params: Params) -> dict[str, Any]:
        chat = self._chat(params)
        text, entities = self._format(params, "text", "entities", limit=MAX_TEXT, is_caption=False)
        if text is None:
            raise _bad("message text is empty")
        markup = self._markup(params)
        reply_to = self._reply_target(params, chat)
        self._check_can_write(chat)
        message = self._new_bot_message(params, chat)
        message.text, message.entities, message.markup = text, entities, markup
        message.reply_to = reply_to
        return self._commit_new(message, params)

    async def _edit_message_text(self, params: Params) -> dict[str, Any]:
        message = self._message_to_edit(params)
        text, entities = self._format(params, "text", "entities", limit=MAX_TEXT, is_caption=False)
        if text is None:
            raise _bad("text is empty")
        markup = self._markup(params)
        if message.text is None:
            raise _bad("there is no text in the message to edit")
        if (text, entities, markup) == (message.text, message.entities, message.markup):
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.entities, message.markup = text, entities, markup
        return self._commit_edit(message, params)

    async def _edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        message = self._message_to_edit(params)
        markup = self._markup(params)
        if markup == message.markup:
            raise ApiError(400, NOT_MODIFIED)
        message.markup = markup
        return self._commit_edit(message, params)

    async def _edit_message_caption(self, params: Params) -> dict[str, Any]:
        message = self._message_to_edit(params)
        caption, entities = self._format(
            params, "caption", "caption_entities", limit=MAX_CAPTION, is_caption=True
        )
        markup = self._markup(params)
        if message.document is None and message.photo is None:
            raise _bad("there is no caption in the message to edit")
        if (caption, entities, markup) == (
            message.caption,
            message.caption_entities,
            message.markup,
        ):
            raise ApiError(400, NOT_MODIFIED)
        message.caption, message.caption_entities, message.markup = caption, entities, markup
        return self._commit_edit(message, params)

    async def _edit_message_media(self, params: Params) -> dict[str, Any]:
        message = self._message_to_edit(params)
        media = params.get_json("media")
        if not isinstance(media, dict) or media.get("type") not in ("document", "photo"):
            raise _bad("media type is not supported by the Bot API double")
        if message.document is None and message.photo is None:
            raise _bad("there is no media in the message to edit")
        item = Params(params.method, _normalize(media), params.files, params.at)
        kind = str(media["type"])
        uploaded = self._file_from_param(
            params.resolve_file(media.get("media")), kind, dict(params.data), "media"
        )
        caption, entities = self._format(
            item, "caption", "caption_entities", limit=MAX_CAPTION, is_caption=True
        )
        markup = self._markup(params)
        current = message.document or message.photo
        assert current is not None
        if (
            uploaded.data == current.data
            and uploaded.kind == current.kind
            and (caption, entities, markup)
            == (message.caption, message.caption_entities, message.markup)
        ):
            raise ApiError(400, NOT_MODIFIED)
        message.document = uploaded if kind == "document" else None
        message.photo = uploaded if kind == "photo" else None
        message.caption, message.caption_entities, message.markup = caption, entities, markup
        return self._commit_edit(message, params)

    def _delete(self, chat: Chat, message_id: int, params: Params) -> bool:
        stored = self._messages.get(chat.id, {}).get(message_id)
        if stored is None or stored.deleted:
            return False
        stored.deleted = True
        stored.deleted_at = params.at
        self._record_event(stored, "deleted", params.at, params.method)
        return True

    async def _delete_message(self, params: Params) -> bool:
        chat = self._chat(params)
        message_id = params.get_int("message_id", required=True)
        assert message_id is not None
        if not self._delete(chat, message_id, params):
            raise _bad("message to delete not found")
        return True

    async def _delete_messages(self, params: Params) -> bool:
        chat = self._chat(params)
        ids = params.get_json("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a list of 1-100 message identifiers")
        for message_id in ids:
            self._delete(chat, int(message_id), params)  # missing ones are skipped
        return True

    async def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id", required=True)
        assert query_id is not None
        if query_id not in self._callback_queries or query_id in self.answered_callbacks:
            raise ApiError(400, QUERY_INVALID)
        incoming = self._callback_queries[query_id]
        delivered = incoming.delivered_at if incoming.delivered_at is not None else params.at
        if params.at - delivered > self.callback_answer_timeout:
            raise ApiError(400, QUERY_INVALID)
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self.answered_callbacks[query_id] = AnsweredCallback(
            callback_query_id=query_id,
            text=text,
            show_alert=params.get_bool("show_alert"),
            url=params.get_str("url"),
            cache_time=params.get_int("cache_time"),
            at=params.at,
            params=dict(params.data),
        )
        return True

    async def _send_file_message(self, params: Params, kind: str) -> dict[str, Any]:
        chat = self._chat(params)
        caption, entities = self._format(
            params, "caption", "caption_entities", limit=MAX_CAPTION, is_caption=True
        )
        markup = self._markup(params)
        reply_to = self._reply_target(params, chat)
        self._check_can_write(chat)
        fields = {k: v for k, v in params.data.items() if k != kind}
        uploaded = self._file_from_param(params.file(kind), kind, fields, kind)
        message = self._new_bot_message(params, chat)
        if kind == "photo":
            message.photo = uploaded
        else:
            message.document = uploaded
        message.caption, message.caption_entities, message.markup = caption, entities, markup
        message.reply_to = reply_to
        return self._commit_new(message, params)

    async def _send_document(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "document")

    async def _send_photo(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "photo")

    async def _send_video(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "video")

    async def _send_audio(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "audio")

    async def _send_voice(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "voice")

    async def _send_animation(self, params: Params) -> dict[str, Any]:
        return await self._send_file_message(params, "animation")

    async def _send_media_group(self, params: Params) -> list[dict[str, Any]]:
        chat = self._chat(params)
        media = params.get_json("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("media group must contain 2-10 items")
        reply_to = self._reply_target(params, chat)
        self._check_can_write(chat)
        prepared = []
        types_in_group = {item.get("type") for item in media if isinstance(item, dict)}
        for lonely in ("document", "audio"):
            # Telegram: documents and audio files group only with their own kind.
            if lonely in types_in_group and len(types_in_group) > 1:
                raise _bad(f"{lonely} can't be mixed with other media types in an album")
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in (
                "document", "photo", "video", "audio"
            ):
                raise _bad("wrong media type in the album")
            item_params = Params(params.method, _normalize(item), params.files, params.at)
            caption, entities = self._format(
                item_params, "caption", "caption_entities", limit=MAX_CAPTION, is_caption=True
            )
            kind = str(item["type"])
            uploaded = self._file_from_param(
                params.resolve_file(item.get("media")), kind, dict(item), "media"
            )
            prepared.append((kind, uploaded, caption, entities))
        self._media_group_seq += 1
        group_id = str(13_000_000_000_000_000 + self._media_group_seq)
        results = []
        for kind, uploaded, caption, entities in prepared:
            message = self._new_bot_message(params, chat)
            message.media_group_id = group_id
            message.reply_to = reply_to
            if kind == "photo":
                message.photo = uploaded
            else:
                message.document = uploaded
            message.caption, message.caption_entities = caption, entities
            results.append(self._commit_new(message, params))
        return results

    async def _send_chat_action(self, params: Params) -> bool:
        chat = self._chat(params)
        action = params.get_str("action", required=True)
        if action not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._check_can_write(chat)
        self.chat_actions.append((chat.id, action, params.at))
        return True

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True, separators=(",", ":"))

    async def _set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            description = str(command.get("description", "")) if isinstance(command, dict) else ""
            if not _COMMAND_NAME_RE.fullmatch(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (self._scope_key(params.get_json("scope")), params.get_str("language_code") or "")
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: Params) -> list[dict[str, str]]:
        key = (self._scope_key(params.get_json("scope")), params.get_str("language_code") or "")
        return list(self._commands.get(key, []))

    async def _delete_my_commands(self, params: Params) -> bool:
        key = (self._scope_key(params.get_json("scope")), params.get_str("language_code") or "")
        self._commands.pop(key, None)
        return True

    async def _set_webhook(self, params: Params) -> bool:
        self.webhook_url = params.get_str("url") or None
        if params.get_bool("drop_pending_updates"):
            self._drop_pending()
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        self.webhook_url = None
        if params.get_bool("drop_pending_updates"):
            self._drop_pending()
        return True

    def _drop_pending(self) -> None:
        for incoming in self._pending:
            incoming.dropped = True
            self.dropped_updates.append(incoming)
        self._pending = []

    async def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    async def _get_chat(self, params: Params) -> dict[str, Any]:
        return self._chat(params).full_info()

    async def _get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.get_str("file_id", required=True)
        uploaded = self.files.get(file_id or "")
        if uploaded is None:
            raise _bad("invalid file_id")
        if uploaded.size > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return uploaded.file_api()
