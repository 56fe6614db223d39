"""Name a recognizable mistake: the catalogued mistakes (gradekit.ops.mistakes) whose wrong value
the student's numbers match, by id (for reports and item analysis) and in words (for students)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from gradekit.engine.layout import from_rows
from gradekit.engine.trace import Trace
from gradekit.grading.compare import matches
from gradekit.model.problem import Problem
from gradekit.ops.mistakes import Mistake, Values, mistakes
from gradekit.ops.families import network_for

MAX_READINGS = 3  # several mistakes can give one wrong value: name them all, up to this many
ON_OWN_VALUES = "given your earlier answers, "


def catalogued(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    """Every catalogued mistake of a quantity (gradekit.ops.mistakes, most specific first), with its
    wrong value in the problem's own layout, as a student writes the answer."""
    values = Values(network_for(problem.arch), trace.rows, {s.name: s for s in trace.steps})
    for mistake in mistakes(values, name):
        yield replace(mistake, value=from_rows(np.asarray(mistake.value, dtype=float), trace.layout))


@dataclass(frozen=True)
class Reading:
    """One catalogued mistake that explains the numbers: its stable id and its words."""

    id: str
    message: str


@dataclass(frozen=True)
class Diagnosis:
    """The catalogued mistakes a wrong answer matches (one or more: several can give one value),
    recognized on the key's values, or on the student's own earlier values (`on_own_values`)."""

    readings: tuple[Reading, ...]
    on_own_values: bool = False

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.readings)

    @property
    def words(self) -> str:
        """The words: "off by 2: ...", or every reading ("2 readings of the same numbers: ...; or: ...")."""
        if len(self.readings) == 1:
            text = self.readings[0].message
        else:
            joined = "; or: ".join(r.message for r in self.readings)
            text = f"{len(self.readings)} readings of the same numbers: {joined}"
        return ON_OWN_VALUES + text if self.on_own_values else text


def readings(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray) -> list[Reading]:
    """Every catalogued mistake whose wrong value the student's numbers match, in catalogue order
    (one per wording).

    `allow` is the quantity's allowance per entry (the key's): a mistake's value is recognized
    within the same margin as the right one.
    """
    if raw is None:
        return []
    key = trace[name]
    found: list[Reading] = []
    with np.errstate(all="ignore"):
        for mistake in catalogued(problem, trace, name):
            # A "mistake" that gives the right value (a ReLU mask that happens to agree) is no mistake.
            wrong = np.asarray(mistake.value, dtype=float)
            if all(r.message != mistake.message for r in found) and matches(raw, wrong, allow) \
                    and not matches(wrong, key, allow):
                found.append(Reading(mistake.id, mistake.message))
    return found


def diagnose(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray,
             on_own_values: bool = False) -> Diagnosis | None:
    """The catalogued mistakes the student's numbers match, most specific first (at most
    MAX_READINGS), or None. `on_own_values`: `trace` holds the student's own earlier values."""
    found = readings(problem, trace, name, raw, allow)
    return Diagnosis(tuple(found[:MAX_READINGS]), on_own_values) if found else None
