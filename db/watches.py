"""Keyword alerts: stored patterns matched against newly stored messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.channels import Channel, post_link
from db.channels import snapshots
from db.models import Channel as ChannelModel
from db.models import Message, Watch

MAX_PATTERN = 200


class BadPattern(ValueError):
    """The pattern is not usable. `code` says why, for the operator's language (empty,
    too_long, no_words, unbalanced, charset, repeat, escape, lookbehind, group, other);
    `pos` is where in the pattern (0-based) when known; the message is Python's."""

    def __init__(self, code: str, detail: str = "", pos: int | None = None) -> None:
        super().__init__(detail or code)
        self.code = code
        self.pos = pos


# Python's `re.error` messages, by what the operator did wrong.
_REGEX_ERRORS = (
    ("missing ), unterminated subpattern", "unbalanced"),
    ("unbalanced parenthesis", "unbalanced"),
    ("unterminated character set", "charset"),
    ("bad character range", "charset"),
    ("nothing to repeat", "repeat"),
    ("multiple repeat", "repeat"),
    ("min repeat greater than max repeat", "repeat"),
    ("bad escape", "escape"),
    ("look-behind requires fixed-width pattern", "lookbehind"),
    ("group name", "group"),
    ("group reference", "group"),
    ("unknown extension", "group"),
)


def _regex_error(exc: re.error) -> BadPattern:
    msg = getattr(exc, "msg", str(exc))
    code = next((c for text, c in _REGEX_ERRORS if text in msg), "other")
    return BadPattern(code, str(exc), exc.pos)


@dataclass(frozen=True)
class WatchInfo:
    id: int
    pattern: str
    is_regex: bool
    channel: str | None  # label; None = every channel
    channel_ref: Channel | None = None


@dataclass(frozen=True)
class WatchHit:
    watch_id: int
    pattern: str
    message_id: int
    channel: str
    link: str
    text: str


def parse_pattern(raw: str) -> tuple[str, bool]:
    """`/regex/` is a regular expression; anything else is words that must all occur."""
    raw = raw.strip()
    if len(raw) >= 2 and raw.startswith("/") and raw.endswith("/"):
        body = raw[1:-1]
        if not body:
            raise BadPattern("empty", "empty regular expression")
        return body, True
    return raw, False


def compile_pattern(pattern: str, is_regex: bool) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise BadPattern("too_long", f"longer than {MAX_PATTERN} characters")
    if is_regex:
        try:
            return re.compile(pattern, re.IGNORECASE | re.UNICODE)
        except re.error as exc:
            raise _regex_error(exc) from None
    words = re.findall(r"\w+", pattern)
    if not words:
        raise BadPattern("no_words", "no words")
    # Every word, at a word start, in any order.
    body = "".join(f"(?=.*?(?<!\\w){re.escape(w)})" for w in words)
    return re.compile(body, re.IGNORECASE | re.UNICODE | re.DOTALL)


async def add_watch(raw: str, channel: Channel | None, created_by: int) -> WatchInfo:
    pattern, is_regex = parse_pattern(raw)
    compile_pattern(pattern, is_regex)
    w = await Watch.create(
        pattern=pattern,
        is_regex=is_regex,
        channel_id=channel.id if channel else None,
        created_by=created_by,
    )
    return WatchInfo(w.id, pattern, is_regex, channel.label if channel else None, channel)


async def list_watches(offset: int = 0, limit: int | None = None) -> list[WatchInfo]:
    """Watches in the order they were made (`limit` of them from `offset`)."""
    qs = Watch.all().order_by("id")
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    watches = await qs.prefetch_related("channel")
    refs = await snapshots([w.channel for w in watches if w.channel is not None])
    by_id = {r.id: r for r in refs}
    out = []
    for w in watches:
        ref = by_id.get(w.channel.id) if w.channel is not None else None
        out.append(WatchInfo(w.id, w.pattern, w.is_regex, ref.label if ref else None, ref))
    return out


async def count_watches() -> int:
    return await Watch.all().count()


async def remove_watch(watch_id: int) -> bool:
    return await Watch.filter(id=watch_id).delete() > 0


async def match_new_messages(channel_id: int, min_msg_id: int, max_msg_id: int) -> list[WatchHit]:
    """Watches that match the channel's stored messages with min <= msg_id <= max."""
    watches = await Watch.filter(channel_id__in=[channel_id]).all()
    watches += await Watch.filter(channel_id__isnull=True).all()
    if not watches:
        return []
    compiled = []
    for w in watches:
        try:
            compiled.append((w, compile_pattern(w.pattern, w.is_regex)))
        except BadPattern:
            continue
    channel = await ChannelModel.get_or_none(id=channel_id)
    if channel is None:
        return []
    label = f"@{channel.username}" if channel.username else channel.title
    hits: list[WatchHit] = []
    last = min_msg_id - 1
    while True:
        rows = (
            await Message.filter(channel_id=channel_id, msg_id__gt=last, msg_id__lte=max_msg_id)
            .order_by("msg_id")
            .limit(1000)
            .values("id", "msg_id", "text")
        )
        for row in rows:
            text = row["text"] or ""
            for w, rx in compiled:
                if rx.search(text):
                    hits.append(
                        WatchHit(
                            w.id,
                            w.pattern,
                            row["id"],
                            label,
                            post_link(channel.username, channel.tg_id, row["msg_id"]),
                            text,
                        )
                    )
        if len(rows) < 1000:
            return hits
        last = rows[-1]["msg_id"]
