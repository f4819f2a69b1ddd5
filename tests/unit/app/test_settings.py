"""Settings: one line naming the bad variable; secrets never in the message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.settings import ConfigError, DatabaseSettings, Settings, describe_all, load

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"
HASH = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    values = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_ID": "12345",
        "TELEGRAM_API_HASH": HASH,
        "ADMIN_IDS": "1001, 1002",
        "SESSION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite3'}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_complete_configuration_loads(env: dict[str, str]) -> None:
    settings = load(Settings)
    assert settings.admin_ids == [1001, 1002]
    assert settings.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and HASH not in repr(settings)
    assert settings.sqlite_path is not None and settings.sqlite_path.name == "db.sqlite3"
    assert describe_all(Settings) == []
    assert TOKEN in settings.secret_values() and HASH in settings.secret_values()


def test_the_media_folder_is_absolute(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite://data/db.sqlite3")  # relative, as documented
    assert load(Settings).media_path == (tmp_path / "data" / "media").resolve()
    monkeypatch.setenv("MEDIA_DIR", "~/tg-media")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load(Settings).media_path == (tmp_path / "home" / "tg-media").resolve()


def test_missing_bot_token_is_one_line_naming_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_TOKEN")
    with pytest.raises(ConfigError) as info:
        load(Settings)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("BOT_TOKEN is not set")
    assert "@BotFather" in message
    assert describe_all(Settings) == [message]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "not-a-token-but-a-secret"),
        ("TELEGRAM_API_HASH", "zz-secret-hash"),
        ("SESSION_KEYS", "short-secret-key"),
        ("ADMIN_IDS", "olga"),
        ("DATABASE_URL", "mysql://secret@host/db"),
        ("TELEGRAM_DC", "nowhere"),
        ("TELEGRAM_PROXY", "ftp://secret@host:1"),
    ],
)
def test_invalid_value_named_without_echoing_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load(Settings)
    message = str(info.value)
    assert message.startswith(f"{name} is invalid")
    assert "\n" not in message
    assert value not in message and "secret" not in message


def test_env_file_in_cwd_is_read(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=warning\n")
    assert load(DatabaseSettings).log_level == "WARNING"


def test_several_problems_are_counted(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_TOKEN")
    monkeypatch.delenv("ADMIN_IDS")
    with pytest.raises(ConfigError, match=r"and 1 more; run `tg-parser check`"):
        load(Settings)
    assert len(describe_all(Settings)) == 2


def test_database_settings_need_no_bot_token(env: dict[str, str]) -> None:
    settings = load(DatabaseSettings, database_url="sqlite://:memory:")
    assert settings.sqlite_path is None


ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"


def test_env_example_documents_every_setting() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for name in Settings.model_fields:
        env_name = name.upper()
        index = next(
            (i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"{env_name}=")),
            None,
        )
        assert index is not None, f"{env_name} is missing from .env.example"
        assert lines[index - 1].startswith("# "), f"{env_name} has no comment line"


def test_an_unfilled_env_example_does_not_pass_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text())
    problems = describe_all(Settings)
    named = {p.split(" ", 1)[0] for p in problems}
    assert named == {"BOT_TOKEN", "TELEGRAM_API_ID", "TELEGRAM_API_HASH", "ADMIN_IDS",
                     "SESSION_KEYS"}
    assert all(" is not set: expected " in p for p in problems), problems


def test_empty_optional_values_fall_back_to_defaults(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_PORT", "")
    monkeypatch.setenv("TELEGRAM_PROXY", "")
    monkeypatch.setenv("LOG_LEVEL", "")
    settings = load(Settings)
    assert settings.health_port is None
    assert settings.telegram_proxy is None
    assert settings.log_level == "INFO"


def test_timezone_defaults_to_utc_and_takes_an_iana_name(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load(Settings).zone.key == "UTC"
    monkeypatch.setenv("TIMEZONE", "Europe/Moscow")
    assert load(Settings).zone.key == "Europe/Moscow"


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("Mars/Olympus", "unknown zone"),
        ("europe/moscow", "did you mean Europe/Moscow?"),
        ("../../etc/passwd", "unknown zone"),
        ("+03:00", "unknown zone"),
    ],
)
def test_a_bad_timezone_names_the_setting_and_an_example(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, value: str, hint: str
) -> None:
    monkeypatch.setenv("TIMEZONE", value)
    with pytest.raises(ConfigError) as info:
        load(Settings)
    message = str(info.value)
    assert message.startswith(f"TIMEZONE is invalid ({hint})")
    assert "Europe/Moscow" in message and "\n" not in message


def test_timezone_works_without_the_system_tz_database(env: dict[str, str]) -> None:
    """Slim images have no /usr/share/zoneinfo: the `tzdata` dependency answers then."""
    code = (
        "import zoneinfo; assert zoneinfo.TZPATH == (), zoneinfo.TZPATH; "
        "from app.settings import Settings, load; "
        "print(load(Settings).zone.utcoffset(__import__('datetime').datetime(2026, 1, 1)))"
    )
    env_vars = {**os.environ, **env, "TIMEZONE": "Europe/Moscow", "PYTHONTZPATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env_vars, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3:00:00"


@pytest.mark.parametrize("value", ["1", "601", "thirty"])
def test_lease_seconds_out_of_bounds_is_named(env: dict[str, str], value: str) -> None:
    os.environ["LEASE_SECONDS"] = value
    try:
        with pytest.raises(ConfigError, match="LEASE_SECONDS"):
            load(Settings)
    finally:
        del os.environ["LEASE_SECONDS"]
    assert load(Settings).lease_seconds == 30


@pytest.mark.parametrize("argv", [["worker"], ["run", "--no-parser"]])
def test_worker_and_bot_only_refuse_sqlite_naming_database_url(
    env: dict[str, str], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "postgres://" in err and env["DATABASE_URL"] in err
    assert err.count("\n") == 1
