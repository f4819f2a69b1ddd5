"""Logging set-up: one stderr handler with the redaction filter of core/redaction.py."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from core.redaction import REDACTOR, RedactingFilter

__all__ = ["REDACTOR", "RedactingFilter", "setup_logging"]


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Log to stderr at `level` through the redaction filter; `secrets` are redacted."""
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
    # These log request parameters (queries, URLs with the token; S3 requests with their
    # signed headers and whole bodies) at DEBUG.
    for noisy in ("tortoise", "tortoise.db_client", "aiosqlite", "asyncio", "botocore",
                  "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    return REDACTOR
