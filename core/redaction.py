"""Secret redaction for log records: a last line of defence, plain `logging`.

`REDACTOR` is the process-wide filter: app/logging_setup.py installs it on the log
handler; whoever learns a secret (the userbot's session string, a login code or
password) adds it with `add_secret`, and every later record has it replaced by `***`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

# A bot token can appear inside URLs of HTTP errors (".../bot<token>/getMe"): mask
# anything shaped like one. No \b: "bot123:..." has no word boundary before the digits.
_TOKEN_RE = re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}(?![A-Za-z0-9_-])")


class RedactingFilter(logging.Filter):
    """Replaces known secrets (4+ characters) and anything shaped like a bot token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = {s for s in secrets if s and len(s) >= 4}

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def discard(self, secret: str) -> None:
        self._secrets.discard(secret)

    @contextmanager
    def scoped(self) -> Iterator[None]:
        """Secrets added inside the block are forgotten after it (tests: a login code
        one test adds must not mask another test's log lines)."""
        before = set(self._secrets)
        try:
            yield
        finally:
            self._secrets = before

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


def add_secret(secret: str) -> None:
    """Redact `secret` from every later log record (ignored when shorter than 4)."""
    REDACTOR.add(secret)
