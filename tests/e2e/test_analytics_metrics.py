"""Every metric of #17's Must 3 end to end, against values computed by hand here (README
"Analytics > Metrics"): a channel of the MTProto double with posts at chosen Moscow
times over the last days, the app (TIMEZONE=Europe/Moscow) ingests it for real (the run
at start, then a /parse that finds a post deleted), the counters job reads the
subscriber count, and two operators send `/stats @metricsdaily 14` through the Bot API
double (English and Russian, at once). The album's caption and the text reply are read
back: posts, posts per day, average reach, ERR, ER (each top post's and the channel's),
subscribers, growth, best hours and weekdays, ad posts and share, the top posts by views
and by ER (order, views, ER, links, dates, captions).

The posts are chosen so that every rule shows: an album (one post, each counter the
largest of its items', the caption on its second item), a pin (a service event: no
post), a post deleted after it was stored, one outside the period, posts younger than
24 h (posts and top by views, never reach or ER), a post with 0 views (reach, not ER),
a Friday and an hour of 22 with two mature posts each (the best of all on average, yet
too few to rank), a Monday post at 01:30 Moscow (Sunday in UTC: with it Monday ranks
first, without it Wednesday would), ads by erid (text and a text link's URL), by the
«Реклама.» label line, by #реклама and «На правах рекламы», and «Реклама на ТВ
подорожала» and "ad revenue" that are no ads. One stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from telethon.tl.types import MessageEntityTextUrl

from tests.doubles.botapi.models import MessageSnapshot
from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, running_stack
from tests.e2e.seeded import (
    CODE,
    PHONE,
    caught_up,
    db,
    parse,
    seed,
    subscriber_counts,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

MSK = ZoneInfo("Europe/Moscow")
DAYS = 14
NAME = "metricsdaily"
MATURE = timedelta(hours=24)


@dataclass(frozen=True)
class Item:
    """One message as the double serves it."""

    text: str = ""
    views: int = 0
    forwards: int = 0
    replies: int = 0
    reactions: dict[str, int] = field(default_factory=dict)
    link: str | None = None  # a text link over the whole text


@dataclass
class Post:
    """A post as a reader sees it (an album: several items). `ad`: marked by hand from
    README's rules. `at`: its date; `deleted`: deleted after the first run stored it."""

    key: str
    at: datetime
    items: tuple[Item, ...]
    ad: bool = False
    deleted: bool = False
    msg_id: int = 0  # its first item's id in the double

    # An album's counters: each the largest of its items' (README).
    @property
    def views(self) -> int:
        return max(i.views for i in self.items)

    @property
    def acts(self) -> int:
        """reactions (every emoji) + forwards + replies, each the largest of the items'."""
        return (
            max(sum(i.reactions.values()) for i in self.items)
            + max(i.forwards for i in self.items)
            + max(i.replies for i in self.items)
        )

    @property
    def caption(self) -> str:
        return next((i.text for i in self.items if i.text), "")


def _last(weekday: int, today: date) -> date:
    """The latest day of `weekday` (Monday 0) at least two days before `today`: any such
    post is older than 24 h and inside the 14-day period."""
    day = today - timedelta(days=2)
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _one(
    key: str,
    at: datetime,
    text: str,
    views: int,
    forwards: int = 0,
    replies: int = 0,
    reactions: dict[str, int] | None = None,
    **kw: Any,
) -> Post:
    """A single-message post; `kw`: `ad`, `deleted`, `link` (a text link's URL)."""
    link = kw.pop("link", None)
    return Post(key, at, (Item(text, views, forwards, replies, reactions or {}, link),), **kw)


def _posts(now: datetime) -> list[Post]:
    """The channel. ER of each mature post = (reactions + forwards + replies) / views."""
    today = now.astimezone(MSK).date()

    def at(weekday: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(_last(weekday, today), time(hh, mm), MSK)

    mon, wed, fri, sat = 0, 2, 4, 5

    def hours_ago(n: int) -> datetime:
        return now - timedelta(hours=n)

    erid_link = "https://example.com/course?erid=2VtzqxAbC1"
    return [
        # Older than 24 h.
        _one("A", at(mon, 1, 30), "Ночные новости: курс рубля", 3000, 30, 10,
             {"👍": 80, "🔥": 20}),  # ER 140/3000; Sunday 22:30 in UTC
        _one("B", at(mon, 9), "Скидки на ноутбуки до 30 %\nerid: 2VtzqvWgxYz", 800, 2, 0,
             {"👍": 6}, ad=True),  # 8/800
        _one("C", at(mon, 14), "Разбор: как устроен бюджет", 1200, 30, 12, {"❤": 18}),  # 60/1200
        _one("D", at(mon, 20), "Вечерний дайджест", 1500, 15, 15, {"👍": 30}),  # 60/1500
        _one("E", at(wed, 9), "Реклама на ТВ подорожала на 20 %", 950, 9, 9,
             {"👍": 9}),  # 27/950; a sentence, no ad label
        _one("F", at(wed, 14), "Подробнее о курсе", 600, 0, 0, {"👍": 3}, ad=True,
             link=erid_link),  # 3/600
        # An album: views 2000, forwards 60, replies 10, reactions 70 (each the largest
        # of its items'): 140/2000; its caption on the second item.
        Post("G", at(wed, 20), (
            Item("", 2000, 40, 10, {"👍": 50}),
            Item("Фото с выставки", 2000, 60, 0, {"👍": 40, "❤": 30}),
            Item("", 1990, 10, 0, {}),
        )),
        _one("H", at(fri, 22), "Большое интервью", 5000, 100, 50, {"🔥": 150}),  # 300/5000
        _one("I", at(fri, 22, 30), "Продолжение интервью: ad revenue of the media", 4000, 40,
             20, {"🔥": 40}),  # 100/4000
        _one("J", at(sat, 9), "Реклама. ООО «Ромашка», ИНН 7701234567\nКурс Python", 700, 7, 0,
             {"👍": 7}, ad=True),  # 14/700
        _one("K", at(sat, 14), "Выпуск подкаста", 1100, 11, 23, {"👍": 11}),  # 45/1100
        _one("L", at(sat, 20), "Конкурс для подписчиков #реклама", 1300, 13, 26, {"🎉": 40},
             ad=True),  # 79/1300
        _one("M", at(sat, 21), "Тихий пост", 0),  # 0 views: in reach, not in ER
        # Younger than 24 h.
        _one("Y1", hours_ago(3), "Срочно: главная новость дня", 9000, 90, 9, {"👍": 900}),
        _one("Z", hours_ago(2), "Пост, который удалят", 20000, deleted=True),
        _one("Y2", hours_ago(1), "На правах рекламы\nПриложение для заметок", 200, ad=True),
        # Before the period.
        _one("O", datetime.combine(today - timedelta(days=20), time(12), MSK), "Старый пост",
             100000),
    ]  # fmt: skip


def _world(posts: list[Post]) -> tuple[World, Channel]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    chan = world.add_channel(username=NAME, title="Metrics Daily", participants_count=10000)
    group = 7000
    for p in sorted(posts, key=lambda p: p.at):  # ids grow with dates, as on Telegram
        group += 1
        for item in p.items:
            entities = (
                [MessageEntityTextUrl(0, len(item.text), url=item.link)] if item.link else None
            )
            msg = chan.add_message(
                item.text,
                date=p.at,
                views=item.views,
                forwards=item.forwards,
                reactions=item.reactions or None,
                entities=entities,
                media="photo" if len(p.items) > 1 else None,
                grouped_id=group if len(p.items) > 1 else None,
            )
            if item.replies:
                world.set_counters(chan, msg.id, replies=item.replies)
            p.msg_id = p.msg_id or msg.id
        if p.key == "C":  # a pin right after it: a service event, no post
            chan.add_service("pin_message", date=p.at + timedelta(minutes=5), reply_to=p.msg_id)
    return world, chan


def _sqlite_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


# ------------------------------------------------------------ the hand computation


@dataclass
class Hand:
    posts: list[Post]
    period_posts: int  # the period's posts with the deleted (the caption gives them apart)
    per_day: Fraction
    reach: Fraction
    err: Fraction
    er: Fraction
    subscribers: int
    growth: int
    growth_pct: Fraction
    best_hours: list[int]
    best_days: list[int]
    ads: int
    ad_share: Fraction
    top_views: list[Post]
    top_er: list[Post]


def er_of(p: Post) -> Fraction:
    return Fraction(p.acts, p.views)


def by_hand(seeded: list[Post], now: datetime, counts: list[int]) -> Hand:
    """README "Analytics > Metrics", step by step. `counts`: the subscriber counts taken
    in the period, oldest first."""
    first_day = now.astimezone(MSK).date() - timedelta(days=DAYS - 1)
    in_period = [p for p in seeded if p.at.astimezone(MSK).date() >= first_day]
    posts = [p for p in in_period if not p.deleted]
    mature = [p for p in posts if now - p.at > MATURE]
    rated = [p for p in mature if p.views > 0]
    reach = Fraction(sum(p.views for p in mature), len(mature))

    def best(key: str) -> list[int]:
        groups: dict[int, list[int]] = {}
        for p in mature:
            local = p.at.astimezone(MSK)
            groups.setdefault(local.hour if key == "hour" else local.weekday(), []).append(p.views)
        means = {k: Fraction(sum(v), len(v)) for k, v in groups.items() if len(v) >= 3}
        return sorted(means, key=lambda k: (-means[k], k))

    ads = sum(p.ad for p in posts)
    return Hand(
        posts=posts,
        period_posts=len(in_period),
        per_day=Fraction(len(posts), DAYS),
        reach=reach,
        err=reach / Fraction(sum(counts), len(counts)),
        er=sum((er_of(p) for p in rated), Fraction(0)) / len(rated),
        subscribers=counts[-1],
        growth=counts[-1] - counts[0],
        growth_pct=Fraction(counts[-1] - counts[0], counts[0]),
        best_hours=best("hour"),
        best_days=best("weekday"),
        ads=ads,
        ad_share=Fraction(ads, len(posts)),
        top_views=sorted((p for p in posts if p.views > 0), key=lambda p: -p.views)[:5],
        top_er=sorted(rated, key=lambda p: -er_of(p))[:5],
    )


# ------------------------------------------------- how the bot writes numbers (README)

GROUP = {"en": ",", "ru": "\u00a0"}
POINT = {"en": ".", "ru": ","}
PCT = {"en": "%", "ru": "\u00a0%"}
WEEKDAYS = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "ru": ["пн", "вт", "ср", "чт", "пт", "сб", "вс"],
}


def _rounded(x: Fraction, places: int) -> Decimal:
    d = Decimal(x.numerator) / Decimal(x.denominator)
    step = Decimal(1).scaleb(-places)
    # The data keeps off ties, so the rounding rule cannot decide a figure.
    assert abs(d / step % 1 - Decimal("0.5")) > Decimal("0.001"), f"{x} is a tie"
    return d.quantize(step, rounding=ROUND_HALF_EVEN)


def num(x: Fraction | int, lang: str) -> str:
    """A count whole, a mean >= 100 whole, a smaller one to a tenth (1.1 / 1,1)."""
    x = Fraction(x)
    if x.denominator == 1:
        shown: Decimal | int = x.numerator
    else:
        shown = _rounded(x, 0 if abs(x) >= 100 else 1)
    whole, _, tenth = f"{shown:,}".partition(".")
    text = whole.replace(",", GROUP[lang])
    return f"{text}{POINT[lang]}{tenth}" if tenth and tenth != "0" else text


def pct(x: Fraction, lang: str, signed: bool = False) -> str:
    """A share as a percent to a tenth: 17.9% / 17,9 %."""
    text = str(_rounded(x * 100, 1)).replace(".", POINT[lang])
    return ("+" if signed and x >= 0 else "") + text + PCT[lang]


LABELS = {
    "en": ["Posts", "Posts per day", "Average reach", "ERR", "ER", "Subscribers", "Growth",
           "Best hours", "Best days", "Ad posts"],
    "ru": ["Постов", "Постов в день", "Средний охват", "ERR", "ER", "Подписчики", "Прирост",
           "Лучшие часы", "Лучшие дни", "Рекламные посты"],
}  # fmt: skip


def metric_lines(h: Hand, lang: str) -> list[str]:
    values = [
        num(len(h.posts), lang),
        num(h.per_day, lang),
        num(h.reach, lang),
        pct(h.err, lang),
        pct(h.er, lang),
        num(h.subscribers, lang),
        f"{'+' if h.growth >= 0 else ''}{num(h.growth, lang)} ({pct(h.growth_pct, lang, True)})",
        ", ".join(f"{hr}:00" for hr in h.best_hours[:3]),
        ", ".join(WEEKDAYS[lang][d] for d in h.best_days[:3]),
        f"{h.ads} {'of' if lang == 'en' else 'из'} {len(h.posts)} ({pct(h.ad_share, lang)})",
    ]
    return [f"{label}: {v}" for label, v in zip(LABELS[lang], values, strict=True)]


def top_line(p: Post, now: datetime, lang: str) -> str:
    mature = now - p.at > MATURE and p.views > 0
    er = pct(er_of(p), lang) if mature else "—"
    when = p.at.astimezone(MSK).strftime("%Y-%m-%d %H:%M")
    return f"• #{p.msg_id} {when} · 👁 {num(p.views, lang)} · ER {er} · {p.caption}"


def _section(text: str, head: str) -> list[str]:
    return text.split(f"\n{head}\n", 1)[1].split("\n\n", 1)[0].splitlines()


def _links(reply: MessageSnapshot) -> list[str]:
    return [e["url"] for e in reply.entities if e["type"] == "text_link"]


async def test_every_metric_of_stats_equals_the_hand_computation(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    seeded = _posts(now)
    world, chan = _world(seeded)
    key = {p.key: p for p in seeded}
    # MEDIA_DEFAULT=off: the album's photos are not downloaded (no metric needs them).
    async with running_stack(
        tmp_path, world, start=False, TIMEZONE="Europe/Moscow", MEDIA_DEFAULT="off"
    ) as stack:
        row_id = (await seed(stack, [chan]))[NAME]
        # Subscriber counts kept earlier: one before the period (not in its mean), one
        # five days ago; the counters job reads the third (10,000) at start.
        with db(stack) as conn:
            conn.executemany(
                "INSERT INTO subscriber_snapshot (channel_id, taken_at, subscribers)"
                " VALUES (?, ?, ?)",
                [(row_id, _sqlite_time(now - timedelta(days=30)), 5000),
                 (row_id, _sqlite_time(now - timedelta(days=5)), 9000)],
            )  # fmt: skip
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, row_id, chan), "the run at start", stack)
        chan.delete_message(key["Z"].msg_id)
        await parse(stack, f"@{NAME}")  # re-reads the last 24 h: Z is found deleted

        def counts() -> list[int]:
            return subscriber_counts(stack, row_id)

        await wait_until(lambda: len(counts()) == 3, "the counters job's count", stack, 30)
        assert counts() == [5000, 9000, 10000]
        with db(stack) as conn:
            assert conn.execute(
                "SELECT deleted_at IS NOT NULL FROM message WHERE channel_id = ? AND msg_id = ?",
                (row_id, key["Z"].msg_id),
            ).fetchone() == (1,)  # fmt: skip

        asked = datetime.now(UTC)
        for user in (ADMIN2_ID, ADMIN_ID):
            await api.send_text(api.users[user], f"/stats @{NAME} {DAYS}")
        replies = {}
        for user, lang, top in ((ADMIN2_ID, "en", "Top by views"),
                                (ADMIN_ID, "ru", "Лучшие по просмотрам")):  # fmt: skip
            album = await api.wait_for_message(
                user, lambda s: s.photo is not None and bool(s.caption), timeout=60
            )
            text = await api.wait_for_message(user, top, timeout=60)
            replies[lang] = (album, text)

    h = by_hand(seeded, asked, counts=[9000, 10000])
    # The figures of the data above, worked out on paper: the arithmetic under test.
    views = 3000 + 800 + 1200 + 1500 + 950 + 600 + 2000 + 5000 + 4000 + 700 + 1100 + 1300 + 0
    assert [p.key for p in h.posts] == [*"ABCDEFGHIJKLM", "Y1", "Y2"]  # not Z, O
    assert (h.period_posts, h.per_day) == (16, Fraction(15, 14))  # 1.1 a day
    assert h.reach == Fraction(views, 13) == Fraction(22150, 13)  # 1,703.8
    assert h.err == Fraction(22150, 13) / 9500  # mean of 9,000 and 10,000: 17.9 %
    ers = [(140, 3000), (8, 800), (60, 1200), (60, 1500), (27, 950), (3, 600), (140, 2000),
           (300, 5000), (100, 4000), (14, 700), (45, 1100), (79, 1300)]  # fmt: skip
    assert h.er == sum(Fraction(a, v) for a, v in ers) / 12  # 3.8 %
    assert (h.subscribers, h.growth, h.growth_pct) == (10000, 1000, Fraction(1, 9))
    # Hours: 20 (1500, 2000, 1300: 1,600), 14 (966.7), 9 (816.7); 22 and 1 too few.
    # Days: Mon (3000, 800, 1200, 1500: 1,625), Wed (1,183.3), Sat (775); Fri too few.
    assert (h.best_hours, h.best_days) == ([20, 14, 9], [0, 2, 5])
    assert (h.ads, h.ad_share) == (5, Fraction(5, 15))  # B, F, J, L, Y2
    assert [p.key for p in h.top_views] == ["Y1", "H", "I", "A", "G"]
    assert [p.key for p in h.top_er] == ["G", "L", "H", "C", "A"]

    for lang, (album, text) in replies.items():
        caption = album.caption or ""
        if lang == "en":
            assert caption == (
                f"Metrics Daily · @{NAME}: {len(h.posts)} posts in {DAYS} days, by day,"
                " Europe/Moscow (UTC+03:00)\nDeleted since, not counted: 1"
            ), caption
        else:
            assert caption == (
                f"Metrics Daily · @{NAME}: {len(h.posts)} постов за {DAYS} дней, по дням,"
                " Europe/Moscow (UTC+03:00)\nУдалённые позже не в счёте: 1"
            ), caption
        group = [s for s in api.transcript(album.chat_id)
                 if s.current.media_group_id == album.media_group_id]  # fmt: skip
        assert len(group) == 4  # growth, posts per day, heatmap, metrics table
        body = text.text or ""
        lines = body.splitlines()
        assert lines[1:11] == metric_lines(h, lang), body
        views_head, er_head = (
            ("Top by views", "Top by ER") if lang == "en"
            else ("Лучшие по просмотрам", "Лучшие по ER")
        )  # fmt: skip
        assert _section(body, views_head) == [top_line(p, asked, lang) for p in h.top_views]
        assert _section(body, er_head) == [top_line(p, asked, lang) for p in h.top_er]
        assert _links(text) == [
            f"https://t.me/{NAME}/{p.msg_id}" for p in [*h.top_views, *h.top_er]
        ]
