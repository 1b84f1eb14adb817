"""Render scalar series as one self-contained HTML page: a summary table and an inline SVG
line plot per metric. No scripts, no external styles or fonts."""

import math
import sys
from html import escape
from typing import List, Optional, Sequence, Tuple

from torchtnt.report._readers import Points, Series

# Plot geometry, in SVG user units; the SVG scales to its column's width.
_W, _H = 560, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 18, 14, 40
_MAX_POINTS = 2000  # longer series are thinned so the page stays small and fast
_FLOAT_MAX = sys.float_info.max
_TINY = 1e-300  # spreads below this cannot be divided into ticks without underflow

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
.meta { color: #555; font-size: 13px; margin: 0 0 16px; word-break: break-all; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 24px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
         gap: 16px; }
figure { margin: 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 10px; }
figure h2 { font-size: 14px; margin: 0 0 4px; word-break: break-all; }
figure p { font-size: 12px; color: #a33; margin: 2px 0 0; }
svg { width: 100%; height: auto; display: block; }
svg text { font-size: 11px; fill: #444; font-family: inherit; }
"""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _nice_step(span: float, target: int) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``target`` ticks."""
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(lo: float, hi: float, target: int, integer: bool) -> List[float]:
    """Round tick values covering ``[lo, hi]`` (which the caller then widens to them)."""
    if not math.isfinite(hi - lo):  # wider than a float can hold: work on halves
        return [_clamped(2 * t) for t in _ticks(lo / 2, hi / 2, target, integer)]
    step = _nice_step(hi - lo, target)
    if integer:
        step = float(max(1, round(step)))
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [_clamped(k * step) for k in range(first, last + 1)]


def _clamped(value: float) -> float:
    return min(max(value, -_FLOAT_MAX), _FLOAT_MAX)


def _fraction(value: float, lo: float, hi: float) -> float:
    """Where ``value`` lies between ``lo`` and ``hi`` (0 to 1); halved first so that
    differences of huge values cannot overflow."""
    return (value / 2 - lo / 2) / (hi / 2 - lo / 2)


def _labels(ticks: Sequence[float]) -> List[str]:
    """Whole numbers as integers, else the shortest ``g`` formatting that keeps every label
    distinct."""
    if all(t.is_integer() and abs(t) < 1e7 for t in ticks):
        return [str(int(t)) for t in ticks]
    for digits in range(3, 13):
        labels = [f"{t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def _padded(lo: float, hi: float) -> Tuple[float, float]:
    """Give a constant series (or one whose spread is too small to label) some height, so
    it is drawn mid-plot, staying within the float range."""
    scale = max(abs(lo), abs(hi))
    if hi - lo > max(scale * 1e-9, _TINY):
        return lo, hi
    pad = scale * 0.1 if scale > _TINY else 1.0
    return max(lo - pad, -_FLOAT_MAX), min(hi + pad, _FLOAT_MAX)


def _thin(points: Points) -> Points:
    """Keep each bucket's lowest and highest point, so spikes survive the thinning."""
    if len(points) <= _MAX_POINTS:
        return points
    size = math.ceil(len(points) / (_MAX_POINTS // 2))
    kept: Points = []
    for i in range(0, len(points), size):
        bucket = points[i : i + size]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        kept += sorted({low, high}, key=lambda p: p[0])
    return kept


def _svg(name: str, finite: Points) -> str:
    """An SVG line plot of ``finite`` (step, value) points with step and value ticks."""
    xs = [s for s, _ in finite]
    ys = [v for _, v in finite]
    x_ticks = _ticks(*_padded(min(xs), max(xs)), target=6, integer=True)
    y_ticks = _ticks(*_padded(min(ys), max(ys)), target=5, integer=False)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return _LEFT + _fraction(x, x0, x1) * (_W - _LEFT - _RIGHT)

    def py(y: float) -> float:
        return _H - _BOTTOM - _fraction(y, y0, y1) * (_H - _TOP - _BOTTOM)

    parts = [
        f'<svg viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg" role="img">',
        f"<title>{escape(name)}</title>",
    ]
    for tick, label in zip(y_ticks, _labels(y_ticks)):
        y = py(tick)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    for tick, label in zip(x_ticks, _labels(x_ticks)):
        x = px(tick)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_H - _BOTTOM}" stroke="#f0f0f0"/>'
            f'<text x="{x:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<path d="M{_LEFT} {_TOP}V{_H - _BOTTOM}H{_W - _RIGHT}" fill="none" stroke="#666"/>'
        f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 6}" text-anchor="middle">step</text>'
    )
    coords = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in _thin(finite))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#1f6fb4" stroke-width="1.8"/>')
    if len(finite) <= 60:
        parts += [
            f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="2.6" fill="#1f6fb4"/>' for s, v in finite
        ]
    parts.append("</svg>")
    return "".join(parts)


def _figure(name: str, points: Points) -> str:
    finite = [(s, v) for s, v in points if math.isfinite(v)]
    skipped = len(points) - len(finite)
    body = _svg(name, finite) if finite else "<p>No finite values to plot.</p>"
    note = f"<p>{skipped} NaN/inf value(s) not plotted.</p>" if skipped and finite else ""
    return f'<figure data-metric="{escape(name)}"><h2>{escape(name)}</h2>{body}{note}</figure>'


def _summary_row(name: str, points: Points) -> str:
    finite = [v for _, v in points if math.isfinite(v)]
    low = _fmt(min(finite)) if finite else "–"
    high = _fmt(max(finite)) if finite else "–"
    cells = [_fmt(points[-1][1]), low, high, str(len(points)), str(len(points) - len(finite))]
    return f"<tr><td>{escape(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(series: Series, title: str, sources: Optional[Sequence[str]] = None) -> str:
    """Build the report page.

    Args:
        series: metric name mapped to its ``(step, value)`` points, sorted by step.
        title: shown as the page title and heading (escaped here).
        sources: log files the series came from, listed under the heading.

    Returns:
        The HTML document as a string.
    """
    names = sorted(series)
    read_from = f"<p class=meta>Read from: {escape(', '.join(sources))}</p>" if sources else ""
    header = "".join(f"<th>{h}</th>" for h in ("Metric", "Last", "Min", "Max", "Points", "NaN/inf"))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1>{read_from}",
            f"<table><thead><tr>{header}</tr></thead><tbody>",
            *(_summary_row(name, series[name]) for name in names),
            '</tbody></table><div class="plots">',
            *(_figure(name, series[name]) for name in names),
            "</div></body></html>",
        ]
    )
