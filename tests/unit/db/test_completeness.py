"""Completeness of a channel's archive (/channels' detail view) and the basic group a
supergroup was upgraded from, included in the channel's export and /stats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.channel_views import completeness_lines
from core.archive import ExportQuery
from db.channels import ChannelRepository, ChannelStateRepository, completeness
from db.export import iter_records
from db.models import Channel
from services.analytics import AnalyticsService
from services.export.rows import export_row
from tests.doubles.botapi.formatting import parse_text
from tests.unit.export_fixtures import BASE, make_channel, upsert

UTC = ZoneInfo("UTC")


async def test_ends_missing_ids_and_earlier_history(db: Path) -> None:
    ch = await make_channel(1500000001, "news", "News")
    empty = await completeness(ch.id)
    assert (empty.oldest_id, empty.newest_id, empty.count, empty.missing) == (None, None, 0, 0)
    ids = [i for i in range(40, 101) if i % 10]  # 40..100 without 50, 60, ...: 6 gone
    await upsert(ch, [(i, f"post {i}") for i in ids])
    c = await completeness(ch.id)
    assert (c.oldest_id, c.newest_id, c.count, c.missing) == (41, 99, len(ids), 5)
    assert c.oldest_date == BASE + dt.timedelta(minutes=41)
    assert c.newest_date == BASE + dt.timedelta(minutes=99)
    assert c.old_group is None
    await Channel.filter(id=ch.id).update(history_before=True)
    snap = await ChannelRepository().get(ch.id)
    assert snap is not None and snap.completeness == c
    for lang, words in (("en", ("#41", "#99", "missing between them: 5", "exists")),
                        ("ru", ("№41", "№99", "между ними: 5", "есть в Telegram"))):
        text = completeness_lines(snap, lang, UTC)
        parse_text(text, "HTML")  # valid Telegram HTML
        for word in words:
            assert word in text, (word, text)


async def test_the_old_group_counts_in_the_view_export_and_stats(db: Path) -> None:
    group = await make_channel(1500000002, "upgraded", "Upgraded")
    await Channel.filter(id=group.id).update(kind="megagroup")
    state = ChannelStateRepository()
    await state.set_migrated(group.id, 4242, 31)
    snap = await ChannelRepository().get(group.id)
    assert snap is not None
    assert "not read yet" in completeness_lines(snap, "en", UTC)

    old = await state.migrated_row(-4242, "Upgraded")
    assert (old.tg_id, old.kind, old.status) == (-4242, "chat", "linked")
    old_row = await Channel.get(id=old.id)
    await upsert(old_row, [(i, f"old {i}") for i in (3, 9, 30, 31)], day=-30)
    await upsert(group, [(i, f"new {i}") for i in range(1, 11)])
    snap = await ChannelRepository().get(group.id)
    assert snap is not None and snap.completeness is not None
    assert snap.completeness.old_group == 4 and snap.completeness.count == 10
    assert "(the old group): 4 messages archived" in completeness_lines(snap, "en", UTC)
    assert "в архиве 4 сообщения" in completeness_lines(snap, "ru", UTC)

    records = [r async for rows in iter_records(ExportQuery(channel_id=group.id)) for r in rows]
    assert len(records) == 14
    rows = [export_row(r) for r in records]
    olds = [r for r in rows if r["channel_id"] == -4242]
    assert [r["msg_id"] for r in olds] == [3, 9, 30, 31]
    assert all(r["link"] is None for r in olds)
    assert all(r["link"].startswith("https://t.me/upgraded/") for r in rows if r not in olds)

    now = BASE + dt.timedelta(days=1)
    stats = await AnalyticsService(clock=lambda: now).metrics(snap, 61, UTC)
    assert stats.posts == 14  # the same msg_ids in two id spaces, no clash

    await state.set_migrated_missing(group.id, 31, "PEER_ID_INVALID")
    snap = await ChannelRepository().get(group.id)
    assert snap is not None
    for lang, word in (("en", "up to 31 earlier messages"), ("ru", "до 31 более раннего")):
        text = completeness_lines(snap, lang, UTC)
        parse_text(text, "HTML")
        assert word in text and "PEER_ID_INVALID" in text, text


async def test_review7_r4_deleted_posts_are_told_apart_from_ids_never_archived(
    db: Path,
) -> None:
    """Posts archived and then deleted on Telegram (kept, `deleted_at` set) count as
    archived, never as missing; the detail view says how many there are."""
    from db.models import Message

    ch = await make_channel(1500000003, "gone", "Gone")
    await upsert(ch, [(i, f"post {i}") for i in range(1, 273) if i != 100])
    await Message.filter(channel_id=ch.id, msg_id__gt=122).update(
        deleted_at=BASE + dt.timedelta(days=1)
    )
    c = await completeness(ch.id)
    assert (c.oldest_id, c.newest_id, c.count, c.missing, c.deleted) == (1, 272, 271, 1, 150)
    snap = await ChannelRepository().get(ch.id)
    assert snap is not None
    en = completeness_lines(snap, "en", UTC)
    ru = completeness_lines(snap, "ru", UTC)
    for text in (en, ru):
        parse_text(text, "HTML")
    assert (
        "Ids missing between them: 1 · later deleted on Telegram: 150 (kept in the archive, "
        "marked)"
    ) in en
    assert (
        "Пропущено id между ними: 1 · позже удалено в Telegram: 150 "
        "(хранятся в архиве с пометкой)"
    ) in ru
    await Message.filter(channel_id=ch.id).update(deleted_at=None)
    snap = await ChannelRepository().get(ch.id)
    assert snap is not None and "deleted" not in completeness_lines(snap, "en", UTC)
