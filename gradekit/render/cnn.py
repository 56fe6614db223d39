"""How a convolution or pooling exercise is stated: the layer, its convention and the output-size
formula in sentences, and its grids as the picture (the input with its padding, the kernel, the
output map, the window of the first output entry framed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from gradekit.engine.trace import Trace
from gradekit.model.cnn import Cnn
from gradekit.model.notation import given_number, tex
from gradekit.model.problem import Problem
from gradekit.render.diagram import Diagram, Frame, Label, Node, Text

CELL_W, CELL_H = 0.8, 0.7  # a grid cell is a "box" node: its outline is this size
GAP = 1.2  # cm between two grids


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    m: Cnn = problem.arch
    h, w = m.size
    ho, wo = m.out_shape
    k, s, p = m.kernel, m.stride, m.padding
    out = []
    if m.layer != "pool":
        out.append(f"One input map $X^{{[1]}}$ ({h} rows, {w} columns), one {k}x{k} kernel $K^{{[1]}}$ and one "
                   f"bias $b^{{[1]}}$; stride {s}, zero padding {p}.")
        if m.convention == "correlation":
            out.append(r"Convention: cross-correlation (as PyTorch computes it; the kernel is NOT flipped): "
                       r"$Z^{[1]}_{r,c} = \sum_{i,j} \tilde{X}_{sr+i,\,sc+j}\, K^{[1]}_{i,j} + b^{[1]}$, "
                       r"where $\tilde{X}$ is $X^{[1]}$ with its zero padding and indices start at 0.")
        else:
            out.append(r"Convention: true convolution (the kernel is flipped: rows and columns reversed): "
                       r"$Z^{[1]}_{r,c} = \sum_{i,j} \tilde{X}_{sr+i,\,sc+j}\, K^{[1]}_{k-1-i,\,k-1-j} + b^{[1]}$, "
                       r"where $\tilde{X}$ is $X^{[1]}$ with its zero padding and indices start at 0.")
        out.append(rf"Output size: $\lfloor (n + 2p - k)/s \rfloor + 1 = \lfloor ({h} + {2 * p} - {k})/{s} \rfloor + 1$, "
                   f"so $Z^{{[1]}}$ has {ho} rows and {wo} columns.")
        if m.layer == "conv_relu_pool":
            ps = m.pool_stride
            po = ((ho - 2) // ps + 1, (wo - 2) // ps + 1)
            kind = "max" if m.pool == "max" else "average"
            out.append(rf"Then a ReLU, $A^{{[1]}} = \max(Z^{{[1]}}, 0)$, and {kind} pooling over 2x2 windows with "
                       rf"stride {ps}: $P^{{[1]}}$ has {po[0]} rows and {po[1]} columns"
                       + (" (the gradient goes to each window's maximum; on a tie, to the first in reading order)."
                          if m.pool == "max" else " (each window's gradient is shared equally, 1/4 to each cell)."))
        last = "P^{[1]}" if m.layer == "conv_relu_pool" else "Z^{[1]}"
        out.append(rf"Loss: the squared error against the given target map $T^{{[1]}}$, "
                   rf"$L = \frac{{1}}{{2}} \sum_{{r,c}} ({last}_{{r,c}} - T^{{[1]}}_{{r,c}})^{{2}}$; "
                   r"$dX^{[1]}$, $dK^{[1]}$ and $db^{[1]}$ are the gradients of $L$.")
    else:
        kind = "Max" if m.pool == "max" else "Average"
        lap = "overlapping windows" if s < k else "windows side by side"
        out.append(f"{kind} pooling of the map $X^{{[1]}}$ ({h} rows, {w} columns) over {k}x{k} windows with "
                   f"stride {s} ({lap}), no padding.")
        out.append(rf"Output size: $\lfloor (n - k)/s \rfloor + 1 = \lfloor ({h} - {k})/{s} \rfloor + 1$, so "
                   f"$P^{{[1]}}$ has {ho} rows and {wo} columns.")
        if m.pool == "max":
            out.append("Each window's gradient goes to its maximum alone (on a tie, to the first maximum in "
                       "reading order); where windows overlap, a cell adds up what it receives.")
        else:
            out.append(f"Each window's gradient is shared equally, $1/{k * k}$ to each of its cells; where windows "
                       "overlap, a cell adds up what it receives.")
        out.append(r"Loss: the squared error against the given target map $T^{[1]}$, "
                   r"$L = \frac{1}{2} \sum_{r,c} (P^{[1]}_{r,c} - T^{[1]}_{r,c})^{2}$.")
    return tuple(out)


def _grid(prefix: str, x0: float, rows: int, cols: int, value: Any, pad: int = 0) -> list[Node]:
    """A grid of cells (box nodes) from x0, top row at y = 0; padding cells show 0."""
    out = []
    for r in range(rows + 2 * pad):
        for c in range(cols + 2 * pad):
            inside = pad <= r < rows + pad and pad <= c < cols + pad
            text = value(r - pad, c - pad) if inside else "0"
            out.append(Node(f"{prefix}-{r}-{c}", Label(text, math=inside), round(x0 + c * CELL_W, 3),
                            round(-r * CELL_H, 3), "box"))
    return out


def diagram(model: Any, given: Mapping[str, np.ndarray] | None = None) -> Diagram:
    m: Cnn = model
    h, w = m.size
    ho, wo = m.out_shape
    k, p = m.kernel, m.padding

    def number(name: str) -> Any:
        if given is None or name not in given:
            return lambda r, c: " "
        v = np.asarray(given[name], dtype=float)
        return lambda r, c: given_number(float(v[r, c]), 2)

    nodes: list[Node] = []
    texts: list[Text] = []
    frames: list[Frame] = []
    x = 0.0
    nodes += _grid("x", x, h, w, number("X1"), p)
    texts.append(Text(Label(tex("X1") + (r"\ (\text{padded})" if p else "")), x + (w + 2 * p - 1) * CELL_W / 2, 0.7))
    frames.append(Frame(round(x - CELL_W / 2 - 0.06, 3), round(-(k - 0.5) * CELL_H - 0.06, 3),
                        round(x + (k - 0.5) * CELL_W + 0.06, 3), round(CELL_H / 2 + 0.06, 3)))
    x += (w + 2 * p) * CELL_W + GAP
    if m.layer != "pool":
        texts.append(Text(Label(r"\star" if m.convention == "correlation" else r"\ast"), x - GAP / 2 - CELL_W / 2, -0.35))
        nodes += _grid("k", x, k, k, number("K1"))
        texts.append(Text(Label(tex("K1")), x + (k - 1) * CELL_W / 2, 0.7))
        x += k * CELL_W + GAP
    texts.append(Text(Label("="), x - GAP / 2 - CELL_W / 2, -0.35))
    out = m.output
    nodes += [replace(n, label=Label("?", math=False)) for n in _grid("z", x, ho, wo, lambda r, c: "")]
    texts.append(Text(Label(tex(out)), x + (wo - 1) * CELL_W / 2, 0.7))
    frames.append(Frame(round(x - CELL_W / 2 - 0.06, 3), round(-CELL_H / 2 - 0.06, 3),
                        round(x + CELL_W / 2 + 0.06, 3), round(CELL_H / 2 + 0.06, 3)))
    rows = max(h + 2 * p, ho, k)
    return Diagram(tuple(nodes), (), tuple(texts), tuple(frames), round(-CELL_W / 2 - 0.15, 3),
                   round(-(rows - 0.5) * CELL_H - 0.15, 3), round(x + (wo - 0.5) * CELL_W + 0.15, 3), 1.0)
