"""/stats drawing cost (#17): the album's four charts (subscriber growth over a month
of hourly counts, posts and median views per day, the 7 x 24 posting heatmap, the
metrics table) and a post's views curve, drawn by bot/routers/stats.py exactly as the
bot does, p50/p99 over N rounds, and the PNGs' sizes. The metric queries are
bench_stats.py's; a /stats reply is the queries plus this.

    .venv/bin/python bench/bench_charts.py [--rounds 20] [--lang ru]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.routers.stats import draw_charts, draw_curve
from core.analytics import (
    ChannelMetrics,
    CounterPoint,
    PostCurve,
    RankedPost,
    SubscriberPoint,
)
from core.archive import Bucket, StatsUnit

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _metrics(rng: random.Random) -> ChannelMetrics:
    series = tuple(
        SubscriberPoint(NOW - timedelta(hours=h), 120_000 + (720 - h) * 7 + rng.randint(-20, 20))
        for h in range(720, 0, -1)
    )
    heatmap = tuple(tuple(rng.randint(0, 12) for _ in range(24)) for _ in range(7))
    top = tuple(
        RankedPost(i, NOW - timedelta(days=i), "Новости дня " * 5, 10_000 - i, 0.02, None)
        for i in range(5)
    )
    return ChannelMetrics(
        days=30, until=NOW, posts=sum(map(sum, heatmap)), posts_per_day=40.3,
        reach=12_500.0, err=0.104, er=0.021, subscribers=125_040, growth=5_040,
        growth_pct=0.042, ad_posts=12, ad_share=0.092, heatmap=heatmap,
        best_hours=(9, 18, 21), best_weekdays=(2, 4), top_by_views=top, top_by_er=top,
        subscriber_series=series, chart=_chart(rng), chart_unit=StatsUnit.DAY,
    )  # fmt: skip


def _chart(rng: random.Random) -> tuple[Bucket, ...]:
    """30 days of posts and median views: the posts chart's bars."""
    first = (NOW - timedelta(days=29)).date()
    return tuple(Bucket(first + timedelta(days=i), rng.randint(20, 60),
                        rng.uniform(8_000, 15_000)) for i in range(30))  # fmt: skip


def _curve() -> PostCurve:
    posted = NOW - timedelta(days=31)
    minutes = (5, 30, 62, 180, 600, 1441, 3000, 10081, 43201)
    ages = {62: 3600, 1441: 86400, 10081: 7 * 86400, 43201: 30 * 86400}
    points = tuple(
        CounterPoint(posted + timedelta(minutes=m), int(5000 * (1 - 2.718 ** (-m / 600))),
                     None, None, None,
                     timedelta(seconds=ages[m]) if m in ages else None)
        for m in minutes
    )  # fmt: skip
    return PostCurve(1, 5, posted, "Первый пост", points)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lang", default="ru")
    args = parser.parse_args()
    rng = random.Random(17)
    tz = ZoneInfo("Europe/Moscow")
    m, curve = _metrics(rng), _curve()
    t0 = time.perf_counter()
    charts = draw_charts(m, "Новости дня · @news", 30, args.lang, tz)  # imports matplotlib
    first = time.perf_counter() - t0
    album: list[float] = []
    album_cpu: list[float] = []
    post: list[float] = []
    for _ in range(args.rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        charts = draw_charts(m, "Новости дня · @news", 30, args.lang, tz)
        album.append(time.perf_counter() - t0)
        album_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        png = draw_curve(curve, args.lang, tz)
        post.append(time.perf_counter() - t0)
    sizes = {name: len(data) for name, data in charts.photos()}
    print(f"first album (imports and fonts included): {first:.2f} s")
    print(
        f"album of 4 charts: p50 {statistics.median(album):.3f} s, p99 {_pct(album, 0.99):.3f} s"
    )
    # CPU seconds: what the drawing costs on an idle core (wall time grows with the load).
    print(f"album CPU time: p50 {statistics.median(album_cpu):.3f} s, "
          f"p99 {_pct(album_cpu, 0.99):.3f} s")  # fmt: skip
    print(f"post curve: p50 {statistics.median(post):.3f} s, p99 {_pct(post, 0.99):.3f} s")
    print("PNG bytes: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
          + f", curve {len(png or b''):,}")  # fmt: skip


if __name__ == "__main__":
    main()
