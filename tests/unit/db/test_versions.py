"""Edits kept (issue #15, Must 7): a re-read whose content changed keeps the previous
content in message_version, in the transaction of the upsert; volatile changes make
none. Deletions marked, never erased (Must 8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telethon.tl import types

from db.messages import MessageRepository
from db.models import Channel, Message, MessageVersion
from db.versions import changed_ids, content_key, media_content, versions_of
from parser.history import message_row
from tests.unit.message_fixtures import NOW, tl_message

LATER = NOW + timedelta(hours=1)


def _poll(voters: int | None, closed: bool = False, question: str = "Q?") -> Any:
    answers = [
        types.PollAnswer(types.TextWithEntities("yes", []), b"0"),
        types.PollAnswer(types.TextWithEntities("no", []), b"1"),
    ]
    results = types.PollResults(
        results=None
        if voters is None
        else [types.PollAnswerVoters(b"0", voters), types.PollAnswerVoters(b"1", 1)],
        total_voters=None if voters is None else voters + 1,
    )
    poll = types.Poll(5, types.TextWithEntities(question, []), answers, 0, closed=closed)
    return types.MessageMediaPoll(poll, results)


async def _channel() -> Channel:
    return await Channel.create(tg_id=777, access_hash=1, username="news")


async def test_an_edit_keeps_the_previous_version(repo: MessageRepository) -> None:
    ch = await _channel()
    first = [message_row(ch.id, tl_message(i, f"m{i}", views=1), NOW) for i in (1, 2, 3)]
    await repo.store_batch(ch.id, first, cursor=3, new_rows=3)
    # Re-read an hour later: 1 edited, 2 only more views, 3 an edit_date alone;
    # 4 and 5 are new (above the cursor).
    again = [
        message_row(ch.id, tl_message(1, "m1 fixed", views=9, edit_date=LATER), LATER),
        message_row(ch.id, tl_message(2, "m2", views=50), LATER),
        message_row(ch.id, tl_message(3, "m3", edit_date=LATER), LATER),
        message_row(ch.id, tl_message(4, "m4"), LATER),
        message_row(ch.id, tl_message(5, "m5"), LATER),
    ]
    await repo.store_batch(ch.id, again, cursor=5, new_rows=2)
    versions = await MessageVersion.all().values()
    assert len(versions) == 1
    v = versions[0]
    assert (v["msg_id"], v["text"], v["edit_date"]) == (1, "m1", None)
    assert v["seen_at"] == NOW and v["replaced_at"] == LATER
    current = await Message.get(channel_id=ch.id, msg_id=1)
    assert current.text == "m1 fixed" and current.edit_date == LATER and current.views == 9
    assert await Message.filter(channel_id=ch.id).count() == 5

    # A second edit: two versions, oldest first; their edit_date is the one each had.
    later = LATER + timedelta(hours=1)
    edit2 = [message_row(ch.id, tl_message(1, "m1 v3", edit_date=later), later)]
    await repo.store_batch(ch.id, edit2, cursor=1, new_rows=0)
    found = await versions_of([(ch.id, 1), (ch.id, 2)])
    assert list(found) == [(ch.id, 1)]
    assert [r["text"] for r in found[(ch.id, 1)]] == ["m1", "m1 fixed"]
    assert str(found[(ch.id, 1)][1]["edit_date"]).startswith(LATER.strftime("%Y-%m-%d %H:%M"))


async def test_entities_and_media_are_content_views_and_votes_are_not(
    repo: MessageRepository,
) -> None:
    ch = await _channel()
    rows = [
        message_row(ch.id, tl_message(1, "bold"), NOW),
        message_row(ch.id, tl_message(2, "", media=_poll(None)), NOW),
        message_row(ch.id, tl_message(3, "photo", media=types.MessageMediaPhoto(
            photo=types.Photo(1, 1, b"", NOW, [types.PhotoSize("x", 10, 10, 100)], 2)
        )), NOW),
    ]
    await repo.store_batch(ch.id, rows, cursor=3, new_rows=3)
    again = [
        message_row(ch.id, tl_message(1, "bold", entities=[types.MessageEntityBold(0, 4)]), LATER),
        message_row(ch.id, tl_message(2, "", media=_poll(7, closed=True)), LATER),  # votes
        message_row(ch.id, tl_message(3, "photo", media=types.MessageMediaPhoto(
            photo=types.Photo(2, 1, b"", NOW, [types.PhotoSize("x", 20, 20, 200)], 2)
        )), LATER),  # another photo
    ]
    await repo.store_batch(ch.id, again, cursor=3, new_rows=0)
    assert sorted(await MessageVersion.all().values_list("msg_id", flat=True)) == [1, 3]
    # The poll's question changed: that is an edit.
    edited = [message_row(ch.id, tl_message(2, "", media=_poll(8, question="Q2?")), LATER)]
    await repo.store_batch(ch.id, edited, cursor=3, new_rows=0)
    assert await MessageVersion.filter(msg_id=2).count() == 1


def test_volatile_media_parts() -> None:
    built = {"id": 1, "url": "https://a.b", "title": "A", "description": "old"}
    pending = {"id": 1, "url": "https://a.b", "pending": True}
    assert media_content("webpage", built) == media_content("webpage", pending)
    todo1 = {"title": "T", "items": [{"id": 1, "title": "x", "completed": False}]}
    todo2 = {"title": "T", "items": [{"id": 1, "title": "x", "completed": True}]}
    assert content_key("", None, "to_do", todo1) == content_key("", "null", "to_do", todo2)
    assert content_key("a", "[]", None, None) == content_key("a", None, None, None)
    service = message_row(1, tl_message(9, "x"), NOW)
    assert changed_ids([(9, "y", None, None, None)], [service]) == [9]
    assert changed_ids([(8, "y", None, None, None)], [service]) == []  # not stored


async def test_deletions_are_marked_and_a_post_that_comes_back_is_not(
    repo: MessageRepository,
) -> None:
    ch = await _channel()
    rows = [message_row(ch.id, tl_message(i, f"m{i}"), NOW) for i in range(1, 6)]
    rows.append(message_row(ch.id, tl_message(6, "a comment"), NOW, comment_of=1))
    await repo.store_batch(ch.id, rows, cursor=6, new_rows=6)
    assert await repo.live_ids(ch.id, 1, 5) == [2, 3, 4, 5]
    assert await repo.mark_deleted(ch.id, [3, 4, 6], LATER) == 2  # a comment is no post
    assert await repo.mark_deleted(ch.id, [3], LATER + timedelta(hours=1)) == 0  # kept
    assert await repo.live_ids(ch.id, 0, 10) == [1, 2, 5]
    gone = await Message.get(channel_id=ch.id, msg_id=3)
    assert gone.deleted_at == LATER and gone.text == "m3"
    # Telegram returns it again (restored): no longer deleted.
    back = [message_row(ch.id, tl_message(3, "m3"), LATER)]
    await repo.store_batch(ch.id, back, cursor=3, new_rows=0)
    assert (await Message.get(channel_id=ch.id, msg_id=3)).deleted_at is None
    assert await Message.filter(channel_id=ch.id).count() == 6


def test_a_link_preview_alone_is_no_edit_but_the_texts_link_is() -> None:
    """Telegram builds, re-targets (redirects) and drops previews by itself: no state
    of the preview, nor its appearing or going, makes a version; a changed link in the
    text (or a text link's target) does."""
    text = "see https://x.org"
    pending = {"id": 1, "url": None, "pending": True}
    built = {"id": 1, "url": "https://x.org/", "title": "T", "description": "D"}
    moved = {"id": 2, "url": "https://www.x.org/home", "title": "T2"}
    empty = {"id": 1}
    states = [(None, None), ("webpage", pending), ("webpage", built), ("webpage", moved),
              ("webpage", empty), ("webpage", None)]
    keys = {repr(content_key(text, None, k, m)) for k, m in states}
    assert len(keys) == 1, keys
    assert content_key(text, None, "webpage", built) != content_key(
        "see https://y.org", None, "webpage", built
    )
    link = '[{"type": "text_url", "offset": 0, "length": 3, "url": "https://x.org"}]'
    other = '[{"type": "text_url", "offset": 0, "length": 3, "url": "https://y.org"}]'
    assert content_key("see", link, "webpage", built) != content_key(
        "see", other, "webpage", built
    )
    # As stored and read again: a preview built between two reads is no change.
    assert changed_ids(
        [(1, text, None, "webpage", '{"id": 1, "url": null, "pending": true}')],
        [message_row(1, tl_message(1, text, media=types.MessageMediaWebPage(
            types.WebPage(1, "https://x.org/", "https://x.org/", 0, title="T")
        )), NOW)],
    ) == []


async def test_a_versions_seen_at_is_when_that_content_was_first_read(
    repo: MessageRepository,
) -> None:
    """Re-read hourly (views move) before an edit: the version says the content was
    seen from the first read on, not from the last read before the edit; the next
    version starts where the one before was replaced."""
    ch = await _channel()
    hours = [NOW + timedelta(hours=h) for h in range(6)]
    await repo.store_batch(ch.id, [message_row(ch.id, tl_message(1, "a", views=1), NOW)],
                           cursor=1, new_rows=1)
    for h, at in enumerate(hours[1:3], 2):  # views only
        await repo.store_batch(
            ch.id, [message_row(ch.id, tl_message(1, "a", views=h), at)], cursor=1, new_rows=0
        )
    await repo.store_batch(  # edited: read at hours[3]
        ch.id, [message_row(ch.id, tl_message(1, "b", edit_date=hours[3]), hours[3])],
        cursor=1, new_rows=0,
    )
    await repo.store_batch(  # views only
        ch.id, [message_row(ch.id, tl_message(1, "b", views=7, edit_date=hours[3]), hours[4])],
        cursor=1, new_rows=0,
    )
    await repo.store_batch(  # edited again
        ch.id, [message_row(ch.id, tl_message(1, "c", edit_date=hours[5]), hours[5])],
        cursor=1, new_rows=0,
    )
    versions = await MessageVersion.all().order_by("id").values_list(
        "text", "seen_at", "replaced_at"
    )
    assert versions == [("a", NOW, hours[3]), ("b", hours[3], hours[5])]
    # The row's fetched_at: when its current content was first read.
    assert (await Message.get(channel_id=ch.id, msg_id=1)).fetched_at == hours[5]
