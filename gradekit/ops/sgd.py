"""The update and what follows it: one step of gradient descent, p_new = p - lr dp, and the loss after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex, tex_constant
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray

UPDATE_VISIBILITY = 2.0  # an update must move some entry by twice the grading tolerance
# The allowance of an updated entry, as the sampler sees it before the key's allowances exist:
# a fixed tolerance where the spec sets one, else this many units in the last decimal (the
# derived allowance of an update is one unit plus the rounding of its gradient, lr * B(dW)).
UPDATE_UNITS = 5.0


@dataclass(frozen=True)
class Sgd(Op):
    """Every parameter after one step of gradient descent with learning rate `lr`."""

    params: tuple[Given, ...]
    lr: float
    kind = "sgd"

    def forward(self, b: Builder) -> None:
        lr = self.lr
        for p in self.params:
            new, dp = names.new(p.name), names.grad(p.name)
            b.add(self, "update", new, "update", (p.name, dp),
                  rf"{tex(new)} = {tex(p.name)} - {tex_constant(lr)}\, {tex(dp)}",
                  lambda v, g: v - lr * g, f"{p.name} after one SGD step (learning rate {lr:g})", p.axes)

    def worked(self, step: Step, cx: Context) -> Worked | None:
        p = names.before_update(step.name)
        r, c = cx.pick(step.name)
        lr = tex_constant(self.lr)
        lines = (Expr((cx.sym(p, r, c), rf"-{lr}\, {cx.sym(names.grad(p), r, c)}")),
                 Expr((cx.num(p, r, c, paren=False), rf"-{lr} \cdot {cx.num(names.grad(p), r, c)}")))
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        zero = cx.structural_zero(step.name)
        return (zero,) if zero else ()

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        p = names.before_update(step.name)
        yield Mistake("update_sign", "sign error in the update: gradient descent SUBTRACTS the learning rate times "
                      "the gradient", v[p] + self.lr * v[names.grad(p)])
        yield Mistake("learning_rate_missing", "the learning rate is missing from the update", v[p] - v[names.grad(p)])

    def graph(self, step: Step, g: Graph) -> None:
        p = names.before_update(step.name)
        moved = g.op(g.temp(step.name, "step"), "Mul", [names.grad(p), g.constant(self.lr)])
        g.op(step.name, "Sub", [p, moved])

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        lr, out = self.lr, []
        for q in problem.asked:
            parsed = names.parse(q)
            if parsed is None or not parsed.new or q == names.LOSS_NEW:
                continue
            # An update smaller than the grading tolerance could not be told from no update (or
            # one with the wrong sign): the step would teach and test nothing.
            g, p = problem.grading.for_quantity(q), names.before_update(q)
            unit = 0.0 if problem.grading.tolerance == "fixed" else UPDATE_UNITS * 10.0 ** -problem.decimals

            def too_small(v: dict[str, Array], q: str = q, p: str = p, g: Any = g, unit: float = unit) -> Array:
                moved = lr * np.abs(v[names.grad(p)])
                allowed = np.maximum(g.atol + g.rtol * np.abs(v[q]), unit)
                return entries(moved - UPDATE_VISIBILITY * allowed).max(axis=1) < 0

            out.append(Check("visible_update", f"the update of {p} is too small to see at the grading tolerance",
                             "answers", too_small, group=3))
        return tuple(out)


@dataclass(frozen=True)
class LossAfter(Op):
    """The loss after the update: the forward pass again, on the same data, with the updated parameters."""

    params: tuple[str, ...]
    held: tuple[str, ...] = ()  # other given values the forward pass reads, unchanged (dropout masks)
    kind = "loss_after"

    def forward(self, b: Builder) -> None:
        params, held, forward = self.params, ("X", "Y", *self.held), b.forward_steps()
        new = tuple(names.new(p) for p in params)

        def loss_after(*values: Array) -> Array:
            given = dict(zip(held, values[:len(held)]))
            return rerun(forward, {**given, **dict(zip(params, values[len(held):]))})[names.LOSS]

        formula = b.net.loss.formula(b, names.LOSS_NEW)
        if b.has(names.PENALTY):  # weight decay: the data loss and the penalty, both at the new parameters
            formula = rf"L_{{\text{{new}}}} = {tex(names.DATA_LOSS)}(\theta_{{\text{{new}}}}) + R(\theta_{{\text{{new}}}})"
        b.add(self, "forward", names.LOSS_NEW, "after", (*held, *new), formula,
              loss_after, "the loss after the update: the forward pass again, on the same data, with the updated "
              "parameters", "scalar")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        loss = cx.net.loss
        given = {n: cx.value(n) for n in ("X", "Y", *self.held)}
        given.update({p: cx.value(names.new(p)) for p in self.params})
        values = rerun(cx.forward_steps, given)
        if names.PENALTY in values:
            data, r = float(values[names.DATA_LOSS]), float(values[names.PENALTY])
            return Worked(r"L_{\text{new}}", "", (Expr((rf"{tex(names.DATA_LOSS)}(\theta_{{\text{{new}}}})",
                                                              r"R(\theta_{\text{new}})")),
                                                       Expr((cx.number(data, paren=False), cx.number(r, paren=False)))),
                          cx.result(step.name))
        out = np.asarray(values[loss.out], dtype=float)
        return loss.worked_loss(cx, step.name, lambda r, c: float(out[r, c]), rf"{tex(loss.out)}_{{\text{{new}}}}")

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        return (rf"The forward pass again, on the same data, with the updated parameters; the loss went "
                rf"{'down' if cx.at(names.LOSS_NEW) < cx.at(names.LOSS) else 'up'} from "
                rf"${cx.result(names.LOSS)}$ to ${cx.result(names.LOSS_NEW)}$.",)

    def graph(self, step: Step, g: Graph) -> None:
        g.eval(step.name, names.LOSS, {p: names.new(p) for p in self.params})

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if names.LOSS_NEW not in problem.asked:
            return ()
        # A step that raises the loss (a learning rate too large for these numbers) teaches the
        # opposite of what gradient descent is for; a drop too small to print shows nothing.
        unit = 10.0 ** -problem.decimals
        return (Check("loss_decreases", f"the step does not lower the loss by at least {unit:g}", "answers",
                      lambda v: v[names.LOSS] - v[names.LOSS_NEW] < unit - MARGIN_SLACK, group=4),)


def rerun(steps: tuple[Step, ...], given: dict[str, Array]) -> dict[str, Array]:
    """The values of `steps` (in order, rows layout) from the given values."""
    values = dict(given)
    for s in steps:
        values[s.name] = np.asarray(s.compute(*[values[d] for d in s.deps]), dtype=float)
    return values
