"""`tg-parser check` with MEDIA_URL=s3://... (#18), as a user runs it, against a local S3
server (moto): a reachable bucket, a missing one, refused credentials and a server
that does not answer, each named with its fix; the secret key never printed."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import moto.settings
import pytest

from tests.integration.cli_env import TG_PARSER, clean_env, full_env
from tests.integration.s3_server import (
    KEY_ID,
    SECRET,
    S3Server,
    create_bucket,
    new_bucket_name,
    new_store,
    s3,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.timeout(60)


def _check(tmp: Path, endpoint: str, bucket: str) -> subprocess.CompletedProcess[str]:
    values = {
        **full_env(tmp), "MEDIA_URL": f"s3://{bucket}/media", "MEDIA_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
    }
    return subprocess.run(
        [TG_PARSER, "check"], cwd=tmp, env=clean_env(tmp, **values), capture_output=True,
        text=True, timeout=60,
    )


def test_check_names_the_storage_and_what_is_wrong_with_it(
    tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    bucket = new_bucket_name()
    missing = _check(tmp_path, s3.endpoint, bucket)
    assert missing.returncode == 2, missing.stdout
    assert f"✗ media storage s3://{bucket}/media at {s3.endpoint} has no such bucket" in (
        missing.stderr
    )
    assert "create the bucket" in missing.stderr and "MEDIA_URL" in missing.stderr

    async def make() -> None:
        store = new_store(s3.endpoint, tmp_path / "x", bucket)
        await create_bucket(store)
        await store.close()

    asyncio.run(make())
    fine = _check(tmp_path, s3.endpoint, bucket)
    assert fine.returncode == 0, fine.stderr
    assert f"✓ media storage: s3://{bucket}/media" in fine.stdout

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    refused = _check(tmp_path, s3.endpoint, bucket)
    assert refused.returncode == 2
    assert "refused the credentials" in refused.stderr
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in refused.stderr
    monkeypatch.undo()

    down = _check(tmp_path, "http://127.0.0.1:9", bucket)  # nothing listens there
    assert down.returncode == 0  # the network may come back: said, not refused
    assert "? media storage" in down.stdout and "cannot be reached" in down.stdout
    assert "MEDIA_S3_ENDPOINT" in down.stdout
    for result in (missing, fine, refused, down):
        assert SECRET not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
