"""A problem and a sheet as frozen values: what a spec says, validated (gradekit.spec reads them).

A Problem holds the architecture (gradekit.model.network), the sampling domains of its given
values, pinned values, the asked quantities in computing order, the sheet's decimals, its
grading settings and the quality rules its variants obey.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.network import Architecture
from gradekit.model.quality import Quality

@dataclass(frozen=True)
class Domain:
    """A grid of hand-friendly numbers: min, min+step, ..., max (optionally without 0)."""

    min: float
    max: float
    step: float
    nonzero: bool = False

    def grid(self) -> np.ndarray:
        return _grid(self)


@lru_cache(maxsize=1024)
def _grid(domain: Domain) -> np.ndarray:
    # Cached: the sampler draws from the same few grids thousands of times. Read-only, so
    # no caller can change the cached copy.
    count = int(round((domain.max - domain.min) / domain.step)) + 1
    # + 0.0: rounding a tiny negative gives -0.0, which would print as "-0".
    values = np.round(domain.min + domain.step * np.arange(count), _decimals_of(domain.step)) + 0.0
    if domain.nonzero:
        values = values[values != 0]
    values.flags.writeable = False
    return values


def _decimals_of(step: float) -> int:
    """Decimals needed to write multiples of step exactly (0.25 -> 2), so grids print cleanly."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class QuantityGrading:
    """A quantity's points and its fixed tolerance: the whole tolerance under `fixed`, a floor
    under the allowance derived from the sheet's decimals under `rounding` (0 when not set)."""

    points: float
    atol: float
    rtol: float


TOLERANCES = ("rounding", "fixed")
FIXED_ATOL, FIXED_RTOL = 1e-3, 1e-2  # `tolerance = "fixed"` without atol/rtol


@dataclass(frozen=True)
class Grading:
    """How answers are scored: tolerance, points, follow-through credit, per-quantity overrides.

    `tolerance = "rounding"` (the default) derives each entry's allowance from the sheet's
    decimals and the rounding earlier values can propagate (gradekit.engine.margins); `atol`/`rtol`
    then only widen it. `tolerance = "fixed"` uses atol + rtol |key| alone; `sigfigs` compares
    at significant figures.
    """

    atol: float | None = None
    rtol: float | None = None
    points: float = 1.0
    follow_through: float = 1.0  # share of the points a follow-through answer earns
    partial_credit: bool = False  # credit per correct entry of a matrix
    sigfigs: int | None = None  # compare at this many significant figures instead
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tolerance: str = "rounding"

    def for_quantity(self, name: str) -> QuantityGrading:
        o = self.overrides.get(name, {})
        fixed = self.tolerance == "fixed"
        # Under sigfigs, atol is the allowance of a key of 0 (which has no figures).
        atol = self.atol if self.atol is not None else (FIXED_ATOL if fixed or self.sigfigs else 0.0)
        rtol = self.rtol if self.rtol is not None else (FIXED_RTOL if fixed else 0.0)
        return QuantityGrading(float(o.get("points", self.points)), float(o.get("atol", atol)),
                               float(o.get("rtol", rtol)))


@dataclass(frozen=True)
class Problem:
    """A validated problem spec."""

    id: str
    title: str
    description: str
    source: str  # the file it came from (for messages)
    arch: Architecture
    domains: Mapping[str, Domain]
    pinned: Mapping[str, np.ndarray]
    asked: tuple[str, ...]
    decimals: int
    grading: Grading
    statement: str = ""  # extra text shown under the title
    max_attempts: int = 2000
    quality: Quality = Quality()  # the quality rules its variants obey (gradekit.model.quality)
    # Asked quantities whose answer is a reason more than a number, e.g. a gradient that the
    # network's structure makes 0 in every variant (quality.structural_zeros says why).
    concept_questions: tuple[str, ...] = ()
    # The sampling domain of each base name the spec's [sampling] table leaves out (its family's).
    defaults: Mapping[str, Domain] = field(default_factory=dict)

    def __hash__(self) -> int:  # pinned arrays are unhashable; identity of a spec is its file and id
        return hash((self.id, self.source))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.id, self.source) == (other.id, other.source)

    @property
    def total_points(self) -> float:
        return sum(self.grading.for_quantity(q).points for q in self.asked)

    @cached_property
    def quantity_grading(self) -> dict[str, QuantityGrading]:
        """Points and tolerance of each asked quantity (looked up for every answer graded)."""
        return {q: self.grading.for_quantity(q) for q in self.asked}


@dataclass(frozen=True)
class SheetEntry:
    problem: Problem
    points: float | None  # total for this problem on the sheet; None keeps the spec's points
    instructions: str


@dataclass(frozen=True)
class Sheet:
    id: str
    title: str
    description: str
    instructions: str
    source: str
    entries: tuple[SheetEntry, ...]


# --- reading TOML ------------------------------------------------------------------------------




def domain_for(problem: Problem, name: str) -> Domain:
    """The sampling domain of a given value: `W2` uses [sampling.W2], else [sampling.W], else its
    family's default for W."""
    base = names.base_of(name)
    return problem.domains.get(name) or problem.domains.get(base) or problem.defaults[base]
