"""Data objects of the Bot API double's world: users, chats, files, messages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AnsweredCallback",
    "Button",
    "Chat",
    "FilePart",
    "Incoming",
    "MessageSnapshot",
    "RecordedRequest",
    "StoredMessage",
    "TranscriptEntry",
    "UploadedFile",
    "User",
    "markup_buttons",
]

EventKind = Literal["sent", "edited", "deleted"]
Button = tuple[str, str | None]


def clock() -> float:
    """The double's time base for every ``*_at`` attribute (``time.monotonic``)."""
    return time.monotonic()


@dataclass
class User:
    """A Telegram user that talks to the bot; their private chat id equals ``id``."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    started: bool = True
    blocked_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
        }
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


@dataclass
class Chat:
    """A chat the bot can write to: private (id = user id), group, supergroup, channel."""

    id: int
    type: str = "private"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    def full_info(self) -> dict[str, Any]:
        return {
            **self.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }


@dataclass
class FilePart:
    """A file part of a multipart request, as it arrived."""

    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class UploadedFile:
    """A file the bot uploaded (or a user sent): the bytes plus Telegram's metadata."""

    data: bytes
    filename: str | None
    mime_type: str | None
    file_id: str
    file_unique_id: str
    kind: str  # "photo", "document", "video", "audio", "voice" or "animation"
    file_path: str
    width: int | None = None
    height: int | None = None
    uploaded_at: float = field(default_factory=clock)
    fields: dict[str, Any] = field(default_factory=dict)  # the other params of the request

    @property
    def size(self) -> int:
        return len(self.data)

    def text(self, encoding: str = "utf-8") -> str:
        return self.data.decode(encoding)

    def document_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename:
            data["file_name"] = self.filename
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data

    def media_api(self) -> dict[str, Any]:
        """The Bot API object of a non-photo file of its kind (Document, Video, Audio,
        Voice, Animation); duration/width/height/title/performer from the request."""
        data = self.document_api()
        fields = self.fields

        def number(name: str) -> int:
            try:
                return int(fields.get(name) or 0)
            except (TypeError, ValueError):
                return 0

        if self.kind in ("video", "animation"):
            data.update(width=self.width or 0, height=self.height or 0,
                        duration=number("duration"))
        elif self.kind in ("audio", "voice"):
            data["duration"] = number("duration")
            if self.kind == "audio":
                for name in ("title", "performer"):
                    if fields.get(name):
                        data[name] = str(fields[name])
        return data

    def photo_api(self) -> list[dict[str, Any]]:
        width, height = self.width or 1, self.height or 1
        sizes = []
        scale = min(1.0, 90 / max(width, height))
        if scale < 1.0:
            sizes.append(
                {
                    "file_id": self.file_id + "-s",
                    "file_unique_id": self.file_unique_id + "-s",
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                    "file_size": max(1, self.size // 20),
                }
            )
        sizes.append(
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "width": width,
                "height": height,
                "file_size": self.size,
            }
        )
        return sizes

    def file_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


def markup_buttons(markup: dict[str, Any] | None) -> list[list[Button]]:
    """Rows of (text, callback_data) of an inline or reply keyboard (empty if none)."""
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    result: list[list[Button]] = []
    for row in rows:
        buttons: list[Button] = []
        for button in row:
            if isinstance(button, str):
                buttons.append((button, None))
            else:
                buttons.append((str(button.get("text", "")), button.get("callback_data")))
        result.append(buttons)
    return result


@dataclass(frozen=True, eq=False)
class MessageSnapshot:
    """A message as it was at one event (sent, edited or deleted).

    ``text`` is the text or the caption; ``reply_markup`` (alias ``buttons``) is
    rows of (text, callback_data); ``markup`` is the raw reply_markup dict.
    ``created_at`` is when the sending request arrived, ``at`` when this version's
    request arrived (``clock()`` time base, i.e. ``time.monotonic``).
    """

    chat_id: int
    message_id: int
    kind: EventKind
    seq: int
    version: int
    from_bot: bool
    method: str
    text: str | None
    caption: str | None
    entities: list[dict[str, Any]]
    reply_markup: list[list[Button]]
    markup: dict[str, Any] | None
    document: UploadedFile | None
    photo: UploadedFile | None
    media_group_id: str | None
    reply_to_message_id: int | None
    deleted: bool
    created_at: float
    at: float
    edited_at: float | None
    message: dict[str, Any]

    @property
    def buttons(self) -> list[list[Button]]:
        return self.reply_markup

    @property
    def button_texts(self) -> list[str]:
        return [text for row in self.reply_markup for text, _ in row]

    @property
    def callback_datas(self) -> list[str]:
        return [data for row in self.reply_markup for _, data in row if data is not None]

    @property
    def media(self) -> UploadedFile | None:
        """The file the message carries (photo or any other kind: `media.kind`)."""
        return self.photo or self.document

    @property
    def video(self) -> UploadedFile | None:
        return self._of_kind("video")

    @property
    def audio(self) -> UploadedFile | None:
        return self._of_kind("audio")

    @property
    def voice(self) -> UploadedFile | None:
        return self._of_kind("voice")

    @property
    def animation(self) -> UploadedFile | None:
        return self._of_kind("animation")

    def _of_kind(self, kind: str) -> UploadedFile | None:
        doc = self.document
        return doc if doc is not None and doc.kind == kind else None

    def button(self, text: str) -> Button:
        """The button whose text equals ``text`` (AssertionError if none)."""
        for row in self.reply_markup:
            for button in row:
                if button[0] == text:
                    return button
        raise AssertionError(f"no button {text!r} in {self.reply_markup!r}")

    def describe(self) -> str:
        flags = []
        if self.deleted:
            flags.append("deleted")
        if self.version > 1:
            flags.append(f"v{self.version}")
        if self.document is not None:
            flags.append(f"document={self.document.filename!r}")
        if self.photo is not None:
            flags.append("photo")
        head = f"#{self.message_id} {'bot' if self.from_bot else 'user'}"
        if flags:
            head += f" [{', '.join(flags)}]"
        text = (self.text or "").replace("\n", "\\n")
        if len(text) > 120:
            text = text[:117] + "..."
        buttons = f" buttons={self.button_texts}" if self.reply_markup else ""
        return f"{head}: {text!r}{buttons}"


@dataclass
class TranscriptEntry:
    """A message of a transcript: its current state and every version it went through."""

    current: MessageSnapshot
    history: list[MessageSnapshot]

    @property
    def message_id(self) -> int:
        return self.current.message_id

    @property
    def text(self) -> str | None:
        return self.current.text

    @property
    def reply_markup(self) -> list[list[Button]]:
        return self.current.reply_markup

    @property
    def deleted(self) -> bool:
        return self.current.deleted

    @property
    def from_bot(self) -> bool:
        return self.current.from_bot

    @property
    def edits(self) -> int:
        return sum(1 for s in self.history if s.kind == "edited")


@dataclass
class StoredMessage:
    """Mutable server-side state of one message."""

    chat: Chat
    message_id: int
    from_bot: bool
    sender: dict[str, Any]
    date: int
    created_at: float
    method: str
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    markup: dict[str, Any] | None = None
    document: UploadedFile | None = None
    photo: UploadedFile | None = None
    media_group_id: str | None = None
    reply_to: StoredMessage | None = None
    edit_date: int | None = None
    edited_at: float | None = None
    deleted: bool = False
    deleted_at: float | None = None
    versions: list[MessageSnapshot] = field(default_factory=list)

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"message_id": self.message_id}
        if self.chat.type == "channel":
            data["sender_chat"] = self.chat.to_api()  # channel posts have no "from"
        else:
            data["from"] = self.sender
        data["chat"] = self.chat.to_api()
        data["date"] = self.date
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.media_group_id:
            data["media_group_id"] = self.media_group_id
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.document is not None:
            kind = self.document.kind
            data[kind] = self.document.media_api()
            if kind == "animation":  # Telegram sends an animation as both
                data["document"] = self.document.document_api()
        if self.photo is not None:
            data["photo"] = self.photo.photo_api()
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.markup and "inline_keyboard" in self.markup:
            # Telegram returns only inline keyboards in Message.reply_markup.
            data["reply_markup"] = self.markup
        return data

    def snapshot(self, kind: EventKind, seq: int, at: float, method: str) -> MessageSnapshot:
        text = self.text if self.text is not None else self.caption
        return MessageSnapshot(
            chat_id=self.chat.id,
            message_id=self.message_id,
            kind=kind,
            seq=seq,
            version=len(self.versions) + 1,
            from_bot=self.from_bot,
            method=method,
            text=text,
            caption=self.caption,
            entities=list(self.entities if self.text is not None else self.caption_entities),
            reply_markup=markup_buttons(self.markup),
            markup=self.markup,
            document=self.document,
            photo=self.photo,
            media_group_id=self.media_group_id,
            reply_to_message_id=self.reply_to.message_id if self.reply_to else None,
            deleted=self.deleted,
            created_at=self.created_at,
            at=at,
            edited_at=self.edited_at,
            message=self.to_api(),
        )


@dataclass
class Incoming:
    """An update the test put in the bot's queue (a user's message or button press).

    ``delivered_at`` is set (``clock()`` time) when a getUpdates answer hands it to
    the bot; ``acknowledged`` once a later getUpdates offset confirms it.
    """

    update_id: int
    update: dict[str, Any]
    chat_id: int | None
    message_id: int | None
    callback_query_id: str | None
    enqueued_at: float
    delivered_at: float | None = None
    delivery_count: int = 0
    acknowledged: bool = False
    dropped: bool = False
    delivered: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def type(self) -> str:
        return next(key for key in self.update if key != "update_id")

    @property
    def message(self) -> dict[str, Any] | None:
        return self.update.get("message")

    async def wait_delivered(self, timeout: float = 5.0) -> float:
        """Wait until the bot fetched this update; return ``delivered_at``."""
        try:
            await asyncio.wait_for(self.delivered.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"update {self.update_id} ({self.type}) not fetched by the bot within {timeout}s"
            ) from None
        assert self.delivered_at is not None
        return self.delivered_at

    def latency_to(self, snapshot: MessageSnapshot) -> float:
        """Seconds from delivery of this update to the request that made ``snapshot``."""
        if self.delivered_at is None:
            raise AssertionError(f"update {self.update_id} was never delivered")
        return snapshot.at - self.delivered_at


class RecordedRequest(tuple[str, dict[str, Any]]):
    """One request that reached the double with a valid token.

    A ``(method, params)`` tuple (compares and unpacks as one) with extra
    attributes: ``params`` are decoded (JSON fields parsed, numbers and booleans
    converted); ``at`` is the arrival time (``clock()``); ``files`` are the
    multipart file parts by field name; ``status`` is the HTTP status answered
    (None while pending).
    """

    at: float
    files: dict[str, FilePart]
    status: int | None

    def __new__(
        cls,
        method: str,
        params: dict[str, Any],
        at: float,
        files: dict[str, FilePart] | None = None,
    ) -> RecordedRequest:
        self = super().__new__(cls, (method, params))
        self.at = at
        self.files = files or {}
        self.status = None
        return self

    @property
    def method(self) -> str:
        return self[0]

    @property
    def params(self) -> dict[str, Any]:
        return self[1]

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method!r}, {self.params!r}, status={self.status})"


@dataclass
class AnsweredCallback:
    """An answerCallbackQuery the bot made."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    at: float
    params: dict[str, Any]
