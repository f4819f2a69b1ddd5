"""Telegram text formatting for the Bot API double.

Turns ``parse_mode`` text (HTML, MarkdownV2, legacy Markdown) into plain text plus
``MessageEntity`` dicts, with UTF-16 offsets like Telegram, and rejects malformed
markup with Telegram's "can't parse entities" errors. The rules follow the Bot API
documentation ("Formatting options"); error texts mimic TDLib's closely enough for
tests that match on the "Bad Request: can't parse entities" prefix.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "find_bot_commands",
    "parse_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Markup that Telegram would refuse with "can't parse entities: ..."."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Builder:
    """Accumulates plain text and tracks the UTF-16 position."""

    parts: list[str] = field(default_factory=list)
    pos: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)

    def add(self, chunk: str) -> None:
        if chunk:
            self.parts.append(chunk)
            self.pos += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        length = self.pos - start
        if length > 0:
            self.entities.append({"type": kind, "offset": start, "length": length, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


# --------------------------------------------------------------------------- HTML

_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*?)?)\s*(/?)>")
_ATTR_RE = re.compile(r"""([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")


def _html_unescape(chunk: str) -> str:
    return _HTML_ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), chunk)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str], int]] = []  # tag, start, attrs, byte offset
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        if lt < 0:
            out.add(_html_unescape(text[i:]))
            break
        out.add(_html_unescape(text[i:lt]))
        match = _TAG_RE.match(text, lt)
        offset = _byte_offset(text, lt)
        if match is None:
            if text.startswith("</", lt):
                raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
            raise EntityParseError(f'Unsupported start tag "" at byte offset {offset}')
        closing, name, attr_text = match.group(1) == "/", match.group(2).lower(), match.group(3)
        if name not in _HTML_SIMPLE:
            kind = "end" if closing else "start"
            raise EntityParseError(f'Unsupported {kind} tag "{name}" at byte offset {offset}')
        if closing:
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
            open_name, start, attrs, _ = stack.pop()
            if open_name != name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            _close_html_entity(out, open_name, start, attrs, stack)
        else:
            attrs = {
                m.group(1).lower(): _html_unescape(m.group(2) or m.group(3) or m.group(4) or "")
                for m in _ATTR_RE.finditer(attr_text)
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                )
            stack.append((name, out.pos, attrs, offset))
        i = match.end()
    if stack:
        name = stack[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
    return out.result()


def _close_html_entity(
    out: _Builder,
    name: str,
    start: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str], int]],
) -> None:
    kind = _HTML_SIMPLE[name]
    if name == "a":
        href = attrs.get("href", "")
        if href:
            out.entity("text_link", start, url=href)
        return
    if name == "code" and stack and stack[-1][0] == "pre" and "class" in attrs:
        language = attrs["class"].removeprefix("language-")
        # Telegram folds <pre><code class="language-x"> into one pre entity.
        stack[-1][2]["language"] = language
        return
    if name == "pre" and attrs.get("language"):
        out.entity("pre", start, language=attrs["language"])
        return
    if name == "blockquote" and "expandable" in attrs:
        out.entity("expandable_blockquote", start)
        return
    if name == "tg-emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id", ""))
        return
    out.entity(kind, start)


# ---------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # kind, start, byte offset
    pre_language = ""
    quote_start: int | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        top = stack[-1][0] if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top == "pre":
            if text.startswith("```", i):
                _, start, _ = stack.pop()
                extra = {"language": pre_language} if pre_language else {}
                out.entity("pre", start, **extra)
                i += 3
            else:
                out.add(c)
                i += 1
            continue
        if top == "code":
            if c == "`":
                _, start, _ = stack.pop()
                out.entity("code", start)
            else:
                out.add(c)
            i += 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if c == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue
        offset = _byte_offset(text, i)
        if c == "`":
            if text.startswith("```", i):
                j = i + 3
                newline = text.find("\n", j)
                pre_language = ""
                if newline >= 0 and _LANGUAGE_RE.fullmatch(text[j:newline]):
                    pre_language, j = text[j:newline], newline + 1
                stack.append(("pre", out.pos, offset))
                i = j
                continue
            stack.append(("code", out.pos, offset))
            i += 1
            continue
        marker: str | None = None
        size = 1
        if c == "_":
            marker, size = ("underline", 2) if text.startswith("__", i) else ("italic", 1)
        elif c == "*":
            marker = "bold"
        elif c == "~":
            marker = "strikethrough"
        elif c == "|" and text.startswith("||", i):
            marker, size = "spoiler", 2
        if marker is not None:
            if top == marker:
                _, start, _ = stack.pop()
                out.entity(marker, start)
            elif any(kind == marker for kind, _, _ in stack):
                kind, _, off = stack[-1]
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES.get(kind, kind)} entity at byte offset {off}"
                )
            else:
                stack.append((marker, out.pos, offset))
            i += size
            continue
        if c == "[":
            stack.append(("text_link", out.pos, offset))
            i += 1
            continue
        if c == "]" and top == "text_link":
            _, start, _ = stack.pop()
            i += 1
            if i < n and text[i] == "(":
                url_chars: list[str] = []
                j = i + 1
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        url_chars.append(text[j + 1])
                        j += 2
                        continue
                    url_chars.append(text[j])
                    j += 1
                if j >= n:
                    raise EntityParseError(
                        f"Can't find end of a url at byte offset {_byte_offset(text, i)}"
                    )
                out.entity("text_link", start, url="".join(url_chars))
                i = j + 1
            continue
        raise EntityParseError(
            f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if stack:
        kind, _, off = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES.get(kind, kind)} entity at byte offset {off}"
        )
    return out.result()


_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+#.-]*")


# ------------------------------------------------------------------ legacy Markdown

_MD_MARKERS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        offset = _byte_offset(text, i)
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {offset}"
                )
            body = text[i + 3 : end]
            language = ""
            if "\n" in body and body.split("\n", 1)[0].strip() and " " not in body.split("\n")[0]:
                language, body = body.split("\n", 1)
            start = out.pos
            out.add(body)
            extra = {"language": language} if language else {}
            out.entity("pre", start, **extra)
            i = end + 3
            continue
        if c in _MD_MARKERS:
            end = text.find(c, i + 1)
            if end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {offset}"
                )
            start = out.pos
            out.add(text[i + 1 : end])
            out.entity(_MD_MARKERS[c], start)
            i = end + 1
            continue
        if c == "[":
            close = text.find("](", i + 1)
            end = text.find(")", close + 2) if close >= 0 else -1
            if close < 0 or end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {offset}"
                )
            start = out.pos
            out.add(text[i + 1 : close])
            out.entity("text_link", start, url=text[close + 2 : end])
            i = end + 1
            continue
        out.add(c)
        i += 1
    return out.result()


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for ``text`` sent with ``parse_mode``.

    Raises EntityParseError for malformed markup and ValueError for an unknown mode.
    """
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise ValueError(f"unsupported parse_mode {parse_mode!r}")


_COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def find_bot_commands(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for every /command in ``text``, as Telegram detects them."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group(0)),
        }
        for m in _COMMAND_RE.finditer(text)
    ]
