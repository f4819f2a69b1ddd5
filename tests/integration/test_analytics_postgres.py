"""/stats metrics on PostgreSQL: the hand-computed values of
tests/unit/services/test_analytics.py (jsonb reactions, timestamptz buckets, the
trigger that drops a changed row's classification, the posts chart's medians and
deleted posts from the same statement), and the metric query reading the
covering index (an index-only scan, no table rows).

Runs on a throwaway PostgreSQL database (tests/integration/conftest.py); skipped, saying
why, where there are no server binaries.
"""

from __future__ import annotations

from tortoise import connections

from db.database import close_db, init_db
from tests.integration.pg import truncate
from tests.unit.services.test_analytics import (
    check_best,
    check_edits,
    check_metrics,
    seed,
    seed_best,
)


async def test_metrics_on_postgres(postgres_url: str) -> None:
    await init_db(postgres_url)
    try:
        await check_metrics(await seed())
        await truncate("channel")
        await check_edits(await seed())
        await check_best(await seed_best())  # the chart's medians of several views a day
        conn = connections.get("default")
        indexes = await conn.execute_query_dict(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'message'"
        )
        assert {"message_metrics", "message_unrated"} <= {r["indexname"] for r in indexes}
    finally:
        await close_db()


async def test_the_rollup_equals_the_raw_rows_on_postgres(postgres_url: str) -> None:
    """The statement-level triggers (transition tables) mark what every write touched."""
    from tests.unit.db.test_rollup import check_writes

    await init_db(postgres_url)
    try:
        await truncate("channel")
        await check_writes()
    finally:
        await close_db()
