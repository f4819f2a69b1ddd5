"""Keyword alerts: matching, bad regex, firing once per post, batching, rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tortoise import connections

from bot.delivery import render_alert
from core.alerts import AlertBody
from core.archive import BadPattern
from core.words import BadQuery
from db.channels import find_channel
from db.watches import list_watches
from services.events import EventBus, RunCompleted
from services.watches import WatchesService, WatchNotifier, match_new_messages
from tests.unit.export_fixtures import make_channel, upsert

_service = WatchesService()
add_watch = _service.add_watch
remove_watch = _service.remove_watch


async def test_words_and_regex_match_new_messages(db: Path) -> None:
    a = await make_channel(1, "chan_a", "A")
    b = await make_channel(2, "chan_b", "B")
    ref_b = await find_channel("@chan_b")
    words = await add_watch("нефть газ", None, 1001)
    regex = await add_watch(r"/\bцен[аы]\b/", ref_b, 1001)
    assert regex.is_regex and regex.channel is not None and regex.channel.label == "@chan_b"
    await upsert(a, [(1, "Газ и НЕФТЬ дорожают"), (2, "только нефть"), (3, "цена выросла")])
    await upsert(b, [(1, "цены на газ"), (2, "нефть и газ"), (3, "цена")])
    hits_a = await match_new_messages(a.id, 1, 3)
    assert [(h.watch_id, h.link) for h in hits_a] == [(words.id, "https://t.me/chan_a/1")]
    hits_b = await match_new_messages(b.id, 1, 3)
    assert sorted((h.watch_id, h.link) for h in hits_b) == sorted(
        [
            (regex.id, "https://t.me/chan_b/1"),
            (words.id, "https://t.me/chan_b/2"),
            (regex.id, "https://t.me/chan_b/3"),
        ]
    )
    assert await match_new_messages(b.id, 2, 2) == [h for h in hits_b if h.link.endswith("/2")]


async def test_bad_regex_is_refused_with_the_reason(db: Path) -> None:
    with pytest.raises(BadPattern, match="missing"):
        await add_watch("/(unclosed/", None, 1)
    with pytest.raises(BadPattern):
        await add_watch("//", None, 1)
    assert await list_watches() == []


async def test_list_and_remove(db: Path) -> None:
    w = await add_watch("alpha", None, 1)
    assert [x.pattern for x in await list_watches()] == ["alpha"]
    assert await remove_watch(w.id)
    assert not await remove_watch(w.id)


async def test_a_watch_fires_once_per_matching_post_in_one_batch(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await add_watch("срочно", None, 1)
    await add_watch("/молния/", None, 1)
    sent: list[str] = []

    async def notify(body: AlertBody) -> None:
        sent.append(render_alert(body, "ru"))
        assert "new" in render_alert(body, "en")  # every admin reads it in their language

    bus = EventBus()
    bus.subscribe(WatchNotifier(notify).on_run_completed)
    await upsert(ch, [(1, "СРОЧНО: молния"), (2, "обычный пост"), (3, "срочно!")])
    await bus.publish(RunCompleted(ch.id, 1, 3, 3))
    assert len(sent) == 1  # one batched notification for the run
    assert "3 новых подходящих поста" in sent[0]
    assert sent[0].count("https://t.me/news/1") == 2  # two watches, one post
    assert sent[0].count("https://t.me/news/3") == 1
    assert "news/2" not in sent[0]
    # The next run re-reads post 3 (edited) and brings post 4: only post 4 is new.
    await upsert(ch, [(3, "срочно! обновлено"), (4, "тоже срочно")])
    await bus.publish(RunCompleted(ch.id, 3, 4, 2))
    assert len(sent) == 2
    assert "news/4" in sent[1] and "news/3" not in sent[1]
    await bus.publish(RunCompleted(ch.id, 3, 4, 2))
    assert len(sent) == 2  # nothing new: no message at all


async def test_rate_limit_holds_hits_for_the_next_notification(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    await add_watch("x", None, 1)
    sent: list[str] = []
    now = [0.0]

    async def notify(body: AlertBody) -> None:
        sent.append(render_alert(body, "en"))

    notifier = WatchNotifier(notify, max_per_window=1, window=60, clock=lambda: now[0])
    await upsert(ch, [(1, "x one"), (2, "x two"), (3, "x three")])
    await notifier.on_run_completed(RunCompleted(ch.id, 1, 1, 1))
    await notifier.on_run_completed(RunCompleted(ch.id, 2, 2, 1))
    assert len(sent) == 1
    now[0] = 61.0
    await notifier.on_run_completed(RunCompleted(ch.id, 3, 3, 1))
    assert len(sent) == 2
    assert "news/2" in sent[1] and "news/3" in sent[1] and "2 new" in sent[1]
    notifier.close()


async def test_held_hits_go_out_when_the_window_allows_without_another_run(
    db: Path,
) -> None:
    ch = await make_channel(1, "news", "News")
    await add_watch("x", None, 1)
    sent: list[str] = []

    async def notify(body: AlertBody) -> None:
        sent.append(render_alert(body, "en"))

    notifier = WatchNotifier(notify, max_per_window=1, window=0.3)
    await upsert(ch, [(1, "x one"), (2, "x two")])
    await notifier.on_run_completed(RunCompleted(ch.id, 1, 1, 1))
    await notifier.on_run_completed(RunCompleted(ch.id, 2, 2, 1))
    assert len(sent) == 1  # the second run's hit is held...
    for _ in range(100):  # ...and sent once the window has passed, with no third run
        if len(sent) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(sent) == 2 and "news/2" in sent[1]
    notifier.close()


async def test_word_watches_mean_what_search_means(db: Path) -> None:
    """The /search corpus's words as watches: word forms, ё, phrases, -words, prefixes."""
    ch = await make_channel(1, "news", "News")
    cases = {
        "Москва": [1, 2, 3],
        "выборы": [1, 2, 4],
        "ёлка": [5, 6],
        '"в Москве"': [2],
        "выборы -Москва": [4],
        "москв*": [1, 2, 3, 7],
        "elections": [8],
    }
    watches = {(await add_watch(p, None, 1)).id: p for p in cases}
    await upsert(
        ch,
        [
            (1, "Москва готовится к выборам"),
            (2, "В Москве прошли выборы мэра"),
            (3, "Жители Москвы выбирают депутатов"),
            (4, "Результаты выборов объявят завтра"),
            (5, "Ёлка зелёная стоит на площади"),
            (6, "Елка уже стоит, новогодняя"),
            (7, "Москвичи и гости столицы"),
            (8, "The election was held"),
        ],
    )
    hits = await match_new_messages(ch.id, 1, 8)
    got: dict[str, list[int]] = {p: [] for p in cases}
    for h in hits:
        got[watches[h.watch_id]].append(int(h.link.rsplit("/", 1)[1]))
    assert got == cases


async def test_regex_watches_fold_yo_and_see_content_words(db: Path) -> None:
    ch = await make_channel(1, "news", "News")
    yo = await add_watch("/зелёная ёлка/", None, 1)
    poll = await add_watch("/победит/", None, 1)
    await upsert(ch, [(1, "Зеленая елка"), (2, "ЗЕЛЁНАЯ ЁЛКА"), (3, "")])
    await connections.get("default").execute_query(
        "UPDATE message SET content_text = 'Кто победит?' WHERE msg_id = 3"
    )
    hits = await match_new_messages(ch.id, 1, 3)
    assert sorted((h.watch_id, h.link[-1]) for h in hits) == [
        (yo.id, "1"),
        (yo.id, "2"),
        (poll.id, "3"),
    ]


async def test_a_watch_of_only_exclusions_is_refused(db: Path) -> None:
    with pytest.raises(BadQuery) as exc:
        await add_watch("-реклама", None, 1)
    assert exc.value.reason == "only_exclusions"
    with pytest.raises(BadPattern):
        await add_watch("!!!", None, 1)
    assert await list_watches() == []


async def test_nfd_text_fires_word_and_regex_watches(db: Path) -> None:
    import unicodedata

    ch = await make_channel(1, "news", "News")
    word = await add_watch("ежик", None, 1)
    regex = await add_watch("/йошкар-ола/", None, 1)
    await upsert(ch, [(1, unicodedata.normalize("NFD", "Йошкар-Ола и ёжик"))])
    hits = await match_new_messages(ch.id, 1, 1)
    assert sorted(h.watch_id for h in hits) == sorted([word.id, regex.id])
