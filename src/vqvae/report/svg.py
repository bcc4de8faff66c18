"""Charts as SVG text: lines, points and bars with axes, ticks and a legend, no plotting
library. Used by ``vqvae report`` and by the benchmarks' figures.

Every function returns one ``<svg>`` element (a string) that can be inlined in HTML or
written to a ``.svg`` file as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


@dataclass
class Series:
    """One curve or point set: ``points`` are (x, y) pairs (None or non-finite y skipped).

    ``style``: "line" (a line with small markers), "points" (markers only) or "step".
    """

    label: str
    points: Sequence[tuple[float, float]]
    color: str | None = None
    style: str = "line"
    dashed: bool = False
    labels: Sequence[str] = field(default_factory=list)  # a text beside each point


@dataclass
class _Axes:
    """Maps data to pixels inside the plot area."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    log_x: bool = False

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        if self.log_x:
            value, lo, hi = math.log10(value), math.log10(lo), math.log10(hi)
        return self.left + (value - lo) / ((hi - lo) or 1.0) * self.width

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        return self.top + self.height - (value - lo) / ((hi - lo) or 1.0) * self.height


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^n)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            value = m * 10.0**exponent
            if lo <= value <= hi:
                ticks.append(value)
    return ticks or [lo, hi]


def fmt(value: float) -> str:
    """A short number for a tick or a label."""
    if value == 0:
        return "0"
    if abs(value) >= 10000 or abs(value) < 0.001:
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-")
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _finite(points: Sequence[tuple[float, float]], log_x: bool) -> list[tuple[float, float]]:
    out = []
    for x, y in points:
        if x is None or y is None:
            continue
        x, y = float(x), float(y)
        if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x):
            out.append((x, y))
    return out


def _span(values: list[float], pad: float = 0.05) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        return lo - (abs(lo) * 0.1 or 1.0), hi + (abs(hi) * 0.1 or 1.0)
    return lo - pad * (hi - lo), hi + pad * (hi - lo)


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<text x='{width / 2:.1f}' y='18' text-anchor='middle' font-size='14' "
        f"font-weight='bold' {FONT}>{escape(title)}</text>",
    ]


def _axes_marks(ax: _Axes, x_ticks, y_ticks, x_label: str, y_label: str) -> list[str]:
    out = [
        f"<rect x='{ax.left:.1f}' y='{ax.top:.1f}' width='{ax.width:.1f}' "
        f"height='{ax.height:.1f}' fill='none' stroke='#444'/>"
    ]
    bottom = ax.top + ax.height
    for t in x_ticks:
        px = ax.x(t)
        out.append(
            f"<line x1='{px:.1f}' y1='{ax.top:.1f}' x2='{px:.1f}' y2='{bottom:.1f}' "
            "stroke='#e5e5e5'/>"
            f"<text x='{px:.1f}' y='{bottom + 14:.1f}' text-anchor='middle' font-size='11' "
            f"{FONT}>{fmt(t)}</text>"
        )
    for t in y_ticks:
        py = ax.y(t)
        out.append(
            f"<line x1='{ax.left:.1f}' y1='{py:.1f}' x2='{ax.left + ax.width:.1f}' y2='{py:.1f}' "
            "stroke='#e5e5e5'/>"
            f"<text x='{ax.left - 5:.1f}' y='{py + 4:.1f}' text-anchor='end' font-size='11' "
            f"{FONT}>{fmt(t)}</text>"
        )
    cx, cy = ax.left + ax.width / 2, ax.top + ax.height / 2
    out.append(
        f"<text x='{cx:.1f}' y='{bottom + 32:.1f}' text-anchor='middle' font-size='12' "
        f"{FONT}>{escape(x_label)}</text>"
        f"<text x='14' y='{cy:.1f}' text-anchor='middle' font-size='12' {FONT} "
        f"transform='rotate(-90 14 {cy:.1f})'>{escape(y_label)}</text>"
    )
    return out


def _legend(series: Sequence[Series], ax: _Axes, where: str) -> list[str]:
    named = [(s, i) for i, s in enumerate(series) if s.label]
    if not named:
        return []
    width = 14 + 7 * max(len(s.label) for s, _ in named)
    x = ax.left + 8 if where in ("left", "bottom") else ax.left + ax.width - width - 8
    y = ax.top + 8 if not where.startswith("bottom") else ax.top + ax.height - 16 * len(named) - 8
    out = [
        f"<rect x='{x - 4:.1f}' y='{y - 2:.1f}' width='{width + 8}' height='{16 * len(named) + 4}' "
        "fill='white' fill-opacity='0.85' stroke='#ccc'/>"
    ]
    for row, (s, i) in enumerate(named):
        color = s.color or PALETTE[i % len(PALETTE)]
        ly = y + 8 + 16 * row
        dash = " stroke-dasharray='4 3'" if s.dashed else ""
        out.append(
            f"<line x1='{x:.1f}' y1='{ly:.1f}' x2='{x + 12:.1f}' y2='{ly:.1f}' stroke='{color}' "
            f"stroke-width='2'{dash}/><circle cx='{x + 6:.1f}' cy='{ly:.1f}' r='3' fill='{color}'/>"
            f"<text x='{x + 18:.1f}' y='{ly + 4:.1f}' font-size='11' {FONT}>{escape(s.label)}</text>"
        )
    return out


def line_chart(
    series: Sequence[Series],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 480,
    height: int = 300,
    log_x: bool = False,
    legend: str = "right",
    y_range: tuple[float, float] | None = None,
) -> str:
    """Lines and point sets on shared axes (``Series.style``), with a legend.

    Args:
        series: what to draw; colours default to ``PALETTE`` in order.
        log_x: a logarithmic x axis (points with x <= 0 are left out).
        legend: "right" or "left" (top corner), "bottom" (bottom left), "bottom-right",
            "none".
        y_range: fixed y limits (default: the data's, padded).
    """
    cleaned = [_finite(s.points, log_x) for s in series]
    xs = [x for pts in cleaned for x, _ in pts]
    ys = [y for pts in cleaned for _, y in pts]
    out = _open(width, height, title)
    ax = _Axes(58, 28, width - 72, height - 28 - 44, (0, 1), (0, 1), log_x)
    if not xs:
        out.append(
            f"<text x='{width / 2:.1f}' y='{height / 2:.1f}' text-anchor='middle' font-size='12' "
            f"{FONT}>no data</text></svg>"
        )
        return "".join(out)
    if log_x:
        ax.x_range = (
            (min(xs) / 1.15, max(xs) * 1.15) if min(xs) < max(xs) else (min(xs) / 2, max(xs) * 2)
        )
        x_ticks = _log_ticks(*ax.x_range)
    else:
        ax.x_range = _span(xs, 0.03)
        x_ticks = [t for t in nice_ticks(*ax.x_range) if ax.x_range[0] <= t <= ax.x_range[1]]
    ax.y_range = y_range or _span(ys)
    y_ticks = [t for t in nice_ticks(*ax.y_range) if ax.y_range[0] <= t <= ax.y_range[1]]
    out += _axes_marks(ax, x_ticks, y_ticks, x_label, y_label)
    for i, (s, pts) in enumerate(zip(series, cleaned, strict=True)):
        out += _draw_series(s, pts, ax, s.color or PALETTE[i % len(PALETTE)])
    if legend != "none":
        out += _legend(series, ax, legend)
    out.append("</svg>")
    return "".join(out)


def _draw_series(s: Series, pts: list[tuple[float, float]], ax: _Axes, color: str) -> list[str]:
    out = []
    coords = [(ax.x(x), ax.y(y)) for x, y in pts]
    if s.style in ("line", "step") and len(coords) > 1:
        if s.style == "step":
            path = [coords[0]]
            for (_x0, y0), (x1, y1) in zip(coords, coords[1:], strict=False):
                path += [(x1, y0), (x1, y1)]
            coords_line = path
        else:
            coords_line = coords
        dash = " stroke-dasharray='5 4'" if s.dashed else ""
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords_line)
        out.append(
            f"<polyline points='{points}' fill='none' stroke='{color}' stroke-width='2'{dash}/>"
        )
    radius = 4 if s.style == "points" else 2.5
    if s.style == "points" or len(coords) <= 60:
        for x, y in coords:
            out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{radius}' fill='{color}'/>")
    for (x, y), text in zip(coords, s.labels, strict=False):
        out.append(
            f"<text x='{x + 5:.1f}' y='{y - 5:.1f}' font-size='10' fill='{color}' {FONT}>"
            f"{escape(str(text))}</text>"
        )
    return out


def bar_chart(
    values: Sequence[float],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 480,
    height: int = 220,
    color: str = PALETTE[0],
    mark_zero: str | None = "#d62728",
    labels: Sequence[str] | None = None,
) -> str:
    """One bar per value (a histogram of code usage: one bar per code).

    Args:
        mark_zero: colour of a small mark under each bar whose value is 0 (a dead code);
            None draws nothing.
        labels: a text under each bar (few bars); default: index ticks.
    """
    out = _open(width, height, title)
    n = len(values)
    top = max([float(v) for v in values] + [0.0]) or 1.0
    ax = _Axes(58, 28, width - 72, height - 28 - 44, (0, max(n, 1)), (0, top * 1.05))
    if labels:
        x_ticks: list[float] = []
    else:
        x_ticks = [t for t in nice_ticks(0, n, 6) if t <= n and float(t).is_integer()]
    y_ticks = [t for t in nice_ticks(0, top * 1.05) if t <= top * 1.05]
    out += _axes_marks(ax, x_ticks, y_ticks, x_label, y_label)
    bar = ax.width / max(n, 1)
    base = ax.y(0)
    for i, v in enumerate(values):
        x = ax.x(i)
        h = base - ax.y(float(v))
        if v > 0:
            out.append(
                f"<rect x='{x:.2f}' y='{base - h:.2f}' width='{max(bar * 0.9, 0.6):.2f}' "
                f"height='{h:.2f}' fill='{color}'/>"
            )
        elif mark_zero:
            out.append(
                f"<rect x='{x:.2f}' y='{base - 3:.2f}' width='{max(bar * 0.9, 0.6):.2f}' "
                f"height='3' fill='{mark_zero}'/>"
            )
        if labels:
            out.append(
                f"<text x='{x + bar / 2:.1f}' y='{base + 14:.1f}' text-anchor='middle' "
                f"font-size='11' {FONT}>{escape(labels[i])}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def scatter_chart(
    points: Sequence[tuple[float, float]],
    title: str,
    x_label: str,
    y_label: str,
    weights: Sequence[float] | None = None,
    width: int = 360,
    height: int = 320,
) -> str:
    """Points, each shaded by its weight (e.g. a code's usage: pale = rarely used, and a red
    ring for weight 0)."""
    pts = _finite(points, False)
    out = _open(width, height, title)
    if not pts:
        return "".join(out) + "</svg>"
    ax = _Axes(58, 28, width - 72, height - 28 - 44, (0, 1), (0, 1))
    ax.x_range, ax.y_range = _span([p[0] for p in pts]), _span([p[1] for p in pts])
    x_ticks = [t for t in nice_ticks(*ax.x_range) if ax.x_range[0] <= t <= ax.x_range[1]]
    y_ticks = [t for t in nice_ticks(*ax.y_range) if ax.y_range[0] <= t <= ax.y_range[1]]
    out += _axes_marks(ax, x_ticks, y_ticks, x_label, y_label)
    w = list(weights) if weights is not None else [1.0] * len(pts)
    top = max(w + [1e-12])
    for (x, y), weight in zip(pts, w, strict=False):
        if weight <= 0:
            out.append(
                f"<circle cx='{ax.x(x):.1f}' cy='{ax.y(y):.1f}' r='3.5' fill='none' "
                "stroke='#d62728' stroke-width='1.2'/>"
            )
        else:
            alpha = 0.25 + 0.75 * math.sqrt(weight / top)
            out.append(
                f"<circle cx='{ax.x(x):.1f}' cy='{ax.y(y):.1f}' r='3.5' fill='{PALETTE[0]}' "
                f"fill-opacity='{alpha:.2f}'/>"
            )
    out.append("</svg>")
    return "".join(out)
