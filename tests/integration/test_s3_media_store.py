"""db/s3_media_store.py against a local S3 server (moto's server mode): the MediaStore
contract, the same tests as LocalMediaStore's; the bounded cache; a missing bucket,
refused credentials and a server stopped mid-upload keep the local file and raise an
error naming the cause (never the secret)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import moto.settings
import pytest

from core.errors import MediaStorageError
from core.media import media_key
from db.media_store import LocalMediaStore
from db.s3_media_store import S3MediaStore, fix_for
from tests.integration.s3_server import (
    SECRET,
    S3Server,
    create_bucket,
    new_bucket_name,
    new_store,
    object_names,
    s3,  # noqa: F401  (the fixture)
    start_server,
)

pytestmark = pytest.mark.timeout(60)
MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Server  # noqa: F811
) -> AsyncIterator[LocalMediaStore | S3MediaStore]:
    if request.param == "local":
        yield LocalMediaStore(tmp_path / "media")
        return
    st = new_store(s3.endpoint, tmp_path / "media", new_bucket_name())
    await create_bucket(st)
    try:
        yield st
    finally:
        await st.close()


async def _partial(store: Any, key: str, data: bytes) -> Path:
    with await store.open_append(key) as fh:
        fh.write(data)
    path: Path = await store.get(key)
    return path


async def test_contract_partial_resume_put_get_delete(store: Any) -> None:
    assert await store.size("partial/7-1") is None
    assert await store.partial_keys() == []
    with await store.open_append("partial/7-1") as fh:
        fh.write(b"abc")
    with await store.open_append("partial/7-1") as fh:  # resumes after what is there
        fh.write(b"def")
        fh.seek(0)
        assert fh.read() == b"abcdef"
    assert await store.size("partial/7-1") == 6
    assert await store.partial_keys() == ["partial/7-1"]
    key = media_key("ab" * 32, "image/jpeg", None)
    assert not await store.exists(key) and await store.size(key) is None
    with pytest.raises(FileNotFoundError):
        await store.get(key)
    await store.put(key, await store.get("partial/7-1"))
    assert await store.exists(key) and not await store.exists("partial/7-1")
    assert await store.size(key) == 6 and await store.partial_keys() == []
    assert (await store.get(key)).read_bytes() == b"abcdef"
    await store.delete(key)
    await store.delete(key)  # nothing there: no error
    assert await store.size(key) is None and not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await store.get(key)
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "a//b"):
        with pytest.raises(ValueError):
            await store.exists(bad)


async def test_contract_a_large_file_is_whole_or_absent(store: Any) -> None:
    data = os.urandom(11 * MB + 123)  # three parts of a multipart upload
    source = await _partial(store, "partial/1-2", data)
    key = media_key(hashlib.sha256(data).hexdigest(), "video/mp4", None)
    assert not await store.exists(key)
    await store.put(key, source)
    assert await store.size(key) == len(data)
    assert not source.exists()
    assert hashlib.sha256((await store.get(key)).read_bytes()).digest() == hashlib.sha256(
        data
    ).digest()


async def test_objects_under_the_prefix_and_a_bounded_cache(
    tmp_path: Path, s3: S3Server  # noqa: F811
) -> None:
    st = new_store(s3.endpoint, tmp_path / "media", new_bucket_name(), prefix="/a/b/",
                   cache_bytes=250_000, cache_grace=0)
    await create_bucket(st)
    try:
        keys = []
        for n in range(4):
            data = bytes([n]) * 100_000
            key = media_key(hashlib.sha256(data).hexdigest(), "image/jpeg", None)
            await st.put(key, await _partial(st, f"partial/{n}-1", data))
            keys.append(key)
        assert await object_names(st) == sorted(f"a/b/{k}" for k in keys)
        cached = [p for p in (tmp_path / "media" / ".s3-cache").rglob("*") if p.is_file()]
        assert sum(p.stat().st_size for p in cached) <= 250_000
        # A copy evicted is fetched again; what the caller got stays readable.
        path = await st.get(keys[0])
        assert path.read_bytes() == bytes([0]) * 100_000
        assert not list((tmp_path / "media" / "partial").iterdir())
    finally:
        await st.close()


async def test_a_missing_bucket_keeps_the_file_and_names_the_cause(
    tmp_path: Path, s3: S3Server  # noqa: F811
) -> None:
    st = new_store(s3.endpoint, tmp_path / "media", new_bucket_name())
    try:
        source = await _partial(st, "partial/1-1", b"photo bytes")
        with pytest.raises(MediaStorageError) as err:
            await st.put("ab/cd/x.jpg", source)
        assert err.value.cause == "no_bucket" and source.read_bytes() == b"photo bytes"
        assert st.bucket in err.value.where
        with pytest.raises(MediaStorageError) as err:
            await st.check()
        assert err.value.cause == "no_bucket"
        assert "create the bucket" in fix_for(err.value)
    finally:
        await st.close()


async def test_refused_credentials_keep_the_file_and_never_show_the_secret(
    tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    st = new_store(s3.endpoint, tmp_path / "media", new_bucket_name())
    await create_bucket(st)
    # moto checks signatures from now on: our key id is unknown to its IAM.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    try:
        source = await _partial(st, "partial/1-1", b"photo bytes")
        with pytest.raises(MediaStorageError) as err:
            await st.put("ab/cd/x.jpg", source)
        assert err.value.cause == "denied" and source.read_bytes() == b"photo bytes"
        with pytest.raises(MediaStorageError) as err:
            await st.check()
        assert err.value.cause == "denied"
        text = f"{err.value} {err.value.where} {fix_for(err.value)} {err.value!r}"
        assert SECRET not in text and "AWS_SECRET_ACCESS_KEY" in fix_for(err.value)
    finally:
        await st.close()


async def test_a_server_stopped_mid_upload_keeps_the_file_and_no_object_appears(
    tmp_path: Path,
) -> None:
    srv = start_server()
    st = new_store(srv.endpoint, tmp_path / "media", new_bucket_name())
    await create_bucket(st)
    data = os.urandom(11 * MB)
    source = await _partial(st, "partial/3-4", data)
    real_call = st._call

    async def call(op: str, **kw: Any) -> Any:
        if op == "upload_part" and kw["PartNumber"] == 2:
            await asyncio.to_thread(srv.halt)
            await st.close()  # no kept-alive connection: the next request connects anew
        return await real_call(op, **kw)

    st._call = call  # type: ignore[method-assign]
    try:
        with pytest.raises(MediaStorageError) as err:
            await st.put("ab/cd/big.mp4", source)
        assert err.value.cause == "unreachable"
        assert "Connect" in str(err.value) and srv.endpoint in err.value.where
        assert source.read_bytes() == data
    finally:
        await st.close()
    # The objects live in this process: a new server shows the bucket as it was left.
    again = start_server()
    st = new_store(again.endpoint, tmp_path / "media", st.bucket)
    try:
        assert not await st.exists("ab/cd/big.mp4")
        await st.put("ab/cd/big.mp4", source)  # the kept file, uploaded later
        assert await st.size("ab/cd/big.mp4") == len(data)
    finally:
        await st.close()
        again.halt()
