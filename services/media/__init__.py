"""Media downloads (#16): the supervised MediaService (service.py)."""

from services.media.service import MediaService, free_bytes

__all__ = ["MediaService", "free_bytes"]
