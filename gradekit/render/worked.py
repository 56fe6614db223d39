"""Worked steps: one entry of each trace step worked out with its numbers, and the structural facts.

Each step's operation works its entry out (`Op.worked`) and says which facts of the network are
worth a sentence there (`Op.notes`: why a bias gradient under a softmax is 0, a dead ReLU unit,
where the 1/N comes from, why the columns of a gradient through batch norm sum to 0), in the
vocabulary of gradekit.ops.worked. This module asks them for the steps of a solution; the
templates write the result as LaTeX and as Markdown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradekit.engine.build import network
from gradekit.ops.worked import Context, Expr, Worked, WorkedStep, join_terms

if TYPE_CHECKING:
    from gradekit.keys.key import ProblemKey

__all__ = ["Expr", "Worked", "WorkedStep", "join_terms", "context", "worked_step", "worked_steps"]


def context(pk: ProblemKey) -> Context:
    """The values of a problem's variant as its worked entries read them."""
    trace = pk.instance.trace
    return Context(network(pk.problem.arch), trace.rows, trace.steps, pk.problem.decimals)


def worked_step(pk: ProblemKey, name: str, cx: Context | None = None) -> WorkedStep:
    """The worked entry and structural notes of one step of a problem."""
    cx = cx or context(pk)
    step = pk.instance.trace.step(name)
    if step.op is None:
        return WorkedStep((), ())
    example = step.op.worked(step, cx)
    return WorkedStep((example,) if example is not None else (), step.op.notes(step, cx))


def worked_steps(pk: ProblemKey, names: list[str]) -> dict[str, WorkedStep]:
    """worked_step for many steps of one problem, sharing its values."""
    cx = context(pk)
    return {name: worked_step(pk, name, cx) for name in names}
