"""`tg-parser` as a user runs it: config errors are one line, rotate-key is safe."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from db.accounts import AccountRepository
from db.database import close_db, init_db
from db.vault import SessionVault, VaultError
from tests.integration.cli_env import TG_PARSER, clean_env, full_env

SESSION = "1BVtsOHgBu7dVhYvC3cFq0xKpWz9sLmNoPqRsTuVwXyZ-session-string"


def _run(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TG_PARSER, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", ["run", "check"])
def test_missing_bot_token_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    values = full_env(tmp_path)
    del values["BOT_TOKEN"]
    result = _run(tmp_path, clean_env(tmp_path, **values), command)
    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert "BOT_TOKEN" in output
    assert "Traceback" not in output
    assert values["SESSION_KEYS"] not in output
    assert not (tmp_path / "data").exists()  # nothing was started


def test_run_with_nothing_configured_is_still_one_line(tmp_path: Path) -> None:
    result = _run(tmp_path, clean_env(tmp_path), "run")
    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert "is not set" in output and "tg-parser check" in output


def test_check_passes_on_a_complete_configuration(tmp_path: Path) -> None:
    result = _run(tmp_path, clean_env(tmp_path, **full_env(tmp_path)), "check")
    assert result.returncode == 0, result.stderr
    assert "configuration is complete" in result.stdout
    assert "TEST-TOKEN" not in result.stdout


def test_keygen_prints_a_fernet_key(tmp_path: Path) -> None:
    result = _run(tmp_path, clean_env(tmp_path), "keygen")
    assert result.returncode == 0
    Fernet(result.stdout.strip())


def _stored(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes
    try:
        return bytes(conn.execute("SELECT session_ciphertext FROM account").fetchone()[0])
    finally:
        conn.close()


async def _store(url: str, key: str) -> None:
    await init_db(url)
    try:
        await AccountRepository(SessionVault([key])).save_session(
            SESSION, phone=None, user_id=1, display_name=None, username=None
        )
    finally:
        await close_db()


async def _load(url: str, keys: list[str]) -> str | None:
    await init_db(url)
    try:
        return await AccountRepository(SessionVault(keys)).load_session()
    finally:
        await close_db()


def test_rotate_key_wrong_key_then_rotation(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "tg.sqlite3"
    url = f"sqlite://{db_path}"
    old, new, wrong = (Fernet.generate_key().decode() for _ in range(3))
    asyncio.run(_store(url, old))
    before = _stored(db_path)

    env = clean_env(tmp_path, DATABASE_URL=url, SESSION_KEYS=wrong)
    result = _run(tmp_path, env, "rotate-key")
    assert result.returncode == 1
    assert "cannot be decrypted" in result.stderr and "SESSION_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong not in result.stderr + result.stdout
    assert _stored(db_path) == before  # byte for byte

    result = _run(
        tmp_path, clean_env(tmp_path, DATABASE_URL=url, SESSION_KEYS=f"{new},{old}"), "rotate-key"
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 session" in result.stdout
    assert _stored(db_path) != before
    # The old key can now be removed from SESSION_KEYS.
    assert asyncio.run(_load(url, [new])) == SESSION
    with pytest.raises(VaultError):
        asyncio.run(_load(url, [old]))


def test_check_names_keygen_by_a_path_that_runs(tmp_path: Path) -> None:
    """`tg-parser` is not on PATH here (as after `make run`): the hint gives its path."""
    values = full_env(tmp_path)
    del values["SESSION_KEYS"]
    result = _run(tmp_path, clean_env(tmp_path, **values), "check")
    assert result.returncode == 2
    hint = next(line for line in result.stderr.splitlines() if "SESSION_KEYS" in line)
    command = hint.split("`")[1]  # e.g. "/path/.venv/bin/tg-parser keygen"
    assert command.endswith(" keygen") and command != "tg-parser keygen"
    made = subprocess.run(
        command.split(), cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, text=True
    )
    assert made.returncode == 0 and Fernet(made.stdout.strip().encode())


def test_check_reports_a_media_folder_that_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    values = {**full_env(tmp_path), "MEDIA_DIR": str(blocker / "media")}
    result = _run(tmp_path, clean_env(tmp_path, **values), "check")
    assert result.returncode == 2
    assert f"media folder {blocker / 'media'} cannot be used" in result.stderr
    assert "ENOTDIR" in result.stderr and "MEDIA_DIR" in result.stderr
    values["MEDIA_DIR"] = "~/tg-media"
    env = clean_env(tmp_path, **values)
    home = Path(env.get("HOME", str(Path.home())))
    result = _run(tmp_path, env, "check")
    assert result.returncode == 0, result.stderr
    assert f"media folder: {home / 'tg-media'}" in result.stdout
    assert not (tmp_path / "~").exists() and not (home / "tg-media").exists()
