"""The container, compose and systemd files agree with the settings class and the README.

The image itself is built only where a container engine can reach its base image
(`TG_PARSER_DOCKER_BUILD=1`): CI machines without one skip that test and say so.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from app.settings import DatabaseSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = {name.upper() for name in Settings.model_fields}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _sqlite_path(url: str) -> str:
    """Where the app itself puts the SQLite file of `url`."""
    path = DatabaseSettings(database_url=url).sqlite_path
    assert path is not None, url
    return str(path)


def test_every_setting_is_documented_once_in_the_readme_and_env_example() -> None:
    readme_rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.M)
    env_lines = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    settings_rows = [name for name in readme_rows if name in ENV_NAMES]
    assert sorted(settings_rows) == sorted(ENV_NAMES), set(settings_rows) ^ ENV_NAMES
    assert len(settings_rows) == len(set(settings_rows)), "a setting is documented twice"
    assert sorted(env_lines) == sorted(ENV_NAMES), set(env_lines) ^ ENV_NAMES


def test_compose_services_volumes_and_environment_match_the_settings() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"bot", "postgres"}
    bot, postgres = services["bot"], services["postgres"]
    assert postgres["profiles"] == ["postgres"], "PostgreSQL only under its profile"
    assert bot["depends_on"]["postgres"]["required"] is False
    assert bot["env_file"] == ".env"
    for name in bot["environment"]:
        assert name in ENV_NAMES, f"{name} is not a setting"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in bot["volumes"]}
    assert "/data" in mounts and mounts["/data"] in compose["volumes"]
    default_url = re.search(r":-(.+)}", bot["environment"]["DATABASE_URL"]).group(1)
    assert _sqlite_path(default_url).startswith("/data/"), "the archive lives in the volume"
    assert bot["environment"]["HEALTH_HOST"] == "0.0.0.0"
    db_url = Settings.model_fields["database_url"]
    assert db_url.default.startswith("sqlite://")


def test_dockerfile_runs_as_a_user_with_a_healthcheck_and_data_in_a_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'VOLUME ["/data"]' in text
    port = re.search(r"HEALTH_PORT=(\d+)", text).group(1)
    health = re.search(r"^HEALTHCHECK .*\n.*", text, re.M).group(0)
    assert f"127.0.0.1:{port}/healthz" in health
    url = re.search(r"DATABASE_URL=(\S+)", text).group(1)
    assert _sqlite_path(url).startswith("/data/")
    for env in re.findall(r"^\s+([A-Z_]+)=", text, re.M):
        assert env in ENV_NAMES | {"PYTHONUNBUFFERED"}, env


def test_systemd_unit_runs_check_then_run_and_stops_on_sigterm() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "tg-parser.service")
    service = unit["Service"]
    assert service["ExecStartPre"].endswith("tg-parser check")
    assert service["ExecStart"].endswith("tg-parser run")
    assert service["KillSignal"] == "SIGTERM"
    assert service["User"] != "root"
    assert "2" in service["RestartPreventExitStatus"].split()


@pytest.mark.skipif(
    os.environ.get("TG_PARSER_DOCKER_BUILD") != "1" or shutil.which("docker") is None,
    reason="set TG_PARSER_DOCKER_BUILD=1 where docker can pull python:3.11-slim",
)
def test_the_image_builds_and_knows_its_command() -> None:
    subprocess.run(["docker", "build", "-t", "tg-parser:test", str(ROOT)], check=True)
    out = subprocess.run(
        ["docker", "run", "--rm", "tg-parser:test", "tg-parser", "--help"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "keygen" in out.stdout
