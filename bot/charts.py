"""Charts rendered without a display (matplotlib Agg). CPU-bound: call via to_thread.

The old per-day posts chart (`stats_chart`) and the #17 analytics charts (growth,
heatmap, metrics table, a post's views curve), all PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

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

    width = UNIT_DAYS.get(unit, 1)
    fig = _figure(4.8)  # 1200 px wide, like the album's other charts
    ax = fig.add_subplot()
    xs = date2num(list(starts))  # type: ignore[no-untyped-call]
    ax.bar(xs, list(posts), width=width * 0.8, align="edge", color="#4a90d9", label=posts_label)
    _date_axis(ax)
    if starts:
        first, last = starts[0], starts[-1] + timedelta(days=width)
        ax.set_xlim(date2num(first), date2num(last))  # type: ignore[no-untyped-call]
    ax.set_ylim(bottom=0)
    ax.set_ylabel(posts_label, fontsize=_BASE_PT, color="#2b6cb0")
    ax.tick_params(labelsize=_BASE_PT - 2)
    ax.set_title(title, fontsize=_TITLE_PT, loc="left")
    ax2 = ax.twinx()
    points = [(x + width * 0.4, v) for x, v in zip(xs, median_views, strict=True) if v is not None]
    if points:
        ax2.plot([x for x, _ in points], [v for _, v in points], color="#d9534f", marker="o",
                 linewidth=2.5)  # fmt: skip
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel(views_label, fontsize=_BASE_PT, color="#d9534f")
    ax2.tick_params(labelsize=_BASE_PT - 2)
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.yaxis.set_major_formatter(FuncFormatter(_short_number))
    fig.subplots_adjust(left=0.1, right=0.88, top=0.88, bottom=0.13)
    return _png(fig)


# ---------------------------------------------------------------- /stats (#17)
#
# Phone-readable: 1200 px wide (7.5 in at 160 dpi; Telegram shows photos up to 1280 px
# on their long side), text at 15-20 pt (a phone shows the image ~390 CSS px wide: a
# 16 pt label is then ~11 CSS px). Every label arrives translated (bot/locales).

_DPI = 160
_WIDTH_IN = 7.5
_BASE_PT = 15
_TITLE_PT = 19
_BLUE = "#2b6cb0"
_RED = "#c53030"


def load() -> None:
    """Import matplotlib and the modules the charts use (~1 s the first time, nothing
    after). Call it (via to_thread) before drawing in several threads at once: a first
    import of matplotlib in two threads at once fails (a circular import error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.dates
    import matplotlib.figure
    import matplotlib.ticker

    for points, bold in ((9, False), (_BASE_PT - 1, False), (_BASE_PT - 2, False),
                         (_TITLE_PT, False), (_TITLE_PT, True), (_BASE_PT + 1, False),
                         (_BASE_PT + 2, True), (_BASE_PT - 4, False)):  # fmt: skip
        _font(points, bold)


def _figure(height_in: float) -> Any:
    """A Figure (not pyplot: no global state, safe in a worker thread)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI)
    return fig


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes: drawn by Agg, encoded by Pillow as RGB (no alpha: a
    quarter less to compress) at zlib level 1 (a third of the time of the default 6
    for ~20% more bytes: ~100 KB a chart, far under a photo's 10 MB)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw",
                            "RGBA", 0, 1)  # fmt: skip
    return _pil_png(rgba.convert("RGB"))


def _short_number(value: float, _pos: object = None) -> str:
    """Axis ticks: 950, 12.5k, 3.2M (the digits a phone screen has room for)."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{unit}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _style_axes(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.tick_params(labelsize=_BASE_PT - 2)
    ax.grid(True, alpha=0.3)
    ax.yaxis.set_major_formatter(FuncFormatter(_short_number))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _date_axis(ax: Any) -> None:
    """Dates in digits only (31.12, 14:00, 2026): no month names, which matplotlib
    writes in English whatever the operator reads."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=6)  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator,
        formats=["%Y", "%m.%Y", "%d.%m", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%d.%m", "%d.%m", "%H:%M", "%H:%M"],
        offset_formats=["", "%Y", "%m.%Y", "%d.%m.%Y", "%d.%m.%Y", "%d.%m.%Y %H:%M"],
    )
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


def growth_chart(
    title: str,
    points: Sequence[tuple[datetime, int]],
    ylabel: str,
    note: str = "",
) -> bytes:
    """A PNG: subscribers over time, a step line through `points` (wall-clock times in
    the operators' zone, oldest first; at least one). `note` (e.g. "+1 234 (+5.6 %)")
    is printed under the title."""
    fig = _figure(5.0)
    ax = fig.add_subplot()
    xs = [p[0].replace(tzinfo=None) for p in points]
    ys = [p[1] for p in points]
    if len(xs) == 1:  # one count: a dot, the axis a day around it
        ax.plot(xs, ys, "o", color=_BLUE, markersize=9)
        ax.set_xlim(xs[0] - timedelta(hours=12), xs[0] + timedelta(hours=12))
    else:
        ax.step(xs, ys, where="post", color=_BLUE, linewidth=3)
        ax.fill_between(xs, ys, min(ys), step="post", color=_BLUE, alpha=0.12)
    _date_axis(ax)
    _style_axes(ax)
    ax.set_ylabel(ylabel, fontsize=_BASE_PT)
    ax.set_title(title, fontsize=_TITLE_PT, loc="left", pad=30 if note else 12)
    if note:
        ax.text(0, 1.02, note, transform=ax.transAxes, fontsize=_BASE_PT, color="#444")
    low, high = min(ys), max(ys)
    spread = max(high - low, max(1, high) * 0.01)
    ax.set_ylim(low - spread * 0.1, high + spread * 0.1)
    # Fixed margins, not tight_layout(): that measures every label (~0.3 s a chart).
    fig.subplots_adjust(left=0.15, right=0.97, top=0.83 if note else 0.88, bottom=0.13)
    return _png(fig)


# The heatmap and the table are drawn with Pillow: a text in matplotlib costs ~1 ms
# (layout, font, path), and these two charts are mostly text (168 counts, 20 labels).
# Same size, fonts (DejaVu Sans, matplotlib's) and layout as the matplotlib charts.

_PX = _DPI / 72  # pixels per point
_WIDTH_PX = round(_WIDTH_IN * _DPI)
# matplotlib's "Blues" (ColorBrewer), low to high.
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
          "#08519c", "#08306b")  # fmt: skip


@lru_cache(maxsize=32)
def _font(points: float, bold: bool = False) -> Any:
    """DejaVu Sans (matplotlib's own copy: Latin, Cyrillic) at `points` on a 160 dpi
    picture."""
    from importlib.util import find_spec

    from PIL import ImageFont

    spec = find_spec("matplotlib")
    assert spec is not None and spec.origin is not None
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), round(points * _PX))


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _blues(share: float) -> tuple[int, int, int]:
    """The "Blues" colour at `share` (0..1) of the scale."""
    x = min(max(share, 0.0), 1.0) * (len(_BLUES) - 1)
    i = min(int(x), len(_BLUES) - 2)
    lo, hi, f = _rgb(_BLUES[i]), _rgb(_BLUES[i + 1]), x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(lo, hi, strict=True))
    return r, g, b


def _pil_png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def heatmap_chart(
    title: str,
    grid: Sequence[Sequence[int]],
    weekdays: Sequence[str],
    hours_label: str,
    best: Sequence[tuple[int, int]] = (),
) -> bytes:
    """A PNG: posts by weekday (rows, `weekdays` their names, Monday first) and hour
    (24 columns, the operators' zone); each cell holds its count, darker = more posts;
    the cells in `best` ((weekday, hour) pairs) are outlined."""
    from PIL import Image, ImageDraw

    width, height = _WIDTH_PX, round(4.6 * _DPI)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    data = [list(row) + [0] * (24 - len(row)) for row in grid] or [[0] * 24] * 7
    top = max(max(row) for row in data)
    left, right = 0.08 * width, 0.99 * width
    upper, lower = (1 - 0.89) * height, (1 - 0.14) * height
    cw, ch = (right - left) / 24, (lower - upper) / len(data)
    small = _font(9)
    for d, row in enumerate(data):
        for h, n in enumerate(row):
            x, y = left + h * cw, upper + d * ch
            box = (round(x), round(y), round(x + cw), round(y + ch))
            draw.rectangle(box, fill=_blues(n / max(top, 1)))
            if n:
                color = "white" if n > top * 0.55 else "#1a202c"
                draw.text((x + cw / 2, y + ch / 2), str(n), fill=color, font=small, anchor="mm")
    line = round(2.5 * _PX)
    for d, h in best:
        if 0 <= d < len(data) and 0 <= h < 24:
            x, y = left + h * cw, upper + d * ch
            draw.rectangle((round(x), round(y), round(x + cw), round(y + ch)), outline=_RED,
                           width=line)  # fmt: skip
    label = _font(_BASE_PT - 1)
    for d, name in enumerate(weekdays[: len(data)]):
        draw.text((left - 8, upper + (d + 0.5) * ch), name, fill="black", font=label, anchor="rm")
    ticks = _font(_BASE_PT - 2)
    for h in range(0, 24, 3):
        x = left + (h + 0.5) * cw
        draw.line((x, lower, x, lower + 8), fill="black", width=2)
        draw.text((x, lower + 12), str(h), fill="black", font=ticks, anchor="mt")
    draw.text(((left + right) / 2, lower + 12 + ticks.size * 1.4), hours_label, fill="black",
              font=label, anchor="mt")  # fmt: skip
    draw.text((left, upper - 12), title, fill="black", font=_font(_TITLE_PT), anchor="ls")
    return _pil_png(image)


def table_chart(title: str, rows: Sequence[tuple[str, str]], footer: str = "") -> bytes:
    """A PNG: a two-column table (label, value), one metric a row, big type; `footer`
    (e.g. whose days these are) in small type under it."""
    from PIL import Image, ImageDraw

    height_in = 1.3 + 0.52 * len(rows) + (0.4 if footer else 0)
    width, height = _WIDTH_PX, round(height_in * _DPI)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)

    def at(y_in: float) -> float:  # inches from the bottom -> pixels from the top
        return (height_in - y_in) * _DPI

    y = height_in - 0.55
    draw.text((0.04 * width, at(y)), title, fill="black", font=_font(_TITLE_PT, bold=True),
              anchor="lm")  # fmt: skip
    y -= 0.75
    label, value_font = _font(_BASE_PT + 1), _font(_BASE_PT + 2, bold=True)
    for i, (name, value) in enumerate(rows):
        if i % 2 == 0:
            draw.rectangle((round(0.02 * width), round(at(y + 0.26)), round(0.98 * width),
                            round(at(y - 0.26))), fill="#edf2f7")  # fmt: skip
        draw.text((0.05 * width, at(y)), name, fill="#2d3748", font=label, anchor="lm")
        draw.text((0.95 * width, at(y)), value, fill="#1a202c", font=value_font, anchor="rm")
        y -= 0.52
    if footer:
        draw.text((0.05 * width, at(y + 0.05)), footer, fill="#718096", font=_font(_BASE_PT - 4),
                  anchor="lm")  # fmt: skip
    return _pil_png(image)


def curve_chart(
    title: str,
    points: Sequence[tuple[datetime, int]],
    ylabel: str,
    milestones: Sequence[tuple[datetime, int, str]] = (),
    posted: datetime | None = None,
) -> bytes:
    """A PNG: a post's views over time (wall-clock times in the operators' zone, oldest
    first; at least one point), the reads at configured ages (`milestones`: time, views,
    label like "24h") marked and labelled, the posting time (`posted`) as the start."""
    fig = _figure(5.0)
    ax = fig.add_subplot()
    xs = [p[0].replace(tzinfo=None) for p in points]
    ys = [p[1] for p in points]
    if posted is not None and (not xs or posted.replace(tzinfo=None) < xs[0]):
        xs.insert(0, posted.replace(tzinfo=None))
        ys.insert(0, 0)
    ax.plot(xs, ys, color=_BLUE, linewidth=3, marker="o", markersize=5)
    for at, views, label in milestones:
        x = at.replace(tzinfo=None)
        ax.plot([x], [views], "o", color=_RED, markersize=11, zorder=3)
        ax.annotate(label, (x, views), textcoords="offset points", xytext=(0, 12),
                    ha="center", fontsize=_BASE_PT - 1, color=_RED, fontweight="bold")  # fmt: skip
    if len(xs) == 1:
        ax.set_xlim(xs[0] - timedelta(hours=1), xs[0] + timedelta(hours=1))
    else:  # room for the last milestone's label inside the picture
        ax.margins(x=0.08)
    _date_axis(ax)
    _style_axes(ax)
    ax.set_ylim(bottom=0, top=max(max(ys), 1) * 1.15)
    ax.set_ylabel(ylabel, fontsize=_BASE_PT)
    ax.set_title(title, fontsize=_TITLE_PT, loc="left")
    fig.subplots_adjust(left=0.14, right=0.97, top=0.88, bottom=0.13)
    return _png(fig)
