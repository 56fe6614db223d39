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
from typing import Callable, Mapping, Sequence

import numpy as np

from gradekit import engine
from gradekit.errors import UnsatisfiableSpecError
from gradekit.network import BatchNorm
from gradekit.spec import Problem, domain_for, expected_shape
from gradekit.trace import Step, Trace

# Thresholds of a well-posed instance; each check's reason below says why it exists.
RELU_MARGIN = 0.05
SATURATION = {"sigmoid": 4.0, "tanh": 2.5}
PROBABILITY_FLOOR = 0.01
PREDICTION_GAP = 0.02
VARIANCE_FLOOR = 0.01
LARGEST_VALUE = 1e3
UPDATE_VISIBILITY = 2.0  # an update must move some entry by twice the grading tolerance
# The allowance of an updated entry, as the sampler sees it before the key's allowances exist:
# a fixed tolerance where the spec sets one, else this many units in the last decimal (the
# derived allowance of an update is one unit plus the rounding of its gradient, lr * B(dW)).
UPDATE_UNITS = 5.0
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


def _draw(plan: _Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pinned values as pinned, the rest drawn from their grids, in a fixed order."""
    # min() guards the (measure-zero) case where rounding makes u * size == size.
    index = np.minimum((rng.random(plan.sizes.size) * plan.sizes).astype(int), plan.limits)
    out: dict[str, np.ndarray] = {}
    for name, shape, grid, where in zip(plan.names, plan.shapes, plan.grids, plan.slices):
        out[name] = plan.pinned[name] if grid is None else grid[index[where]].reshape(shape)
    return out


# --- what makes a bad exercise ----------------------------------------------------------------
#
# Each check looks at a stack of candidates (values in the rows layout, one leading axis) and
# says which of them it rejects. A candidate's reason is the first check that rejects it, in
# the order below: forward checks (before the backward pass is paid for), then answer checks.


@dataclass(frozen=True)
class _Check:
    reason: str
    rejects: Callable[[Mapping[str, np.ndarray]], np.ndarray]  # stacked values -> (B,) bool


def _entries(value: np.ndarray) -> np.ndarray:
    """A stacked value as (B, entries of one candidate)."""
    return value.reshape(value.shape[0], -1)


@lru_cache(maxsize=256)
def _forward_checks(problem: Problem) -> tuple[_Check, ...]:
    arch = problem.arch
    checks = [_Check("the loss is not finite", lambda v: ~np.isfinite(v["loss"]))]
    for l, layer in enumerate(arch.layers, start=1):
        z, act = f"Z{l}", layer.activation
        if act in ("relu", "leaky_relu"):
            checks.append(_Check(f"a {act} input of layer {l} is within {RELU_MARGIN} of 0 (its derivative is "
                                 "ambiguous by hand)",
                                 lambda v, z=z: _entries(np.abs(v[z])).min(axis=1) < RELU_MARGIN))
        if act in SATURATION:
            limit = SATURATION[act]
            checks.append(_Check(f"layer {l}'s {act} is saturated (|Z| > {limit}: gradients vanish)",
                                 lambda v, z=z, limit=limit: _entries(np.abs(v[z])).max(axis=1) > limit))
        if isinstance(layer, BatchNorm):
            checks.append(_Check(f"batch norm {l}'s input is nearly constant (variance < {VARIANCE_FLOOR})",
                                 lambda v, l=l: _entries(v[f"var{l}"]).min(axis=1) < VARIANCE_FLOOR))
    out = f"A{arch.depth}"  # rows layout: one row of probabilities per sample
    if arch.layers[-1].activation == "softmax":
        checks.append(_Check(f"a softmax probability is below {PROBABILITY_FLOOR}",
                             lambda v: _entries(v[out]).min(axis=1) < PROBABILITY_FLOOR))
        checks.append(_Check("two classes are nearly tied for the prediction", lambda v: _top_gap(v[out]) < PREDICTION_GAP))
    if arch.loss.kind == "binary_cross_entropy":
        low, high = 2 * PROBABILITY_FLOOR, 1 - 2 * PROBABILITY_FLOOR
        checks.append(_Check("the sigmoid output is too close to 0 or 1",
                             lambda v: (_entries(v[out]).min(axis=1) < low) | (_entries(v[out]).max(axis=1) > high)))
        checks.append(_Check("a predicted probability is nearly 1/2 (tied prediction)",
                             lambda v: _entries(np.abs(v[out] - 0.5)).min(axis=1) < PREDICTION_GAP))
    return tuple(checks)


def _top_gap(probs: np.ndarray) -> np.ndarray:
    """Per candidate, the smallest gap between a sample's two most likely classes."""
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return (top2[..., 1] - top2[..., 0]).min(axis=-1)


ASKED = "|asked|"  # the answer checks' view of every asked entry (no quantity has this name)


def _with_asked(problem: Problem, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """values, plus the magnitudes of every asked entry of each candidate: (B, entries)."""
    values[ASKED] = np.abs(np.concatenate([_entries(values[q]) for q in problem.asked], axis=1))
    return values


@lru_cache(maxsize=256)
def _answer_checks(problem: Problem) -> tuple[_Check, ...]:
    """Checks of the asked values; they read values[ASKED] (see _with_asked)."""
    smallest = 0.5 * 10.0**-problem.decimals
    checks = [
        _Check("an asked value is not finite", lambda v: ~np.isfinite(v[ASKED]).all(axis=1)),
        _Check(f"an asked value is larger than {LARGEST_VALUE:g}", lambda v: v[ASKED].max(axis=1) > LARGEST_VALUE),
        _Check(f"an asked value has a nonzero entry that rounds to 0 at {problem.decimals} decimals",
               lambda v: ((v[ASKED] > EXACT_ZERO) & (v[ASKED] < smallest)).any(axis=1)),
    ]
    asked = problem.asked
    lr = problem.arch.learning_rate
    for q in asked:
        if q.endswith("_new") and q != "loss_new":
            # An update smaller than the grading tolerance could not be told from no update
            # (or one with the wrong sign): the step would teach and test nothing.
            g, p = problem.grading.for_quantity(q), q[: -len("_new")]

            unit = 0.0 if problem.grading.tolerance == "fixed" else UPDATE_UNITS * 10.0 ** -problem.decimals

            def too_small(v: Mapping[str, np.ndarray], q: str = q, p: str = p, g=g, unit=unit) -> np.ndarray:
                step = lr * np.abs(v["d" + p])
                allowed = np.maximum(g.atol + g.rtol * np.abs(v[q]), unit)
                return _entries(step - UPDATE_VISIBILITY * allowed).max(axis=1) < 0

            checks.append(_Check(f"the update of {p} is too small to see at the grading tolerance", too_small))
    return tuple(checks)


def _first_failing(checks: tuple[_Check, ...], values: Mapping[str, np.ndarray], count: int) -> np.ndarray:
    """Per candidate, the index of the first check that rejects it, or -1 when none does."""
    failing = np.full(count, -1)
    for i, check in enumerate(checks):
        failing[(failing < 0) & check.rejects(values)] = i
        if count == 1 and failing[0] >= 0:
            break  # a lone candidate is decided by its first failing check
    return failing


def degeneracy(problem: Problem, trace: Trace) -> str | None:
    """Why this instance would make a bad exercise, or None when it is fine."""
    values = _with_asked(problem, {n: _to_rows(trace.layout, np.asarray(v)[None]) for n, v in trace.values.items()})
    for checks in (_forward_checks(problem), _answer_checks(problem)):
        failing = int(_first_failing(checks, values, 1)[0])
        if failing >= 0:
            return checks[failing].reason
    return None


# --- sampling -----------------------------------------------------------------------------------


def fully_pinned(problem: Problem) -> bool:
    return all(n in problem.pinned for n in problem.arch.given_names())


def _to_rows(layout: str, stacked: np.ndarray) -> np.ndarray:
    """A stack of one quantity's values (leading axis) in the rows layout: matrices transpose."""
    return stacked.mT if layout == "columns" and stacked.ndim == 3 else stacked


@dataclass(frozen=True)
class _Sampling:
    """Everything sampling one problem needs, looked up once per problem (not per candidate:
    hashing a Problem for a cache lookup costs more than a small NumPy step)."""

    problem: Problem
    plan: _Plan
    forward_checks: tuple[_Check, ...]
    answer_checks: tuple[_Check, ...]
    names: tuple[str, ...]  # every quantity of the trace
    steps: tuple[Step, ...]


@lru_cache(maxsize=256)
def _sampling(problem: Problem) -> _Sampling:
    arch = problem.arch
    return _Sampling(problem, _plan(problem), _forward_checks(problem), _answer_checks(problem),
                     engine.names_for(arch), engine.steps_for(arch))


def _forward(ctx: _Sampling, drawn: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The forward values of candidates, stacked (a leading axis), in the rows layout."""
    arch, layout = ctx.problem.arch, ctx.problem.arch.layout
    if len(drawn) == 1:
        # A lone candidate (a single sample()) is evaluated as itself, which is cheaper than a
        # stack of one, and viewed as a stack of one afterwards. Same numbers either way.
        given = {n: _to_rows(layout, np.asarray(v, dtype=float)[None])[0] for n, v in drawn[0].items()}
        return {n: v[None] for n, v in engine.forward_rows(arch, given).items()}
    given = {n: _to_rows(layout, np.stack([d[n] for d in drawn]).astype(float, copy=False)) for n in ctx.plan.names}
    return engine.forward_rows(arch, given)


def _rest(ctx: _Sampling, forward: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """forward's values with everything after them (backward, update, loss after)."""
    arch = ctx.problem.arch
    if len(next(iter(forward.values()))) == 1:  # a lone candidate, as in _forward
        rest = engine.rest_rows(arch, {n: v[0] for n, v in forward.items()})
        return {**forward, **{n: v[None] for n, v in rest.items()}}
    values = {**forward, **engine.rest_rows(arch, forward)}
    for v in values.values():
        v.flags.writeable = False  # the instances of a stack share it: none may change another's
    return values


def _trace(ctx: _Sampling, values: Mapping[str, np.ndarray], i: int) -> Trace:
    """Candidate i's trace, in the problem's layout: read-only views into the stacked values."""
    flip = ctx.problem.arch.layout == "columns"
    own = {}
    for name in ctx.names:
        v = values[name][i, ...]  # `...` keeps a scalar a 0-d array
        own[name] = v.T if flip and v.ndim == 2 else v
    return Trace(ctx.problem.arch.layout, ctx.steps, own)


def sample(problem: Problem, seed: int) -> Instance:
    """The instance of `problem` for `seed`: the first well-posed draw of its Generator."""
    return sample_many(problem, [seed])[0]


def sample_many(problem: Problem, seeds: Sequence[int]) -> list[Instance]:
    """The instance of each seed, exactly as sample() gives it, for many seeds at once.

    Each seed draws its candidates from its own Generator, one per round; a round evaluates the
    candidates of every seed still looking as one stack (the engine works on stacks), so a
    roster's or a batch's instances cost tens of microseconds each instead of hundreds.
    A stack gives the same numbers as a lone evaluation, bit for bit (tests/test_sampler.py), so
    the instance of a seed never depends on which other seeds were sampled with it.
    """
    from gradekit.variants import generator

    ctx = _sampling(problem)
    rngs = [generator(s) for s in seeds]
    if fully_pinned(problem):
        # A textbook reproduction is what it is; checking it would only refuse the textbook.
        values = _rest(ctx, _forward(ctx, [_draw(ctx.plan, r) for r in rngs]))
        return [Instance(problem, s, _trace(ctx, values, i), 1) for i, s in enumerate(seeds)]
    found: dict[int, Instance] = {}
    reasons: dict[int, Counter[str]] = {}
    pending = list(range(len(seeds)))
    for attempt in range(1, problem.max_attempts + 1):
        with np.errstate(all="ignore"):
            values = _forward(ctx, [_draw(ctx.plan, rngs[i]) for i in pending])
            failing = _first_failing(ctx.forward_checks, values, len(pending))
            why = [ctx.forward_checks[f].reason if f >= 0 else "" for f in failing.tolist()]
            passed = np.flatnonzero(failing < 0)
            if passed.size:
                if passed.size < len(pending):
                    values = {n: v[passed] for n, v in values.items()}
                values = _rest(ctx, values)
                later = _first_failing(ctx.answer_checks, _with_asked(problem, values), passed.size)
                for k, (j, f) in enumerate(zip(passed.tolist(), later.tolist())):
                    if f >= 0:
                        why[j] = ctx.answer_checks[f].reason
                    else:
                        found[pending[j]] = Instance(problem, seeds[pending[j]], _trace(ctx, values, k), attempt)
        for j, i in enumerate(pending):
            if why[j]:
                reasons.setdefault(i, Counter())[why[j]] += 1
        pending = [i for i in pending if i not in found]
        if not pending:
            return [found[i] for i in range(len(seeds))]
    common, count = reasons[pending[0]].most_common(1)[0]
    raise UnsatisfiableSpecError(
        f"no well-posed instance in {problem.max_attempts} attempts; most often ({count} times): {common}. "
        "Widen or shift the sampling domains, or pin values",
        source=problem.source)
