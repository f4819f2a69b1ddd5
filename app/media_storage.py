"""Where the app keeps media files (#16, #18): the local folder, or MEDIA_URL's bucket.
Its own module so that `tg-parser check` builds the store without the whole app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.settings import Settings
from core.media import parse_media_url
from db.media_store import LocalMediaStore

if TYPE_CHECKING:  # aiobotocore and botocore cost ~20 MB: imported only with MEDIA_URL
    from db.s3_media_store import S3MediaStore


def build_media_store(
    settings: Settings, *, attempts: int = 3, timeout: float = 20.0
) -> LocalMediaStore | S3MediaStore:
    """Where media files are kept: MEDIA_URL's bucket (#18; partial downloads and the
    MEDIA_CACHE_MB cache of local copies under settings.media_path; `attempts` per
    request, `timeout` seconds to connect and per read), else the folder
    settings.media_path."""
    if not settings.media_url:
        return LocalMediaStore(settings.media_path)
    from db.s3_media_store import S3MediaStore

    bucket, prefix = parse_media_url(settings.media_url)
    secret = settings.aws_secret_access_key
    return S3MediaStore(
        bucket, prefix, settings.media_path,
        endpoint_url=settings.media_s3_endpoint,
        region=settings.media_region,
        access_key=settings.aws_access_key_id,
        secret_key=secret.get_secret_value() if secret is not None else None,
        cache_bytes=settings.media_cache_mb * 1024 * 1024,
        attempts=attempts,
        timeout=timeout,
    )
