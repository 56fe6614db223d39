"""The trace: every named quantity of one problem instance, in the order it is computed.

A Step (gradekit.ops.base) says how a quantity is computed: by which operation, from which
names, with which function; a Trace is the steps with their values. Values are held in the rows
layout, as computed; `trace[name]` gives a value in the problem's own layout (a view), for what
leaves the engine (key JSON, documents, exports). The same steps give the answer key, the worked
solution, and follow-through grading, which re-evaluates a step on a student's own values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterator, Mapping, Sequence

import numpy as np

from gradekit.engine.layout import from_rows, to_rows
from gradekit.ops.base import Step

Array = np.ndarray


@dataclass(frozen=True)
class Trace:
    """Steps and their values for one instance: `rows` holds every value in the rows layout."""

    layout: str
    steps: tuple[Step, ...]
    rows: Mapping[str, Array]
    _by_name: dict[str, Step] = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", MappingProxyType(dict(self.rows)))
        object.__setattr__(self, "_by_name", {s.name: s for s in self.steps})

    def __getitem__(self, name: str) -> Array:
        """A value in the problem's own layout."""
        return from_rows(self.rows[name], self.layout)

    def __contains__(self, name: object) -> bool:
        return name in self.rows

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    @property
    def values(self) -> Mapping[str, Array]:
        """Every value in the problem's own layout."""
        return {n: from_rows(v, self.layout) for n, v in self.rows.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def step(self, name: str) -> Step:
        return self._by_name[name]

    def recompute(self, name: str, overrides: Mapping[str, Array]) -> Array:
        """`name` re-evaluated with `overrides` (in the problem's layout, as a student writes them)
        in place of the trace's own values of its inputs; in the problem's layout."""
        step = self.step(name)
        merged = {d: overrides[d] if d in overrides else self[d] for d in step.deps}
        return evaluate_in_layout(step, merged, self.layout)


def evaluate_steps(steps: Sequence[Step], given: Mapping[str, Array]) -> dict[str, Array]:
    """Values of all steps, in order, from the given values; all in the rows layout (one instance
    or a stack)."""
    values: dict[str, Array] = {k: np.asarray(v, dtype=float) for k, v in given.items()}  # copies nothing when float
    for s in steps:
        if s.compute is not None:
            values[s.name] = np.asarray(s.compute(*[values[d] for d in s.deps]), dtype=float)
    return values


def evaluate_in_layout(step: Step, values: Mapping[str, Array], layout: str) -> Array:
    """A step's value from values in `layout`, in `layout` (where values come from outside)."""
    return from_rows(step.evaluate({d: to_rows(np.asarray(values[d], dtype=float), layout) for d in step.deps}), layout)


def transpose2d(a: Array) -> Array:
    """The other layout's view of a value: matrices transpose, scalars and label vectors stay."""
    return a.T if np.ndim(a) == 2 else a
