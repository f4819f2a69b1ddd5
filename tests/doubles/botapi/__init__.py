"""Telegram Bot API server double for tests: the real aiogram talks to it over HTTP."""

from .faults import Fault, FaultRegistry
from .formatting import EntityParseError, parse_text, utf16_len
from .models import (
    AnsweredCallback,
    Chat,
    FilePart,
    Incoming,
    MessageSnapshot,
    RecordedRequest,
    TranscriptEntry,
    UploadedFile,
    User,
    clock,
)
from .server import ApiError, BotAPIDouble, Params

__all__ = [
    "AnsweredCallback",
    "ApiError",
    "BotAPIDouble",
    "Chat",
    "EntityParseError",
    "Fault",
    "FaultRegistry",
    "FilePart",
    "Incoming",
    "MessageSnapshot",
    "Params",
    "RecordedRequest",
    "TranscriptEntry",
    "UploadedFile",
    "User",
    "clock",
    "parse_text",
    "utf16_len",
]
