"""2-D pooling on one map: max or average over k x k windows with stride s (s = k: windows side by
side; s < k: overlapping windows), and the gradient routed back.

Max pooling sends each window's upstream gradient to the cell holding the window's maximum (a
tie goes to the first maximum in reading order; the quality rule keeps every maximum unique, with
a margin, so no tie is asked); average pooling spreads it as G / k² over the window. Where windows
overlap, a cell collects the gradient of every window that routes to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray

MAX_MARGIN = 0.2  # the largest entry of a max-pool window leads the next by at least this


def windows(x: Array, k: int, s: int) -> tuple[Array, tuple[int, int]]:
    """Every window of x as (..., rows_out, cols_out, k*k), and the output shape."""
    ho, wo = (x.shape[-2] - k) // s + 1, (x.shape[-1] - k) // s + 1
    out = np.empty(x.shape[:-2] + (ho, wo, k * k))
    for r in range(ho):
        for c in range(wo):
            out[..., r, c, :] = x[..., r * s:r * s + k, c * s:c * s + k].reshape(x.shape[:-2] + (k * k,))
    return out, (ho, wo)


def pool(x: Array, k: int, s: int, mode: str, divide: bool = True) -> Array:
    w, _ = windows(x, k, s)
    if mode == "max":
        return w.max(axis=-1)
    return w.sum(axis=-1) / (k * k if divide else 1)


def route(x: Array, g: Array, k: int, s: int, mode: str, every_cell: bool = False, divide: bool = True,
          accumulate: bool = True) -> Array:
    """dX: each window's G sent to its maximum's cell (max) or spread over it as G/k² (average)."""
    w, (ho, wo) = windows(x, k, s)
    if mode == "max" and not every_cell:
        share = (np.arange(k * k) == w.argmax(axis=-1)[..., None]).astype(float)
    else:
        share = np.ones(w.shape) / (k * k if mode == "average" and divide else 1)
    out = np.zeros(x.shape)
    for r in range(ho):
        for c in range(wo):
            part = (share[..., r, c, :] * g[..., r, c][..., None]).reshape(x.shape[:-2] + (k, k))
            cell = out[..., r * s:r * s + k, c * s:c * s + k]
            if accumulate:
                cell += part
            else:  # a later window's value overwrites, only where it routes something
                out[..., r * s:r * s + k, c * s:c * s + k] = np.where(share[..., r, c, :].reshape(part.shape) > 0,
                                                                      part, cell)
    return out


@dataclass(frozen=True)
class Pool2d(Op):
    """Max or average pooling of the map `x` (given, or a layer's output) into `p`; dP comes from
    the ops after it."""

    size: tuple[int, int]
    kernel: int
    stride: int
    mode: str  # "max" or "average"
    x: str = "X1"
    p: str = "P1"
    kind = "pool2d"

    @property
    def g(self) -> str:
        return names.grad(self.p)

    @property
    def out_shape(self) -> tuple[int, int]:
        return ((self.size[0] - self.kernel) // self.stride + 1, (self.size[1] - self.kernel) // self.stride + 1)

    def forward(self, b: Builder) -> None:
        m = self
        k, s = m.kernel, m.stride
        if self.mode == "max":
            formula = rf"{tex(self.p)}_{{r,c}} = \max_{{0 \le i,j < {k}}} {tex(self.x)}_{{{s}r+i,\,{s}c+j}}"
        else:
            formula = rf"{tex(self.p)}_{{r,c}} = \frac{{1}}{{{k * k}}} \sum_{{0 \le i,j < {k}}} {tex(self.x)}_{{{s}r+i,\,{s}c+j}}"
        b.add(self, "forward", self.p, "forward", (self.x,), formula, lambda x: pool(x, k, s, self.mode),
              f"the {self.mode} of each {k}x{k} window (stride {s})", "weights")

    def backward(self, b: Builder) -> None:
        m = self
        k, s = m.kernel, m.stride
        how = r"to the window's maximum" if self.mode == "max" else rf"as {tex(self.g)}_{{r,c}}/{k * k} to each cell"
        b.add(self, "d_input", names.grad(self.x), "backward", (self.x, self.g),
              rf"d{tex(self.x)}: \text{{each }} {tex(self.g)}_{{r,c}} \text{{ routed {how}}}",
              lambda x, g: route(x, g, k, s, self.mode), "the gradient routed back to the input", "weights")

    # -- worked --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        m = self
        k, s = m.kernel, m.stride
        r, c = cx.pick(step.name)
        x = cx.value(self.x)
        if step.role == "forward":
            cells = [(r * s + i, c * s + j) for i in range(k) for j in range(k)]
            sym = ", ".join(cx.sym(self.x, *rc) for rc in cells)
            num = ", ".join(cx.num(self.x, *rc, paren=False) for rc in cells)
            if self.mode == "max":
                lines = (Expr((rf"\max({sym})",)), Expr((rf"\max({num})",)))
            else:
                lines = (Expr((rf"\frac{{1}}{{{k * k}}}({sym.replace(', ', ' + ')})",)),
                         Expr((rf"\frac{{1}}{{{k * k}}}({num.replace(', ', ' + ')})",)))
            where = f"row {r + 1}, column {c + 1}: the window at rows {r * s + 1}..{r * s + k}, columns {c * s + 1}..{c * s + k}"
            return Worked(cx.sym(step.name, r, c), where, lines, cx.result(step.name, r, c))
        ho, wo = m.out_shape
        sym, num = [], []
        for a in range(ho):
            for bb in range(wo):
                i, j = r - a * s, c - bb * s
                if not (0 <= i < k and 0 <= j < k):
                    continue
                if self.mode == "max":
                    win = x[a * s:a * s + k, bb * s:bb * s + k].ravel()
                    if int(np.argmax(win)) != i * k + j:
                        continue
                    sym.append(cx.sym(self.g, a, bb))
                    num.append(cx.num(self.g, a, bb))
                else:
                    sym.append(rf"\frac{{{cx.sym(self.g, a, bb)}}}{{{k * k}}}")
                    num.append(rf"\frac{{{cx.num(self.g, a, bb, paren=False)}}}{{{k * k}}}")
        if not sym:
            sym, num = ["0"], ["0"]
        where = f"row {r + 1}, column {c + 1}: " + ("the windows whose maximum it is" if self.mode == "max"
                                                     else "every window that covers it")
        lines = (Expr(tuple(sym)), Expr(tuple(num)))
        return Worked(cx.sym(step.name, r, c), where, lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        m = self
        if step.role == "loss":
            return ()
        if step.role == "forward":
            ho, wo = m.out_shape
            return (rf"The output size is $\lfloor (n - k)/s \rfloor + 1$: $\lfloor ({m.size[0]} - {m.kernel})/"
                    rf"{m.stride} \rfloor + 1 = {ho}$ rows and ${wo}$ columns.",)
        out = []
        if self.mode == "max":
            out.append("Each window's gradient goes to its maximum alone (a tie would go to the first maximum in "
                       "reading order); every other cell of the window gets 0.")
        if m.stride < m.kernel:
            out.append("The windows overlap: a cell collects the gradient of every window that routes to it.")
        return tuple(out)

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        m = self
        k, s = m.kernel, m.stride
        x = v[self.x]
        if step.role == "loss":
            return
        if step.role == "forward":
            if self.mode == "average":
                yield Mistake("avg_pool_not_divided", f"average pooling divides each window's sum by {k * k}",
                              pool(x, k, s, "average", divide=False))
            return
        g = v[self.g]
        if self.mode == "max":
            yield Mistake("max_pool_gradient_everywhere", "max pooling sends a window's gradient to its maximum "
                          "ONLY, not to every cell of the window", route(x, g, k, s, "max", every_cell=True))
        else:
            yield Mistake("avg_pool_gradient_not_divided", f"average pooling's gradient is G/{k * k} in each cell "
                          "of the window", route(x, g, k, s, "average", divide=False))
        if s < k:
            yield Mistake("overlap_not_accumulated", "where windows overlap, a cell ADDS the gradients of every "
                          "window that routes to it (here a later window overwrote them)",
                          route(x, g, k, s, self.mode, accumulate=False))

    # -- graph and proof --

    def graph(self, step: Step, g: Graph) -> None:
        m = self
        if step.role != "forward":
            g.grad(step.name, self.x, [(self.p, self.g)])
            return
        k, s = m.kernel, m.stride
        x4 = g.op(g.temp(step.name, "x4"), "Reshape", [self.x, g.constant([1, 1, *m.size], "int64")])
        pooled = g.op(g.temp(step.name, "pool"), "MaxPool" if self.mode == "max" else "AveragePool", [x4],
                      kernel_shape=[k, k], strides=[s, s], pads=[0, 0, 0, 0])
        g.op(step.name, "Reshape", [pooled, g.constant(list(m.out_shape), "int64")])

    def symbolic(self, s: Symbolic) -> None:
        m = self
        sp = s.sp
        x = s.values[self.x]
        k, st = m.kernel, m.stride
        ho, wo = m.out_shape

        def entry(r: int, c: int) -> Any:
            cells = [x[r * st + i, c * st + j] for i in range(k) for j in range(k)]
            return sp.Max(*cells) if self.mode == "max" else sp.Add(*cells) / (k * k)

        s.put(self.p, lambda: sp.Matrix(ho, wo, entry))


    def conditioning(self, values: Any, kink: float, variance: float) -> str | None:
        if self.mode != "max":
            return None
        w, _ = windows(np.asarray(values[self.x], dtype=float), self.kernel, self.stride)
        top = np.sort(w, axis=-1)
        if np.min(top[..., -1] - top[..., -2]) < kink:
            return "two entries of a max-pool window are within the kink of each other"
        return None

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if self.mode != "max":
            return ()
        m = self

        def rejects(v: Any) -> Array:
            w, _ = windows(v[self.x], m.kernel, m.stride)
            top = np.sort(w, axis=-1)
            gap = (top[..., -1] - top[..., -2]).reshape(len(w), -1)
            return (gap < MAX_MARGIN - 1e-9).any(axis=1)

        return (Check("unique_max", f"a max-pool window's maximum does not lead the next entry by {MAX_MARGIN:g}",
                      "given" if self.x == "X1" else "forward", rejects, group=2),)
