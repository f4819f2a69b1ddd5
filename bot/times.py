"""Times as the operator sees and types them: in the TIMEZONE setting's zone.

The archive keeps every time in UTC. Every time the bot shows goes through `show`
(or `show_day`), and every day the operator types (`since:2026-09-01`, `from`/`to`) is
read by `read_day`/`day_start`, so one setting moves all of them together. Handlers get
the zone as the `tz: ZoneInfo` workflow-data key (bot/api BotDeps).

A naive datetime is taken as UTC (SQLite hands some back naive).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UTC_ZONE = ZoneInfo("UTC")

_DAY = "%Y-%m-%d"


def in_zone(value: datetime, tz: ZoneInfo) -> datetime:
    """`value` (aware, or naive meaning UTC) as a wall-clock time in `tz`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz)


def show(value: datetime, tz: ZoneInfo, *, zone: bool = True) -> str:
    """`2026-09-01 14:52 MSK`: minutes in `tz`, then the zone's abbreviation at that
    moment (`UTC`, `MSK`, `EDT`/`EST`, or an offset like `+05` where the zone has no
    letters); `zone=False` leaves the abbreviation out (a list whose header names it)."""
    local = in_zone(value, tz)
    text = local.strftime("%Y-%m-%d %H:%M")
    return f"{text} {local.strftime('%Z')}" if zone else text


def show_day(value: datetime, tz: ZoneInfo) -> str:
    """`2026-09-01`: the day `value` falls on in `tz`."""
    return in_zone(value, tz).strftime(_DAY)


def zone_label(tz: ZoneInfo, at: datetime | None = None) -> str:
    """The zone as a header says it: `Europe/Moscow (UTC+03:00)`, `UTC`; the offset is
    the one in force at `at` (default now), so DST zones show the current one."""
    if tz.key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"):
        return "UTC"
    offset = in_zone(at or datetime.now(UTC), tz).strftime("%z")  # +0300
    return f"{tz.key} (UTC{offset[:3]}:{offset[3:]})"


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`, as an aware UTC datetime.

    DST-safe: where local midnight does not exist (a spring-forward at 00:00) this is
    the first minute that does; where it occurs twice, the first of the two.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def read_day(text: str, tz: ZoneInfo) -> datetime:
    """A typed `YYYY-MM-DD` day in `tz` -> its first instant in UTC (`day_start`).

    Raises ValueError when `text` is not a real YYYY-MM-DD date.
    """
    day = datetime.strptime(text.strip(), _DAY).date()
    return day_start(day, tz)


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after `day` in `tz` (exclusive end of a `to` day), UTC;
    a DST day is 23 or 25 hours long, not 24."""
    return day_start(day + timedelta(days=1), tz)


def today(tz: ZoneInfo, now: datetime | None = None) -> date:
    """The operator's date now (or at `now`) in `tz`."""
    return in_zone(now or datetime.now(UTC), tz).date()
