"""Typed settings, read once from the environment and `.env`.

Nothing else in the project reads the environment. Commands load the smallest
settings class they need, so `migrate` works without a bot token.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.analytics import BadAges, parse_ages
from core.errors import ProjectError
from core.media import parse_media_url

DEFAULT_DATABASE_URL = "sqlite://data/tg_parser.sqlite3"
DEFAULT_BOT_API_URL = "https://api.telegram.org"

_DC_RE = re.compile(
    r"^(?P<id>[1-9]\d{0,2})@(?P<host>\[[0-9a-fA-F:]+\]|[^:@\s]+):(?P<port>\d{1,5})$"
)
_PROXY_RE = re.compile(r"^(socks5|socks4|http)://([^@/\s]+@)?[^:/@\s]+:\d{1,5}/?$")


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `BOT_TOKEN=` (as in a freshly copied .env.example) means "not set", not "malformed".
        env_ignore_empty=True,
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="a database URL: sqlite://path/to/file.sqlite3 or postgres://user:pass@host/db",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="one of DEBUG, INFO, WARNING, ERROR"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file behind `database_url`, or None for other backends."""
        if not self.database_url.startswith("sqlite://"):
            return None
        raw = self.database_url[len("sqlite://") :].split("?", 1)[0]
        if raw in ("", ":memory:"):
            return None
        return Path(raw)


    media_dir: Path | None = Field(
        None, description="folder for downloaded media (default: media/ in the data folder)"
    )
    media_url: str | None = Field(
        None,
        description="s3://bucket/prefix to keep media on S3-compatible storage "
        "(unset: MEDIA_DIR on the local disk)",
    )
    media_s3_endpoint: str | None = Field(
        None,
        description="the S3 endpoint URL of MinIO or another S3-compatible server, e.g. "
        "http://127.0.0.1:9000 (unset: AWS)",
    )
    aws_access_key_id: str | None = Field(
        None, description="the access key id for MEDIA_URL (unset: the AWS library's own search)"
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, description="the secret access key for MEDIA_URL"
    )
    aws_region: str | None = Field(None, description="the bucket's region, e.g. eu-central-1")
    aws_default_region: str | None = Field(
        None, description="the region when AWS_REGION is unset"
    )
    media_cache_mb: int = Field(
        1024, ge=0,
        description="local copies of stored media kept for sending and exports with "
        "MEDIA_URL, in MB",
    )
    backup_dir: Path | None = Field(
        None, description="folder for backups (default: backups/ beside the SQLite file)"
    )

    @field_validator("media_url")
    @classmethod
    def _check_media_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parse_media_url(value)
        return value

    @field_validator("media_s3_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def media_region(self) -> str | None:
        """AWS_REGION, else AWS_DEFAULT_REGION (None: the library's default)."""
        return self.aws_region or self.aws_default_region

    @property
    def data_dir(self) -> Path:
        """The folder the archive's files live in (the SQLite file's, else ./data)."""
        return self.sqlite_path.parent if self.sqlite_path else Path("data")

    @property
    def work_dir(self) -> Path:
        """Temporary files (exports being written): emptied at every start. A name of
        its own, since the data folder may be shared (a SQLite file in $HOME)."""
        return self.data_dir / "tg-parser-tmp"

    @property
    def media_path(self) -> Path:
        """Where downloaded media goes (MEDIA_DIR, else media/ in the data folder), as
        an absolute path (`~` expanded): what the bot and the export list show must
        make sense without knowing the app's working folder."""
        path = self.media_dir if self.media_dir is not None else self.data_dir / "media"
        return path.expanduser().resolve()

    @property
    def backups_path(self) -> Path | None:
        """Where this archive's backups go (SQLite only)."""
        if self.backup_dir is not None:
            return self.backup_dir
        return self.sqlite_path.parent / "backups" if self.sqlite_path else None


class VaultSettings(DatabaseSettings):
    session_keys: Annotated[list[SecretStr], NoDecode] = Field(
        ...,
        description="one or more Fernet keys, comma-separated (make one: `tg-parser keygen`)",
    )

    @field_validator("session_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not value:
            raise ValueError("at least one key is required")
        for key in value:
            raw = key.get_secret_value() if isinstance(key, SecretStr) else key
            try:
                Fernet(raw)
            except Exception:
                raise ValueError("not a valid Fernet key (32 url-safe base64 bytes)") from None
        return value


class Settings(VaultSettings):
    bot_token: SecretStr = Field(..., description="the bot token from @BotFather (123456:ABC...)")
    telegram_api_id: int = Field(..., description="the api_id from my.telegram.org (a number)")
    telegram_api_hash: SecretStr = Field(
        ..., description="the api_hash from my.telegram.org (32 hex characters)"
    )
    admin_ids: Annotated[list[int], NoDecode] = Field(
        ..., description="numeric Telegram user ids of the operators, separated by commas"
    )
    bot_api_url: str = Field(
        DEFAULT_BOT_API_URL, description="the Bot API server base URL (http:// or https://)"
    )
    telegram_dc: str | None = Field(
        None, description="a custom Telegram DC as id@host:port (test servers only)"
    )
    telegram_server_key: Path | None = Field(
        None, description="path to the custom DC's RSA public key (PEM)"
    )
    telegram_proxy: str | None = Field(
        None, description="socks5://user:pass@host:port or http://host:port"
    )
    parse_interval_minutes: int = Field(
        60, ge=1, le=10080, description="default minutes between runs of a channel (1..10080)"
    )
    flood_sleep_threshold: int = Field(
        10, ge=0, le=120, description="flood waits up to this many seconds are slept through"
    )
    fetch_wait_seconds: float = Field(
        0.0, ge=0, le=60, description="pause between history pages of one run (0 = none)"
    )
    parse_retry_seconds: float = Field(
        30, ge=1, le=3600,
        description="first retry of a channel after Telegram's servers or the network failed "
        "(seconds; doubles with each failure in a row)",
    )
    parse_retry_max_seconds: float = Field(
        900, ge=1, le=86400,
        description="longest wait between such retries (seconds; never over half the interval)",
    )
    local_probe_seconds: float = Field(
        30, ge=1, le=3600,
        description="how often runs stopped by a full disk or a locked database try again",
    )
    refresh_window_hours: int = Field(
        24, ge=0, le=720, description="recent posts re-read on each run (hours, 0 disables)"
    )
    snapshot_ages: str = Field(
        "1h,24h,7d,30d",
        description="ages after posting at which each post's views, forwards and replies are "
        "read into its series (m, h, d or w; comma-separated; none: no series)",
    )
    subscribers_interval_minutes: int = Field(
        60, ge=0, le=7 * 24 * 60,
        description="each channel's subscriber count is read at most this often (minutes, "
        "0 = never)",
    )
    history_default: str = Field(
        "all", description="history on add: all, a number of last messages, or a YYYY-MM-DD date"
    )
    alert_window_seconds: int = Field(
        600, ge=0, description="the same alert is sent at most once per this many seconds"
    )
    connection_alert_seconds: float = Field(
        180,
        gt=0,
        le=86400,
        description="seconds the userbot may fail to connect before the operators get an alert",
    )
    upload_limit_mb: int = Field(
        50, ge=1, le=2000, description="largest file the bot may upload, in MB (50 on Telegram)"
    )
    media_default: Literal["off", "photos", "all"] = Field(
        "photos", description="media kept for new channels: off, photos or all"
    )
    media_max_mb: int = Field(
        50, ge=0, le=4000, description="largest media file downloaded, in MB (0 = no cap)"
    )
    media_concurrency: int = Field(
        3, ge=1, le=16, description="media files downloaded at the same time (1..16)"
    )
    media_parts: int = Field(
        4, ge=1, le=8,
        description="parts of one large file fetched at the same time (1 = one after another)",
    )
    min_free_disk_mb: int = Field(
        500, ge=0, description="media downloads pause below this much free disk, in MB"
    )
    timezone: str = Field(
        "UTC",
        description="an IANA time zone name, e.g. Europe/Moscow or America/New_York (default UTC)",
    )
    default_language: Literal["ru", "en"] = Field(
        "en", description="the bot's language when the operator's is neither ru nor en"
    )
    health_port: int | None = Field(
        None, ge=1, le=65535, description="port for /healthz and /metrics (unset: off)"
    )
    health_host: str = Field("127.0.0.1", description="address the health server binds to")
    shutdown_timeout: float = Field(
        6.0, gt=0, le=60, description="seconds in-flight work may take at shutdown"
    )
    backup_interval_hours: float = Field(
        24, ge=0, le=24 * 30, description="hours between automatic backups (0 = none)"
    )
    backup_keep: int = Field(7, ge=1, le=1000, description="automatic backups kept (newest)")
    lease_seconds: int = Field(
        30, ge=2, le=600,
        description="seconds a worker's lease on an account or a channel run lasts without "
        "a heartbeat (PostgreSQL; 2..600): a dead worker's work is taken over after it",
    )

    @field_validator("snapshot_ages")
    @classmethod
    def _check_ages(cls, value: str) -> str:
        try:
            parse_ages(value)
        except BadAges as exc:
            raise ValueError(
                f"{exc.detail!r} is no age: write numbers with m, h, d or w (at most a "
                "year), comma-separated, e.g. 1h,24h,7d,30d"
            ) from None
        return value

    @property
    def snapshot_age_list(self) -> tuple[timedelta, ...]:
        """SNAPSHOT_AGES parsed: ascending ages (core.analytics `parse_ages`)."""
        return parse_ages(self.snapshot_ages)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            parts = [p.strip() for p in re.split(r"[,\s]+", value) if p.strip()]
            if not parts or not all(re.fullmatch(r"-?\d+", p) for p in parts):
                raise ValueError("expected numbers separated by commas")
            return [int(p) for p in parts]
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_-]{10,}", value.get_secret_value()):
            raise ValueError("malformed")
        return value

    @field_validator("telegram_api_hash")
    @classmethod
    def _check_hash(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9a-fA-F]{32}", value.get_secret_value()):
            raise ValueError("malformed")
        return value

    @field_validator("bot_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("telegram_dc")
    @classmethod
    def _check_dc(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _DC_RE.match(value):
            raise ValueError("malformed")
        return value

    @field_validator("telegram_server_key")
    @classmethod
    def _check_server_key(cls, value: Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        if not value.is_file():
            raise ValueError("file not found")
        if "PUBLIC KEY" not in value.read_text(errors="replace"):
            raise ValueError("not a PEM public key")
        return value

    @field_validator("telegram_proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _PROXY_RE.match(value):
            raise ValueError("malformed")
        return value

    @field_validator("history_default")
    @classmethod
    def _check_history(cls, value: str) -> str:
        value = value.strip().lower()
        if value == "all" or re.fullmatch(r"\d{1,9}", value):
            return value
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value
        raise ValueError("malformed")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            # The zone names are case-sensitive (file names): say which one was meant.
            near = [z for z in available_timezones() if z.lower() == value.lower()]
            raise ValueError(f"did you mean {near[0]}?" if near else "unknown zone") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a ZoneInfo: how the bot shows times and reads the days typed."""
        return ZoneInfo(self.timezone)

    @property
    def dc(self) -> tuple[int, str, int] | None:
        if not self.telegram_dc:
            return None
        match = _DC_RE.match(self.telegram_dc)
        assert match is not None
        return int(match["id"]), match["host"].strip("[]"), int(match["port"])

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for log redaction."""
        values = [self.bot_token.get_secret_value(), self.telegram_api_hash.get_secret_value()]
        if self.aws_secret_access_key is not None:
            values.append(self.aws_secret_access_key.get_secret_value())
        values += [k.get_secret_value() for k in self.session_keys]
        if self.telegram_proxy and "@" in self.telegram_proxy:
            creds = self.telegram_proxy.split("://", 1)[1].rsplit("@", 1)[0]
            password = creds.partition(":")[2]
            # Logged either way: as written (percent-encoded) and decoded.
            values += [creds, password, unquote(password), unquote(creds)]
        return [v for v in values if v]


T = TypeVar("T", bound=BaseSettings)


class ConfigError(ProjectError):
    """A setting is missing or invalid; `str()` is one line that names it."""

    code = "config"


def _describe(cls: type[BaseSettings], error: Any) -> str:
    loc = error.get("loc") or ("?",)
    field = str(loc[0])
    info = cls.model_fields.get(field)
    expected = info.description if info and info.description else "a valid value"
    env_name = field.upper()
    if error.get("type") == "missing":
        return f"{env_name} is not set: expected {expected}"
    reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{env_name} is invalid ({reason}): expected {expected}"


def load(cls: type[T], **overrides: Any) -> T:
    """Build settings of `cls` or raise ConfigError naming the first bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        first = _describe(cls, errors[0]) if errors else str(exc)
        more = ""
        if len(errors) > 1:
            more = f" (and {len(errors) - 1} more; run `tg-parser check`)"
        raise ConfigError(first + more) from None


def describe_all(cls: type[BaseSettings]) -> list[str]:
    """All problems with the current configuration, one line each (for `check`)."""
    try:
        cls()
    except ValidationError as exc:
        return [_describe(cls, e) for e in exc.errors(include_input=False)]
    return []
