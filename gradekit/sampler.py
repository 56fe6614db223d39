"""Sample hand-friendly, well-posed instances of a problem.

Numbers come from each quantity's grid; an instance is rejected (and redrawn from the same
Generator, so results stay reproducible) when it would be a bad exercise: a ReLU input at 0,
a saturated sigmoid/tanh, a vanishing softmax probability, a tied prediction, a collapsed
batch variance, or an asked value that would print as 0 at the sheet's decimals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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


def draw_given(problem: Problem, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pinned values as pinned, the rest drawn from their grids, in a fixed order."""
    arch = problem.arch
    out: dict[str, np.ndarray] = {}
    for name in arch.given_names():
        if name in problem.pinned:
            out[name] = problem.pinned[name]
            continue
        shape = expected_shape(arch, name)
        if name == "Y" and arch.classifies:
            classes = arch.outputs if arch.loss.kind == "cross_entropy" else 2
            out[name] = rng.integers(0, classes, size=shape).astype(float)
        else:
            out[name] = rng.choice(domain_for(problem, name).grid(), size=shape)
    return out


def _rounds_to_zero(value: np.ndarray, decimals: int) -> bool:
    a = np.abs(value)
    return bool(np.any((a > EXACT_ZERO) & (a < 0.5 * 10.0**-decimals)))


def degeneracy(problem: Problem, trace: Trace) -> str | None:
    """Why this instance would make a bad exercise, or None when it is fine."""
    arch = problem.arch
    for l, layer in enumerate(arch.layers, start=1):
        z = trace[f"Z{l}"]
        act = layer.activation
        if act in ("relu", "leaky_relu") and np.min(np.abs(z)) < RELU_MARGIN:
            return f"a {act} input of layer {l} is within {RELU_MARGIN} of 0 (its derivative is ambiguous by hand)"
        if act in SATURATION and np.max(np.abs(z)) > SATURATION[act]:
            return f"layer {l}'s {act} is saturated (|Z| > {SATURATION[act]}: gradients vanish)"
        if isinstance(layer, BatchNorm) and np.min(trace[f"var{l}"]) < VARIANCE_FLOOR:
            return f"batch norm {l}'s input is nearly constant (variance < {VARIANCE_FLOOR})"
    out = trace[f"A{arch.depth}"]
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
    for name in problem.asked:
        value = trace[name]
        if np.max(np.abs(value)) > LARGEST_VALUE:
            return f"{name} has an entry larger than {LARGEST_VALUE:g}"
        if _rounds_to_zero(value, problem.decimals):
            return f"{name} has a nonzero entry that rounds to 0 at {problem.decimals} decimals"
    return None


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
            trace = engine.run(problem.arch, draw_given(problem, rng))
        reason = _non_finite(trace) or degeneracy(problem, trace)
        if reason is None:
            return Instance(problem, seed, trace, attempt)
        reasons[reason] += 1
    common, count = reasons.most_common(1)[0]
    raise UnsatisfiableSpecError(
        f"no well-posed instance in {problem.max_attempts} attempts; most often ({count} times): {common}. "
        "Widen or shift the sampling domains, or pin values",
        source=problem.source)


def _non_finite(trace: Trace) -> str | None:
    for name, value in trace.values.items():
        if not np.all(np.isfinite(value)):
            return f"{name} is not finite"
    return None

