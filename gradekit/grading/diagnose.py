"""Name a recognizable mistake: the catalogued mistakes (gradekit.ops.mistakes) whose wrong value
the student's numbers match."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import numpy as np

from gradekit.engine.layout import from_rows
from gradekit.engine.trace import Trace
from gradekit.grading.compare import matches
from gradekit.model.problem import Problem
from gradekit.ops.mistakes import Mistake, Values, mistakes
from gradekit.ops.families import network_for

MAX_READINGS = 3  # several mistakes can give one wrong value: name them all, up to this many


def catalogued(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    """Every catalogued mistake of a quantity (gradekit.ops.mistakes, most specific first), with its
    wrong value in the problem's own layout, as a student writes the answer."""
    values = Values(network_for(problem.arch), trace.rows, {s.name: s for s in trace.steps})
    for mistake in mistakes(values, name):
        yield replace(mistake, value=from_rows(np.asarray(mistake.value, dtype=float), trace.layout))


def readings(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray) -> list[str]:
    """Every catalogued mistake whose wrong value the student's numbers match, in catalogue order.

    `allow` is the quantity's allowance per entry (the key's): a mistake's value is recognized
    within the same margin as the right one.
    """
    if raw is None:
        return []
    key = trace[name]
    found: list[str] = []
    with np.errstate(all="ignore"):
        for mistake in catalogued(problem, trace, name):
            # A "mistake" that gives the right value (a ReLU mask that happens to agree) is no mistake.
            wrong = np.asarray(mistake.value, dtype=float)
            if mistake.message not in found and matches(raw, wrong, allow) and not matches(wrong, key, allow):
                found.append(mistake.message)
    return found


def diagnose(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray) -> str | None:
    """The catalogued mistake the student's numbers match, in words; when several mistakes give
    the same value, every reading ("off by 2: ...; or: ..."), most specific first."""
    found = readings(problem, trace, name, raw, allow)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    shown = found[:MAX_READINGS]
    return f"{len(shown)} readings of the same numbers: " + "; or: ".join(shown)
