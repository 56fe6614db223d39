"""The catalogue of recognizable mistakes: the wrong value each known mistake would give.

Every entry is a real wrong computation on the instance's own numbers (the mistakes the seed
notebooks make: a transposed matrix, a forgotten 1/N, the softmax Jacobian with A twice, a scalar
bias gradient summed per class, ...). Each operation names the mistakes of its own steps
(`Op.incomplete` and `Op.mistakes`, in gradekit.ops); the few that belong to no operation (a
transposed matrix, a factor of N or 2 that comes from the loss's convention) are here. The
catalogue computes on `Values`: one instance's values, or a stack of many instances' (a leading
axis), so that the sampler can ask of a whole batch of candidates at once whether a mistake
would be graded right (`confusable`). Values are in the rows layout (samples are rows), as the
engine computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Mistake:
    """A wrong value, the words that explain it, and a stable id (for reports and item analysis:
    the words may be reworded, the id stays)."""

    id: str
    message: str
    value: Array


@dataclass(frozen=True)
class Values:
    """What the catalogue computes from: an instance's values in the rows layout, or a stack of
    instances' (`stacked`: every value has a leading axis, one entry per instance)."""

    net: Any  # the gradekit.ops.network.Network
    values: Mapping[str, Array]
    steps: Mapping[str, Any]  # name -> the trace's Step
    stacked: bool = False

    def __getitem__(self, name: str) -> Array:
        return np.asarray(self.values[name])

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def matrix(self, value: Array) -> bool:
        """Whether a value is a matrix of one instance (not a scalar or a vector)."""
        return np.ndim(value) - self.stacked == 2

    def T(self, value: Array) -> Array:
        """The transpose of each instance's matrix."""
        return np.swapaxes(value, -1, -2) if self.matrix(value) else value

    def stage(self, name: str) -> str:
        return self.steps[name].stage

    def recompute(self, name: str, overrides: Mapping[str, Array]) -> Array:
        """The step of `name` redone with `overrides` for some of its inputs."""
        step = self.steps[name]
        return np.asarray(step.compute(*(overrides[d] if d in overrides else self[d] for d in step.deps)), dtype=float)


# --- mistakes of no single operation ----------------------------------------------------------------


def transposed(v: Values, name: str) -> Iterator[Mistake]:
    if v.net.loss is None:  # an optimizer's θ has no samples and units to mix up (its ops name its mistakes)
        return
    x = v[name]
    if v.matrix(x) and min(x.shape[-2:]) > 1:
        yield Mistake("transposed", "the matrix is transposed: check which index is the sample and which the unit "
                      f"(this problem puts samples in {'rows' if v.net.layout == 'rows' else 'columns'})", v.T(x))


def off_by_samples(v: Values, name: str) -> Iterator[Mistake]:
    n, loss = v.net.samples, v.net.loss
    if n == 1 or loss is None or v.stage(name) not in ("loss", "backward", "after"):
        return
    x = v[name]
    if loss.reduction == "mean":
        yield Mistake("mean_factor_missing", f"off by a factor of N = {n}: the loss is the MEAN over the samples, so "
                      "the 1/N belongs in the loss and in every gradient", x * n)
        yield Mistake("mean_factor_twice", f"divided by N = {n} once too often: the 1/N of the mean enters once, at "
                      "the output", x / n)
    else:
        yield Mistake("sum_divided_by_n", f"divided by N = {n}: this loss is the SUM over the samples, not the mean",
                      x / n)


def off_by_two(v: Values, name: str) -> Iterator[Mistake]:
    loss = v.net.loss
    if loss is None or loss.kind != "mse" or v.stage(name) != "backward":
        return
    x = v[name]
    if loss.halved:
        yield Mistake("half_not_cancelled", "off by a factor of 2: the 1/2 in the loss cancels the 2 from the square",
                      x * 2)
    else:
        yield Mistake("square_factor_dropped", "off by a factor of 2: this loss has no 1/2, so the derivative of the "
                      "square keeps its 2", x / 2)


# --- the catalogue ----------------------------------------------------------------------------------


def mistakes(v: Values, name: str) -> Iterator[Mistake]:
    """Every catalogued mistake for a quantity, most specific first: a step done halfway, a
    transposed matrix, the mistakes its operation knows, then a wrong factor of N or 2 (a bias
    gradient averaged over the samples is also "off by N", but the specific words tell more)."""
    step = v.steps[name]
    op = step.op
    if op is not None:
        yield from op.incomplete(step, v)
    yield from transposed(v, name)
    if op is not None:
        yield from op.mistakes(step, v)
    yield from off_by_samples(v, name)
    yield from off_by_two(v, name)


def confusable(v: Values, asked: tuple[str, ...], decimals: int, allow: Mapping[str, Array],
               noise: float = 0.0) -> Array:
    """Per instance of a stack: whether some catalogued mistake in an asked quantity would be
    graded right (within the allowance of the key in every entry) though it prints differently at
    the sheet's decimals. Such a variant cannot tell that mistake from rounding; the sampler
    rejects it (quality rule `distinct_mistakes`). `v` and `allow` are stacked alike.

    `noise` makes the test stricter by a hair: the allowance grows by that share, and a value within
    that share of a rounding boundary counts as printing either way. The sampler asks with noise, so
    that no variant it hands out breaks the rule when checked again elsewhere (`gradekit stress`
    stacks other candidates together, and float round-off of other stacks differs in the last bits)."""
    out = np.zeros(len(v[asked[0]]), dtype=bool)
    scale = 10.0 ** decimals
    with np.errstate(all="ignore"):
        for name in asked:
            if name == "pred":
                continue  # class labels: a mistake in them is a different label, never within a margin
            key, margin = v[name], allow[name]
            # All of a quantity's mistakes at once, as one more leading axis: a few NumPy calls per
            # quantity rather than per mistake (this rule is the dearest of the sampler's).
            wrongs = [w for m in mistakes(v, name) if (w := np.asarray(m.value, dtype=float)).shape == key.shape]
            if not wrongs:
                continue
            wrong = np.stack(wrongs)
            axes = tuple(range(2, wrong.ndim))  # every entry of one instance
            within = np.all(np.abs(wrong - key) <= margin * (1 + noise) + noise * np.abs(key), axis=axes)
            apart = np.round(wrong, decimals) != np.round(key, decimals)
            if noise:
                edge = lambda x: np.abs(np.abs(x * scale) % 1 - 0.5) <= noise * np.maximum(1.0, np.abs(x * scale))  # noqa: E731
                apart |= (wrong != key) & (edge(wrong) | edge(key))
            out |= np.any(within & np.any(apart, axis=axes), axis=0)
    return out
