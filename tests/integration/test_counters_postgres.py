"""Counters over time (#17) on PostgreSQL: the same cases as test_counters.py over
asyncpg (the snapshot hooks' arrays and jsonb, the job's queries, the readers).

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py); skipped, saying
why, where there are no server binaries.
"""

from __future__ import annotations

from db.messages import MessageRepository
from tests.integration import test_counters as cases
from tests.integration.pg import truncate


async def _clean() -> None:
    await truncate("counter_snapshot", "subscriber_snapshot", "message", "channel", "job_mark")


async def test_history_snapshots_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_history_reads_keep_a_snapshot_when_counters_change(None)


async def test_age_snapshots_and_subscribers_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_age_snapshots_subscribers_and_a_flood_wait(None)


async def test_history_marks_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_history_reads_mark_the_ages_shorter_than_the_window(None)


async def test_history_and_job_marks_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_the_1h_mark_comes_with_a_run_the_24h_one_from_getmessagesviews(None)


async def test_job_reactions_and_flood_hold_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_reactions_at_the_jobs_ages_and_a_flood_wait_on_a_later_chunk(None)


async def test_removed_channel_on_postgres(pg_repo: MessageRepository) -> None:
    await _clean()
    await cases.test_a_channel_removed_during_a_round_is_left_out(None)


async def test_due_scan_index_on_postgres(pg_repo: MessageRepository) -> None:
    await cases.test_the_due_scan_reads_an_index_only(None)


async def test_age_read_updates_in_one_statement_on_postgres(
    pg_repo: MessageRepository,
) -> None:
    await _clean()
    await cases.test_an_age_read_updates_every_post_in_one_statement(None)
