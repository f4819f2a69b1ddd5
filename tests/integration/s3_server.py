"""A local S3-compatible server for the tests (#18): moto's server mode on loopback, in
a thread of the test process (its buckets live in this process: a bucket name is new
per test). No test reaches the internet."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from db.s3_media_store import S3MediaStore

KEY_ID, SECRET = "AKIATESTKEY", "test-secret-Zq8wX2vN4pL7"


@dataclass
class S3Server:
    server: ThreadedMotoServer
    endpoint: str

    def halt(self) -> None:
        """Stop answering and close the listening socket: a new connection is refused
        at once (not left hanging in the backlog)."""
        self.server.stop()
        inner = self.server._server
        if inner is not None:
            inner.server_close()


def start_server() -> S3Server:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(server, f"http://{host}:{port}")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    srv = start_server()
    try:
        yield srv
    finally:
        srv.halt()


def new_bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def new_store(endpoint: str, root: Path, bucket: str, prefix: str = "arch/v1",
              **kw: Any) -> S3MediaStore:
    """A store as the app makes one, with fast failures (one try, short timeouts)."""
    kw.setdefault("attempts", 1)
    kw.setdefault("timeout", 5.0)
    return S3MediaStore(
        bucket, prefix, root, endpoint_url=endpoint, region="us-east-1", access_key=KEY_ID,
        secret_key=SECRET, **kw,
    )


async def create_bucket(store: S3MediaStore) -> None:
    client = await store._s3()
    region = store._region or "us-east-1"
    where = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}
    }
    await client.create_bucket(Bucket=store.bucket, **where)


async def object_names(store: S3MediaStore) -> list[str]:
    client = await store._s3()
    answer = await client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in answer.get("Contents", []))
