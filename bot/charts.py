"""Charts rendered without a display (matplotlib Agg). CPU-bound: call via to_thread."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date


def render_daily_chart(
    title: str,
    days: Sequence[date],
    posts: Sequence[int],
    median_views: Sequence[float | None],
    posts_label: str,
    views_label: str,
) -> bytes:
    """A PNG: posts per day (bars) and median views per day (line, right axis)."""
    # Imported on first use: matplotlib and numpy cost ~30 MB of RSS that a bot
    # which never draws a chart should not carry.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    # Figure() directly, not pyplot: no global state, safe in a worker thread.
    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot()
    ax.bar(date2num(list(days)), list(posts), color="#4a90d9", label=posts_label)
    ax.xaxis_date()
    ax.set_ylabel(posts_label)
    ax.set_title(title)
    ax2 = ax.twinx()
    points = [(d, v) for d, v in zip(days, median_views, strict=True) if v is not None]
    if points:
        xs = date2num([d for d, _ in points])
        ax2.plot(xs, [v for _, v in points], color="#d9534f", marker="o")
    ax2.set_ylabel(views_label)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
