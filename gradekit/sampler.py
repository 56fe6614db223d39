"""Sample hand-friendly, well-posed instances of a problem.

Numbers come from each quantity's grid; an instance is rejected (and redrawn from the same
Generator, so results stay reproducible) when it would be a bad exercise: a ReLU input at 0,
a saturated sigmoid/tanh, a vanishing softmax probability, a tied prediction, a collapsed
batch variance, or an asked value that would print as 0 at the sheet's decimals.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping
import numpy as np

from gradekit import engine
from gradekit.errors import UnsatisfiableSpecError
from gradekit.network import BatchNorm
from gradekit.spec import Problem, domain_for, expected_shape
from gradekit.trace import Trace

# Thresholds of a well-posed instance; see degeneracy() for why each exists.
RELU_MARGIN = 0.05
SATURATION = {"sigmoid": 4.0, "tanh": 2.5}
PROBABILITY_FLOOR = 0.01
PREDICTION_GAP = 0.02
VARIANCE_FLOOR = 0.01
LARGEST_VALUE = 1e3
UPDATE_VISIBILITY = 2.0  # an update must move some entry by twice the grading tolerance
EXACT_ZERO = 1e-12


@dataclass(frozen=True)
class Instance:
    """One sampled (or pinned) problem instance and its full trace."""

    problem: Problem
    seed: int
    trace: Trace
    attempts: int

    @property
    def given(self) -> dict[str, np.ndarray]:
        return {n: self.trace[n] for n in self.problem.arch.given_names()}


@dataclass(frozen=True)
class _Plan:
    """How a problem's given values are produced, worked out once per problem.

    Every drawn value is a grid draw (class labels draw from the grid 0..K-1), so one call
    to the Generator per attempt yields all of them: uniform numbers in [0, 1) scaled by each
    entry's grid size. Pinned values are copied as they are.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    grids: tuple[np.ndarray | None, ...]  # None where the value is pinned
    slices: tuple[slice, ...]  # where each value's entries sit among the drawn ones
    sizes: np.ndarray  # grid size of every drawn entry, in order
    limits: np.ndarray  # sizes - 1, as ints
    pinned: dict[str, np.ndarray]


@lru_cache(maxsize=256)
def _plan(problem: Problem) -> _Plan:
    arch = problem.arch
    names = arch.given_names()
    shapes, grids, slices, sizes = [], [], [], []
    for name in names:
        shape = expected_shape(arch, name)
        shapes.append(shape)
        count = math.prod(shape)
        slices.append(slice(len(sizes), len(sizes) + count))
        if name in problem.pinned:
            grids.append(None)
            continue
        if name == "Y" and arch.classifies:
            grid = np.arange(arch.outputs if arch.loss.kind == "cross_entropy" else 2, dtype=float)
        else:
            grid = domain_for(problem, name).grid()
        grids.append(grid)
        sizes += [grid.size] * count
    sizes_array = np.array(sizes, dtype=float)
    return _Plan(names, tuple(shapes), tuple(grids), tuple(slices), sizes_array,
                 sizes_array.astype(int) - 1, dict(problem.pinned))


def draw_given(problem: Problem, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pinned values as pinned, the rest drawn from their grids, in a fixed order."""
    plan = _plan(problem)
    # min() guards the (measure-zero) case where rounding makes u * size == size.
    index = np.minimum((rng.random(plan.sizes.size) * plan.sizes).astype(int), plan.limits)
    out: dict[str, np.ndarray] = {}
    for name, shape, grid, where in zip(plan.names, plan.shapes, plan.grids, plan.slices):
        out[name] = plan.pinned[name] if grid is None else grid[index[where]].reshape(shape)
    return out


def _rounds_to_zero(values: list[np.ndarray], decimals: int) -> bool:
    a = np.abs(np.concatenate([v.ravel() for v in values]))
    return bool(np.any((a > EXACT_ZERO) & (a < 0.5 * 10.0**-decimals)))


def forward_degeneracy(problem: Problem, values: Mapping[str, np.ndarray]) -> str | None:
    """Why the forward pass makes a bad exercise, or None. Checked before the backward pass."""
    arch = problem.arch
    if not np.isfinite(values["loss"]):
        return "the loss is not finite"
    for l, layer in enumerate(arch.layers, start=1):
        z = values[f"Z{l}"]
        act = layer.activation
        if act in ("relu", "leaky_relu") and np.min(np.abs(z)) < RELU_MARGIN:
            return f"a {act} input of layer {l} is within {RELU_MARGIN} of 0 (its derivative is ambiguous by hand)"
        if act in SATURATION and np.max(np.abs(z)) > SATURATION[act]:
            return f"layer {l}'s {act} is saturated (|Z| > {SATURATION[act]}: gradients vanish)"
        if isinstance(layer, BatchNorm) and np.min(values[f"var{l}"]) < VARIANCE_FLOOR:
            return f"batch norm {l}'s input is nearly constant (variance < {VARIANCE_FLOOR})"
    out = values[f"A{arch.depth}"]
    probs = out if arch.layout == "rows" else out.T
    if arch.layers[-1].activation == "softmax":
        if np.min(probs) < PROBABILITY_FLOOR:
            return f"a softmax probability is below {PROBABILITY_FLOOR}"
        top2 = np.sort(probs, axis=1)[:, -2:]
        if np.min(top2[:, 1] - top2[:, 0]) < PREDICTION_GAP:
            return "two classes are nearly tied for the prediction"
    if arch.loss.kind == "binary_cross_entropy":
        if np.min(probs) < 2 * PROBABILITY_FLOOR or np.max(probs) > 1 - 2 * PROBABILITY_FLOOR:
            return "the sigmoid output is too close to 0 or 1"
        if np.min(np.abs(probs - 0.5)) < PREDICTION_GAP:
            return "a predicted probability is nearly 1/2 (tied prediction)"
    return None


def answer_degeneracy(problem: Problem, values: Mapping[str, np.ndarray]) -> str | None:
    """Why the asked values make a bad exercise (not finite, huge, or printing as 0), or None."""
    asked = [values[q] for q in problem.asked]
    flat = np.abs(np.concatenate([v.ravel() for v in asked]))
    if not np.all(np.isfinite(flat)):
        return "an asked value is not finite"
    if flat.max() > LARGEST_VALUE:
        return f"an asked value is larger than {LARGEST_VALUE:g}"
    if _rounds_to_zero(asked, problem.decimals):
        return f"an asked value has a nonzero entry that rounds to 0 at {problem.decimals} decimals"
    lr = problem.arch.learning_rate
    for q in problem.asked:
        if q.endswith("_new") and q != "loss_new":
            # An update smaller than the grading tolerance could not be told from no update
            # (or one with the wrong sign): the step would teach and test nothing.
            g = problem.grading.for_quantity(q)
            step = lr * np.abs(values["d" + q[: -len("_new")]])
            if np.max(step - UPDATE_VISIBILITY * (g.atol + g.rtol * np.abs(values[q]))) < 0:
                return f"the update of {q[: -len('_new')]} is too small to see at the grading tolerance"
    return None


def degeneracy(problem: Problem, trace: Trace) -> str | None:
    """Why this instance would make a bad exercise, or None when it is fine."""
    return forward_degeneracy(problem, trace.values) or answer_degeneracy(problem, trace.values)


def fully_pinned(problem: Problem) -> bool:
    return all(n in problem.pinned for n in problem.arch.given_names())


def sample(problem: Problem, seed: int) -> Instance:
    """The instance of `problem` for `seed`: the first well-posed draw of its Generator."""
    from gradekit.variants import generator

    rng = generator(seed)
    if fully_pinned(problem):
        # A textbook reproduction is what it is; checking it would only refuse the textbook.
        return Instance(problem, seed, engine.run(problem.arch, draw_given(problem, rng)), 1)
    reasons: Counter[str] = Counter()
    for attempt in range(1, problem.max_attempts + 1):
        with np.errstate(all="ignore"):
            values = engine.run_forward(problem.arch, draw_given(problem, rng))
            reason = forward_degeneracy(problem, values)
            if reason is None:
                trace = engine.finish(problem.arch, values)
                reason = answer_degeneracy(problem, trace.values)
        if reason is None:
            return Instance(problem, seed, trace, attempt)
        reasons[reason] += 1
    common, count = reasons.most_common(1)[0]
    raise UnsatisfiableSpecError(
        f"no well-posed instance in {problem.max_attempts} attempts; most often ({count} times): {common}. "
        "Widen or shift the sampling domains, or pin values",
        source=problem.source)
