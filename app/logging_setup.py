"""Logging with secret redaction as a last line of defence."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# A bot token can appear inside URLs of HTTP errors (".../bot<token>/getMe"): mask
# anything shaped like one. No \b: "bot123:..." has no word boundary before the digits.
_TOKEN_RE = re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}(?![A-Za-z0-9_-])")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = {s for s in secrets if s and len(s) >= 4}

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def discard(self, secret: str) -> None:
        self._secrets.discard(secret)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "***")
        return _TOKEN_RE.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed log call must not raise into the caller (filters are not
            # guarded like emit() is); keep what can be shown, redacted.
            message = f"{record.msg} (log arguments could not be formatted: {record.args!r})"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = self.redact(message)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.msg, record.args = redacted, None
        return True


REDACTOR = RedactingFilter()


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactingFilter:
    for secret in secrets:
        REDACTOR.add(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # These log request parameters (queries, URLs with the token) at DEBUG.
    for noisy in ("tortoise", "tortoise.db_client", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    return REDACTOR
