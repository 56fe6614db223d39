"""A network diagram (gradekit.render.diagram) written as SVG, for Markdown sheets and HTML pages.

`svg(problem, given)` is the whole job for any page that embeds a problem's network. The
output is one <svg> element with no blank line (Markdown ends an HTML block at a blank line), no
id (several diagrams share a page) and no script or external reference. Coordinates are the
diagram's centimetres at SCALE pixels each, y flipped.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping
from xml.sax.saxutils import escape

from gradekit.render import diagram as dg
from gradekit.render import families

if TYPE_CHECKING:
    import numpy as np

    from gradekit.model.problem import Problem

SCALE = 40.0  # pixels per centimetre (about 96 dpi)
FONT = "'Latin Modern Roman', 'CMU Serif', 'Times New Roman', serif"
_FONT_PX = {"normal": 14, "small": 12, "tiny": 11}
_LABEL_PX = 11
_EDGE = "#4d4d4d"


def svg(problem: Problem, given: Mapping[str, np.ndarray] | None = None) -> str:
    """The network diagram of a problem; with `given`, small networks show the numbers on the edges."""
    return write(families.diagram(problem, given), f"Network of {problem.title}")


@lru_cache(maxsize=8192)  # a roster draws the same network with other numbers
def _n(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=8192)  # a roster draws the same network with other numbers
def _text(label: dg.Label, x: float, y: float, px: int) -> str:
    """A label centred at (x, y): italic single letters as in TeX's math, sub- and superscripts raised."""
    base = dg.UNICODE.get(label.base, label.base)
    if label.math and base.startswith("-"):
        base = "\u2212" + base[1:]  # a true minus sign, as TeX sets it
    italic = label.math and len(base) == 1 and base.isalpha() and base not in dg.UNICODE.values()
    parts = [f'<tspan font-style="italic">{escape(base)}</tspan>' if italic else escape(base)]
    small = round(px * 0.7)
    shift = 0.0
    if label.sub:
        parts.append(f'<tspan font-size="{small}" dy="{_n(px * 0.3)}">{escape(label.sub)}</tspan>')
        shift += px * 0.3
    if label.sup:
        up = px * 0.45 + shift
        parts.append(f'<tspan font-size="{small}" dy="{_n(-up)}">{escape(label.sup)}</tspan>')
        shift -= up
    return (f'<text x="{_n(x)}" y="{_n(y + px * 0.35)}" font-size="{px}" text-anchor="middle">'
            + "".join(parts) + "</text>")


def write(d: dg.Diagram, title: str) -> str:
    """The SVG text of a diagram."""
    width, height = (d.x1 - d.x0) * SCALE, (d.y1 - d.y0) * SCALE

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - d.x0) * SCALE, (d.y1 - y) * SCALE

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
           f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" font-family="{FONT}">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{_n(width)}" height="{_n(height)}" fill="white"/>']
    for f in d.frames:
        x0, y1 = px(f.x0, f.y0)
        x1, y0 = px(f.x1, f.y1)
        out.append(f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(x1 - x0)}" height="{_n(y1 - y0)}" rx="6" '
                   'fill="none" stroke="gray" stroke-dasharray="4 3"/>')
    for e in d.edges:
        (x0, y0), (x1, y1) = px(*e.start), px(*e.end)
        out.append(f'<line x1="{_n(x0)}" y1="{_n(y0)}" x2="{_n(x1)}" y2="{_n(y1)}" stroke="{_EDGE}" stroke-width="0.8"/>')
        out.append(_arrowhead(x0, y0, x1, y1))
    for e in d.edges:
        if e.label is not None and e.at is not None:
            x, y = px(*e.at)
            w, h = dg.label_width(e.label) * SCALE, dg.LABEL_HEIGHT * SCALE
            out.append(f'<rect x="{_n(x - w / 2)}" y="{_n(y - h / 2)}" width="{_n(w)}" height="{_n(h)}" fill="white"/>')
            out.append(_text(e.label, x, y, _LABEL_PX))
    for n in d.nodes:
        x, y = px(n.x, n.y)
        hw, hh = dg._half_size(n)
        if n.shape == "circle":
            out.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(hw * SCALE)}" fill="white" stroke="black"/>')
        elif n.shape in ("square", "box"):
            out.append(f'<rect x="{_n(x - hw * SCALE)}" y="{_n(y - hh * SCALE)}" width="{_n(2 * hw * SCALE)}" '
                       f'height="{_n(2 * hh * SCALE)}" fill="white" stroke="black"/>')
        out.append(_text(n.label, x, y, _FONT_PX["normal"]))
    for t in d.texts:
        x, y = px(t.x, t.y)
        text = _text(t.label, x, y, _FONT_PX[t.size])
        if t.tone == "gradient":
            text = text.replace("<text ", '<text fill="#992222" ', 1)
        out.append(text)
    out.append("</svg>")
    return "\n".join(out)


@lru_cache(maxsize=8192)  # a roster draws the same network with other numbers
def _arrowhead(x0: float, y0: float, x1: float, y1: float, length: float = 7.0, half: float = 2.6) -> str:
    """A filled triangle at the end of a line, pointing along it."""
    dx, dy = x1 - x0, y1 - y0
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x1 - length * ux, y1 - length * uy
    points = [(x1, y1), (bx - half * uy, by + half * ux), (bx + half * uy, by - half * ux)]
    return f'<polygon points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in points)}" fill="{_EDGE}"/>'
