"""The trace: every named quantity of one problem instance, in the order it is computed.

A Step says how a quantity is computed (its formula for the worked solution, the names it
depends on, and a function of their values); a Trace is the steps with their values. The same
steps give the answer key, the worked solution, and follow-through grading, which re-evaluates
a step on a student's own values of its inputs (Trace.recompute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterator, Literal, Mapping, Sequence

import numpy as np

Array = np.ndarray
Stage = Literal["given", "forward", "loss", "predict", "backward", "update", "after"]


@dataclass(frozen=True)
class Step:
    """How one named quantity is computed; `compute` takes and returns the problem's layout."""

    name: str
    stage: Stage
    deps: tuple[str, ...]
    formula: str  # LaTeX, in the problem layout's notation ("" for given values)
    compute: Callable[..., Array] | None = field(default=None, compare=False, repr=False)
    description: str = ""
    # The same function in the rows layout, unwrapped: whole traces are evaluated in rows and
    # transposed once at the end, instead of transposing every input of every step.
    rows_compute: Callable[..., Array] | None = field(default=None, compare=False, repr=False)

    def evaluate(self, values: Mapping[str, Array]) -> Array:
        """This step's value from the values of its dependencies."""
        if self.compute is None:
            raise KeyError(f"{self.name} is given, not computed")
        return np.asarray(self.compute(*(values[d] for d in self.deps)), dtype=float)


def transpose2d(a: Array) -> Array:
    """The other layout's view of a value: matrices transpose, scalars and label vectors stay."""
    return a.T if np.ndim(a) == 2 else a


def in_layout(fn: Callable[..., Array], layout: str) -> Callable[..., Array]:
    """Wrap a `rows`-layout function so that it takes and returns `layout`'s values.

    The `columns` layout is the transpose of `rows` for every 2-D quantity (W @ X + b is the
    transpose of X^T @ W^T + b^T), so one implementation serves both.
    """
    if layout == "rows":
        return fn

    def columns(*args: Array) -> Array:
        return transpose2d(np.asarray(fn(*(transpose2d(np.asarray(a)) for a in args))))

    columns.__name__ = getattr(fn, "__name__", "step")
    return columns


@dataclass(frozen=True)
class Trace:
    """Steps and their values for one instance."""

    layout: str
    steps: tuple[Step, ...]
    values: Mapping[str, Array]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __getitem__(self, name: str) -> Array:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def recompute(self, name: str, overrides: Mapping[str, Array]) -> Array:
        """Re-evaluate `name` with `overrides` in place of the trace's own values of its inputs."""
        step = self.step(name)
        merged = {d: (overrides[d] if d in overrides else self.values[d]) for d in step.deps}
        return step.evaluate(merged)


def evaluate_steps(steps: Sequence[Step], given: Mapping[str, Array], layout: str) -> dict[str, Array]:
    """Values of all steps, in order, from the given values; all in `layout`."""
    flip = layout != "rows"
    values: dict[str, Array] = {}
    for k, v in given.items():
        v = np.asarray(v, dtype=float)  # copies nothing when already float
        values[k] = transpose2d(v) if flip else v
    for s in steps:
        if s.rows_compute is not None:
            # The hot path of sampling and grading: no per-step wrapping or transposing.
            values[s.name] = np.asarray(s.rows_compute(*[values[d] for d in s.deps]), dtype=float)
    return {k: transpose2d(v) for k, v in values.items()} if flip else values
