"""A network diagram (gradekit.render.diagram) written as a TikZ picture: LaTeX only, no image files.

Every coordinate comes from the diagram; this writer only chooses TeX's way of drawing it.
It needs \\usepackage{tikz} and nothing else (no TikZ library).
"""

from __future__ import annotations

from functools import lru_cache

from gradekit.render.diagram import Diagram, Label, Node
from gradekit.render.formatting import tex_escape

MAX_WIDTH_CM = 16.5  # a wider picture is scaled to the line (A4, 2 cm margins: 17 cm)

_SIZES = {"normal": r"\small", "small": r"\footnotesize", "tiny": r"\scriptsize"}
_SHAPES = {"circle": "circle,draw,minimum size=0.72cm", "square": "rectangle,draw,minimum size=0.72cm",
           "box": "rectangle,draw,minimum width=0.8cm,minimum height=0.7cm", "plain": ""}


@lru_cache(maxsize=8192)
def label_tex(label: Label) -> str:
    """A label as LaTeX: $x_{1}$, $a_{2}^{[1]}$, $-0.3$, or escaped plain text."""
    if not label.math:
        return tex_escape(label.base)
    body = label.base
    if label.sub:
        body += f"_{{{label.sub}}}"
    if label.sup:
        body += f"^{{{label.sup}}}"
    return f"${body}$"


@lru_cache(maxsize=8192)
def _xy(x: float, y: float) -> str:
    return f"({x:g},{y:g})"


@lru_cache(maxsize=8192)
def _node(n: Node) -> str:
    style = ",".join(s for s in (_SHAPES[n.shape], r"inner sep=0pt,font=\small") if s)
    return rf"\node[{style}] at {_xy(n.x, n.y)} {{{label_tex(n.label)}}};"


def picture(d: Diagram) -> str:
    """The TikZ picture, centred on its own line and scaled down only when wider than the line."""
    lines = [r"\begin{tikzpicture}[x=1cm,y=1cm,>=stealth]",
             rf"\path[use as bounding box] {_xy(d.x0, d.y0)} rectangle {_xy(d.x1, d.y1)};"]
    for f in d.frames:
        lines.append(rf"\draw[dashed,rounded corners=4pt,gray] {_xy(f.x0, f.y0)} rectangle {_xy(f.x1, f.y1)};")
    for e in d.edges:
        lines.append(rf"\draw[->,gray!70!black] {_xy(*e.start)} -- {_xy(*e.end)};")
    for e in d.edges:
        if e.label is not None and e.at is not None:
            lines.append(rf"\node[fill=white,inner sep=1pt,font=\scriptsize] at {_xy(*e.at)} {{{label_tex(e.label)}}};")
    lines += [_node(n) for n in d.nodes]
    for t in d.texts:
        tone = ",text=red!60!black" if t.tone == "gradient" else ""
        lines.append(rf"\node[inner sep=0pt,font={_SIZES[t.size]}{tone}] at {_xy(t.x, t.y)} {{{label_tex(t.label)}}};")
    lines.append(r"\end{tikzpicture}")
    body = "\n".join(lines)
    if d.x1 - d.x0 > MAX_WIDTH_CM:
        body = "\\resizebox{\\linewidth}{!}{%\n" + body + "}"
    return "{\\centering\n" + body + "\\par}"
