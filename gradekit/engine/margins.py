"""How far an answer may be from the key: derived from what the sheet asks, entry by entry.

A student works by hand from the given values, writes every value to the sheet's `decimals`
and carries the rounded value forward. Rounding moves a value by at most h = 0.5 * 10^-d per
entry; each later step passes that on, scaled by its own derivative. For every computed
quantity q, asked or not (an unasked intermediate is computed and rounded by hand too):

    B(q) = h + sum over the inputs v of q, over the entries j of v:
               max over s = +-1 of |q(v + s * B(v)_j * e_j) - q(v)|

and B = 0 for given values, which are exact. The perturbation of each input entry by its own
bound is the first-order bound sum_j |dq/dv_j| B(v)_j, measured over the range it acts on, so
it holds at a ReLU's margin or a small softmax probability alike. An entry is right when

    |answer - key| <= allowance = UNIT + MARGIN * (B - h),     UNIT = 10^-d

a full unit in the last decimal for the entry itself (its last digit rounded the other way still
passes), plus the rounding every earlier value can propagate to it, with a margin for the terms
the linear bound leaves out (several inputs moving at once). A spec may widen it (`atol`,
`rtol`), fix it (`tolerance = "fixed"`), or grade at significant figures.

Follow-through compares a student's answer with the step recomputed from their own written
values: those are exact inputs, so only the unasked intermediates in between propagate
rounding (`step_bound`, step by step, as gradekit.grading.policy.World uses it).

Every function takes stacked values in the rows layout (a leading axis: one row per instance),
as the sampler and the engine's steps do, so a whole batch of keys costs one pass per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from gradekit.ops.base import Step

if TYPE_CHECKING:
    from gradekit.model.problem import Problem


def close(answer: np.ndarray, key: np.ndarray, allow: np.ndarray | float) -> np.ndarray:
    """Entry-wise: |answer - key| <= allow (an allowance per entry, or one for all)."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or huge answers are simply not close
        return np.abs(np.asarray(answer, dtype=float) - np.asarray(key, dtype=float)) <= allow


def allowance(key: np.ndarray, atol: np.ndarray | float, rtol: np.ndarray | float,
              sigfigs: int | None) -> np.ndarray:
    """A fixed allowance: atol + rtol |k|, or half a unit in the last of `sigfigs` figures (atol
    for a key of 0, which has no figures). Specs choose it with `tolerance = "fixed"` or
    `sigfigs`; the default allowance is derived from the sheet's decimals (gradekit.engine.margins).
    """
    key = np.asarray(key, dtype=float)
    if sigfigs is None:
        return atol + rtol * np.abs(key)
    magnitude = np.floor(np.log10(np.where(key == 0, 1.0, np.abs(key))))
    half_unit = 0.5 * 10.0 ** (magnitude - sigfigs + 1)
    # 1e-9: a value written with exactly `sigfigs` figures must pass despite binary rounding.
    return np.where(key == 0, atol, half_unit * (1 + 1e-9))


MARGIN = 1.1  # on the propagated part: the cross terms of several inputs moving at once


def half_unit(decimals: int) -> float:
    """The most that rounding to `decimals` moves a number."""
    return 0.5 * 10.0 ** -decimals


def allowance_from_bound(bound: np.ndarray, decimals: int) -> np.ndarray:
    """The allowance of entries whose rounding bound is `bound` (see the module's docstring)."""
    h = half_unit(decimals)
    with np.errstate(over="ignore"):  # a bound past float range (from absurd values) is an infinite allowance
        return 10.0 ** -decimals + MARGIN * np.maximum(bound - h, 0.0)


def step_bound(step: Step, values: Mapping[str, np.ndarray], bounds: Mapping[str, np.ndarray],
               h: float) -> np.ndarray:
    """B of one step over a stack of K instances: h plus what each input's bound moves it by
    (`bounds` holds the inputs' bounds; an input missing there is exact)."""
    base = values[step.name]
    count = base.shape[0]
    moving = {d: b for d in step.deps if (b := bounds.get(d)) is not None and b.any()}
    if not moving:
        return np.full(base.shape, h)
    # Every entry of every moving input moved by its own bound, one at a time, both ways, all in
    # one evaluation of the step: input d takes the slots offset[d] .. offset[d] + 2 n_d of M.
    sizes = {d: int(np.prod(values[d].shape[1:], dtype=int)) for d in moving}
    offset, m = {}, 0
    for d, n in sizes.items():
        offset[d], m = m, m + 2 * n
    args = []
    for d in step.deps:
        v = values[d]
        shape = v.shape[1:]
        stacked = np.broadcast_to(v[:, None], (count, m, *shape))
        if d in moving:
            n, o = sizes[d], offset[d]
            stacked = stacked.copy()
            delta = (moving[d].reshape(count, n)[:, :, None] * np.eye(n)[None]).reshape(count, n, *shape)
            stacked[:, o:o + n] += delta
            stacked[:, o + n:o + 2 * n] -= delta
        args.append(stacked.reshape(count * m, *shape))
    with np.errstate(all="ignore"):
        out = np.asarray(step.compute(*args), dtype=float).reshape(count, m, *base.shape[1:])
        change = np.abs(out - base[:, None])
    total = np.full(base.shape, h)
    for d, n in sizes.items():
        o = offset[d]
        worst = np.maximum(change[:, o:o + n], change[:, o + n:o + 2 * n])  # (K, n, *q shape)
        total = total + np.nan_to_num(worst, nan=np.inf).sum(axis=1)
    return total


def bounds(steps: Iterable[Step], values: Mapping[str, np.ndarray], decimals: int,
           wanted: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """B of every computed step (rows layout, stacked), in order; `wanted` stops once those are known."""
    h = half_unit(decimals)
    want = set(wanted) if wanted is not None else None
    out: dict[str, np.ndarray] = {}
    for step in steps:
        if step.compute is None:
            continue  # given: exact
        if step.name == "pred":
            out[step.name] = np.zeros(values[step.name].shape)  # class labels are compared exactly
            continue
        out[step.name] = step_bound(step, values, out, h)
        if want is not None:
            want.discard(step.name)
            if not want:
                break
    return out


def stacked_allowances(problem: Problem, steps: Sequence[Step], rows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The allowance of every entry of every asked quantity of a stack of instances: `rows` holds
    every value in the rows layout with a leading axis, and so does the result."""
    grading, fixed = problem.grading, problem.quantity_grading
    allow = {q: allowance(rows[q], fixed[q].atol, fixed[q].rtol, grading.sigfigs) for q in problem.asked}
    if grading.sigfigs is None and grading.tolerance != "fixed":
        found = bounds(steps, rows, problem.decimals, wanted=problem.asked)
        for q in problem.asked:  # the spec's atol/rtol, when set, only widen the derived allowance
            allow[q] = np.maximum(allowance_from_bound(found[q], problem.decimals), allow[q])
    return allow
