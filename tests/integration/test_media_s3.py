"""The media service with MEDIA_URL=s3://... (#18): the real Telethon against the MTProto
double downloads a file, and it is stored as an object in a local S3 server (moto);
while the bucket is missing the file waits on the local disk with one alert, and is
uploaded once the bucket is there, without being fetched from Telegram again."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.media_storage import build_media_store
from app.settings import Settings
from db.media_queue import MediaQueue
from db.models import MediaDownload, MediaFile
from db.s3_media_store import S3MediaStore
from parser.media import CHUNK
from services.media import MediaService
from tests.doubles.sessions import FakeSession as Session
from tests.integration.s3_server import (
    KEY_ID,
    SECRET,
    S3Server,
    create_bucket,
    new_bucket_name,
    object_names,
    s3,  # noqa: F401  (the fixture)
)
from tests.integration.test_media_service import (  # the MTProto double and a migrated archive
    Stack,
    enqueue,
    running,
    settled,
    stack,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def store(stack: Stack, s3: S3Server) -> AsyncIterator[S3MediaStore]:  # noqa: F811
    """The store the app builds from its settings (MEDIA_URL, MEDIA_S3_ENDPOINT, the
    AWS_* names), over a bucket not made yet."""
    settings = Settings(
        bot_token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz", telegram_api_id=1,
        telegram_api_hash="0" * 32, admin_ids=[1], session_keys=["x" * 43 + "="],
        media_dir=stack.root, media_url=f"s3://{new_bucket_name()}/archive",
        media_s3_endpoint=s3.endpoint, aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET, aws_default_region="eu-west-1",
    )
    st = build_media_store(settings, attempts=1, timeout=5.0)
    assert isinstance(st, S3MediaStore)
    try:
        yield st
    finally:
        await st.close()


def service(stk: Stack, st: S3MediaStore, **kw: Any) -> MediaService:
    return MediaService(
        MediaQueue(), st, Session(stk.client), stk.alerts, root=stk.root,
        partials=st.partial_keys, poll_seconds=0.05, free=lambda _p: stk.free,
        disk_retry_seconds=0.2, **kw,
    )


async def test_a_downloaded_file_becomes_an_object_and_waits_while_the_bucket_is_missing(
    stack: Stack, store: S3MediaStore  # noqa: F811
) -> None:
    ch = stack.world.add_channel(username="s3chan", title="S3")
    fid = ch.add_media_post("document", size=3 * CHUNK + 17, file_name="report.pdf")
    (row,) = await enqueue(stack, "s3chan")
    svc = service(stack, store)
    partial = stack.root / "partial" / f"{row.id}-{fid}"
    size = stack.world.files[fid].size
    async with running(svc):
        for _ in range(400):  # the file comes, the upload fails: paused, file kept
            if (await svc.counts()).paused == "storage":
                break
            await asyncio.sleep(0.02)
        counts = await svc.counts()
        assert counts.paused == "storage" and counts.done == 0
        assert partial.stat().st_size == size
        waiting = await MediaDownload.get(id=row.id)
        assert (waiting.status, waiting.reason) == ("queued", "STORAGE")
        assert [k for k, _ in stack.alerts.sent] == ["media-storage"]
        text = stack.alerts.sent[0][1]
        assert text.key == "alert_media_storage_no_bucket"
        assert store.bucket in text.args["where"] and SECRET not in str(text.args)
        await asyncio.sleep(0.5)  # tries meet the same: no second alert
        assert [k for k, _ in stack.alerts.sent] == ["media-storage"]
        await create_bucket(store)  # the operator makes the bucket
        counts = await settled(svc, 1)
    assert counts.done == 1 and counts.paused is None
    assert [k for k, _ in stack.alerts.sent] == ["media-storage", "media-storage-ok"]
    stored = await MediaFile.get(sha256=stack.world.file_sha256(fid))
    assert await object_names(store) == [f"archive/{stored.key}"]
    assert await store.size(stored.key) == size
    assert not partial.exists()
    # Fetched from Telegram once: the local file waited for the bucket (the retry
    # only checks the bytes before the end of what it has).
    assert stack.world.bytes_served[fid] <= size + CHUNK
    (stack.root / ".s3-cache" / stored.key).unlink()  # another machine: no local copy
    path = await store.get(stored.key)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stored.sha256
