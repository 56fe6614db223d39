"""The ops of a convolution or pooling exercise (family "cnn") and what closes them: a ReLU on a
map and the squared error against a target map T.

A problem is one convolution layer, one pooling layer, or conv -> ReLU -> pool; its loss is
L = 1/2 Σ (out - T)^2 over the last map, so dOut = out - T is the first gradient asked, and a slip
in an early map carried honestly earns follow-through on everything after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.cnn import Cnn
from gradekit.model.notation import INDICATOR, tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.conv import Conv2d
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.network import Network
from gradekit.ops.pool import Pool2d
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray
KINK = 0.05  # no ReLU input within this of 0 (the quality rule `kink`)


@dataclass(frozen=True)
class MapRelu(Op):
    """A = max(Z, 0) entry by entry on a map; dZ = dA ⊙ 1[Z > 0]."""

    z: str = "Z1"
    a: str = "A1"
    kind = "map_relu"

    def forward(self, b: Builder) -> None:
        b.add(self, "forward", self.a, "forward", (self.z,), rf"{tex(self.a)} = \max({tex(self.z)}, 0)",
              lambda z: np.maximum(z, 0.0), "the ReLU of each entry of the map", "weights")

    def backward(self, b: Builder) -> None:
        dz, da = names.grad(self.z), names.grad(self.a)
        b.add(self, "delta", dz, "backward", (da, self.z),
              rf"{tex(dz)} = {tex(da)} \odot {INDICATOR}[{tex(self.z)} > 0]",
              lambda d, z: d * (z > 0), "the gradient through the ReLU: kept where Z > 0, else 0", "weights")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        r, c = cx.pick(step.name)
        zs = cx.sym(self.z, r, c)
        if step.role == "forward":
            lines = (Expr((rf"\max({zs}, 0)",)), Expr((rf"\max({cx.num(self.z, r, c, paren=False)}, 0)",)))
        else:
            da = names.grad(self.a)
            on = "1" if cx.at(self.z, r, c) > 0 else "0"
            lines = (Expr((rf"{cx.sym(da, r, c)} \cdot {INDICATOR}[{zs} > 0]",)),
                     Expr((rf"{cx.num(da, r, c, paren=False)} \cdot {on}",)))
        return Worked(cx.sym(step.name, r, c), f"row {r + 1}, column {c + 1}", lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role == "forward":
            return ()
        return ("Where the ReLU's input was negative its output is constant 0, so no gradient passes back there.",)

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "delta":
            yield Mistake("relu_gradient_not_gated", "the ReLU passes the gradient back only where Z > 0: multiply "
                          "by the indicator 1[Z > 0]", v[names.grad(self.a)] + 0.0)
            yield Mistake("relu_gated_by_output_gradient", "the ReLU gate is read from Z (the ReLU's input), not "
                          "from the sign of dA", v[names.grad(self.a)] * (v[names.grad(self.a)] > 0))

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "forward":
            g.op(step.name, "Relu", [self.z])
        else:
            g.grad(step.name, self.z, [(self.a, names.grad(self.a))])

    def symbolic(self, s: Symbolic) -> None:
        def make() -> Any:
            z = s.values[self.z]
            h = s.indicator(names.of("h", 1), z)
            return s.sp.Matrix(*z.shape, lambda i, j: h[i, j] * z[i, j])
        s.put(self.a, make)

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        if np.min(np.abs(values[self.z])) <= kink:
            return f"a ReLU input is within {kink:g} of its kink"
        return None

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        z = self.z
        return (Check("kink", f"a ReLU input is within {KINK:g} of 0", "forward",
                      lambda v: (np.abs(entries(v[z])) <= KINK + MARGIN_SLACK).any(axis=1), group=1),
                Check("dead_unit", "the ReLU map is 0 everywhere (every input negative: no gradient passes back)",
                      "forward", lambda v: (entries(v[z]) <= 0).all(axis=1), group=1))


@dataclass(frozen=True)
class MapSquaredError(Op):
    """L = 1/2 Σ (out - T)^2 over a map; dOut = out - T."""

    out: str
    shape: tuple[int, int]
    target: str = "T1"
    kind = "map_squared_error"

    def given(self) -> tuple[Given, ...]:
        return (Given(self.target, self.shape, "weights", "T"),)

    def forward(self, b: Builder) -> None:
        o, t = tex(self.out), tex(self.target)
        b.add(self, "loss", names.LOSS, "loss", (self.out, self.target),
              rf"L = \frac{{1}}{{2}} \sum_{{r,c}} \bigl({o}_{{r,c}} - {t}_{{r,c}}\bigr)^{{2}}",
              lambda o_, t_: 0.5 * np.sum((o_ - t_) ** 2, axis=(-2, -1)), "the squared error against the target map",
              "scalar")

    def backward(self, b: Builder) -> None:
        d = names.grad(self.out)
        b.add(self, "d_output", d, "backward", (self.out, self.target),
              rf"{tex(d)} = {tex(self.out)} - {tex(self.target)}", lambda o_, t_: o_ - t_,
              "the loss's gradient with respect to the last map", "weights")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "loss":
            rows, cols = self.shape
            sym = [rf"\bigl({cx.sym(self.out, r, c)} - {cx.sym(self.target, r, c)}\bigr)^{{2}}"
                   for r in range(rows) for c in range(cols)]
            num = [rf"\bigl({cx.num(self.out, r, c, paren=False)} - {cx.num(self.target, r, c)}\bigr)^{{2}}"
                   for r in range(rows) for c in range(cols)]
            return Worked("L", "", (Expr(tuple(sym), r"\frac{1}{2}\bigl(", r"\bigr)"),
                                    Expr(tuple(num), r"\frac{1}{2}\bigl(", r"\bigr)")), cx.result(names.LOSS))
        r, c = cx.pick(step.name)
        lines = (Expr((f"{cx.sym(self.out, r, c)} - {cx.sym(self.target, r, c)}",)),
                 Expr((f"{cx.num(self.out, r, c, paren=False)} - {cx.num(self.target, r, c)}",)))
        return Worked(cx.sym(step.name, r, c), f"row {r + 1}, column {c + 1}", lines, cx.result(step.name, r, c))

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "d_output":
            yield Mistake("error_sign", "the gradient of 1/2 (out - T)^2 is out - T, not T - out",
                          v[self.target] - v[self.out])
            yield Mistake("error_doubled", "the 1/2 cancels the 2 of the square: the gradient is out - T, "
                          "not 2 (out - T)", 2.0 * (v[self.out] - v[self.target]))

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "loss":
            diff = g.op(g.temp(step.name, "diff"), "Sub", [self.out, self.target])
            sq = g.op(g.temp(step.name, "sq"), "Mul", [diff, diff])
            total = g.op(g.temp(step.name, "sum"), "ReduceSum", [sq], keepdims=0)
            g.op(step.name, "Mul", [total, g.constant(0.5)])
        else:
            g.grad(step.name, self.out, [(names.LOSS, 1)])

    def symbolic(self, s: Symbolic) -> None:
        o, t = s.values[self.out], s.values[self.target]
        s.put(names.LOSS, lambda: sum(((o[i, j] - t[i, j]) ** 2 for i in range(o.shape[0]) for j in range(o.shape[1])),
                                      s.sp.Integer(0)) / 2)


def cnn_network(model: Cnn) -> Network:
    """The exercise's layers in order, then the squared error against T1 on the last map."""
    ops: list[Op] = []
    if model.layer in ("conv", "conv_relu_pool"):
        ops.append(Conv2d(model))
    if model.layer == "conv_relu_pool":
        ops.append(MapRelu("Z1", "A1"))
        ops.append(Pool2d(model.out_shape, 2, model.pool_stride, model.pool, "A1", "P1"))
    if model.layer == "pool":
        ops.append(Pool2d(model.size, model.kernel, model.stride, model.pool, "X1", "P1"))
    last = ops[-1]
    out, shape = (last.z, model.out_shape) if isinstance(last, Conv2d) else (last.p, last.out_shape)
    loss = MapSquaredError(out, shape)
    ops.append(loss)
    given = tuple(g for op in ops for g in op.given())
    if not any(g.name == "X1" for g in given):
        given = (Given("X1", model.size, "weights", "X"), *given)
    return Network(model, tuple(ops), (), given, None)
