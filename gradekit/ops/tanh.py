"""tanh: A = tanh(Z), dZ = dA (1 - A^2); its saturation, and the mistakes in its derivative."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.activation import Activation
from gradekit.ops.base import Builder, Check, Formulation, Graph, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr

Array = np.ndarray

SATURATION = 2.5  # |Z| beyond this: 1 - A^2 is below 0.027, gradients vanish


class Tanh(Activation):
    kind = "tanh"
    words = "tanh"
    statement = "tanh"
    caption = "tanh"
    reads = ("A",)

    def f(self, z: Array) -> Array:
        return np.tanh(z)

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ = dA (1 - A^2): the derivative written in A."""
        assert at is not None
        return da * (1.0 - at**2)

    def forward_formula(self, b: Builder) -> str:
        return rf"{tex(self.a)} = \tanh({tex(self.z)})"

    def backward_formula(self, b: Builder) -> str:
        a = tex(self.a)
        return rf"{tex(names.grad(self.z))} = {tex(names.grad(self.a))} \odot (1 - {a} \odot {a})"

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        zs, zn = cx.sym(self.z, r, c), cx.num(self.z, r, c, paren=False)
        return (Expr((rf"\tanh {zs}",)), Expr((rf"\tanh({zn})",)))

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        da = names.grad(self.a)
        ds, dn = cx.sym(da, r, c), cx.num(da, r, c, paren=False)
        as_, an = cx.sym(self.a, r, c), cx.num(self.a, r, c)
        return (Expr((rf"{ds} \left(1 - ({as_})^{{2}}\right)",)), Expr((rf"{dn} \cdot (1 - {an}^{{2}})",)))

    def derivative_forms(self) -> tuple[Formulation, ...]:
        return (Formulation("from_preactivation", "tanh's derivative from Z, dA (1 − tanh(Z)²)",
                            (names.grad(self.a), self.z), lambda da, z: da * (1.0 - np.tanh(z) ** 2)),)

    def derivative_mistakes(self, v: Values, da: Array, a: Array, z: Array) -> Iterator[Mistake]:
        yield Mistake("tanh_derivative_at_activation", "the tanh derivative was taken at the activation instead of "
                      "the pre-activation: use 1 - A^2 with A = tanh(Z)", da * (1 - np.tanh(a) ** 2))
        yield Mistake("tanh_derivative_of_preactivation", "the tanh derivative is 1 - tanh(Z)^2 = 1 - A^2, not "
                      "1 - Z^2", da * (1 - z**2))

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Tanh", [self.z])

    def graph_backward(self, step: Step, g: Graph) -> None:
        square = g.op(g.temp(step.name, "A2"), "Mul", [self.a, self.a])
        slope = g.op(g.temp(step.name, "slope"), "Sub", [g.constant(1.0), square])
        g.op(step.name, "Mul", [names.grad(self.a), slope])

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        return z.applyfunc(s.sp.tanh)

    def activation_checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        z = self.z
        return (Check("saturation", f"layer {self.l}'s tanh is saturated (|Z| >= {SATURATION}: gradients vanish)",
                      "forward", lambda v: entries(np.abs(v[z])).max(axis=1) >= SATURATION - MARGIN_SLACK, group=2),)
