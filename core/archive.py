"""What the archive's data commands exchange: export, search, stats and keyword watches.

Plain frozen dataclasses and enums shared by services/ (which fills them) and bot/
(which renders them); no database, no Telegram, no bot framework here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from pathlib import Path

from core.channels import Channel
from core.errors import ProjectError


class ExportFormat(StrEnum):
    """The file formats /export writes (the value is the word an operator types)."""

    CSV = "csv"  # comma-separated
    CSV_SEMICOLON = "csv;"  # semicolon-separated: what a Russian-locale Excel expects
    JSONL = "jsonl"
    XLSX = "xlsx"

    @property
    def suffix(self) -> str:
        """The file name suffix, without the dot (both CSV flavours: "csv")."""
        return "csv" if self is ExportFormat.CSV_SEMICOLON else self.value


@dataclass(frozen=True)
class ExportQuery:
    """Which stored messages an export holds, and the zone its times are written in.

    `keyword` has core.words.SearchQuery's syntax and semantics (stems, ё = е,
    "phrases", -exclusions); a match on any item of an album selects the whole album.
    `comments`: a channel's export also holds the comments stored from its discussion
    group (the "all" export always holds every stored message). `versions`: each row
    also lists the message's earlier versions (edits kept, db/versions.py).
    """

    channel_id: int | None = None  # db id; None = every channel
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    keyword: str | None = None
    comments: bool = False
    tz: tzinfo = UTC  # the zone exported times are written in (ISO 8601 with offset)
    versions: bool = False


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: `files` to upload in order; `parts` when the export was
    cut into zip parts of at most `limit_mb` MiB each."""

    rows: int
    files: tuple[Path, ...]
    parts: bool
    limit_mb: int = 0
    # The posts' media (#16), when asked for: files listed, zipped, in how many parts
    # (`files` ends with the media list and the media zip parts).
    media_listed: int = 0
    media_zipped: int = 0
    media_parts: int = 0
    # The media zip parts are built one at a time while they are uploaded (ArchiveAPI
    # media_parts): `media_plan` the folder of their plans, `media_part_bytes` what each
    # part will take on disk (bytes, at most the upload limit).
    media_plan: Path | None = None
    media_part_bytes: tuple[int, ...] = ()


class NoRoomForPart(ProjectError):
    """Media zip part `part` (1-based) of `parts` was not written: the disk of `folder`
    (absolute) has `free` bytes free, the part needs `needed` (its size plus the
    MIN_FREE_DISK_MB kept free). Nothing of the part is left on disk."""

    code = "no_room_for_part"

    def __init__(self, folder: Path, part: int, parts: int, needed: int, free: int) -> None:
        super().__init__(f"{folder}: part {part}/{parts} needs {needed} bytes, {free} free")
        self.folder = folder
        self.part = part
        self.parts = parts
        self.needed = needed
        self.free = free


@dataclass(frozen=True)
class SearchHit:
    """One message found by /search. `snippet` is plain text around the match, the
    matched words between HL_START and HL_END."""

    message_id: int  # db id
    channel: str  # username or title
    msg_id: int
    date: datetime | None  # UTC
    snippet: str
    link: str  # "" for a basic group's message: it has none


# Snippet highlight markers: control characters no message text contains, so the
# renderer can HTML-escape the snippet and then turn them into tags.
HL_START = "\x02"
HL_END = "\x03"


@dataclass(frozen=True)
class SearchPage:
    """One page of search hits, best first, and how many messages match in all.
    `unindexed`: stored messages not searchable yet (an older archive's index is being
    rebuilt in the background), 0 normally. `capped`: more than `total` match (the
    count stopped there: PostgreSQL, beyond db.search.RANK_LIMIT matches)."""

    total: int
    hits: tuple[SearchHit, ...]
    unindexed: int = 0
    capped: bool = False


@dataclass(frozen=True)
class IndexProgress:
    """The background rebuild of the search index (an archive stored before stemmed
    search, or of PostgreSQL's search documents): `done` of `total` messages indexed so
    far, at `rate` messages a second."""

    done: int
    total: int
    rate: float = 0.0

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 100


class StatsUnit(StrEnum):
    """What one bar of the /stats chart covers."""

    DAY = "day"
    WEEK = "week"  # from Monday
    MONTH = "month"


@dataclass(frozen=True)
class Bucket:
    """One bar of the chart: the day, week (from Monday) or month starting at `start`."""

    start: date
    posts: int
    median_views: float | None


# The longest watch pattern accepted (characters, slashes of a /regex/ excluded).
MAX_PATTERN = 200


class PatternProblem(StrEnum):
    """Why a watch pattern was refused (the catalogue key is `watch_bad_<value>`)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    NO_WORDS = "no_words"
    UNBALANCED = "unbalanced"
    CHARSET = "charset"
    REPEAT = "repeat"
    ESCAPE = "escape"
    LOOKBEHIND = "lookbehind"
    GROUP = "group"
    OTHER = "other"


class BadPattern(ProjectError):
    """A watch pattern is not usable: `problem` says why, `pos` where in the pattern
    (0-based) when known; `detail` is Python's own message (for logs)."""

    code = "bad_pattern"

    def __init__(self, problem: PatternProblem, detail: str = "", pos: int | None = None) -> None:
        super().__init__(detail or problem.value)
        self.problem = problem
        self.pos = pos


@dataclass(frozen=True)
class WatchHit:
    """A stored message a watch matched."""

    watch_id: int
    pattern: str
    message_id: int  # db id
    channel: str  # the channel's label
    link: str
    text: str


@dataclass(frozen=True)
class WatchInfo:
    """A stored keyword watch: `pattern` is the words, or the regex body when
    `is_regex` (shown as /pattern/); `channel` None watches every channel."""

    id: int
    pattern: str
    is_regex: bool
    channel: Channel | None = None


@dataclass(frozen=True)
class WatchPage:
    """One page of the watches, oldest first, and how many there are in all."""

    watches: tuple[WatchInfo, ...]
    total: int


@dataclass(frozen=True)
class ChannelPage:
    """One page of the stored channels (discussion groups too) and the total."""

    channels: tuple[Channel, ...]
    total: int
