"""Charts rendered without a display (matplotlib Agg). CPU-bound: call via to_thread."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

from core.archive import StatsReport

# Days one bar covers, by bucket unit (a month drawn as 30 days wide).
UNIT_DAYS = {"day": 1, "week": 7, "month": 30}


def stats_chart(report: StatsReport, title: str, posts_label: str, views_label: str) -> bytes:
    """The /stats chart of `report` as a PNG (CPU-bound: call via to_thread)."""
    return render_chart(
        title,
        [b.start for b in report.buckets],
        [b.posts for b in report.buckets],
        [b.median_views for b in report.buckets],
        report.unit,
        posts_label,
        views_label,
    )


def render_chart(
    title: str,
    starts: Sequence[date],
    posts: Sequence[int],
    median_views: Sequence[float | None],
    unit: str,
    posts_label: str,
    views_label: str,
) -> bytes:
    """A PNG: posts per day, week or month (bars from each bucket's first day, zeros
    included) and median views (line, right axis; no point where nothing was posted)."""
    # Imported on first use: matplotlib and numpy cost ~30 MB of RSS that a bot
    # which never draws a chart should not carry.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    width = UNIT_DAYS.get(unit, 1)
    # Figure() directly, not pyplot: no global state, safe in a worker thread.
    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot()
    xs = date2num(list(starts))  # type: ignore[no-untyped-call]
    ax.bar(xs, list(posts), width=width * 0.8, align="edge", color="#4a90d9", label=posts_label)
    ax.xaxis_date()
    if starts:
        first, last = starts[0], starts[-1] + timedelta(days=width)
        ax.set_xlim(date2num(first), date2num(last))  # type: ignore[no-untyped-call]
    ax.set_ylim(bottom=0)
    ax.set_ylabel(posts_label)
    ax.set_title(title)
    ax2 = ax.twinx()
    points = [(x + width * 0.4, v) for x, v in zip(xs, median_views, strict=True) if v is not None]
    if points:
        ax2.plot([x for x, _ in points], [v for _, v in points], color="#d9534f", marker="o")
    ax2.set_ylabel(views_label)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
