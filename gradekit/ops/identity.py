"""The identity (linear) activation: A = Z, dZ = dA."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.activation import Activation
from gradekit.ops.base import Builder, Graph, Step, Symbolic
from gradekit.ops.worked import Context, Expr

Array = np.ndarray


class Identity(Activation):
    kind = "identity"
    words = "identity"
    statement = "identity (linear)"
    caption = "linear"
    reads = ()

    def f(self, z: Array) -> Array:
        return z.copy()

    def df(self, da: Array, at: Array | None) -> Array:
        return da.copy()

    def forward_formula(self, b: Builder) -> str:
        return f"{tex(self.a)} = {tex(self.z)}"

    def backward_formula(self, b: Builder) -> str:
        return f"{tex(names.grad(self.z))} = {tex(names.grad(self.a))}"

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        return (Expr((cx.sym(self.z, r, c),)),)

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        return (Expr((cx.sym(names.grad(self.a), r, c),)),)

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Identity", [self.z])

    def graph_backward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Identity", [names.grad(self.a)])

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        return z
