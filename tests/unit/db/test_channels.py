"""db/channels.py: find_channel, the channel repository and the row snapshots."""

from __future__ import annotations

from pathlib import Path

from db.channels import (
    ChannelRepository,
    ChannelStateRepository,
    aliases,
    find_channel,
    set_identity,
)
from db.models import Channel


async def add_channel(
    repo: ChannelRepository, tg_id: int, username: str | None, title: str
) -> int:
    """Store a resolved channel (as /add does); its row id."""
    row, created = await repo.add(
        tg_id=tg_id,
        access_hash=tg_id * 7,
        title=title,
        username=username,
        kind="channel",
        linked_chat_id=None,
        history_mode="all",
        history_limit=None,
        history_since=None,
    )
    assert created
    return row.id


async def test_find_channel_by_every_form(db: Path) -> None:
    repo = ChannelRepository()
    news = await add_channel(repo, 1234567890, "News_Daily", "Daily News")
    tech = await add_channel(repo, 2222222222, None, "Tech talk")
    await add_channel(repo, 3333333333, None, "Tech digest")
    await Channel.create(tg_id=4444444444, title="News chat", status="linked")

    async def found(ref: str) -> int | None:
        ch = await find_channel(ref)
        return ch.id if ch else None

    for ref in (
        "@news_daily",
        "news_daily",
        "NEWS_DAILY",
        "t.me/news_daily",
        "https://t.me/s/news_daily",
        "https://t.me/news_daily/55",
        "1234567890",
        "-1001234567890",
        "https://t.me/c/1234567890/7",
        "daily news",
        "Daily",  # unique title prefix
    ):
        assert await found(ref) == news, ref
    assert await found(str(news)) == news  # a small number: the row id
    assert await found("tech talk") == tech
    assert await found("Tech") is None  # ambiguous prefix
    assert await found("News chat") is None  # the fetcher's discussion row is not "added"
    linked = await find_channel("News chat", include_linked=True)
    assert linked is not None and linked.comments_of == ""  # no channel of it is stored
    for ref in ("", "@nobody", "-1009999", "t.me/+abcdefgh12"):
        assert await found(ref) is None, ref


async def test_add_is_idempotent_and_adopts_a_linked_row(db: Path) -> None:
    repo = ChannelRepository()
    row_id = await add_channel(repo, 111, "a_chan", "A")
    again, created = await repo.add(
        tg_id=111, access_hash=1, title="changed", username=None, kind="megagroup",
        linked_chat_id=None, history_mode="last", history_limit=5, history_since=None,
    )  # fmt: skip
    assert not created and again.id == row_id and again.title == "A"
    linked = await Channel.create(tg_id=222, title="Group", status="linked", backfill_done=True)
    adopted, created = await repo.add(
        tg_id=222, access_hash=9, title="Group", username="grp", kind="megagroup",
        linked_chat_id=None, history_mode="all", history_limit=None, history_since=None,
    )  # fmt: skip
    assert created and adopted.id == linked.id and adopted.status == "active"
    fresh = await Channel.get(id=linked.id)
    assert fresh.backfill_done is False and fresh.access_hash == 9


async def test_comments_are_counted_on_their_channel_and_go_with_it(db: Path) -> None:
    repo = ChannelRepository()
    a = await add_channel(repo, 111, "a_chan", "A")
    b = await add_channel(repo, 222, "b_chan", "B")
    plain = await add_channel(repo, 333, "c_chan", "C")
    await Channel.filter(id__in=[a, b]).update(linked_chat_id=999)  # one group, two channels
    group = await Channel.create(tg_id=999, title="", status="linked", messages_count=42)
    rows, total = await repo.page(0)
    assert total == 3  # the discussion group is not one of the operator's channels
    assert {r.id: r.comments_count for r in rows} == {a: 42, b: 42, plain: None}
    assert await repo.remove(a)
    assert await Channel.get_or_none(id=group.id) is not None  # still read for B
    assert await repo.remove(b)
    assert await Channel.get_or_none(id=group.id) is None
    assert not await repo.remove(b)


async def test_usernames_over_time_aliases_and_one_holder(db: Path) -> None:
    repo = ChannelRepository()
    a = await add_channel(repo, 111, "city", "City")
    assert await aliases(a) == ["city"]  # the current one is kept too
    # A case change is the same name: no former name to keep.
    change = await set_identity(a, "City", "City")
    assert change is not None and change.changed and change.took_from == ()
    assert await aliases(a) == ["city"]
    await set_identity(a, "City news", "citynews")
    assert await aliases(a) == ["city", "citynews"]
    # Another channel added under a name a stored row still holds: that row loses it.
    b = await add_channel(repo, 222, "citynews", "Impostor")
    rows = {r.id: r.username for r in await Channel.all()}
    assert rows == {a: None, b: "citynews"}
    assert await aliases(a) == ["city", "citynews"]
    for ref, expected in (("@citynews", b), ("@city", a), ("t.me/city/5", a), ("@CITY", a)):
        found = await find_channel(ref)
        assert found is not None and found.id == expected, ref
    # The impostor moves on; @citynews then means the one that had it last.
    await set_identity(b, "Impostor", "impostor")
    found = await find_channel("citynews")
    assert found is not None and found.id == b
    assert await set_identity(9999, "gone", None) is None


async def test_renew_enables_and_stores_the_discussion_groups_hash(db: Path) -> None:
    repo = ChannelRepository()
    a = await add_channel(repo, 111, "chan", "Chan")
    group = await Channel.create(tg_id=999, access_hash=5, title="Chat", status="linked")
    await Channel.filter(id=a).update(status="disabled", disabled_reason="invalid")
    fresh = await repo.renew(
        a, access_hash=42, title="Chan 2", username="chan2", linked_chat_id=999,
        linked_access_hash=43,
    )  # fmt: skip
    assert fresh is not None
    assert (fresh.status, fresh.disabled_reason, fresh.access_hash) == ("active", None, 42)
    assert (fresh.title, fresh.username, fresh.linked_access_hash) == ("Chan 2", "chan2", 43)
    assert (await Channel.get(id=group.id)).access_hash == 43
    await Channel.filter(id=a).update(status="paused")
    kept = await ChannelStateRepository().store_access(
        a, access_hash=44, title="Chan 2", username="chan2", linked_chat_id=None
    )
    assert kept is not None and (kept.status, kept.access_hash) == ("paused", 44)
    assert await repo.renew(9999, access_hash=1, title="", username=None,
                            linked_chat_id=None) is None
