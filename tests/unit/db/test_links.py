"""The graph's edges (issue #17 Must 4): written by store_batch with the messages, an
edit replaces them, the backfill fills in an archive stored before them, and the
aggregation merges the names of one channel and counts an album once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telethon.tl import types

from core.links import RULES_VERSION
from db.links import LinkRepository
from db.messages import MessageRepository
from db.models import Channel, ChannelAlias, JobMark, Message, MessageLink
from parser.history import message_row
from tests.unit.message_fixtures import NOW, tl_message

LATER = NOW + timedelta(hours=1)


def _fwd(channel_id: int) -> types.MessageFwdHeader:
    return types.MessageFwdHeader(
        date=NOW, from_id=types.PeerChannel(channel_id), channel_post=5
    )


def _dated(row: tuple[object, ...], date: object) -> tuple[object, ...]:
    return (*row[:2], date, *row[3:])


async def _no_links(*args: object) -> None:
    return None


async def _links(channel_id: int) -> list[tuple[int, str, str]]:
    rows = await MessageLink.filter(channel_id=channel_id).order_by("msg_id", "kind", "target")
    return [(r.msg_id, r.kind, r.target) for r in rows]


async def test_store_batch_writes_the_links_and_an_edit_replaces_them(
    repo: MessageRepository,
) -> None:
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    await ChannelAlias.create(channel=ch, username="OldNews")
    rows = [
        message_row(ch.id, tl_message(1, "plain text, nothing here"), NOW),
        message_row(ch.id, tl_message(2, "via @Source_One and t.me/c/4242/7"), NOW),
        message_row(ch.id, tl_message(3, "", fwd_from=_fwd(555)), NOW),
        # Itself (current and old name, own id), a bot, an invite: no edges.
        message_row(ch.id, tl_message(4, "@news @oldnews t.me/c/777/1 @x_bot t.me/+abc"), NOW),
        message_row(
            ch.id,
            tl_message(5, "here", entities=[
                types.MessageEntityTextUrl(0, 4, "https://t.me/s/hidden_src/9")
            ]),
            NOW,
        ),
    ]
    await repo.store_batch(ch.id, rows, cursor=5, new_rows=5)
    assert await _links(ch.id) == [
        (2, "mention", "@source_one"),
        (2, "mention", "id:4242"),
        (3, "forward", "id:555"),
        (5, "mention", "@hidden_src"),
    ]
    stored = await MessageLink.get(channel_id=ch.id, msg_id=2, target="@source_one")
    assert stored.date == NOW and stored.target_username == "Source_One"

    # Re-read: 2 edited (one mention gone, one new), 3 the same (harmless repeat).
    again = [
        message_row(ch.id, tl_message(2, "via @source_two", edit_date=LATER), LATER),
        message_row(ch.id, tl_message(3, "", fwd_from=_fwd(555)), LATER),
    ]
    await repo.store_batch(ch.id, again, cursor=5, new_rows=0)
    assert await _links(ch.id) == [
        (2, "mention", "@source_two"),
        (3, "forward", "id:555"),
        (5, "mention", "@hidden_src"),
    ]


async def test_backfill_covers_the_rows_stored_before_and_stops_at_its_end(
    repo: MessageRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.messages

    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    old = [
        message_row(ch.id, tl_message(i, f"post {i} @chan_{i:02d}"), NOW) for i in range(1, 8)
    ]
    # An archive stored before the hook existed: no links written.
    monkeypatch.setattr(db.messages, "links_sqlite", lambda *a: None)
    monkeypatch.setattr(db.messages, "links_pg", _no_links)
    await repo.store_batch(ch.id, old, cursor=7, new_rows=7)
    monkeypatch.undo()
    assert await MessageLink.all().count() == 0

    links = LinkRepository()
    done, end = await links.backfill_bounds()
    assert done == 0 and end >= 7
    # Rows written after the first look are not the backfill's (store_batch did them).
    await repo.store_batch(ch.id, [message_row(ch.id, tl_message(8, "@later"), NOW)], 8, 1)
    assert await links.backfill_bounds() == (0, end)
    steps = []
    while done < end:
        step = await links.backfill(done, end, span=3)
        steps.append(step)
        done = step.done
    assert [s.links for s in steps] == [3, 3, 1]
    assert await MessageLink.filter(channel_id=ch.id).count() == 8
    assert (await JobMark.get(name="links_backfill")).value == end
    assert await links.backfill_bounds() == (end, end)
    # Run again: nothing doubles, and the step says it wrote nothing (C3).
    again = await links.backfill(0, end, span=100)
    assert await MessageLink.filter(channel_id=ch.id).count() == 8
    assert again.links == 0


async def test_newer_rules_run_the_backfill_again_and_drop_what_they_no_longer_find(
    repo: MessageRepository,
) -> None:
    """An archive backfilled under the rules before RULES_VERSION (no rules mark) keeps
    mentions those rules found and these do not (a bot, a name inside another URL):
    the backfill starts again from the first row, deletes them (by row id range) and
    keeps the rest; done once per version."""
    ch = await Channel.create(tg_id=777, access_hash=1, username="news")
    rows = [
        message_row(ch.id, tl_message(1, "via @real_chan and @helper_bot"), NOW),
        message_row(ch.id, tl_message(2, "see example.com/t.me/not_a_link"), NOW),
        message_row(ch.id, tl_message(3, "plain"), NOW),
        message_row(ch.id, tl_message(4, "", fwd_from=_fwd(555)), NOW),
    ]
    await repo.store_batch(ch.id, rows, cursor=4, new_rows=4)
    # What the old rules stored besides (target_username as they named it).
    for msg_id, target in ((1, "@helper_bot"), (2, "@not_a_link"), (3, "@plain_gone")):
        await MessageLink.create(channel_id=ch.id, msg_id=msg_id, date=NOW, kind="mention",
                                 target=target)  # fmt: skip
    links = LinkRepository()
    last = await Message.filter(channel_id=ch.id).order_by("-id").first()
    assert last is not None
    top = int(last.id)
    await JobMark.create(name="links_backfill", value=top)
    await JobMark.create(name="links_backfill_end", value=top)
    assert await links.backfill_bounds() == (0, top)
    assert (await JobMark.get(name="links_backfill_rules")).value == RULES_VERSION
    done, dropped = 0, 0
    while done < top:
        step = await links.backfill(done, top, span=1)
        done, dropped = step.done, dropped + step.dropped
    assert dropped == 3
    assert await _links(ch.id) == [
        (1, "mention", "@real_chan"),
        (4, "forward", "id:555"),
    ]
    # Once per version.
    assert await links.backfill_bounds() == (top, top)


async def test_edges_merge_names_count_albums_once_and_follow_the_period(
    repo: MessageRepository,
) -> None:
    a = await Channel.create(tg_id=100, access_hash=1, username="alpha", title="Alpha")
    b = await Channel.create(tg_id=200, access_hash=1, username="beta", title="Beta")
    await ChannelAlias.create(channel=b, username="beta_old")
    early = NOW - timedelta(days=10)
    rows_a = [
        # An album of three forwarded from 300 (one repost), named by the forward.
        *(
            message_row(a.id, tl_message(i, "", fwd_from=types.MessageFwdHeader(
                date=NOW, from_id=types.PeerChannel(300)), grouped_id=9), NOW)
            for i in (1, 2, 3)
        ),
        message_row(a.id, tl_message(4, "", fwd_from=_fwd(300)), NOW),
        # Mentions of beta by its old name and by its link: one archived target.
        message_row(a.id, tl_message(5, "@beta_old"), NOW),
        message_row(a.id, tl_message(6, "https://t.me/beta/1"), NOW),
        _dated(message_row(a.id, tl_message(7, "old @gamma_chan"), NOW), early),
    ]
    await repo.store_batch(a.id, rows_a, cursor=7, new_rows=7)
    # b mentions a and an unarchived channel forwarded under a name elsewhere.
    rows_b = [
        message_row(b.id, tl_message(1, "read @alpha"), NOW),
        message_row(b.id, tl_message(2, "", fwd_from=_fwd(300)), NOW),
    ]
    await repo.store_batch(b.id, rows_b, cursor=2, new_rows=2)

    links = LinkRepository()
    edges = {(e.source_id, e.target, e.kind.value): e for e in await links.edges()}
    assert {k: e.weight for k, e in edges.items()} == {
        (a.id, "id:300", "forward"): 2,
        (a.id, "id:200", "mention"): 2,
        (a.id, "@gamma_chan", "mention"): 1,
        (b.id, "id:100", "mention"): 1,
        (b.id, "id:300", "forward"): 1,
    }
    beta = edges[(a.id, "id:200", "mention")]
    assert (beta.target_channel_id, beta.username, beta.title) == (b.id, "beta", "Beta")
    assert edges[(a.id, "id:300", "forward")].target_channel_id is None
    gamma = edges[(a.id, "@gamma_chan", "mention")]
    assert gamma.first == gamma.last == early

    recent = await links.edges(since=NOW - timedelta(days=1))
    assert {(e.source_id, e.target) for e in recent} == {
        (a.id, "id:300"), (a.id, "id:200"), (b.id, "id:100"), (b.id, "id:300")
    }
    # The bound is an instant, not its second: a link half a second before it is out.
    assert early.microsecond == 0
    assert "@gamma_chan" in {e.target for e in await links.edges(since=early)}
    later = await links.edges(since=early + timedelta(microseconds=500_000))
    assert "@gamma_chan" not in {e.target for e in later}
    # One channel: its own edges and those to it.
    of_b = await links.edges(channel_id=b.id)
    assert {(e.source_id, e.target, e.weight) for e in of_b} == {
        (b.id, "id:100", 1), (b.id, "id:300", 1), (a.id, "id:200", 2)
    }
