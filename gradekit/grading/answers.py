"""A problem's answers as the grader reads them: coerced to the key's shapes, and compared with the
key in one vectorized pass (what the grading policy starts from)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

from gradekit.grading.compare import NON_FINITE, Coerced, coerce

if TYPE_CHECKING:
    from gradekit.keys.key import ProblemKey

_NUMBER_TYPES = frozenset((float, int))  # exact types: bool is an int subclass and not a number here
MISSING = Coerced(None, "missing")


def _exact_entries(raw: object, shape: tuple[int, ...]) -> list | None:
    """The numbers of an answer written exactly in the template's shape, flat; None otherwise.

    Plain Python on purpose: a submission has dozens of small answers, and making a NumPy
    array of each costs more than grading it. Anything unusual goes through compare.coerce.
    """
    if not shape:
        flat = [raw]
    elif type(raw) is not list or len(raw) != shape[0]:
        return None
    elif len(shape) == 1:
        flat = raw
    else:
        width = shape[1]
        flat = []
        for row in raw:
            if type(row) is not list or len(row) != width:
                return None
            flat += row
    # One C-level pass over the entries' types (a set of types), not a Python test per entry.
    return flat if _NUMBER_TYPES.issuperset(map(type, flat)) else None


@dataclass(frozen=True)
class Answers:
    """A problem's answers, coerced, and whether each is right (computed at once)."""

    coerced: dict[str, Coerced]  # each asked quantity's value, or why it has none
    correct: dict[str, bool]  # the usable ones: equal to the key within its allowance

    def get(self, name: str) -> Coerced:
        """An asked quantity's answer (MISSING when there is none)."""
        return self.coerced.get(name, MISSING)

    def usable(self) -> dict[str, np.ndarray]:
        """The answers given as numbers of the right shape: the student's own values."""
        return {q: c.value for q, c in self.coerced.items() if c.value is not None}

    def all_right(self, asked: tuple[str, ...]) -> bool:
        return all(self.correct.get(q, False) for q in asked)


def read_answers(pk: ProblemKey, raw: Mapping[str, object]) -> Answers:
    """The answers to a problem's asked quantities (raw JSON values by name), compared with its key."""
    flat = pk.flat
    coerced: dict[str, Coerced] = {}
    included: list[int] = []  # the quantities answered with numbers, by index in flat.names
    numbers: list = []
    for i, (q, shape) in enumerate(zip(flat.names, flat.shapes)):
        entries = _exact_entries(raw.get(q), shape)
        if entries is None:
            coerced[q] = coerce(raw.get(q), shape)
            if coerced[q].value is None:
                continue
            entries = coerced[q].value.ravel().tolist()
        included.append(i)
        numbers += entries
    if not included:
        return Answers(coerced, {})
    values = np.array(numbers, dtype=float)
    if len(included) == len(flat.names):  # the common case: the key's own layout, precomputed
        key, allow, starts = flat.values, flat.allow, list(flat.starts)
    else:
        where = np.concatenate([np.arange(flat.starts[i], flat.starts[i] + flat.sizes[i]) for i in included])
        key, allow = flat.values[where], flat.allow[where]
        starts = np.cumsum([0, *(flat.sizes[i] for i in included[:-1])]).tolist()
    with np.errstate(invalid="ignore"):  # NaN answers are simply not close
        ok = np.abs(values - key) <= allow
    # One reduction per property over all answers of the problem, not one NumPy call per answer.
    finite = np.logical_and.reduceat(np.isfinite(values), starts).tolist()
    right = np.logical_and.reduceat(ok, starts).tolist()
    correct: dict[str, bool] = {}
    for k, i in enumerate(included):
        q = flat.names[i]
        if not finite[k]:
            coerced[q] = Coerced(None, NON_FINITE)
            continue
        if q not in coerced:
            value = values[starts[k]:starts[k] + flat.sizes[i]].reshape(flat.shapes[i])
            coerced[q] = Coerced(value, raw=value)
        correct[q] = right[k]
    return Answers(coerced, correct)
