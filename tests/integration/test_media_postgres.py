"""The media download queue written with the messages on PostgreSQL (issue #16): the
cases of tests/unit/db/test_media.py over asyncpg (arrays, booleans, the upsert).

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py);
skipped, saying why, where there are no server binaries.
"""

from __future__ import annotations

import pytest

from db.messages import MessageRepository
from tests.integration.pg import truncate
from tests.unit.db import test_media as cases


async def _clean() -> None:
    await truncate("media_download", "media_file", "message_version", "message", "channel")


async def test_media_queue_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_new_files_are_queued_skipped_over_the_cap_or_linked_at_once(pg_repo)
    await _clean()
    await cases.test_a_re_read_refreshes_the_location_and_edited_media_is_queued_again(pg_repo)
    await _clean()
    await cases.test_a_new_policy_applies_to_the_files_not_fetched_yet(pg_repo)


async def test_files_postgres_refuses_never_cost_the_messages(
    pg_repo: MessageRepository, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from core.media import MediaPolicy
    from db.media import MediaBatch
    from db.models import Channel, MediaDownload, Message
    from parser.history import message_row
    from parser.media import media_ref
    from tests.unit.message_fixtures import NOW

    await _clean()
    ch = await Channel.create(tg_id=1, title="one")
    post = cases.photo_post(1, 500)
    ref = media_ref(post.media)
    assert ref is not None
    odd = replace(ref, dc_id=2**40, file_name="a\x00b")  # out of int4: a DataError
    rows = [message_row(ch.id, post, NOW)]
    await pg_repo.store_batch(ch.id, rows, 1, 1, MediaBatch([(1, odd)], MediaPolicy()))
    assert await Message.filter(channel_id=ch.id).count() == 1
    assert (await Channel.get(id=ch.id)).cursor == 1
    assert await MediaDownload.filter(channel_id=ch.id).count() == 0
    assert "were not queued" in caplog.text
    fine = replace(ref, file_name="a\x00b")  # NUL is dropped, not refused
    rows = [message_row(ch.id, cases.photo_post(2, 501), NOW)]
    await pg_repo.store_batch(ch.id, rows, 2, 1, MediaBatch([(2, fine)], MediaPolicy()))
    assert await MediaDownload.filter(channel_id=ch.id, file_name="ab").count() == 1
