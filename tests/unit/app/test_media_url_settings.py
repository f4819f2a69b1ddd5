"""MEDIA_URL and the S3 settings (#18): checked when read, the secret key redacted, the
store chosen by the app (local folder or bucket)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.media_storage import build_media_store
from app.settings import ConfigError, Settings, load
from core.media import parse_media_url
from db.media_store import LocalMediaStore
from db.s3_media_store import S3MediaStore
from tests.unit.app.test_settings import env  # noqa: F401  (the fixture)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_media_url_is_parsed_into_bucket_and_prefix() -> None:
    assert parse_media_url("s3://my-bucket") == ("my-bucket", "")
    assert parse_media_url("s3://my.bucket/tg/media/") == ("my.bucket", "tg/media")
    for bad in ("http://b/p", "s3://", "s3://ab/x", "s3://b@d/x", "s3://bucket/a//b",
                "s3://bucket/../x"):
        with pytest.raises(ValueError):
            parse_media_url(bad)


def test_a_bad_media_url_or_endpoint_names_the_variable(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("MEDIA_URL", "bucket/prefix")
    with pytest.raises(ConfigError, match=r"MEDIA_URL is invalid \(must start with s3://"):
        load(Settings)
    monkeypatch.setenv("MEDIA_URL", "s3://bucket/prefix")
    monkeypatch.setenv("MEDIA_S3_ENDPOINT", "127.0.0.1:9000")
    with pytest.raises(ConfigError, match="MEDIA_S3_ENDPOINT is invalid"):
        load(Settings)


def test_s3_settings_build_the_bucket_store_and_hide_the_secret(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: F811
) -> None:
    assert isinstance(build_media_store(load(Settings)), LocalMediaStore)
    monkeypatch.setenv("MEDIA_URL", "s3://archive/tg")
    monkeypatch.setenv("MEDIA_S3_ENDPOINT", "http://127.0.0.1:9000/")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "scratch"))
    settings = load(Settings)
    assert SECRET not in repr(settings) and SECRET in settings.secret_values()
    assert settings.media_region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    settings = load(Settings)
    assert settings.media_region == "us-west-2"
    store = build_media_store(settings)
    assert isinstance(store, S3MediaStore)
    assert (store.bucket, store.prefix) == ("archive", "tg")
    assert store.endpoint_url == "http://127.0.0.1:9000"
    assert store.root == tmp_path / "scratch"
    assert store.where == "s3://archive/tg at http://127.0.0.1:9000"
