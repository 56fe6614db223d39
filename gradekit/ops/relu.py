"""ReLU and leaky ReLU: A = max(0, Z) (or max(slope Z, Z)), dZ = dA where Z > 0 (slope elsewhere).

Their derivative needs the sign of Z, so the sampler keeps every input away from the kink, and
a ReLU unit that no sample switches on (a dead unit) passes nothing back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.notation import INDICATOR, tex, tex_constant
from gradekit.ops.activation import Activation
from gradekit.ops.base import Builder, Check, Graph, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr

Array = np.ndarray

RELU_MARGIN = 0.05  # no input within this of 0: its derivative would be ambiguous by hand


class Relu(Activation):
    kind = "relu"
    words = "ReLU"
    statement = "ReLU"
    caption = "ReLU"
    reads = ("Z",)

    @property
    def slope(self) -> float:
        """The slope for negative inputs."""
        return 0.0

    def f(self, z: Array) -> Array:
        return np.maximum(z, 0.0)

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ = dA [Z > 0]."""
        assert at is not None
        return da * (at > 0)

    def forward_formula(self, b: Builder) -> str:
        return rf"{tex(self.a)} = \max(0, {tex(self.z)})"

    def backward_formula(self, b: Builder) -> str:
        return rf"{tex(names.grad(self.z))} = {tex(names.grad(self.a))} \odot {INDICATOR}[{tex(self.z)} > 0]"

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        zs, zn = cx.sym(self.z, r, c), cx.num(self.z, r, c, paren=False)
        return (Expr((rf"\max(0, {zs})",)), Expr((rf"\max(0, {zn})",)))

    def mask_words(self, zs: str) -> str:
        return rf"{INDICATOR}[{zs} > 0]"

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        da = names.grad(self.a)
        ds, dn = cx.sym(da, r, c), cx.num(da, r, c, paren=False)
        zs, zn = cx.sym(self.z, r, c), cx.num(self.z, r, c, paren=False)
        positive = cx.at(self.z, r, c) > 0
        slope = 1 if positive else self.slope
        rel = ">" if positive else r"\le"
        return (Expr((rf"{ds} \cdot {self.mask_words(zs)}",)),
                Expr((rf"{dn} \cdot {tex_constant(slope)} \quad ({zn} {rel} 0)",)))

    def derivative_mistakes(self, v: Values, da: Array, a: Array, z: Array) -> Iterator[Mistake]:
        yield Mistake("relu_mask_from_gradient", "the ReLU mask came from the sign of dA; it must come from the sign "
                      "of Z", da * np.where(da > 0, 1.0, self.slope) if self.slope else da * (da > 0))
        yield Mistake("relu_mask_flipped", "the ReLU mask is flipped: the gradient passes where Z > 0 and is 0 where "
                      "Z < 0", da * np.where(z < 0, 1.0, self.slope) if self.slope else da * (z < 0))

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Relu", [self.z])

    def graph_backward(self, step: Step, g: Graph) -> None:
        on = g.op(g.temp(step.name, "on"), "Greater", [self.z, g.constant(0.0)])
        g.op(step.name, "Where", [on, names.grad(self.a), g.constant(0.0)])

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        # A ReLU is h Z (leaky: (h + slope (1 - h)) Z) with h the indicator [Z > 0], a constant 0 or
        # 1 that the point fixes: the derivative of the piece the point lies on.
        h = s.indicator(names.of("h", self.l), z)
        slope = s.exact(self.slope)
        return s.sp.Matrix(*z.shape, lambda i, j: (h[i, j] + slope * (1 - h[i, j])) * z[i, j])

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        if np.min(np.abs(values[self.z])) <= kink:
            return f"a {self.kind} input of layer {self.l} is within {kink:g} of its kink"
        return None

    def activation_checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        z = self.z
        out = []
        if self.kind == "relu" and self.l < net.depth:
            out.append(Check("dead_unit", f"a ReLU unit of layer {self.l} is off for every sample", "forward",
                             lambda v: (v[z] <= 0).all(axis=-2).any(axis=-1), group=1))
        out.append(Check("kink", f"a {self.kind} input of layer {self.l} is within {RELU_MARGIN} of 0 (its derivative "
                         "is ambiguous by hand)", "forward",
                         lambda v: entries(np.abs(v[z])).min(axis=1) <= RELU_MARGIN + MARGIN_SLACK, group=2))
        return tuple(out)

    def dead_unit_notes(self, step: Step, cx: Context) -> list[str]:
        """ReLU units that no sample activates pass no gradient back: zeros by structure, not by chance."""
        if self.kind != "relu":
            return []
        kind = {"forward": "A", "delta": "dZ", "d_weight": "dW", "d_bias": "db"}.get(step.role)
        if kind is None:
            return []
        l, name = self.l, step.name
        z = cx.value(self.z)
        dead = [j for j in range(z.shape[1]) if np.all(z[:, j] <= 0)]
        inactive = int((z <= 0).sum())
        if dead:
            units = ", ".join(str(j + 1) for j in dead)
            what = {"A": f"its activations are 0, so it contributes nothing to layer {l + 1}",
                    "dZ": "the ReLU's slope is 0 there, so its entries of $" + tex(name) + "$ are 0",
                    "dW": "its entries of $" + tex(name) + "$ are 0 (they multiply its zero $"
                          + tex(names.grad(self.z)) + "$)",
                    "db": "its entry of $" + tex(name) + "$ is 0"}[kind]
            return [f"Unit{'s' * (len(dead) > 1)} {units} of layer {l} {'are' if len(dead) > 1 else 'is'} dead for "
                    rf"this batch: ${tex(self.z)} \le 0$ for every sample, so {what}."]
        if kind == "dZ" and inactive:
            return [rf"Where ${tex(self.z)} \le 0$ ({inactive} of {z.size} entries) the ReLU's slope is 0, so "
                    rf"those entries of ${tex(name)}$ are 0 whatever ${tex(names.grad(self.a))}$ is."]
        return []


@dataclass(frozen=True)
class LeakyRelu(Relu):
    """max(slope Z, Z): a small slope for negative inputs, so no unit is ever dead."""

    leak: float = 0.01
    kind = "leaky_relu"
    words = "leaky ReLU"
    statement = "leaky ReLU"
    caption = "leaky ReLU"

    @property
    def slope(self) -> float:
        return self.leak

    def f(self, z: Array) -> Array:
        return np.where(z > 0, z, self.leak * z)

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ = dA (1 if Z > 0, else slope)."""
        assert at is not None
        return da * np.where(at > 0, 1.0, self.leak)

    def forward_formula(self, b: Builder) -> str:
        z = tex(self.z)
        return rf"{tex(self.a)} = \max({tex_constant(self.leak)}\,{z}, {z})"

    def backward_formula(self, b: Builder) -> str:
        z, slope = tex(self.z), tex_constant(self.leak)
        return (rf"{tex(names.grad(self.z))} = {tex(names.grad(self.a))} \odot \left({INDICATOR}[{z} > 0] + "
                rf"{slope}\,{INDICATOR}[{z} \le 0]\right)")

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        zs, zn = cx.sym(self.z, r, c), cx.num(self.z, r, c, paren=False)
        slope = tex_constant(self.leak)
        return (Expr((rf"\max({slope}\, {zs}, {zs})",)), Expr((rf"\max({slope} \cdot {cx.num(self.z, r, c)}, {zn})",)))

    def mask_words(self, zs: str) -> str:
        return rf"(\text{{1 if }} {zs} > 0 \text{{, else }} {tex_constant(self.leak)})"

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "LeakyRelu", [self.z], alpha=self.leak)

    def graph_backward(self, step: Step, g: Graph) -> None:
        on = g.op(g.temp(step.name, "on"), "Greater", [self.z, g.constant(0.0)])
        leaked = g.op(g.temp(step.name, "leak"), "Mul", [names.grad(self.a), g.constant(self.leak)])
        g.op(step.name, "Where", [on, names.grad(self.a), leaked])
