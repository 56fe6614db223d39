"""Sample hand-friendly, well-posed instances of a problem.

Numbers come from each quantity's grid; a candidate is rejected (and redrawn from the same
Generator, so results stay reproducible) when it breaks one of the quality rules its problem
obeys (gradekit.model.quality: a ReLU input at a kink, a saturated sigmoid/tanh, a vanishing softmax
probability, a tied prediction, a collapsed batch variance, a dead unit, two identical hidden
units, labels of one class, a step that raises the loss, an asked value that would print as 0).

Values that are 0 in exact arithmetic are stored as 0: a computed entry within ZERO_TOLERANCE
of 0, relative to the largest magnitude of its instance, is rounding noise (5.55e-17, -0.0)
and becomes 0.0 here, once, so that every key, sheet, solution and export shows 0.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from gradekit.engine import build as engine
from gradekit.engine import margins as tolerance
from gradekit.engine.layout import expected_shape, stack_to_rows
from gradekit.engine.trace import Trace
from gradekit.model.problem import Problem, domain_for
from gradekit.ops.base import Check, Step
from gradekit.ops.mistakes import Values, confusable
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.relu import RELU_MARGIN
from gradekit.ops.softmax import PREDICTION_GAP, PROBABILITY_FLOOR
from gradekit.util.errors import UnsatisfiableSpecError

__all__ = ["RELU_MARGIN", "PREDICTION_GAP", "PROBABILITY_FLOOR"]  # thresholds the ops' checks use, for tests

LARGEST_VALUE = 1e3

# How much stricter the sampler is than the rule (ops.mistakes.confusable): float round-off of one
# stack of candidates differs from another's in the last bits.
CONFUSABLE_NOISE = 1e-9
# Float64 round-off is about 1e-16 of the magnitudes summed; an entry this small relative to
# the largest magnitude of its instance can only be a 0 of exact arithmetic.
ZERO_TOLERANCE = 1e-12


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
    entry's grid size. Pinned values are copied as they are. Under the two_classes rule, labels
    are one draw from the table of every label vector that has two classes or more (when it is
    small): the same variants as drawing labels and rejecting those of one class, without the
    rejected draws.
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
    given = engine.network(arch).given
    names = tuple(g.name for g in given)
    shapes, grids, slices, sizes = [], [], [], []
    for g in given:
        name = g.name
        shape = expected_shape(arch, name)
        shapes.append(shape)
        count = math.prod(shape)
        slices.append(slice(len(sizes), len(sizes) + count))
        if name in problem.pinned:
            grids.append(None)
            continue
        if g.labels:  # class labels draw from 0..K-1
            classes = g.labels
            if problem.quality.on("two_classes") and 2 <= count and classes**count <= LABEL_TABLE_LIMIT:
                table = _label_table(classes, count)
                grids.append(table)
                slices[-1] = slice(len(sizes), len(sizes) + 1)
                sizes.append(len(table))
                continue
            grid = np.arange(classes, dtype=float)
        else:
            grid = domain_for(problem, name).grid()
        grids.append(grid)
        sizes += [grid.size] * count
    sizes_array = np.array(sizes, dtype=float)
    return _Plan(names, tuple(shapes), tuple(grids), tuple(slices), sizes_array,
                 sizes_array.astype(int) - 1, dict(problem.pinned))


LABEL_TABLE_LIMIT = 1 << 16


def _label_table(classes: int, samples: int) -> np.ndarray:
    """Every vector of `samples` labels from 0..classes-1 that holds two classes or more, in order."""
    table = np.indices((classes,) * samples).reshape(samples, -1).T.astype(float)
    return table[(table != table[:, :1]).any(axis=1)]


def possible_draws(problem: Problem) -> int:
    """How many different given values the grids allow (before any rule rejects one)."""
    return math.prod(int(size) for size in _plan(problem).sizes)


def _draw(plan: _Plan, rngs: Sequence[np.random.Generator], each: int = 1) -> dict[str, np.ndarray]:
    """`each` candidates per Generator, stacked (a leading axis: a Generator's candidates one after
    another, in the order it draws them), in the problem's layout: pinned values as pinned, the
    rest drawn from their grids, in a fixed order.

    Each Generator gives its own uniform numbers (so a seed's candidates never depend on the
    other seeds of a stack, nor on how many it draws at once: PCG64's stream of doubles is the
    same in one call or several); the grid lookups are then done for the whole stack at once.
    """
    width = plan.sizes.size
    count = len(rngs) * each
    uniform = (np.concatenate([r.random(width * each) for r in rngs]) if len(rngs) > 1
               else rngs[0].random(width * each)).reshape(count, width)
    # min() guards the (measure-zero) case where rounding makes u * size == size.
    index = np.minimum((uniform * plan.sizes).astype(int), plan.limits)
    out: dict[str, np.ndarray] = {}
    for name, shape, grid, where in zip(plan.names, plan.shapes, plan.grids, plan.slices):
        if grid is None:
            out[name] = np.broadcast_to(plan.pinned[name], (count, *shape))
        else:
            out[name] = grid[index[:, where]].reshape((count, *shape))
    return out


# --- zeros of exact arithmetic ------------------------------------------------------------------


def _snap_zeros(values: dict[str, np.ndarray], given: Sequence[str], computed: Sequence[str],
                starts: np.ndarray) -> None:
    """Replace every entry of the `computed` values within ZERO_TOLERANCE of 0, relative to the
    largest magnitude of its candidate (given or computed, at least 1), by 0.0; -0.0 too.

    All values are looked at as one (B, entries) array: a handful of NumPy calls per stack of
    candidates, not a handful per quantity. `starts`: where each computed quantity begins in it,
    and where they end.
    """
    count = len(values[given[0]])
    flat = np.abs(np.concatenate([values[n].reshape(count, -1) for n in (*computed, *given)], axis=1))
    scale = np.maximum(1.0, flat.max(axis=1, initial=0.0))
    near = flat[:, : starts[-1]] <= ZERO_TOLERANCE * scale[:, None]
    touched = np.logical_or.reduceat(near.any(axis=0), starts[:-1])  # per computed quantity
    for k in np.flatnonzero(touched).tolist():
        name = computed[k]
        values[name] = np.where(near[:, starts[k]:starts[k + 1]].reshape(values[name].shape), 0.0, values[name])


# --- what makes a bad exercise ----------------------------------------------------------------
#
# Each check looks at a stack of candidates (values in the rows layout, one leading axis) and
# says which of them it rejects. A candidate's reason is the first check that rejects it, in
# three stages: checks of the given values (before any forward pass), of the forward pass
# (before the backward pass is paid for), then of the backward pass and the answers. Each
# check belongs to a quality rule (gradekit.model.quality), and is left out when the problem's
# spec switches its rule off. The checks of an operation are its own (`Op.checks`, in
# gradekit.ops); the ones here look at the problem as a whole.


def _op_checks(problem: Problem) -> list[Check]:
    """Every op's checks, by stage and group (gradekit.ops.base.Check), then in the ops' order."""
    net = engine.network(problem.arch)
    found = [c for op in (*net.ops, *net.after) for c in op.checks(net, problem)]
    return sorted(found, key=lambda c: c.group)  # a stable sort: the ops' order within a group


def _stage(problem: Problem, stage: str, first: list[Check], middle: list[Check], last: list[Check]) -> list[Check]:
    """A stage's checks: `first` (group 0), the ops' up to group 1, `middle`, the ops' after, `last`."""
    ops = [c for c in _op_checks(problem) if c.stage == stage]
    return [*first, *(c for c in ops if c.group <= 1), *middle, *(c for c in ops if c.group > 1), *last]


def _given_check_list(problem: Problem) -> list[Check]:
    """Checks of the given values alone: a candidate they reject costs no forward pass."""
    return _stage(problem, "given", [], [], [])


def _forward_check_list(problem: Problem) -> list[Check]:
    out = engine.output_name(problem.arch)
    finite = Check("finite", "the loss is not finite", "forward",  # a family without a loss has no such check
                   lambda v: ~np.isfinite(v[out]) if out in v else np.zeros(len(next(iter(v.values()))), bool))
    return _stage(problem, "forward", [finite], [], [])


ASKED = "|asked|"  # the answer checks' view of every asked entry (no quantity has this name)
NUMERIC = "|numeric|"  # the same, for the asked numbers only (see _numeric_asked)


@lru_cache(maxsize=256)
def _numeric_asked(problem: Problem) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The asked quantities whose 0 would be a free point, and the others: `pred` (a class index,
    0 is a class) and concept questions (their 0 is the point of asking)."""
    numeric = tuple(q for q in problem.asked if q != "pred" and q not in problem.concept_questions)
    return numeric, tuple(q for q in problem.asked if q not in numeric)


@lru_cache(maxsize=256)
def _sizes(problem: Problem) -> dict[str, int]:
    """The number of entries of every quantity of one instance (from a trace at all-zero given values)."""
    arch = problem.arch
    given = {n: np.zeros(expected_shape(arch, n)) for n in arch.given_names()}
    with np.errstate(all="ignore"):
        trace = engine.run(arch, given)
    return {n: int(np.size(trace[n])) for n in trace.names}


def _starts(problem: Problem, names: Sequence[str]) -> np.ndarray:
    """Where each of `names` begins when their entries are laid side by side, in order."""
    sizes = _sizes(problem)
    return np.cumsum([0] + [sizes[n] for n in names[:-1]])


def _with_asked(problem: Problem, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """values, plus the magnitudes of every asked entry of each candidate: (B, entries), and of
    the numeric ones: values[NUMERIC], a view of the first columns of values[ASKED]."""
    numeric, others = _numeric_asked(problem)
    parts = [entries(values[q]) for q in (*numeric, *others)]
    values[ASKED] = np.abs(np.concatenate(parts, axis=1))
    values[NUMERIC] = values[ASKED][:, : sum(p.shape[1] for p in parts[: len(numeric)])]
    return values


def _answer_check_list(problem: Problem, noise: float = CONFUSABLE_NOISE) -> list[Check]:
    """Checks of the backward pass and the asked values; they read values[ASKED] (see _with_asked).
    `noise`: how much stricter than the rule distinct_mistakes is (the sampler's; 0 checks the rule)."""
    smallest = 0.5 * 10.0**-problem.decimals
    first = [
        Check("finite", "an asked value is not finite", "answers", lambda v: ~np.isfinite(v[ASKED]).all(axis=1)),
        Check("magnitude", f"an asked value is larger than {LARGEST_VALUE:g}", "answers",
              lambda v: v[ASKED].max(axis=1) > LARGEST_VALUE),
    ]
    middle = []
    numeric, _ = _numeric_asked(problem)
    if numeric:
        starts = _starts(problem, numeric)  # where each numeric quantity begins among values[NUMERIC]
        middle.append(Check("zero_quantity", "an asked quantity is 0 in every entry", "answers",
                            lambda v: np.logical_and.reduceat(v[NUMERIC] == 0, starts, axis=1).any(axis=1)))
        middle.append(Check("prints_as_zero",
                            f"an asked value has an entry that is not 0 but prints as 0 at {problem.decimals} decimals",
                            "answers",
                            lambda v: ((v[NUMERIC] > 0) & (v[NUMERIC] <= smallest + MARGIN_SLACK * smallest)).any(axis=1)))
    last = [Check("distinct_mistakes", "a catalogued mistake would be graded right (within the margin, though it "
                  "prints differently)", "answers", lambda v: _confusable(problem, v, noise))]
    return _stage(problem, "answers", first, middle, last)


def _confusable(problem: Problem, values: Mapping[str, np.ndarray], noise: float = 0.0) -> np.ndarray:
    """ops.mistakes.confusable on a stack of candidates (rows layout), with the grader's allowances."""
    steps = engine.steps_for(problem.arch)
    allow = tolerance.stacked_allowances(problem, steps, values)
    v = Values(engine.network(problem.arch), values, {s.name: s for s in steps}, stacked=True)
    return confusable(v, problem.asked, problem.decimals, allow, noise)


def _enabled(problem: Problem, checks: list[Check]) -> tuple[Check, ...]:
    return tuple(c for c in checks if problem.quality.on(c.rule))


@lru_cache(maxsize=256)
def _given_checks(problem: Problem) -> tuple[Check, ...]:
    return _enabled(problem, _given_check_list(problem))


@lru_cache(maxsize=256)
def _forward_checks(problem: Problem) -> tuple[Check, ...]:
    return _enabled(problem, _forward_check_list(problem))


@lru_cache(maxsize=256)
def _answer_checks(problem: Problem) -> tuple[Check, ...]:
    return _enabled(problem, _answer_check_list(problem))


def _first_failing(checks: tuple[Check, ...], values: Mapping[str, np.ndarray], count: int) -> np.ndarray:
    """Per candidate, the index of the first check that rejects it, or -1 when none does."""
    failing = np.full(count, -1)
    for i, check in enumerate(checks):
        failing[(failing < 0) & check.rejects(values)] = i
        if count == 1 and failing[0] >= 0:
            break  # a lone candidate is decided by its first failing check
    return failing


def degeneracy(problem: Problem, trace: Trace) -> str | None:
    """Why this instance would make a bad exercise (by the rules its problem obeys), or None when it is fine."""
    values = _with_asked(problem, {n: np.asarray(v)[None] for n, v in trace.rows.items()})
    for checks in (_given_checks(problem), _forward_checks(problem), _answer_checks(problem)):
        failing = int(_first_failing(checks, values, 1)[0])
        if failing >= 0:
            return checks[failing].reason
    return None


def rule_violations(problem: Problem, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per rule (every rule, switched on or not), which candidates of a stack break it: (B,) bools.

    `values` are stacked rows-layout values of every quantity, as stack_traces() gives them.
    """
    count = len(next(iter(values.values())))
    values = _with_asked(problem, dict(values))
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for check in (*_given_check_list(problem), *_forward_check_list(problem), *_answer_check_list(problem, 0.0)):
            broken = np.asarray(check.rejects(values), dtype=bool).reshape(count)
            out[check.rule] = out[check.rule] | broken if check.rule in out else broken
    return out


def stack_traces(instances: Sequence[Instance]) -> dict[str, np.ndarray]:
    """The values of many instances of one problem, stacked (a leading axis), in the rows layout."""
    # np.array of equal-shaped arrays: several times cheaper than np.stack's checks on small ones.
    return {name: np.array([i.trace.rows[name] for i in instances], dtype=float) for name in instances[0].trace.names}


# --- sampling -----------------------------------------------------------------------------------


def fully_pinned(problem: Problem) -> bool:
    return all(n in problem.pinned for n in problem.arch.given_names())


@dataclass(frozen=True)
class _Sampling:
    """Everything sampling one problem needs, looked up once per problem (not per candidate:
    hashing a Problem for a cache lookup costs more than a small NumPy step)."""

    problem: Problem
    plan: _Plan
    stages: tuple[tuple[Check, ...], ...]  # the checks of the given values, the forward pass, the answers
    names: tuple[str, ...]  # every quantity of the trace
    steps: tuple[Step, ...]
    forward_names: tuple[str, ...]  # the quantities the forward pass computes
    rest_names: tuple[str, ...]  # and those computed after it (prediction, backward, update, loss after)
    computed_starts: np.ndarray  # where each computed quantity begins among their entries, and the end


@lru_cache(maxsize=256)
def _sampling(problem: Problem) -> _Sampling:
    arch = problem.arch
    steps = engine.steps_for(arch)
    given = set(arch.given_names())
    forward = tuple(s.name for s in steps if s.stage in ("forward", "loss"))
    rest = tuple(s.name for s in steps if s.name not in given and s.name not in forward)
    stages = (_given_checks(problem), _forward_checks(problem), _answer_checks(problem))
    computed = (*forward, *rest)
    starts = np.append(_starts(problem, computed), sum(_sizes(problem)[n] for n in computed))
    return _Sampling(problem, _plan(problem), stages, engine.names_for(arch), steps, forward, rest, starts)


def _given_rows(ctx: _Sampling, drawn: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stacked given values (as _draw gives them) in the rows layout."""
    layout = ctx.problem.arch.layout
    return {n: stack_to_rows(v, layout) for n, v in drawn.items()}


def _forward(ctx: _Sampling, given: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The forward values of stacked candidates (given values in the rows layout), in the rows layout."""
    arch = ctx.problem.arch
    count = len(next(iter(given.values())))
    if count == 1:
        # A lone candidate (a single sample()) is evaluated as itself, which is cheaper than a
        # stack of one, and viewed as a stack of one afterwards. Same numbers either way.
        values = {n: v[None] for n, v in engine.forward_rows(arch, {n: v[0] for n, v in given.items()}).items()}
    else:
        values = engine.forward_rows(arch, given)
    return values


def _rest(ctx: _Sampling, forward: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """forward's values with everything after them (backward, update, loss after)."""
    arch = ctx.problem.arch
    count = len(next(iter(forward.values())))
    if count == 1:  # a lone candidate, as in _forward
        rest = engine.rest_rows(arch, {n: v[0] for n, v in forward.items()})
        values = {**forward, **{n: rest[n][None] for n in ctx.rest_names}}
    else:
        values = {**forward, **engine.rest_rows(arch, forward)}
    # Once, on the whole trace: the forward checks do not depend on noise at 1e-16 (their
    # thresholds are far from 0), the backward and answer checks see exact zeros.
    _snap_zeros(values, ctx.plan.names, (*ctx.forward_names, *ctx.rest_names), ctx.computed_starts)
    for v in values.values():
        v.flags.writeable = False  # the instances of a stack share it: none may change another's
    return values


def _trace(ctx: _Sampling, values: Mapping[str, np.ndarray], i: int) -> Trace:
    """Candidate i's trace: read-only views into the stacked values (rows layout)."""
    # `...` keeps a scalar a 0-d array.
    return Trace(ctx.problem.arch.layout, ctx.steps, {name: values[name][i, ...] for name in ctx.names})


def _first_passing(ctx: _Sampling, rngs: Sequence[np.random.Generator], each: int,
                   why: list[Check | None]) -> dict[int, tuple[int, dict[str, np.ndarray], int]]:
    """One round: `each` candidates from every Generator; per Generator j that has a candidate
    passing every check, (which of its candidates, the stacked values holding it, its index there).

    `why[j * each + c]` is set to the check that rejected candidate c of Generator j. The given
    values and the forward pass are checked for all candidates at once; the backward pass (the
    dearest stage) is paid for one candidate per Generator at a time, its earliest one left, so
    no candidate after the one a seed gets is evaluated there.
    """
    problem = ctx.problem
    given_checks, forward_checks, answer_checks = ctx.stages
    alive = np.arange(len(rngs) * each)  # the candidates no check has rejected yet
    values = _given_rows(ctx, _draw(ctx.plan, rngs, each))
    for stage, checks in ((0, given_checks), (1, forward_checks)):
        if stage == 1:
            values = _forward(ctx, values)
        failing = _first_failing(checks, values, alive.size)
        keep = np.flatnonzero(failing < 0)
        for position, f in zip(alive.tolist(), failing.tolist()):
            if f >= 0:
                why[position] = checks[f]
        if keep.size < alive.size:
            alive = alive[keep]
            if not alive.size:
                return {}
            values = {n: v[keep] for n, v in values.items()}
    # Per Generator, its candidates that passed so far (as indices into `values`), in order.
    queues: dict[int, list[int]] = {}
    for k, position in enumerate(alive.tolist()):
        queues.setdefault(position // each, []).append(k)
    cheap = tuple(c for c in answer_checks if c.rule not in DEFERRED)
    deferred = tuple(c for c in answer_checks if c.rule in DEFERRED)
    first: dict[int, tuple[int, dict[str, np.ndarray], int]] = {}
    while queues:
        # Each Generator's earliest candidate left through the cheap answer checks, wave by wave,
        # until every Generator has one that passes them (or none left); then the deferred checks
        # once, on all of those together; a Generator whose candidate they reject goes on with its
        # next one. Which candidate a seed gets is the same as checking everything at once.
        ready: dict[int, tuple[int, dict[str, np.ndarray], int]] = {}
        while queues:
            generators = list(queues)
            picked = np.array([queues[j][0] for j in generators])
            answers = _with_asked(problem, _rest(ctx, values if picked.size == len(alive) else
                                                 {n: v[picked] for n, v in values.items()}))
            failing = _first_failing(cheap, answers, picked.size)
            for index, (j, f) in enumerate(zip(generators, failing.tolist())):
                position = int(alive[queues[j].pop(0)])
                if f >= 0:
                    why[position] = cheap[f]
                    if queues[j]:
                        continue
                else:
                    ready[j] = (position, answers, index)
                    continue  # its queue stays for now: the deferred checks may still reject it
                del queues[j]
            queues = {j: q for j, q in queues.items() if j not in ready}
        if not ready:
            break
        generators = list(ready)
        stacked = _gather([ready[j][1:] for j in generators])
        failing = _first_failing(deferred, stacked, len(generators))
        for index, (j, f) in enumerate(zip(generators, failing.tolist())):
            position = ready[j][0]
            if f < 0:
                first[j] = (position - j * each, stacked, index)
            else:
                why[position] = deferred[f]
                rest = [k for k in _remaining(alive, position, j, each)]
                if rest:
                    queues[j] = rest
    return first


def _gather(picks: list[tuple[dict[str, np.ndarray], int]]) -> dict[str, np.ndarray]:
    """One stack of the candidates `picks` names (each: a stack of values, an index into it)."""
    if all(values is picks[0][0] for values, _ in picks):
        values = picks[0][0]
        out = {n: v[[index for _, index in picks]] for n, v in values.items()}
    else:
        out = {n: np.concatenate([values[n][index:index + 1] for values, index in picks]) for n in picks[0][0]}
    for v in out.values():
        v.flags.writeable = False  # the instances made from it share it: none may change another's
    return out


def _remaining(alive: np.ndarray, position: int, j: int, each: int) -> list[int]:
    """Generator j's candidates after `position` that passed the given and forward checks, as
    indices into the round's values."""
    return [k for k, p in enumerate(alive.tolist()) if p // each == j and p > position]


# Checks run once for a whole round's passing candidates, not once per wave of them: the
# dearest, which rarely reject (quality rule distinct_mistakes computes the grader's margins and
# every catalogued mistake of the stack).
DEFERRED = frozenset({"distinct_mistakes"})


# How many candidates a seed draws per round affects speed only, never which instance a seed
# gets (its candidates come from its own Generator in the same order, and it gets the first that
# passes): one per round wastes no candidate but pays a round's fixed cost per rejection, many
# per round waste the candidates after the first that passes. About twice the expected number
# of draws per variant (from the acceptance measured so far, per problem and process) leaves a
# seed a second round about one time in eight; measured, that is faster than one candidate per
# round even for a lone seed (a stack of a few costs little more than one candidate).
_ACCEPTANCE: dict[Problem, float] = {}
MAX_ROUND = 16


def _round_size(problem: Problem) -> int:
    return max(1, min(MAX_ROUND, math.ceil(ROUND_FACTOR / _ACCEPTANCE.get(problem, 0.5))))


ROUND_FACTOR = 3.0


def _learn(problem: Problem, accepted: int, tried: int) -> None:
    """Update the measured acceptance of a problem's candidates (a moving average)."""
    if tried:
        rate = max(accepted / tried, 1.0 / MAX_ROUND)
        _ACCEPTANCE[problem] = 0.5 * _ACCEPTANCE.get(problem, rate) + 0.5 * rate


def sample(problem: Problem, seed: int) -> Instance:
    """The instance of `problem` for `seed`: the first well-posed draw of its Generator."""
    return sample_many(problem, [seed])[0]


def sample_many(problem: Problem, seeds: Sequence[int], rejected: Counter[str] | None = None) -> list[Instance]:
    """The instance of each seed, exactly as sample() gives it, for many seeds at once.

    Each seed draws its candidates from its own Generator, a few per round (_round_size); a round
    evaluates the candidates of every seed still looking as one stack (the engine works on
    stacks), so a roster's or a batch's instances cost tens of microseconds each instead of
    hundreds. A stack gives the same numbers as a lone evaluation, bit for bit
    (tests/test_sampler.py), and a seed gets its first candidate that passes every check, so the
    instance of a seed never depends on which other seeds were sampled with it, nor on how many
    candidates a round drew. `rejected`, when given, counts the candidates rejected before each
    seed's instance by the rule they broke first.
    """
    from gradekit.sampling.variants import generator

    ctx = _sampling(problem)
    rngs = [generator(s) for s in seeds]
    if fully_pinned(problem):
        # A textbook reproduction is what it is; checking it would only refuse the textbook.
        values = _rest(ctx, _forward(ctx, _given_rows(ctx, _draw(ctx.plan, rngs))))
        return [Instance(problem, s, _trace(ctx, values, i), 1) for i, s in enumerate(seeds)]
    found: dict[int, Instance] = {}
    reasons: dict[int, Counter[Check]] = {}
    pending = list(range(len(seeds)))
    done = 0  # candidates each pending seed has drawn so far
    while pending and done < problem.max_attempts:
        each = min(_round_size(problem), problem.max_attempts - done)
        why: list[Check | None] = [None] * (len(pending) * each)  # seed j's candidates: j*each + 0..each-1
        with np.errstate(all="ignore"):
            first = _first_passing(ctx, [rngs[i] for i in pending], each, why)
        tried = 0
        for j, i in enumerate(pending):
            used = first[j][0] if j in first else each  # the candidates it rejected before that one
            tried += used + (j in first)
            for c in range(used):
                check = why[j * each + c]
                reasons.setdefault(i, Counter())[check] += 1
                if rejected is not None:
                    rejected[check.rule] += 1
            if j in first:
                _, values, k = first[j]
                found[i] = Instance(problem, seeds[i], _trace(ctx, values, k), done + used + 1)
        _learn(problem, len(first), tried)
        done += each
        pending = [i for i in pending if i not in found]
    if not pending:
        return [found[i] for i in range(len(seeds))]
    common, count = reasons[pending[0]].most_common(1)[0]
    switch = f", or switch the rule off ([quality] {common.rule} = false)" if common.rule != "finite" else ""
    raise UnsatisfiableSpecError(
        f"no well-posed instance in {problem.max_attempts} attempts; most often ({count} times): {common.reason} "
        f"(rule {common.rule}). Widen or shift the sampling domains, pin values{switch}",
        source=problem.source)
