"""Media files on S3-compatible object storage (#18): core.ports.MediaStore over a
bucket, for several machines sharing one archive (MEDIA_URL=s3://bucket/prefix).

A stored key ("ab/cd/<sha256>.jpg") is the object "<prefix>/<key>" in the bucket.
Partial downloads ("partial/<id>-<media id>") never leave this machine: they live in a
local scratch folder (MEDIA_DIR), are resumed there by `open_append`/`size`, and `put`
uploads a finished one (one PUT up to `part_size`, a multipart upload above: the object
exists only once the upload is complete, so a reader sees the whole file or none) and
only then lets go of the local file. `get` returns a local copy from a cache folder
under the scratch folder ("<scratch>/.s3-cache/<key>"), bounded by `cache_bytes`: the
least recently read copies go first, never one read in the last `cache_grace`
seconds (an export may be zipping it). `exists`/`size` ask the bucket (HEAD).

Every failure of the storage (network, a bucket gone, refused credentials) raises
core.errors.MediaStorageError naming the cause; the local file concerned is kept. The
client (aiobotocore) is made at first use inside the running loop; `close()` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from core.errors import MediaStorageError
from db.media_store import LocalMediaStore

log = logging.getLogger(__name__)

# Parts of a multipart upload (S3: at least 5 MiB each but the last, at most 10,000).
PART_SIZE = 8 * 1024 * 1024
# Bytes read from a downloaded object per write to the cache file.
_CHUNK = 1024 * 1024
# Error codes saying the credentials or their permissions were refused.
_DENIED = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
    "ExpiredToken", "InvalidClientTokenId", "AllAccessDisabled", "AccountProblem", "403",
    "Forbidden", "UnrecognizedClientException",
})
# Error codes saying the bucket lives in another region than the one asked.
_REGION = frozenset({
    "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
    "301", "IncorrectEndpoint",
})
# Error codes of the server being busy or broken: like a network failure.
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"})
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
CACHE_DIR = ".s3-cache"


def classify(exc: BaseException) -> str:
    """MediaStorageError's `cause` for a library error (see its docstring)."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "NoSuchBucket":
            return "no_bucket"
        if code in _DENIED or status == 403:
            return "denied"
        if code in _REGION or status == 301:
            return "region"
        if code in _BUSY or status >= 500:
            return "unreachable"
        return "error"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "denied"
    if isinstance(
        exc, HTTPClientError | BotoConnectionError | aiohttp.ClientError | OSError | TimeoutError
    ):
        return "unreachable"
    return "error"


def fix_for(exc: MediaStorageError) -> str:
    """What the operator does about `exc` (English: the CLI and the logs)."""
    fixes = {
        "unreachable": (
            "check MEDIA_S3_ENDPOINT (unset means AWS) and that this machine reaches it "
            "(network, firewall, TLS); media waits on the local disk meanwhile"
        ),
        "no_bucket": (
            "create the bucket (e.g. `aws s3 mb s3://<bucket>`, or in the MinIO console) "
            "or correct the bucket name in MEDIA_URL"
        ),
        "denied": (
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that this key may "
            "list the bucket and read, write and delete objects under MEDIA_URL's prefix"
        ),
        "region": "set AWS_REGION to the bucket's region (or MEDIA_S3_ENDPOINT to its endpoint)",
    }
    return fixes.get(exc.cause, "check MEDIA_URL and MEDIA_S3_ENDPOINT; the error says more")


def _words(exc: BaseException) -> str:
    """The library's words for `exc` (its error code and message), no secret in them:
    the secret key is never sent, and core.errors redacts the known ones again."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = err.get("Message") or ""
        return f"{err.get('Code') or status} {message}".strip() + f" (HTTP {status})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class S3MediaStore:
    """Objects under `prefix` in `bucket`; partial downloads and the cache of read
    objects under the local folder `scratch` (MEDIA_DIR).

    `endpoint_url`: an S3-compatible server (MinIO: "http://127.0.0.1:9000"; None: AWS,
    path-style addressing otherwise); `region`, `access_key`, `secret_key`: None lets
    the library find them (its environment and config files, an instance role);
    `cache_bytes`: the bound of the local copies; `attempts`: tries of one request
    (the library's standard retry mode); `timeout`: seconds to connect and per read.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        scratch: Path,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        cache_bytes: int = 1024 * 1024 * 1024,
        cache_grace: float = 900.0,
        part_size: int = PART_SIZE,
        attempts: int = 3,
        timeout: float = 20.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = Path(scratch)
        self.local = LocalMediaStore(self.root)
        self.cache = LocalMediaStore(self.root / CACHE_DIR)
        self.endpoint_url = endpoint_url
        at = f" at {endpoint_url}" if endpoint_url else ""
        self.where = f"s3://{bucket}/{self.prefix}{at}"
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._cache_bytes = max(0, cache_bytes)
        self._cache_grace = cache_grace
        self._part_size = max(5 * 1024 * 1024, part_size)
        self._attempts = max(1, attempts)
        self._timeout = timeout
        self._client: Any = None
        self._client_cm: Any = None
        self._client_lock = asyncio.Lock()
        self._cached: int | None = None  # bytes in the cache, None until measured

    # -- the client ------------------------------------------------------------------

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    config = AioConfig(
                        connect_timeout=self._timeout,
                        read_timeout=self._timeout,
                        retries={"max_attempts": self._attempts, "mode": "standard"},
                        s3={"addressing_style": "path"} if self.endpoint_url else None,
                        # Checksums only where S3 requires them: the default trailing
                        # CRC32 (aws-chunked) is refused by some S3-compatible servers.
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    )
                    with self._translate():
                        cm = get_session().create_client(
                            "s3",
                            endpoint_url=self.endpoint_url,
                            region_name=self._region,
                            aws_access_key_id=self._access_key,
                            aws_secret_access_key=self._secret_key,
                            config=config,
                        )
                        self._client = await cm.__aenter__()
                    self._client_cm = cm
        return self._client

    async def close(self) -> None:
        """End the client's connections (made again at the next use)."""
        cm, self._client, self._client_cm = self._client_cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except (BotoCoreError, ClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise MediaStorageError(classify(exc), self.where, _words(exc)) from exc

    async def _call(self, op: str, **kw: Any) -> Any:
        client = await self._s3()
        with self._translate():
            return await getattr(client, op)(Bucket=self.bucket, **kw)

    def _object(self, key: str) -> str:
        self.local.path(key)  # ValueError for a key leaving the folder
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- MediaStore ------------------------------------------------------------------

    async def put(self, key: str, source: Path) -> None:
        """Upload the complete local file `source` as `key` (atomic: the object appears
        whole once the upload completes), then keep it as the cached copy of `key`.
        MediaStorageError when the storage fails: `source` is left as it was."""
        if _is_partial(key):
            return await self.local.put(key, source)
        source = Path(source)
        name = self._object(key)
        size = (await asyncio.to_thread(source.stat)).st_size
        if size <= self._part_size:
            data = await asyncio.to_thread(source.read_bytes)
            await self._call("put_object", Key=name, Body=data)
        else:
            await self._multipart(name, source)
        try:
            await self.cache.put(key, source)
        except OSError:  # the cache is a convenience: the object is stored
            log.warning("media: could not keep %s in the cache", key, exc_info=True)
            with contextlib.suppress(OSError):
                source.unlink()
            return
        await self._cache_added(size, self.cache.path(key))

    async def _multipart(self, name: str, source: Path) -> None:
        upload = await self._call("create_multipart_upload", Key=name)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            with source.open("rb") as fh:
                while data := await asyncio.to_thread(fh.read, self._part_size):
                    number = len(parts) + 1
                    answer = await self._call(
                        "upload_part", Key=name, UploadId=upload_id, PartNumber=number,
                        Body=data,
                    )
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
            await self._call(
                "complete_multipart_upload", Key=name, UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Best effort (a bucket lifecycle rule aborting incomplete uploads after a
            # day is the backstop: README); bounded, the storage may be what failed.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._call("abort_multipart_upload", Key=name, UploadId=upload_id), 2
                )
            raise

    async def get(self, key: str) -> Path:
        """A local file holding `key`'s bytes: the cached copy (fetched now when there is
        none); FileNotFoundError when the bucket has no such object, MediaStorageError
        when the storage fails. The copy stays at least `cache_grace` seconds."""
        if _is_partial(key):
            return await self.local.get(key)
        path = self.cache.path(key)
        try:
            await asyncio.to_thread(os.utime, path)  # read now: evicted last
            return path
        except FileNotFoundError:
            pass
        name = self._object(key)
        try:
            answer = await self._call("get_object", Key=name)
        except MediaStorageError as exc:
            if _not_found(exc):
                raise FileNotFoundError(key) from None
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        size = 0
        try:
            with tmp.open("wb") as fh:
                async with answer["Body"] as body:
                    while True:
                        with self._translate():
                            chunk = await body.read(_CHUNK)
                        if not chunk:
                            break
                        await asyncio.to_thread(fh.write, chunk)
                        size += len(chunk)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        await self._cache_added(size, path)
        return path

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def size(self, key: str) -> int | None:
        """Bytes of `key` (a HEAD request for a stored key), None if there is none."""
        if _is_partial(key):
            return await self.local.size(key)
        try:
            head = await self._call("head_object", Key=self._object(key))
        except MediaStorageError as exc:
            if _not_found(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def open_append(self, key: str) -> BinaryIO:
        """A partial download's local file open for appending (and reading); only
        "partial/" keys (ValueError for others: stored objects are written by `put`)."""
        if not _is_partial(key):
            raise ValueError(f"only partial keys are written in place, not {key!r}")
        return await self.local.open_append(key)

    async def partial_keys(self) -> list[str]:
        """The keys under "partial/" on this machine (downloads under way or left)."""
        return await self.local.partial_keys()

    async def delete(self, key: str) -> None:
        """Remove `key` (the object and its cached copy); nothing happens if it does not
        exist. MediaStorageError when the storage fails."""
        if _is_partial(key):
            return await self.local.delete(key)
        await self._call("delete_object", Key=self._object(key))
        await self.cache.delete(key)

    # -- for `tg-parser check` ---------------------------------------------------------

    async def check(self) -> None:
        """The bucket answers and takes, gives back and deletes a small object under the
        prefix; MediaStorageError naming the cause otherwise."""
        try:
            await self._call("head_bucket")
        except MediaStorageError as exc:
            if not _not_found(exc):  # HEAD has no body: a missing bucket is a bare 404
                raise
            raise MediaStorageError("no_bucket", self.where, _words(exc.__cause__ or exc)) from exc
        name = self._object(".write-test")
        await self._call("put_object", Key=name, Body=b"tg-parser")
        await self._call("get_object", Key=name)
        await self._call("delete_object", Key=name)

    # -- the cache -------------------------------------------------------------------

    async def _cache_added(self, size: int, path: Path) -> None:
        if self._cached is not None:
            self._cached += size
            if self._cached <= self._cache_bytes:
                return
        self._cached = await asyncio.to_thread(self._evict, path)

    def _evict(self, keep: Path) -> int:
        """Delete the least recently read copies until the cache holds at most
        `cache_bytes` (not `keep`, nor one read within `cache_grace` seconds), and the
        temporary files a crash left; the bytes left (blocking: call in a thread)."""
        now = time.time()
        files: list[tuple[float, int, Path]] = []
        for path in self.cache.root.rglob("*"):
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_file():
                continue
            if ".tmp-" in path.name:
                if now - st.st_mtime > self._cache_grace:
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for mtime, size, path in sorted(files):
            if total <= self._cache_bytes:
                break
            if path == keep or now - mtime < self._cache_grace:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
        return total


def _is_partial(key: str) -> bool:
    return key.startswith("partial/")


def _not_found(exc: MediaStorageError) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    code = str(cause.response.get("Error", {}).get("Code", ""))
    return code in _NOT_FOUND
