"""Generate a big archive straight into SQLite or PostgreSQL (issue #17's /stats bench;
reusable by later benches).

The schema is the app's (its migrations run first); then rows go in by bulk insert
(sqlite3 executemany / asyncpg COPY), not through the ingest path:

- `channels` broadcast channels with Zipf-like sizes (channel k holds ~1/sqrt(k) of the
  messages), each with a subscriber count that grows over the span;
- `messages` messages over the last `days` days up to `--until`, day by day, the
  channels interleaved as a live archive stores them (so one channel's rows are spread
  over the whole table): Russian (70 %) and English texts of 5..60 words, 8 % of posts
  albums of 2..6 items (one grouped_id, the caption on the first, the views repeated on
  every item as Telegram does), 1 % service events (a pin), 1 % deleted since, 5 % ads
  (an erid token, «Реклама. ООО ...», #ad...), views growing with the channel's
  subscribers (log-normal), forwards, replies, reactions JSON ({emoji: count});
- `subscriber_snapshot` every `--subs-hours` hours per channel;
- `counter_snapshot` for the posts of the last 30 days: one row per configured age
  reached (1h, 24h, 7d, 30d), as the counters job leaves them;
- then the per-hour rollup of /stats (db/rollup.py; the rows classified on the way),
  timed apart (`rollup_seconds`).

Deterministic for a seed. Prints a JSON summary (rows, seconds, size).

    .venv/bin/python bench/archive_gen.py --url sqlite:///tmp/arch.sqlite3 --messages 1000000
    .venv/bin/python bench/archive_gen.py --url postgres://postgres@127.0.0.1:5432/arch \\
        --messages 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from db.messages import INDEX_PENDING  # noqa: E402

SYL_RU = "ка ло ми но ра ст пр ви де ти ль на ре ко по то ма бо гу зе вы ры мо ско".split()
SYL_EN = "ta le mi no ra st pr vi de ti on an re co po to ma bo gu ze".split()
STOP_RU = ["в", "и", "на", "с", "по", "к", "не", "что", "это", "для"]
STOP_EN = ["the", "a", "of", "to", "in", "and", "for", "is", "on", "with"]
ADS = [
    "Реклама. ООО «{w}», ИНН 77{n:08d}",
    "erid: 2Vtzq{n:06d}",
    "#реклама",
    "На правах рекламы",
    "#ad",
    "Sponsored",
    "https://example.com/promo?erid=LjN8K{n:05d}",
]
EMOJI = ["👍", "❤", "🔥", "😁", "😢", "👎", "🤔"]
# Messages a post takes on average: 8 % albums of 2..6 items, 1 % service rows.
ITEMS_PER_POST = 1.255
AGES = (3600, 86400, 7 * 86400, 30 * 86400)
MESSAGE_COLUMNS = (
    "channel_id",
    "msg_id",
    "date",
    "text",
    "entities",
    "views",
    "forwards",
    "replies",
    "reactions",
    "media_kind",
    "grouped_id",
    "content_text",
    "action",
    "fetched_at",
    "deleted_at",
)


@dataclass
class ChannelPlan:
    row_id: int
    tg_id: int
    username: str
    title: str
    rate: float  # posts a day
    subs0: int  # subscribers at the span's start
    subs1: int  # at its end
    next_msg: int = 1


def _vocab(rng: random.Random, syl: list[str], size: int) -> list[str]:
    out: set[str] = set()
    while len(out) < size:
        out.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
    return sorted(out)


class Texts:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ru = _vocab(rng, SYL_RU, 3000) + STOP_RU * 40
        self.en = _vocab(rng, SYL_EN, 2000) + STOP_EN * 40

    def text(self) -> str:
        rng = self.rng
        words = rng.choices(self.ru if rng.random() < 0.7 else self.en, k=rng.randint(5, 60))
        return " ".join(words).capitalize() + "."


# Zipf texts (`--texts zipf`, issue #20's P7): word frequencies as in real text (the
# word of rank r is used ~1/r^1.05 as often: a few hundred words make half of any
# text, most of the vocabulary is rare), Russian words inflected (one stem, several
# endings: the stemmer folds them back), sentences with commas and capitals.
RU_ENDINGS = ["", "а", "ы", "е", "у", "ой", "ов", "ами", "ах", "ом", "и", "ый", "ая", "ого"]
EN_ENDINGS = ["", "s", "ed", "ing", "er"]
ZIPF_S = 1.05


@dataclass(frozen=True)
class ZipfVocab:
    """Words by rank (most frequent first) and their cumulative weights, per language.
    Deterministic for a seed: bench/bench_archive.py rebuilds it to pick query words."""

    ru: list[str]
    en: list[str]
    ru_cum: list[float]
    en_cum: list[float]


def zipf_vocab(seed: int, ru_size: int = 60_000, en_size: int = 30_000) -> ZipfVocab:
    vr = random.Random(f"vocab-{seed}")
    syl_ru = SYL_RU + "жи ша цу чо фе хи зо ду бе ле".split()
    syl_en = SYL_EN + "ck th sh er ing ou ea".split()
    ru = list(STOP_RU)
    seen = set(ru)
    while len(ru) < ru_size:
        w = "".join(vr.choice(syl_ru) for _ in range(vr.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            ru.append(w)
    en = list(STOP_EN)
    seen = set(en)
    while len(en) < en_size:
        w = "".join(vr.choice(syl_en) for _ in range(vr.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            en.append(w)

    def cum(n: int) -> list[float]:
        out, acc = [], 0.0
        for r in range(n):
            acc += 1 / (r + 1) ** ZIPF_S
            out.append(acc)
        return out

    return ZipfVocab(ru, en, cum(len(ru)), cum(len(en)))


class ZipfTexts(Texts):
    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.vocab = zipf_vocab(seed)
        self.ru = self.vocab.ru  # ads draw words from it

    def text(self) -> str:
        rng, v = self.rng, self.vocab
        ru = rng.random() < 0.7
        words = rng.choices(
            v.ru if ru else v.en, cum_weights=v.ru_cum if ru else v.en_cum, k=rng.randint(5, 60)
        )
        endings = RU_ENDINGS if ru else EN_ENDINGS
        out: list[str] = []
        start = True
        for w in words:
            if len(w) > 3 and rng.random() < 0.6:
                w += rng.choice(endings)
            if start:
                w = w.capitalize()
                start = False
            r = rng.random()
            if r < 0.08:
                w += "."
                start = True
            elif r < 0.16:
                w += ","
            out.append(w)
        text = " ".join(out).rstrip(",.")
        return text + "."


def plan_channels(
    rng: random.Random, n_channels: int, messages: int, days: int
) -> list[ChannelPlan]:
    weights = [1 / math.sqrt(k + 1) for k in range(n_channels)]
    total = sum(weights)
    out = []
    for k, w in enumerate(weights):
        subs1 = int(rng.lognormvariate(math.log(20000), 1.2)) + 500
        out.append(
            ChannelPlan(
                k + 1,
                1_000_000_000 + k,
                f"bench_chan{k}",
                f"Канал {k}",
                messages * w / total / days / ITEMS_PER_POST,
                int(subs1 * rng.uniform(0.5, 0.95)),
                subs1,
            )
        )
    return out


def _iso(d: datetime) -> str:
    """A time as Tortoise stores it in SQLite (ISO, UTC offset)."""
    return d.isoformat(sep=" ")


def message_rows(
    rng: random.Random,
    chans: list[ChannelPlan],
    messages: int,
    days: int,
    until: datetime,
    texts_kind: str = "flat",
    seed: int = 17,
) -> Iterator[tuple[Any, ...]]:
    """Rows in MESSAGE_COLUMNS order (datetimes as datetime), oldest day first."""
    texts = ZipfTexts(rng, seed) if texts_kind == "zipf" else Texts(rng)
    start = until - timedelta(days=days)
    made = 0
    group = 10**15
    for day in range(days):
        day_start = start + timedelta(days=day)
        frac = (day + 0.5) / days
        for ch in chans:
            want = ch.rate
            n = int(want) + (1 if rng.random() < want - int(want) else 0)
            if n == 0:
                continue
            subs = ch.subs0 + (ch.subs1 - ch.subs0) * frac
            stamps = sorted(rng.uniform(0, 86400) for _ in range(n))
            for sec in stamps:
                when = (day_start + timedelta(seconds=int(sec))).replace(microsecond=0)
                if when >= until:
                    continue
                age_days = (until - when).total_seconds() / 86400
                grow = min(1.0, 0.35 + age_days / 3)  # views still come in the first days
                views = int(subs * 0.25 * grow * rng.lognormvariate(0, 0.5))
                r = rng.random()
                items = rng.randint(2, 6) if r < 0.08 else 1
                service = 0.08 <= r < 0.09
                deleted = _iso(when + timedelta(days=1)) if 0.09 <= r < 0.10 else None
                text = texts.text()
                if rng.random() < 0.05:
                    ad = rng.choice(ADS).format(w=rng.choice(texts.ru), n=rng.randrange(10**5))
                    text = f"{ad}\n{text}" if rng.random() < 0.5 else f"{text}\n\n{ad}"
                entities = None
                if rng.random() < 0.02:
                    entities = json.dumps(
                        [
                            [
                                "TextUrl",
                                0,
                                5,
                                f"https://shop.example/?erid=Kra{rng.randrange(10**6)}",
                            ]
                        ]
                    )
                    text = "Жми " + text
                reactions = None
                if rng.random() < 0.7 and views:
                    reactions = json.dumps(
                        {
                            e: max(1, int(views * rng.uniform(0.0005, 0.01)))
                            for e in rng.sample(EMOJI, rng.randint(1, 4))
                        },
                        ensure_ascii=False,
                    )
                forwards = int(views * rng.uniform(0, 0.01))
                replies = int(views * rng.uniform(0, 0.003)) if ch.row_id % 3 else None
                if service:
                    yield (
                        ch.row_id,
                        ch.next_msg,
                        when,
                        "",
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "",
                        json.dumps({"type": "pin"}),
                        when,
                        None,
                    )
                    ch.next_msg += 1
                    made += 1
                    continue
                grouped = None
                if items > 1:
                    group += 1
                    grouped = group
                for i in range(items):
                    yield (
                        ch.row_id,
                        ch.next_msg,
                        when,
                        text if i == 0 else "",
                        entities if i == 0 else None,
                        views,
                        forwards,
                        replies if i == 0 else None,
                        reactions if i == 0 else None,
                        "photo" if items > 1 or rng.random() < 0.3 else None,
                        grouped,
                        "",
                        None,
                        when,
                        deleted,
                    )
                    ch.next_msg += 1
                    made += 1
                if made >= messages:
                    return


def subscriber_rows(
    rng: random.Random, chans: list[ChannelPlan], days: int, until: datetime, hours: int
) -> Iterator[tuple[Any, ...]]:
    start = until - timedelta(days=days)
    steps = days * 24 // hours
    for ch in chans:
        for s in range(steps + 1):
            frac = s / steps
            subs = int((ch.subs0 + (ch.subs1 - ch.subs0) * frac) * rng.uniform(0.998, 1.002))
            yield ch.row_id, start + timedelta(hours=s * hours), subs


def _curve_rows(row: tuple[Any, ...], until: datetime) -> list[tuple[Any, ...]]:
    ch, msg, when, views = row[0], row[1], row[2], row[5]
    if views is None or until - when > timedelta(days=31):
        return []
    out = []
    for age in AGES:
        at = when + timedelta(seconds=age)
        if at > until:
            break
        share = min(1.0, 0.2 + age / (3 * 86400))
        out.append((ch, msg, at, age, int(views * share), row[6], row[7], None))
    return out


CURVE_COLUMNS = (
    "channel_id",
    "msg_id",
    "taken_at",
    "age_mark",
    "views",
    "forwards",
    "replies",
    "reactions",
)


def _progress(n: int, t0: float) -> None:
    dt = time.perf_counter() - t0
    print(f"... {n} messages, {dt:.0f} s, {n / max(dt, 1e-9):.0f}/s", file=sys.stderr, flush=True)


def _terms_of(chunk: list[tuple[str, str]]) -> list[str]:
    from core.words import message_terms

    return [message_terms(t or "", c or "") for t, c in chunk]


class Stems:
    """message.terms for batches of rows (core.words.message_terms, as the ingest path
    computes them), in `workers` processes (0: in this one)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None
        if workers > 0:
            import multiprocessing

            self.pool = multiprocessing.get_context("fork").Pool(workers)

    def add_terms(self, batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        ti, ci = MESSAGE_COLUMNS.index("text"), MESSAGE_COLUMNS.index("content_text")
        pairs = [(r[ti], r[ci]) for r in batch]
        if self.pool is None:
            out = _terms_of(pairs)
        else:
            size = -(-len(pairs) // (self.workers * 2))
            chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
            out = [t for part in self.pool.map(_terms_of, chunks) for t in part]
        return [(*r, t) for r, t in zip(batch, out, strict=True)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


async def _migrate(url: str) -> None:
    from db.database import close_db, init_db

    await init_db(url)
    await close_db()


async def _rollup(url: str) -> int:
    """Build the per-hour rollup of /stats (db/rollup.py) over the rows just written,
    as migration 0015 does for an archive stored before it; the rows written."""
    from db import rollup
    from db.database import close_db, init_db

    await init_db(url, migrate=False)
    try:
        return await rollup.refresh(gap=None)
    finally:
        await close_db()


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite://")


def generate_sqlite(args: argparse.Namespace, until: datetime) -> dict[str, Any]:
    rng = random.Random(args.seed)
    chans = plan_channels(rng, args.channels, args.messages, args.days)
    conn = sqlite3.connect(_sqlite_path(args.url))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    now = _iso(until)
    conn.executemany(
        "INSERT INTO channel (id, tg_id, username, title, kind, status, cursor, history_mode,"
        " backfill_done, comments_enabled, messages_count, added_at, alert_deletions)"
        " VALUES (?, ?, ?, ?, 'channel', 'active', 0, 'all', 1, 0, 0, ?, 0)",
        [(c.row_id, c.tg_id, c.username, c.title, now) for c in chans],
    )
    cols = (*MESSAGE_COLUMNS, "terms") if args.search else MESSAGE_COLUMNS
    ins = f"INSERT INTO message ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    stems = Stems(args.stem_workers) if args.search else None
    ins_curve = (
        f"INSERT INTO counter_snapshot ({', '.join(CURVE_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(CURVE_COLUMNS))})"
    )
    n = curves = 0
    t0 = time.perf_counter()
    batch: list[tuple[Any, ...]] = []
    cbatch: list[tuple[Any, ...]] = []

    def flush() -> None:
        if stems is not None:
            # The terms the ingest path writes with every row (core.words.message_terms),
            # then the batch indexed as the ingest indexes it (db.messages.INDEX_PENDING).
            conn.executemany(ins, stems.add_terms(batch))
            for sql in INDEX_PENDING:
                conn.execute(sql)
        else:
            conn.executemany(ins, batch)
        conn.executemany(ins_curve, cbatch)
        conn.commit()
        batch.clear()
        cbatch.clear()

    for row in message_rows(rng, chans, args.messages, args.days, until, args.texts, args.seed):
        r = list(row)
        for i in (2, 13):
            r[i] = _iso(r[i])
        batch.append(tuple(r))
        for c in _curve_rows(row, until):
            cbatch.append((c[0], c[1], _iso(c[2]), *c[3:]))
        n += 1
        if len(batch) >= 20_000:
            curves += len(cbatch)
            flush()
            if n % 500_000 < 20_000:
                _progress(n, t0)
    curves += len(cbatch)
    flush()
    subs = [
        (c, _iso(t), s)
        for c, t, s in subscriber_rows(rng, chans, args.days, until, args.subs_hours)
    ]
    conn.executemany(
        "INSERT INTO subscriber_snapshot (channel_id, taken_at, subscribers) VALUES (?, ?, ?)",
        subs,
    )
    conn.execute(
        "UPDATE channel SET messages_count = (SELECT count(*) FROM message m"
        " WHERE m.channel_id = channel.id)"
    )
    conn.commit()
    if stems is not None:
        stems.close()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return {"messages": n, "counter_snapshots": curves, "subscriber_snapshots": len(subs)}


async def generate_pg(args: argparse.Namespace, until: datetime) -> dict[str, Any]:
    import asyncpg

    rng = random.Random(args.seed)
    chans = plan_channels(rng, args.channels, args.messages, args.days)
    conn = await asyncpg.connect(args.url)
    try:
        await conn.copy_records_to_table(
            "channel",
            records=[
                (
                    c.row_id,
                    c.tg_id,
                    c.username,
                    c.title,
                    "channel",
                    "active",
                    0,
                    "all",
                    True,
                    False,
                    0,
                    until,
                    False,
                )
                for c in chans
            ],
            columns=[
                "id",
                "tg_id",
                "username",
                "title",
                "kind",
                "status",
                "cursor",
                "history_mode",
                "backfill_done",
                "comments_enabled",
                "messages_count",
                "added_at",
                "alert_deletions",
            ],
        )
        n = curves = 0
        t0 = time.perf_counter()
        batch: list[tuple[Any, ...]] = []
        cbatch: list[tuple[Any, ...]] = []

        async def flush() -> None:
            await conn.copy_records_to_table("message", records=batch, columns=MESSAGE_COLUMNS)
            await conn.copy_records_to_table(
                "counter_snapshot", records=cbatch, columns=CURVE_COLUMNS
            )
            batch.clear()
            cbatch.clear()

        rows = message_rows(rng, chans, args.messages, args.days, until, args.texts, args.seed)
        for row in rows:
            r = list(row)
            if r[14] is not None:
                r[14] = datetime.fromisoformat(r[14])
            batch.append(tuple(r))
            cbatch.extend(_curve_rows(row, until))
            n += 1
            if len(batch) >= 50_000:
                curves += len(cbatch)
                await flush()
                if n % 500_000 < 50_000:
                    _progress(n, t0)
        curves += len(cbatch)
        await flush()
        subs = list(subscriber_rows(rng, chans, args.days, until, args.subs_hours))
        await conn.copy_records_to_table(
            "subscriber_snapshot",
            records=subs,
            columns=["channel_id", "taken_at", "subscribers"],
        )
        await _pg_sequences_and_counts(conn)
    finally:
        await conn.close()
    return {"messages": n, "counter_snapshots": curves, "subscriber_snapshots": len(subs)}


async def _pg_sequences_and_counts(conn: Any) -> None:
    """After COPYing rows with their ids: the id sequences past them, and each channel's
    messages_count."""
    for table in ("channel", "message", "counter_snapshot", "subscriber_snapshot"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT max(id) FROM {table}))"
        )
    await conn.execute(
        "UPDATE channel SET messages_count = (SELECT count(*) FROM message m"
        " WHERE m.channel_id = channel.id)"
    )


async def pg_search_fill(conn: Any, *, index_first: bool, index_mem: str) -> float:
    """The search documents of every stored message (db.search: `message_search`, what
    the app's search-index component computes after its start), written here in one
    statement a tenth of the ids, and the queue of migration 0016 emptied. Without
    `index_first` the GIN index goes first and is built again after (one sort instead of
    10M inserts). Returns the seconds it took."""
    from db.search import PG_DOCUMENT, PG_INDEX

    t1 = time.perf_counter()
    if not index_first:
        await conn.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    lo, hi = await conn.fetchrow("SELECT COALESCE(min(id), 0), COALESCE(max(id), 0) FROM message")
    step = max(1, (hi - lo + 10) // 10)
    for a in range(lo, hi + 1, step):
        await conn.execute(
            f"INSERT INTO message_search (id, doc) SELECT m.id, {PG_DOCUMENT} FROM message m"
            " WHERE m.id >= $1 AND m.id < $2 ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc",
            a,
            a + step,
        )
        print(f"... search documents up to id {a + step - 1:,}", file=sys.stderr, flush=True)
    await conn.execute("TRUNCATE search_pending")
    if not index_first:
        await conn.execute(f"SET maintenance_work_mem = '{index_mem}'")
        await conn.execute(f"CREATE INDEX {PG_INDEX} ON message_search USING GIN (doc)")
    return time.perf_counter() - t1


async def pg_finish(args: argparse.Namespace) -> dict[str, Any]:
    """After the rollup (whose classification updates every row): the search documents
    (`--search`), then VACUUM ANALYZE."""
    import asyncpg

    conn = await asyncpg.connect(args.url)
    index_seconds = None
    try:
        if args.search:
            print("... search documents and their GIN index", file=sys.stderr, flush=True)
            index_seconds = round(
                await pg_search_fill(
                    conn, index_first=args.index_first, index_mem=args.pg_index_mem
                ),
                1,
            )
            print(f"... search index built in {index_seconds} s", file=sys.stderr, flush=True)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {"search_index_seconds": index_seconds}


def _dt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


async def copy_from_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    """The rows of the SQLite archive `--from-sqlite` (archive_gen's: same ids) into
    this PostgreSQL one, following the file while its generator still writes messages:
    both engines then hold the very same archive, for a text generation's CPU."""
    import asyncpg

    src = sqlite3.connect(f"file:{args.from_sqlite}?mode=ro", uri=True, timeout=60)
    conn = await asyncpg.connect(args.url)
    t0 = time.perf_counter()

    def done_writing() -> bool:
        # archive_gen writes the subscriber snapshots after the last message.
        return src.execute("SELECT 1 FROM subscriber_snapshot LIMIT 1").fetchone() is not None

    try:
        if not src.execute("SELECT 1 FROM channel LIMIT 1").fetchone():
            raise SystemExit(f"{args.from_sqlite}: no channels yet (start when it has them)")
        ch_cols = [
            "id", "tg_id", "username", "title", "kind", "status", "cursor", "history_mode",
            "backfill_done", "comments_enabled", "messages_count", "added_at",
            "alert_deletions",
        ]  # fmt: skip
        chans = [
            (*r[:8], bool(r[8]), bool(r[9]), r[10], _dt(r[11]), bool(r[12]))
            for r in src.execute(f"SELECT {', '.join(ch_cols)} FROM channel ORDER BY id")
        ]
        await conn.copy_records_to_table("channel", records=chans, columns=ch_cols)
        from db.analytics import _json_value, _reactions_total
        from db.analytics import is_ad as _is_ad

        cols = ("id", *MESSAGE_COLUMNS)
        times = [cols.index(c) for c in ("date", "fetched_at", "deleted_at")]
        ti, ei, ri, ai, di = (
            cols.index(c) for c in ("text", "entities", "reactions", "action", "deleted_at")
        )
        last = n = 0
        next_note = 500_000
        while True:
            finished = done_writing()  # before the read: no row can come after it
            while True:
                rows = src.execute(
                    f"SELECT {', '.join(cols)} FROM message WHERE id > ? ORDER BY id LIMIT 50000",
                    (last,),
                ).fetchall()
                if not rows:
                    break
                recs = []
                for r in rows:
                    x = list(r)
                    for i in times:
                        x[i] = _dt(x[i])
                    # Classified on the way, as db.analytics.classify would (the rollup
                    # then has no row to update: each update rewrites the row).
                    ad = (
                        -1
                        if r[ai] is not None or r[di] is not None
                        else int(_is_ad(r[ti], _json_value(r[ei])))
                    )
                    recs.append((*x, ad, _reactions_total(r[ri])))
                await conn.copy_records_to_table(
                    "message", records=recs, columns=(*cols, "ad", "reactions_n")
                )
                last = rows[-1][0]
                n += len(rows)
                if n >= next_note:
                    _progress(n, t0)
                    next_note += 500_000
            if finished:
                break
            await asyncio.sleep(10)
        curves = 0
        cur = src.execute(f"SELECT {', '.join(CURVE_COLUMNS)} FROM counter_snapshot ORDER BY id")
        while batch := cur.fetchmany(50_000):
            await conn.copy_records_to_table(
                "counter_snapshot",
                records=[(*r[:2], _dt(r[2]), *r[3:]) for r in batch],
                columns=CURVE_COLUMNS,
            )
            curves += len(batch)
        subs = 0
        cur = src.execute(
            "SELECT channel_id, taken_at, subscribers FROM subscriber_snapshot ORDER BY id"
        )
        while batch := cur.fetchmany(50_000):
            await conn.copy_records_to_table(
                "subscriber_snapshot",
                records=[(r[0], _dt(r[1]), r[2]) for r in batch],
                columns=["channel_id", "taken_at", "subscribers"],
            )
            subs += len(batch)
        await _pg_sequences_and_counts(conn)
    finally:
        await conn.close()
        src.close()
    return {"messages": n, "counter_snapshots": curves, "subscriber_snapshots": subs}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--url", required=True, help="sqlite:///path or postgres://... (empty)")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--channels", type=int, default=100)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--subs-hours", type=int, default=6)
    ap.add_argument("--until", default="2026-11-30T00:00:00+00:00")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument(
        "--texts",
        choices=("flat", "zipf"),
        default="flat",
        help="flat: 5,000 pseudo-words drawn evenly (issue #17's archives); zipf: 90,000"
        " words with Zipf frequencies, Russian words inflected (P7)",
    )
    ap.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="make the archive searchable as the app would have it: SQLite terms"
        " (core.words) written with the rows and the FTS5 index filled batch by batch"
        " (INDEX_PENDING); PostgreSQL the search documents and their GIN index (db.search)",
    )
    ap.add_argument("--stem-workers", type=int, default=0, help="processes stemming terms")
    ap.add_argument("--pg-index-mem", default="512MB", help="maintenance_work_mem for the GIN")
    ap.add_argument(
        "--index-first",
        action="store_true",
        help="PostgreSQL with --search: the search documents go into the GIN index one by"
        " one, as a live archive's do (default: the index is built once after them)",
    )
    ap.add_argument(
        "--from-sqlite",
        metavar="PATH",
        help="PostgreSQL: copy the rows of this archive_gen SQLite archive instead of"
        " generating them (following it while its generator still writes)",
    )
    ap.add_argument(
        "--search-only",
        action="store_true",
        help="PostgreSQL: no rows, only migrate an existing archive and make it searchable"
        " (with --search)",
    )
    args = ap.parse_args()
    until = datetime.fromisoformat(args.until).astimezone(UTC)
    t0 = time.perf_counter()
    asyncio.run(_migrate(args.url))
    if args.search_only:
        if args.url.startswith("sqlite://") or not args.search:
            raise SystemExit("--search-only is for PostgreSQL archives, with --search")
        out = asyncio.run(pg_finish(args))
        out["seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(out))
        return
    if args.url.startswith("sqlite://"):
        out = generate_sqlite(args, until)
        out["bytes"] = Path(_sqlite_path(args.url)).stat().st_size
    elif args.from_sqlite:
        out = asyncio.run(copy_from_sqlite(args))
    else:
        out = asyncio.run(generate_pg(args, until))
    print("... rollup", file=sys.stderr, flush=True)
    t1 = time.perf_counter()
    out["rollup_rows"] = asyncio.run(_rollup(args.url))
    out["rollup_seconds"] = round(time.perf_counter() - t1, 1)
    print(f"... rollup done in {out['rollup_seconds']} s", file=sys.stderr, flush=True)
    if not args.url.startswith("sqlite://"):
        out.update(asyncio.run(pg_finish(args)))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["until"] = until.isoformat()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
