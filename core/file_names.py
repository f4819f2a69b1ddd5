"""File names a person reads, safe on every file system and in every zip reader.

Used for the media the bot uploads (the name Telegram shows) and the names inside
the export's media zips: Cyrillic and other letters stay readable; control
characters, path separators and the characters Windows refuses become "_"; a name
is at most 143 bytes of UTF-8 (eCryptfs' limit, the smallest in common use), cut at
a character boundary with its extension kept.
"""

from __future__ import annotations

import re
import unicodedata

from core.media import extension

MAX_NAME_BYTES = 143
# Control characters (C0, DEL, C1), '/', '\\' and what Windows refuses in a name.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f/\\<>:"|?*]')
# Bidirectional overrides and zero-width characters: they make a name read as another.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Names Windows reserves whatever the extension.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)


def _cut(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode(errors="ignore")


def safe_name(name: str, fallback: str = "file", max_bytes: int = MAX_NAME_BYTES) -> str:
    """`name` as one safe path component (see the module's rules); `fallback` when
    nothing is left of it. The extension (after the last dot, up to 16 bytes) is kept
    when the name must be cut."""
    name = unicodedata.normalize("NFC", name)
    name = _INVISIBLE.sub("", _UNSAFE.sub("_", name))
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name or name.split(".")[0].lower() in _RESERVED:
        name = f"{fallback}_{name}" if name else fallback
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 16:
        return _cut(name, max_bytes).rstrip(" .") or fallback
    room = max_bytes - len(ext.encode()) - 1
    return f"{_cut(stem, room).rstrip(' .') or fallback}.{ext}"


def media_file_name(
    msg_id: int, kind: str, file_name: str | None, mime_type: str | None
) -> str:
    """`<msg_id>_<original file name>` or, when Telegram gave none,
    `<msg_id>_<kind><ext>` (the extension from the MIME type): one safe component."""
    if file_name and file_name.strip(" ."):
        base = file_name
        if "." not in file_name.strip("."):
            base += extension(mime_type, None)
    else:
        base = kind + extension(mime_type, None if kind != "photo" else "x.jpg")
    return safe_name(f"{msg_id}_{base}", fallback=f"{msg_id}_{kind}")
