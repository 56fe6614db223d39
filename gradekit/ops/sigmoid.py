"""The sigmoid: A = 1 / (1 + e^-Z), dZ = dA A (1 - A); its saturation, and the mistakes in its derivative."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import number, tex
from gradekit.ops.activation import Activation
from gradekit.ops.base import Builder, Check, Formulation, Graph, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr

Array = np.ndarray

SATURATION = 4.0  # |Z| beyond this: the derivative A (1 - A) is below 0.018, gradients vanish


def sigmoid(z: Array) -> Array:
    # Split by sign so that exp never overflows for large |z|.
    out = np.empty_like(z, dtype=float)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


class Sigmoid(Activation):
    kind = "sigmoid"
    words = "sigmoid"
    statement = "sigmoid"
    caption = "sigmoid"
    reads = ("A",)
    chain_words = "dA A(1 − A)"

    def f(self, z: Array) -> Array:
        return sigmoid(z)

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ = dA A (1 - A): the derivative written in A, the cheapest by hand."""
        assert at is not None
        return da * at * (1.0 - at)

    def forward_formula(self, b: Builder) -> str:
        z = tex(self.z)
        return rf"{tex(self.a)} = \sigma({z}) = \frac{{1}}{{1 + e^{{-{z}}}}}"

    def backward_formula(self, b: Builder) -> str:
        a = tex(self.a)
        return rf"{tex(names.grad(self.z))} = {tex(names.grad(self.a))} \odot {a} \odot (1 - {a})"

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        zs = cx.sym(self.z, r, c)
        minus = number(-cx.at(self.z, r, c), cx.decimals)
        return (Expr((rf"\frac{{1}}{{1 + e^{{-{zs}}}}}",)), Expr((rf"\frac{{1}}{{1 + e^{{{minus}}}}}",)))

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        da = names.grad(self.a)
        ds, dn = cx.sym(da, r, c), cx.num(da, r, c, paren=False)
        as_, an = cx.sym(self.a, r, c), cx.num(self.a, r, c, paren=False)
        return (Expr((rf"{ds} \, {as_} (1 - {as_})",)), Expr((rf"{dn} \cdot {an} \cdot (1 - {an})",)))

    def derivative_forms(self) -> tuple[Formulation, ...]:
        """dZ from dA with the derivative written in Z, as courses also teach it (the seed notebook
        004's sigmoid_derivative(inL1))."""
        return (Formulation("from_preactivation", "the sigmoid's derivative from Z, dA σ(Z)(1 − σ(Z))",
                            (names.grad(self.a), self.z), lambda da, z: da * sigmoid(z) * (1.0 - sigmoid(z))),)

    def derivative_mistakes(self, v: Values, da: Array, a: Array, z: Array) -> Iterator[Mistake]:
        s = sigmoid(a)
        yield Mistake("sigmoid_derivative_at_activation", "the sigmoid derivative was taken at the activation A "
                      "instead of the pre-activation Z: use A(1 - A), not sigma(A)(1 - sigma(A))", da * s * (1 - s))
        yield Mistake("sigmoid_derivative_of_preactivation", "the sigmoid derivative was written as "
                      "sigma(Z)(1 - sigma(Z)) with Z in place of sigma(Z): use A(1 - A)", da * z * (1 - z))

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Sigmoid", [self.z])

    def graph_backward(self, step: Step, g: Graph) -> None:
        one_minus = g.op(g.temp(step.name, "1mA"), "Sub", [g.constant(1.0), self.a])
        slope = g.op(g.temp(step.name, "slope"), "Mul", [self.a, one_minus])
        g.op(step.name, "Mul", [names.grad(self.a), slope])

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        return z.applyfunc(lambda e: 1 / (1 + s.sp.exp(-e)))

    def activation_checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        z = self.z
        return (Check("saturation", f"layer {self.l}'s sigmoid is saturated (|Z| >= {SATURATION}: gradients vanish)",
                      "forward", lambda v: entries(np.abs(v[z])).max(axis=1) >= SATURATION - MARGIN_SLACK, group=2),)
