"""Charts rendered without a display. CPU-bound: call via to_thread.

The #17 analytics charts, all PNG bytes: the album's four (growth, posts, heatmap,
metrics table) drawn with Pillow, measured ~6x cheaper than matplotlib for these
text-heavy pictures (bench/bench_charts.py: 0.13 s vs 0.74 s of CPU an album); a post's
views curve with matplotlib (Agg)."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

# Days one bar covers, by bucket unit (a month drawn as 30 days wide).
UNIT_DAYS = {"day": 1, "week": 7, "month": 30}


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
    """Open the album charts' fonts (Pillow draws them: no matplotlib import, which
    only the post curve needs). Call it (via to_thread) before drawing in several
    threads at once."""
    for points, bold in ((9, False), (_BASE_PT - 1, False), (_BASE_PT - 2, False),
                         (_BASE_PT, False), (_TITLE_PT, False), (_TITLE_PT, True),
                         (_BASE_PT + 1, False), (_BASE_PT + 2, True),
                         (_BASE_PT - 4, False)):  # fmt: skip
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
    canvas.draw()  # type: ignore[no-untyped-call]
    pixels = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), pixels, "raw", "RGBA", 0, 1)
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


# ---------------------------------------------------------------- Pillow plots
#
# The growth and posts charts on Pillow too: matplotlib's layout of a few dozen texts
# and its date locator cost ~150 ms a chart; this draws the same picture (axes, ticks,
# a step line or bars and a line on a second axis) in ~20 ms.


def _nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round values (1, 2, 2.5, 5 x 10^k apart) covering [lo, hi]."""
    span = hi - lo
    if span <= 0:
        span = abs(hi) or 1.0
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = mag * 10
    for m in (1, 2, 2.5, 5, 10):
        if span / (m * mag) <= count:
            step = m * mag
            break
    if integer:
        step = max(1.0, math.ceil(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    x = first
    while x <= hi + step * 1e-9:
        ticks.append(round(x, 10))
        x += step
    return ticks


def _date_ticks(lo: datetime, hi: datetime) -> list[tuple[datetime, str]]:
    """At most 6 ticks on round times between lo and hi, labelled in digits only
    (14:00, 31.12, 12.2026, 2026), like matplotlib's concise dates."""
    span = hi - lo
    if span <= timedelta(days=2):
        for hours in (1, 2, 3, 4, 6, 12, 24):
            if span / timedelta(hours=hours) <= 6:
                break
        t = lo.replace(minute=0, second=0, microsecond=0)
        t += timedelta(hours=(-t.hour) % hours) if t < lo or t.hour % hours else timedelta(0)
        while t < lo:
            t += timedelta(hours=hours)
        out = []
        while t <= hi:
            out.append((t, t.strftime("%d.%m" if t.hour == 0 else "%H:%M")))
            t += timedelta(hours=hours)
        return out
    if span <= timedelta(days=80):
        for days in (1, 2, 3, 5, 7, 14):
            if span / timedelta(days=days) <= 6:
                break
        t = datetime.combine(lo.date(), datetime.min.time())
        while t < lo:
            t += timedelta(days=1)
        out = []
        while t <= hi:
            out.append((t, t.strftime("%d.%m")))
            t += timedelta(days=days)
        return out
    months = 12
    for months in (1, 2, 3, 4, 6, 12):
        if span / timedelta(days=30.44 * months) <= 6:
            break
    y, m = lo.year, lo.month
    out = []
    while True:
        t = datetime(y, m, 1)
        if t > hi:
            return out
        if t >= lo and (m - 1) % months == 0:
            out.append((t, t.strftime("%Y") if months == 12 or m == 1 else t.strftime("%m.%Y")))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """12.5k, 3.2M; in full digits when the short forms would repeat (1,000.5 and
    1,001 both "1k")."""
    short = [_short_number(v) for v in ticks]
    if len(set(short)) == len(short) or len(ticks) < 2:
        return short
    step = min(abs(b - a) for a, b in itertools.pairwise(ticks))
    places = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return [f"{v:.{places}f}" for v in ticks]


class _Plot:
    """One axes on a Pillow canvas: data coordinates (x: datetimes, y: numbers) to
    pixels, ticks and labels in the matplotlib charts' sizes."""

    def __init__(self, height_in: float, box: tuple[float, float, float, float]) -> None:
        from PIL import Image, ImageDraw

        self.width, self.height = _WIDTH_PX, round(height_in * _DPI)
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)
        left, right, top, bottom = box  # figure fractions, like subplots_adjust
        self.x0, self.x1 = left * self.width, right * self.width
        self.y0, self.y1 = (1 - top) * self.height, (1 - bottom) * self.height
        self.t0 = self.t1 = datetime(2000, 1, 1)
        self.lo, self.hi = 0.0, 1.0

    def limits(self, t0: datetime, t1: datetime, lo: float, hi: float) -> None:
        self.t0, self.t1 = t0, t1 if t1 > t0 else t0 + timedelta(hours=1)
        self.lo, self.hi = lo, hi if hi > lo else lo + 1

    def px(self, t: datetime) -> float:
        return self.x0 + (self.x1 - self.x0) * ((t - self.t0) / (self.t1 - self.t0))

    def py(self, v: float, lo: float | None = None, hi: float | None = None) -> float:
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        return self.y1 - (self.y1 - self.y0) * (v - lo) / (hi - lo)

    def x_axis(self, grid: bool) -> None:
        font = _font(_BASE_PT - 2)
        for t, label in _date_ticks(self.t0, self.t1):
            x = self.px(t)
            if grid:
                self.draw.line((x, self.y0, x, self.y1), fill="#dedede", width=2)
            self.draw.line((x, self.y1, x, self.y1 + 8), fill="black", width=2)
            self.draw.text((x, self.y1 + 12), label, fill="black", font=font, anchor="mt")

    def y_axis(self, ticks: list[float], *, right: bool = False, grid: bool = False,
               lo: float | None = None, hi: float | None = None) -> float:  # fmt: skip
        """Ticks on the left (or right) side; returns the widest label's width."""
        font = _font(_BASE_PT - 2)
        widest = 0.0
        for v, label in zip(ticks, _tick_labels(ticks), strict=True):
            y = self.py(v, lo, hi)
            if grid:
                self.draw.line((self.x0, y, self.x1, y), fill="#dedede", width=2)
            widest = max(widest, font.getlength(label))
            if right:
                self.draw.line((self.x1, y, self.x1 + 8, y), fill="black", width=2)
                self.draw.text((self.x1 + 12, y), label, fill="black", font=font, anchor="lm")
            else:
                self.draw.line((self.x0 - 8, y, self.x0, y), fill="black", width=2)
                self.draw.text((self.x0 - 12, y), label, fill="black", font=font, anchor="rm")
        return widest

    def y_label(self, text: str, x: float, color: str) -> None:
        """A label turned a quarter left, centred on the axes' height at `x`."""
        from PIL import Image, ImageDraw

        font = _font(_BASE_PT)
        w = round(font.getlength(text)) + 4
        h = round(_BASE_PT * _PX * 1.4)
        piece = Image.new("L", (w, h), 0)
        ImageDraw.Draw(piece).text((2, h / 2), text, fill=255, font=font, anchor="lm")
        piece = piece.rotate(90, expand=True)
        top = round((self.y0 + self.y1) / 2 - piece.height / 2)
        self.image.paste(color, (round(x - piece.width / 2), top), piece)

    def spines(self, sides: str) -> None:
        edges = {
            "l": (self.x0, self.y0, self.x0, self.y1),
            "r": (self.x1, self.y0, self.x1, self.y1),
            "t": (self.x0, self.y0, self.x1, self.y0),
            "b": (self.x0, self.y1, self.x1, self.y1),
        }
        for side in sides:
            self.draw.line(edges[side], fill="black", width=2)

    def title(self, text: str, pad: float) -> None:
        self.draw.text((self.x0, self.y0 - pad), text, fill="black", font=_font(_TITLE_PT),
                       anchor="ls")  # fmt: skip

    def png(self) -> bytes:
        return _pil_png(self.image)


def _blend(color: str, alpha: float) -> tuple[int, int, int]:
    """`color` at `alpha` over white."""
    r, g, b = _rgb(color)
    return tuple(round(255 + (c - 255) * alpha) for c in (r, g, b))  # type: ignore[return-value]


def growth_chart(
    title: str,
    points: Sequence[tuple[datetime, int]],
    ylabel: str,
    note: str = "",
) -> bytes:
    """A PNG: subscribers over time, a step line through `points` (wall-clock times in
    the operators' zone, oldest first; at least one). `note` (e.g. "+1 234 (+5.6 %)")
    is printed under the title."""
    plot = _Plot(5.0, (0.15, 0.97, 0.83 if note else 0.88, 0.13))
    xs = [p[0].replace(tzinfo=None) for p in points]
    ys = [p[1] for p in points]
    low, high = min(ys), max(ys)
    spread = max(high - low, max(1, high) * 0.01)
    lo, hi = low - spread * 0.1, high + spread * 0.1
    if len(xs) == 1:  # one count: a dot, the axis a day around it
        plot.limits(xs[0] - timedelta(hours=12), xs[0] + timedelta(hours=12), lo, hi)
    else:
        plot.limits(xs[0], xs[-1], lo, hi)
    ticks = [v for v in _nice_ticks(lo, hi) if lo <= v <= hi]
    widest = plot.y_axis(ticks, grid=True)
    plot.x_axis(grid=True)
    if len(xs) == 1:
        r = 9 * _PX / 2
        x, y = plot.px(xs[0]), plot.py(ys[0])
        plot.draw.ellipse((x - r, y - r, x + r, y + r), fill=_BLUE)
    else:
        line: list[tuple[float, float]] = []
        for i, (t, v) in enumerate(zip(xs, ys, strict=True)):
            y = plot.py(v)
            line.append((plot.px(t), y))
            if i + 1 < len(xs):
                line.append((plot.px(xs[i + 1]), y))
        base = plot.py(low)
        plot.draw.polygon([(line[0][0], base), *line, (line[-1][0], base)],
                          fill=_blend(_BLUE, 0.12))  # fmt: skip
        plot.draw.line(line, fill=_BLUE, width=round(3 * _PX), joint="curve")
    plot.spines("lb")
    plot.y_label(ylabel, plot.x0 - widest - 12 - _BASE_PT * _PX, "black")
    plot.title(title, (30 if note else 12) * _PX)
    if note:
        y = plot.y0 - 0.02 * (plot.y1 - plot.y0)
        plot.draw.text((plot.x0, y), note, fill="#444444", font=_font(_BASE_PT), anchor="ls")
    return plot.png()


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
    width = UNIT_DAYS.get(unit, 1)
    plot = _Plot(4.8, (0.1, 0.88, 0.88, 0.13))  # 1200 px wide, like the other charts
    days = [datetime.combine(d, datetime.min.time()) for d in starts]
    top = max([*posts, 1])
    left = [v for v in _nice_ticks(0, top * 1.05, integer=True) if v <= top * 1.05]
    hi = max(top * 1.05, left[-1])
    if days:
        plot.limits(days[0], days[-1] + timedelta(days=width), 0, hi)
    else:
        plot.limits(datetime(2000, 1, 1), datetime(2000, 1, 2), 0, hi)
    widest = plot.y_axis(left)
    plot.x_axis(grid=False)
    for t, n in zip(days, posts, strict=True):
        if n:
            x0, x1 = plot.px(t), plot.px(t + timedelta(days=width * 0.8))
            plot.draw.rectangle((round(x0), round(plot.py(n)), max(round(x0), round(x1) - 1),
                                 round(plot.py(0))), fill="#4a90d9")  # fmt: skip
    shown = [v for v in median_views if v is not None]
    vtop = max([*shown, 1]) * 1.05
    right = [v for v in _nice_ticks(0, vtop) if v <= vtop]
    vhi = max(vtop, right[-1])
    widest_r = plot.y_axis(right, right=True, lo=0, hi=vhi)
    points = [
        (plot.px(t + timedelta(days=width * 0.4)), plot.py(v, 0, vhi))
        for t, v in zip(days, median_views, strict=True)
        if v is not None
    ]
    red = "#d9534f"
    if len(points) > 1:
        plot.draw.line(points, fill=red, width=round(2.5 * _PX), joint="curve")
    r = 6 * _PX / 2
    for x, y in points:
        plot.draw.ellipse((x - r, y - r, x + r, y + r), fill=red)
    plot.spines("lrtb")
    plot.y_label(posts_label, plot.x0 - widest - 12 - _BASE_PT * _PX, "#2b6cb0")
    plot.y_label(views_label, plot.x1 + widest_r + 12 + _BASE_PT * _PX, red)
    plot.title(title, 6 * _PX)
    return plot.png()


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
