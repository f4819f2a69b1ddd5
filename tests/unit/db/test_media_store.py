"""db/media_store.py: LocalMediaStore, the local MediaStore."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.media import media_key
from core.ports import MediaStore
from db.media_store import LocalMediaStore


async def test_partial_append_put_get_delete(tmp_path: Path) -> None:
    store: MediaStore = LocalMediaStore(tmp_path / "media")
    assert await store.size("partial/7-1") is None
    with await store.open_append("partial/7-1") as fh:
        fh.write(b"abc")
    with await store.open_append("partial/7-1") as fh:  # resumes after what is there
        fh.write(b"def")
        fh.seek(0)
        assert fh.read() == b"abcdef"
    assert await store.size("partial/7-1") == 6
    key = media_key("ab" * 32, "image/jpeg", None)
    assert key.startswith("ab/ab/") and key.endswith(".jpg")
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await store.get(key)
    await store.put(key, await store.get("partial/7-1"))
    assert await store.exists(key) and not await store.exists("partial/7-1")
    path = await store.get(key)
    assert path == tmp_path / "media" / key and path.read_bytes() == b"abcdef"
    await store.delete(key)
    await store.delete(key)  # nothing there: no error
    assert await store.size(key) is None


async def test_put_replaces_and_keys_stay_inside(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    src = tmp_path / "src"
    src.write_bytes(b"new")
    (tmp_path / "aa").mkdir()
    (tmp_path / "aa" / "f").write_bytes(b"old")
    await store.put("aa/f", src)
    assert (tmp_path / "aa" / "f").read_bytes() == b"new" and not src.exists()
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "a//b"):
        with pytest.raises(ValueError):
            await store.exists(bad)
