"""SVG charts of a class page, written as text: a histogram and stacked bars of statuses.

No library, no script, no style attribute (the page's Content-Security-Policy allows only its
hashed style sheet): shapes carry classes and presentation attributes. Every number a chart
draws is also on its shape as a data- attribute and in a <title> (a tooltip, and what a screen
reader says), so a test can read the chart's numbers back. Text is escaped here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from gradekit.render.formatting import points as fmt_points

STATUS_ORDER = ("correct", "follow-through", "incorrect", "missing", "invalid")
STATUS_COLORS = {"correct": "#1b7837", "follow-through": "#7fbf7b", "incorrect": "#d6604d",
                 "missing": "#bababa", "invalid": "#8073ac"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


@dataclass(frozen=True)
class Histogram:
    """Counts of values in equal bins from lo to hi: bin k holds edges[k] <= x < edges[k+1], the
    last bin also its upper edge (a full score)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def as_json(self) -> dict[str, object]:
        return {"edges": [round(e, 4) for e in self.edges], "counts": list(self.counts)}


def bins_for(possible: float | None, values: Sequence[float]) -> tuple[float, float, int]:
    """The range and bin count of a histogram of scores: 0 to the points possible (else to the
    largest score), in whole points when there are at most 20 of them, else 20 bins."""
    hi = possible if possible is not None and possible > 0 else max([0.0, *values])
    if hi <= 0:
        return 0.0, 1.0, 1
    whole = float(hi).is_integer() and hi <= 20
    return 0.0, float(hi), int(hi) if whole else 20


def histogram(values: Sequence[float], lo: float, hi: float, bins: int) -> Histogram:
    """Values counted into `bins` equal bins over [lo, hi]; values outside are clamped into the ends."""
    width = (hi - lo) / bins
    counts = [0] * bins
    for x in values:
        k = int(math.floor((x - lo) / width + 1e-9)) if width > 0 else 0
        counts[min(max(k, 0), bins - 1)] += 1
    return Histogram(tuple(lo + width * k for k in range(bins + 1)), tuple(counts))


def histogram_svg(h: Histogram, title: str, cls: str = "histogram") -> str:
    """Bars of a histogram with the count above each non-empty bar, the edges below."""
    width, height, left, bottom, top = 640, 220, 40, 30, 20
    n = len(h.counts)
    peak = max(h.counts) or 1
    bar_w = (width - left - 10) / n
    plot_h = height - bottom - top
    out = [f'<svg class="{_e(cls)}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_e(title)}" data-bins="{n}" data-total="{sum(h.counts)}">',
           f"<title>{_e(title)}</title>",
           f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
           f'stroke="#444" stroke-width="1"/>']
    step = max(1, math.ceil(n / 10))  # at most about 10 edge labels
    for k, count in enumerate(h.counts):
        x = left + k * bar_w
        bh = plot_h * count / peak
        lo, hi = h.edges[k], h.edges[k + 1]
        closing = "]" if k == n - 1 else ")"
        label = f"[{fmt_points(lo)}, {fmt_points(hi)}{closing}: {count}"
        out.append(f'<rect class="bar" x="{x + 1:.1f}" y="{height - bottom - bh:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                   f'height="{bh:.1f}" fill="#3a6ea5" data-count="{count}" data-lo="{round(lo, 4)}" '
                   f'data-hi="{round(hi, 4)}"><title>{_e(label)}</title></rect>')
        if count:
            out.append(f'<text class="count" x="{x + bar_w / 2:.1f}" y="{height - bottom - bh - 4:.1f}" '
                       f'text-anchor="middle" font-size="11">{count}</text>')
        if k % step == 0:
            out.append(f'<text class="edge" x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                       f'font-size="11">{_e(fmt_points(lo))}</text>')
    out.append(f'<text class="edge" x="{left + n * bar_w:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
               f'font-size="11">{_e(fmt_points(h.edges[-1]))}</text>')
    out.append("</svg>")
    return "".join(out)


def status_bars_svg(rows: Sequence[tuple[str, dict[str, int]]], title: str) -> str:
    """One horizontal bar per quantity (label, counts by status), split by status, in the given order."""
    label_w, bar_w, row_h, width = 110, 470, 24, 640
    height = row_h * len(rows) + 8
    out = [f'<svg class="status-bars" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
           f"<title>{_e(title)}</title>"]
    for i, (label, counts) in enumerate(rows):
        y = 4 + i * row_h
        total = sum(counts.get(s, 0) for s in STATUS_ORDER)
        out.append(f'<g class="quantity" data-quantity="{_e(label)}" data-total="{total}">')
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_e(label)}</text>')
        x = float(label_w)
        for status in STATUS_ORDER:
            n = counts.get(status, 0)
            w = bar_w * n / total if total else 0.0
            share = f" ({n / total:.0%})" if total else ""
            out.append(f'<rect class="seg {status}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{STATUS_COLORS[status]}" data-status="{status}" data-count="{n}">'
                       f"<title>{_e(label)}: {status} {n}{share}</title></rect>")
            x += w
        right = counts.get("correct", 0) + counts.get("follow-through", 0)
        out.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="11">'
                   f'{right}/{total} credited</text></g>')
    out.append("</svg>")
    return "".join(out)


def legend_html() -> str:
    """The statuses' colors, as HTML (a small SVG swatch each)."""
    items = [f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" '
             f'fill="{STATUS_COLORS[s]}"/></svg>{_e(s)}</li>' for s in STATUS_ORDER]
    return f'<ul class="legend">{"".join(items)}</ul>'
