"""Keyword watches: /watch, /watches, /unwatch, and the alert when a run stores a post
that matches one (tick -> fetch -> save -> RunCompleted -> WatchNotifier -> alert).

A pattern is either a search query (core.words.SearchQuery, the same syntax and
meaning as /search: any form of each word, "phrases", -words, prefix*; matched on the
message's stems, its content words included), or `/regex/` (Python syntax,
case-insensitive, with ё read as е in both the pattern and the text).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from core.alerts import AlertBody, AlertLines, AlertText
from core.archive import (
    MAX_PATTERN,
    BadPattern,
    PatternProblem,
    WatchHit,
    WatchInfo,
    WatchPage,
)
from core.channels import Channel, post_link
from core.media import StoredMedia
from core.words import BadQuery, SearchQuery, fold_yo, message_terms
from db import media_files
from db import watches as watches_db
from db.channels import find_channel, get_channel
from services.events import RunCompleted

log = logging.getLogger(__name__)

# Python's `re.error` messages, by what the operator did wrong.
_REGEX_ERRORS = (
    ("missing ), unterminated subpattern", PatternProblem.UNBALANCED),
    ("unbalanced parenthesis", PatternProblem.UNBALANCED),
    ("unterminated character set", PatternProblem.CHARSET),
    ("bad character range", PatternProblem.CHARSET),
    ("nothing to repeat", PatternProblem.REPEAT),
    ("multiple repeat", PatternProblem.REPEAT),
    ("min repeat greater than max repeat", PatternProblem.REPEAT),
    ("bad escape", PatternProblem.ESCAPE),
    ("look-behind requires fixed-width pattern", PatternProblem.LOOKBEHIND),
    ("group name", PatternProblem.GROUP),
    ("group reference", PatternProblem.GROUP),
    ("unknown extension", PatternProblem.GROUP),
)


def _regex_error(exc: re.error) -> BadPattern:
    problem = next((p for text, p in _REGEX_ERRORS if text in exc.msg), PatternProblem.OTHER)
    return BadPattern(problem, str(exc), exc.pos)


def parse_pattern(raw: str) -> tuple[str, bool]:
    """(pattern, is_regex): `/regex/` is a regular expression; anything else is words
    that must all occur. Raises BadPattern(EMPTY) for `//`."""
    raw = raw.strip()
    if len(raw) >= 2 and raw.startswith("/") and raw.endswith("/"):
        body = raw[1:-1]
        if not body:
            raise BadPattern(PatternProblem.EMPTY, "empty regular expression")
        return body, True
    return raw, False


@dataclass(frozen=True)
class WatchMatcher:
    """A compiled watch: `query` for words, `regex` for /regex/ (exactly one is set)."""

    query: SearchQuery | None = None
    regex: re.Pattern[str] | None = None

    def matches(self, text: str, content_text: str = "", terms: str | None = None) -> bool:
        """True when the message (its text and content words; `terms` when already
        computed, as stored with the row) matches."""
        if self.query is not None:
            return self.query.matches(
                terms if terms is not None else message_terms(text, content_text)
            )
        assert self.regex is not None
        return bool(
            self.regex.search(fold_yo(text))
            or (content_text and self.regex.search(fold_yo(content_text)))
        )


def compile_pattern(pattern: str, is_regex: bool) -> WatchMatcher:
    """The compiled matcher; raises BadPattern (too long, no words, a regex error) or
    core.words.BadQuery (only -words, too many words)."""
    if len(pattern) > MAX_PATTERN:
        raise BadPattern(PatternProblem.TOO_LONG, f"longer than {MAX_PATTERN} characters")
    if is_regex:
        try:
            return WatchMatcher(regex=re.compile(fold_yo(pattern), re.IGNORECASE | re.UNICODE))
        except re.error as exc:
            raise _regex_error(exc) from None
    try:
        return WatchMatcher(query=SearchQuery.parse(pattern))
    except BadQuery as exc:
        if exc.reason == "no_words":
            raise BadPattern(PatternProblem.NO_WORDS, "no words") from None
        raise


async def match_new_messages(channel_id: int, min_msg_id: int, max_msg_id: int) -> list[WatchHit]:
    """Hits of the watches on the channel's stored messages with min <= msg_id <= max,
    in msg_id order (a post matching two watches is two hits). A stored pattern that no
    longer compiles is skipped; an unknown channel has no hits."""
    compiled: list[tuple[watches_db.StoredPattern, WatchMatcher]] = []
    for w in await watches_db.patterns_for(channel_id):
        try:
            compiled.append((w, compile_pattern(w.pattern, w.is_regex)))
        except (BadPattern, BadQuery):
            continue
    if not compiled:
        return []
    channel = await get_channel(channel_id)
    if channel is None:
        return []
    hits: list[WatchHit] = []
    async for rows in watches_db.messages_between(channel_id, min_msg_id, max_msg_id):
        for message_id, msg_id, text, content_text, terms in rows:
            if terms is None and any(m.query is not None for _, m in compiled):
                terms = message_terms(text, content_text)
            for w, matcher in compiled:
                if matcher.matches(text, content_text, terms):
                    link = post_link(channel.username, channel.tg_id, msg_id)
                    hits.append(WatchHit(w.id, w.pattern, message_id, channel.label, link, text))
    return hits


class WatchesService:
    """What /watch, /watches and /unwatch call (bot.api.watches.WatchesAPI)."""

    async def find_channel(self, ref: str) -> Channel | None:
        """A stored channel (discussion groups too) by @username, link, id or title."""
        return await find_channel(ref, include_linked=True)

    async def add_watch(self, raw: str, channel: Channel | None, created_by: int) -> WatchInfo:
        """Store a watch on `channel` (None: every channel) made by Telegram user
        `created_by`. Raises BadPattern or core.words.BadQuery when `raw` is not usable
        (nothing stored)."""
        pattern, is_regex = parse_pattern(raw)
        compile_pattern(pattern, is_regex)
        return await watches_db.add_watch(pattern, is_regex, channel, created_by)

    async def watch_page(self, page: int, size: int) -> WatchPage:
        """Page `page` (0-based, `size` per page) of the watches, oldest first, and how
        many there are in all."""
        total = await watches_db.count_watches()
        return WatchPage(tuple(await watches_db.list_watches(page * size, size)), total)

    async def remove_watch(self, watch_id: int) -> bool:
        """False when no watch has that id."""
        return await watches_db.remove_watch(watch_id)


def watch_alert(
    hits: list[WatchHit], more: int, media: Mapping[int, StoredMedia] | None = None
) -> AlertLines:
    """The alert for `hits` (and `more` hits not listed), one catalogue text a line.
    A hit whose post has media (`media`: message row id -> its media) is numbered
    "📎 N" and the alert carries (N, channel row, msg_id) for its 📎 N button."""
    lines = [AlertText("watch_alert_title", n=len(hits) + more)]
    posts: list[tuple[int, int, int]] = []
    for h in hits:
        m = (media or {}).get(h.message_id)
        if m is None:
            lines.append(
                AlertText("watch_alert_line", pattern=h.pattern, channel=h.channel, link=h.link)
            )
            continue
        posts.append((len(posts) + 1, m.channel_id, m.msg_id))
        lines.append(
            AlertText(
                "watch_alert_line_media",
                pattern=h.pattern,
                channel=h.channel,
                link=h.link,
                number=len(posts),
            )
        )
    if more:
        lines.append(AlertText("watch_alert_more", n=more))
    return AlertLines(tuple(lines), tuple(posts))


class WatchNotifier:
    """Subscriber of RunCompleted: one batched notification per run, rate-limited.

    A post fires a watch once: (watch, message) pairs already notified are remembered
    (the last 100,000), so a run that re-reads edited posts does not repeat alerts.
    At most `max_hits` hits are listed per notification (the rest counted). Beyond
    `max_per_window` notifications per `window` seconds, hits are held and delivered
    as soon as the window allows, with whatever came in meanwhile. `notify` gets the
    alert as an AlertBody that bot/delivery renders in each admin's language.
    """

    def __init__(
        self,
        notify: Callable[[AlertBody], Awaitable[None]],
        max_hits: int = 20,
        max_per_window: int = 6,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notify = notify
        self._max_hits = max_hits
        self._max_per_window = max_per_window
        self._window = window
        self._clock = clock
        self._sent_at: deque[float] = deque()
        self._seen: set[tuple[int, int]] = set()
        self._seen_order: deque[tuple[int, int]] = deque()
        self._held: list[WatchHit] = []
        self._lock = asyncio.Lock()
        self._flush: asyncio.Task[None] | None = None

    def _remember(self, key: tuple[int, int]) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > 100_000:
            self._seen.discard(self._seen_order.popleft())
        return True

    async def on_run_completed(self, event: RunCompleted) -> None:
        """Match the run's messages and notify (or hold) the hits not notified yet."""
        hits = await match_new_messages(event.channel_id, event.first_id, event.last_id)
        async with self._lock:
            fresh = [h for h in hits if self._remember((h.watch_id, h.message_id))]
            self._held.extend(fresh)
            await self._send_held()

    async def _send_held(self) -> None:
        """Send what is held now, or make sure it goes once the window allows (locked)."""
        if not self._held:
            return
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] > self._window:
            self._sent_at.popleft()
        if len(self._sent_at) >= self._max_per_window:
            log.info("watch alerts rate-limited: %d hits held", len(self._held))
            if self._flush is None:
                delay = self._window - (now - self._sent_at[0])
                self._flush = asyncio.create_task(self._send_later(delay))
            return
        batch, self._held = self._held, []
        self._sent_at.append(now)
        shown = batch[: self._max_hits]
        media = await self._media_of(shown)
        await self._notify(watch_alert(shown, len(batch) - len(shown), media))

    @staticmethod
    async def _media_of(hits: list[WatchHit]) -> Mapping[int, StoredMedia]:
        """The hits' media (those with a recorded download); none when the lookup fails:
        an alert without 📎 buttons beats no alert."""
        try:
            return await media_files.media_by_message([h.message_id for h in hits])
        except Exception:
            log.exception("media of watch hits not looked up")
            return {}

    async def _send_later(self, delay: float) -> None:
        # Held hits must not wait for the next hit, which may never come.
        await asyncio.sleep(max(0.0, delay) + 0.05)
        async with self._lock:
            self._flush = None
            try:
                await self._send_held()
            except Exception:
                log.exception("held watch alerts not sent")

    def close(self) -> None:
        """Drop a pending delayed send."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
