"""L2 weight decay: the penalty R = c sum ||W||^2 added to the loss, and its term c' W in every dW.

The course's convention is a spec choice stated on the sheet: R = lambda/2 ||W||^2 (`half`, whose
derivative is lambda W) or lambda ||W||^2 (derivative 2 lambda W), the biases decayed too or not,
the penalty divided by the number of samples N or not. With c = lambda (1/2 if half) (1/N if
divided), R = c sum over the decayed parameters of the sum of their squared entries, the loss is
L = L_data + R, and every decayed parameter's gradient gains 2 c p.

This op owns the penalty and the total loss (forward steps `penalty` and `loss`; the loss function
of the output writes `data_loss`). The gradients it adds to stay the affine map's steps (dW, db:
gradekit.ops.dense asks this op for the extra term, its formula, its worked term and its mistakes),
so that a dW is one step with one formula, X^T dZ + lambda W.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.network import WeightDecay as Spec
from gradekit.model.notation import tex, tex_constant
from gradekit.ops.base import Builder, Check, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr, Worked, cap

Array = np.ndarray

# The decay term of an asked gradient (or the penalty in an asked loss) must move some entry by
# this many units of the sheet's last decimal: a forgotten penalty must not print as the right answer.
VISIBLE_UNITS = 5.0


def penalty(c: float, scalars: tuple[bool, ...], *params: Array) -> Array:
    """R = c * sum of the squares of every entry of every decayed parameter (a matrix or a row of
    biases, or one scalar bias: `scalars` says which).  -> () per instance of a stack"""
    total = sum(np.asarray(p) ** 2 if scalar else (np.asarray(p) ** 2).sum(axis=(-2, -1))
                for p, scalar in zip(params, scalars))
    return np.asarray(c * total)


def decay_term(c: float, p: Array) -> Array:
    """The penalty's gradient with respect to one parameter: 2 c p (lambda p for lambda/2 ||p||^2)."""
    return 2.0 * c * p


@dataclass(frozen=True)
class WeightDecayOp(Op):
    """The L2 penalty of the decayed parameters `params` (names, in layer order) over `samples` samples."""

    spec: Spec
    params: tuple[str, ...]
    scalars: tuple[bool, ...]  # per decayed parameter: one scalar bias (else a matrix or a row)
    samples: int
    kind = "weight_decay"

    @property
    def c(self) -> float:
        return self.spec.coefficient(self.samples)

    @property
    def k(self) -> float:
        """The factor of p in the penalty's gradient: 2c."""
        return 2.0 * self.c

    def decays(self, name: str) -> bool:
        return name in self.params

    # -- how the sheet writes it --

    def coefficient_tex(self) -> str:
        """c in R = c sum ||W||^2, in symbols: \\frac{\\lambda}{2}, \\lambda, \\frac{\\lambda}{2N}, \\frac{\\lambda}{N}."""
        den = ("2" if self.spec.half else "") + ("N" if self.spec.divide_by_n else "")
        return rf"\frac{{\lambda}}{{{den}}}" if den else r"\lambda"

    def gradient_coefficient_tex(self) -> str:
        """2c in symbols: \\lambda, 2\\lambda, \\frac{\\lambda}{N}, \\frac{2\\lambda}{N}."""
        num = r"\lambda" if self.spec.half else r"2\lambda"
        return rf"\frac{{{num}}}{{N}}" if self.spec.divide_by_n else num

    def k_number(self) -> str:
        return tex_constant(round(self.k, 12))

    def words(self) -> str:
        """The convention in words, as the sheet states it."""
        s = self.spec
        what = "every weight and bias" if s.biases else "every weight (not the biases)"
        per = ", divided by the number of samples $N$" if s.divide_by_n else ""
        return (rf"L2 weight decay with $\lambda = {tex_constant(s.strength)}$: the loss adds the penalty "
                rf"${self.penalty_formula()}$ over {what} of every layer{per}, so each decayed parameter's "
                rf"gradient gains ${self.gradient_coefficient_tex()}$ times the parameter.")

    def penalty_formula(self) -> str:
        norms = " + ".join(rf"\lVert {tex(p)} \rVert^{{2}}" for p in self.params)
        return rf"R = {self.coefficient_tex()} \left({norms}\right)"

    # -- the trace --

    def forward(self, b: Builder) -> None:
        c, scalars = self.c, self.scalars
        b.add(self, "penalty", names.PENALTY, "forward", self.params, self.penalty_formula(),
              lambda *ps: penalty(c, scalars, *ps), "the L2 penalty (weight decay) of the decayed parameters", "scalar")
        b.add(self, "total", names.LOSS, "loss", (names.DATA_LOSS, names.PENALTY),
              rf"L = {tex(names.DATA_LOSS)} + R", lambda d, r: d + r, "loss: the data loss plus the penalty", "scalar")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "total":
            return Worked(tex(names.LOSS), "", (Expr((tex(names.DATA_LOSS), "R")),
                                                 Expr((cx.result(names.DATA_LOSS), cx.number(cx.at(names.PENALTY), paren=False)))),
                          cx.result(names.LOSS))
        sym, num = [], []
        for p in self.params:
            value = cx.value(p)
            for r in range(value.shape[0] if value.ndim else 1):
                for col in range(value.shape[1] if value.ndim else 1):
                    sym.append(f"({cx.sym(p, r, col)})^{{2}}")
                    num.append(f"({cx.num(p, r, col, paren=False)})^{{2}}")
        c = tex_constant(round(self.c, 12))
        before = rf"{self.coefficient_tex()}\bigl("
        return Worked("R", "", (Expr(cap(sym), before, r"\bigr)"), Expr(cap(num), rf"{c}\bigl(", r"\bigr)")),
                      cx.result(step.name))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role == "penalty":
            out = [rf"With $\lambda = {tex_constant(self.spec.strength)}$, ${self.coefficient_tex()} = "
                   rf"{tex_constant(round(self.c, 12))}$."]
            if not self.spec.biases:
                out.append("The biases are not decayed: they are not in the penalty, and their gradients have no "
                           "decay term.")
            return tuple(out)
        return ("The penalty depends on the parameters only, not on the data: it adds to the loss, and its "
                r"derivative adds to each decayed parameter's gradient.",)

    def gradient_notes(self, p: str) -> tuple[str, ...]:
        """What a decayed gradient's worked entry says about its extra term."""
        return (rf"The penalty adds ${self.gradient_coefficient_tex()}\, {tex(p)}$ to the gradient: the derivative "
                rf"of ${self.coefficient_tex()} \lVert {tex(p)} \rVert^{{2}}$ (here ${self.gradient_coefficient_tex()} "
                rf"= {self.k_number()}$).",)

    # -- what the affine map's decayed gradients ask of it --

    def gradient_formula(self, p: str) -> str:
        return rf" + {self.gradient_coefficient_tex()}\, {tex(p)}"

    def worked_terms(self, cx: Context, p: str, r: int, c: int) -> tuple[str, str]:
        """The decay term of one entry: in symbols and in numbers."""
        return (rf"{self.gradient_coefficient_tex()}\, {cx.sym(p, r, c)}",
                rf"{self.k_number()} \cdot {cx.num(p, r, c)}")

    def gradient_mistakes(self, v: Values, p: str, data: Array) -> Iterator[Mistake]:
        """Mistakes in the gradient of a decayed parameter p, whose data part (X^T dZ, sum dZ) is `data`."""
        k, value = self.k, v[p]
        yield Mistake("decay_missing_in_gradient", f"the weight-decay term is missing from d{p}: the penalty adds "
                      f"its derivative, {'lambda' if self.spec.half else '2 lambda'} {p}, to the gradient", data)
        if self.spec.half:
            yield Mistake("decay_factor_2lambda", f"the decay term is lambda {p}, not 2 lambda {p}: the penalty "
                          "lambda/2 ||W||^2 has the 1/2 that cancels the 2 of the square", data + 2.0 * k * value)
        else:
            yield Mistake("decay_factor_lambda", f"the decay term is 2 lambda {p}, not lambda {p}: the penalty "
                          "lambda ||W||^2 has no 1/2, so the derivative of the square keeps its 2", data + 0.5 * k * value)
        n = v.net.samples
        if n > 1 and self.spec.divide_by_n:
            yield Mistake("decay_not_divided", f"the decay term is divided by N = {n} on this sheet (the penalty is "
                          "divided by the number of samples)", data + k * n * value)
        elif n > 1:
            yield Mistake("decay_divided_by_n", f"the decay term is not divided by N = {n} on this sheet: only the "
                          "data loss is averaged over the samples", data + k / n * value)

    def bias_mistakes(self, v: Values, b: str, data: Array) -> Iterator[Mistake]:
        """A bias that this sheet does not decay, decayed anyway."""
        yield Mistake("bias_decayed", f"the biases are not decayed on this sheet: d{b} has no weight-decay term",
                      data + self.k * v[b])

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "total":
            data, r = v[names.DATA_LOSS], v[names.PENALTY]
            yield Mistake("penalty_missing_from_loss", "the loss includes the weight-decay penalty R: L = L_data + R",
                          data)
            other = 2.0 * r if self.spec.half else 0.5 * r
            yield Mistake("penalty_other_convention", "the penalty is " + ("lambda/2 ||W||^2 on this sheet, not "
                          "lambda ||W||^2" if self.spec.half else "lambda ||W||^2 on this sheet, not lambda/2 ||W||^2"),
                          data + other)
        elif step.role == "penalty":
            r = v[step.name]
            yield Mistake("penalty_other_convention", "the penalty is " + ("lambda/2 ||W||^2 on this sheet, not "
                          "lambda ||W||^2" if self.spec.half else "lambda ||W||^2 on this sheet, not lambda/2 ||W||^2"),
                          2.0 * r if self.spec.half else 0.5 * r)
            weights = tuple(p for p in self.params if names.base_of(p) == "W")
            if self.spec.biases and weights != self.params:
                scalars = tuple(sc for p, sc in zip(self.params, self.scalars) if p in weights)
                yield Mistake("penalty_without_biases", "the biases are decayed on this sheet: the penalty sums "
                              "their squares too", penalty(self.c, scalars, *(v[p] for p in weights)))

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "total":
            g.op(step.name, "Add", [names.DATA_LOSS, names.PENALTY])
            return
        total = None
        for p in self.params:
            sq = g.op(g.temp(step.name, f"{p}sq"), "ReduceSum", [g.op(g.temp(step.name, f"{p}2"), "Mul", [p, p])],
                      keepdims=0)
            total = sq if total is None else g.op(g.temp(step.name, f"to{p}"), "Add", [total, sq])
        g.op(step.name, "Mul", [total, g.constant(self.c)])

    def graph_gradient(self, step: Step, g: Graph, p: str, of: str) -> None:
        """A decayed gradient: the local derivative through `of` (Z) plus the penalty's."""
        g.grad(step.name, p, [(of, names.grad(of)), (names.PENALTY, 1)])

    def symbolic(self, s: Symbolic) -> None:
        c = s.exact(self.c)
        r = s.put(names.PENALTY, lambda: c * sum(e ** 2 for p in self.params for e in s.values[p]))
        data = s.values[names.DATA_LOSS]
        s.put(names.LOSS, lambda: data + r)

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        unit = VISIBLE_UNITS * 10.0 ** -problem.decimals
        out = []
        asked = set(problem.asked)
        k, c = self.k, self.c
        for p in self.params:
            if names.grad(p) in asked:
                out.append(Check("visible_penalty", f"the weight-decay term of d{p} is too small to see at the "
                                 "sheet's decimals", "given",
                                 lambda v, p=p: entries(np.abs(k * v[p])).max(axis=1) < unit - MARGIN_SLACK, group=0))
        if names.LOSS in asked or names.PENALTY in asked:
            params, scalars = self.params, self.scalars
            out.append(Check("visible_penalty", "the weight-decay penalty is too small to see at the sheet's decimals",
                             "given", lambda v: penalty(c, scalars, *(v[p] for p in params)) < unit - MARGIN_SLACK,
                             group=0))
        return tuple(out)
