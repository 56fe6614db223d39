"""The answer key of one variant of a sheet, and the JSON files made from it.

make_key(sheet, variant) samples each problem from its own seed; key_document() is the
instructor's key.json, template_document() the students' answer template (same ids, shapes,
nulls instead of values). Both carry a format name and version (README: "File formats").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from gradekit.keys.flat import FlatKey
from gradekit.spec.roster import Student
from gradekit.engine.graph import graph_document
from gradekit.engine.layout import from_rows, stack_from_rows
from gradekit.engine.margins import half_unit
from gradekit.ops.families import network_for
from gradekit.ops.mistakes import Mistake, Values, mistakes
from gradekit.sampling.sampler import Instance, sample_many, stack_traces
from gradekit.model.problem import Problem, Sheet, SheetEntry
from gradekit.engine.margins import close, stacked_allowances
from gradekit.sampling.variants import Variant, problem_seed

KEY_FORMAT = "gradekit-key"
SUBMISSION_FORMAT = "gradekit-submission"
FORMAT_VERSION = 1
SIGNIFICANT_DIGITS = 12  # stored precision: far past any tolerance, stable across machines
IN_MARGIN = 1.25  # a mistake inside the margin must be this far past what rounding explains (mistakes_in_margin)


@dataclass(frozen=True)
class ProblemKey:
    """One problem of a variant: its instance and the points of each asked quantity on this sheet."""

    entry: SheetEntry
    instance: Instance
    points: Mapping[str, float]
    allow: Mapping[str, np.ndarray]  # each asked quantity's allowance per entry (gradekit.engine.margins)

    @property
    def problem(self):  # noqa: ANN201 - a Problem; kept short for templates
        return self.entry.problem

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @cached_property
    def flat(self) -> FlatKey:
        """The asked values in one vector with each entry's allowance: what grading compares with."""
        trace = self.instance.trace
        return FlatKey.of([(q, trace[q], self.allow[q]) for q in self.entry.problem.asked])

    def allowance(self, name: str) -> np.ndarray:
        """How far each entry of an asked quantity may be from the key and still be right."""
        return self.allow[name]

    @cached_property
    def mistakes_in_margin(self) -> dict[str, tuple[Mistake, ...]]:
        """Per asked quantity, the catalogued mistakes whose value (on the key's own values, in the
        problem's layout) lies within the key's margin, yet further from the key than rounding the
        earlier values could take it (IN_MARGIN times the margin's rounding part plus half a unit):
        an answer much closer to such a value than to the key is that mistake (grading policy,
        rule 1).

        Under the default margin and quality rules there is nothing to find: the sampler rejects
        every variant in which a mistake inside the margin prints apart from the key (quality rule
        distinct_mistakes), and one that prints alike cannot be told from it. Under a fixed
        margin (or significant figures) the rounding part is not known: it is taken as nothing."""
        problem = self.problem
        derived = problem.grading.tolerance == "rounding" and problem.grading.sigfigs is None
        if derived and problem.quality.on("distinct_mistakes"):
            return {}
        trace, decimals = self.instance.trace, problem.decimals
        unit, h = 10.0 ** -decimals, half_unit(decimals)
        values = Values(network_for(self.problem.arch), trace.rows, {s.name: s for s in trace.steps})
        out: dict[str, tuple[Mistake, ...]] = {}
        with np.errstate(all="ignore"):
            for name in self.problem.asked:
                if name == "pred":
                    continue
                key, allow = np.asarray(trace[name], dtype=float), np.asarray(self.allowance(name), dtype=float)
                rounding = np.broadcast_to(allow - unit + h if derived else h, key.shape)
                found = []
                for m in mistakes(values, name):
                    wrong = from_rows(np.asarray(m.value, dtype=float), trace.layout)
                    if wrong.shape == key.shape and np.all(np.abs(wrong - key) <= allow) \
                            and np.any(np.abs(wrong - key) > IN_MARGIN * rounding):
                        found.append(replace(m, value=wrong))
                if found:
                    out[name] = tuple(found)
        return out

    @cached_property
    def guessable(self) -> frozenset[str]:
        """Asked quantities whose right answer needs no work to guess (gradekit.grading.policy, rule 5):
        class labels, and keys that are trivial themselves (0 within the margin, one repeated number,
        a given value)."""
        trace, given = self.instance.trace, self.instance.given
        out = set()
        for name in self.problem.asked:
            key, allow = np.asarray(trace[name], dtype=float), self.allowance(name)
            if name == "pred" or float(np.max(np.abs(key) - allow)) <= 0 \
                    or (key.size > 1 and np.ptp(key) <= float(np.min(allow))) \
                    or any(np.shape(g) == key.shape and np.all(close(key, g, allow)) for g in given.values()):
                out.add(name)
        return frozenset(out)


@dataclass(frozen=True)
class AnswerKey:
    sheet: Sheet
    variant: Variant
    problems: tuple[ProblemKey, ...]

    @property
    def total(self) -> float:
        return sum(p.total for p in self.problems)

    def problem(self, pid: str) -> ProblemKey:
        for p in self.problems:
            if p.problem.id == pid:
                return p
        raise KeyError(pid)


def _points(entry: SheetEntry) -> dict[str, float]:
    """Each asked quantity's points, scaled so the problem is worth the sheet's points for it.

    Scaled points are whole or half points that add up to the problem's total exactly (18
    quantities on 20 points: fourteen of 1 and four of 1.5, not eighteen of 1.11 that add up to
    19.98). Halves are exact in binary floating point, so every sum of them (the sheet's total,
    Gradescope's max scores) is exact too. A problem with more quantities than half points
    falls back to quarters, eighths, ... so that no quantity is worth nothing.
    """
    problem = entry.problem
    raw = {q: problem.grading.for_quantity(q).points for q in problem.asked}
    total = sum(raw.values())
    if entry.points is None or total == 0:
        return raw
    return split_points(raw, entry.points)


def split_points(weights: Mapping[str, float], total: float) -> dict[str, float]:
    """`total` shared in proportion to `weights` in steps of 1/2 (or finer, see _points), exactly.

    Largest remainders: each share is rounded down to a step, and the steps left go to the
    largest remainders; ties go to the later quantities (the backward pass is the harder part).
    """
    step = 0.5
    while True:
        units = round(total / step)
        if abs(units * step - total) > 1e-9 or units >= sum(1 for w in weights.values() if w > 0) or step < 1e-3:
            break
        step /= 2
    if abs(units * step - total) > 1e-9:  # a total that is not a multiple of any step: plain proportions
        scale = total / sum(weights.values())
        return {q: w * scale for q, w in weights.items()}
    weight_sum = sum(weights.values())
    quotas = {q: units * w / weight_sum for q, w in weights.items()}
    shares = {q: math.floor(x + 1e-9) for q, x in quotas.items()}
    order = list(weights)
    left = units - sum(shares.values())
    by_remainder = sorted(order, key=lambda q: (-(quotas[q] - shares[q]), -order.index(q)))
    for q in by_remainder[:left]:
        shares[q] += 1
    return {q: shares[q] * step for q in order}


def make_key(sheet: Sheet, variant: Variant, secret: bytes | None = None) -> AnswerKey:
    """The answer key of one variant of a sheet."""
    return make_keys(sheet, [variant], secret)[0]


def make_keys(sheet: Sheet, variants: Sequence[Variant], secret: bytes | None = None) -> list[AnswerKey]:
    """The answer keys of many variants of a sheet (a roster, a batch to grade), each exactly as
    make_key gives it; every problem's instances are sampled together (sampler.sample_many)."""
    columns = []
    for entry in sheet.entries:
        pid = entry.problem.id
        seeds = [problem_seed(sheet.id, v, pid, secret) for v in variants]
        points = _points(entry)
        instances = sample_many(entry.problem, seeds)
        allows = allowances(entry.problem, instances)
        columns.append([ProblemKey(entry, i, points, a) for i, a in zip(instances, allows)])
    return [AnswerKey(sheet, v, tuple(column[i] for column in columns)) for i, v in enumerate(variants)]


def allowances(problem: Problem, instances: Sequence[Instance]) -> list[dict[str, np.ndarray]]:
    """Each instance's allowance per asked quantity, in the problem's layout: the grader's margins
    of a roster or a grading batch, worked out in one stacked pass (tolerance.stacked_allowances)."""
    if not instances:
        return []
    stacked = stacked_allowances(problem, instances[0].trace.steps, stack_traces(instances))
    allow = {q: stack_from_rows(a, problem.arch.layout) for q, a in stacked.items()}
    return [{q: a[i] for q, a in allow.items()} for i in range(len(instances))]


def student_keys(sheet: Sheet, students: Sequence[Student], secret: bytes) -> list[AnswerKey]:
    """Each student's own secret variant of the sheet, in roster order."""
    return make_keys(sheet, [Variant(student=s.id) for s in students], secret)


def to_json_value(value: np.ndarray) -> Any:
    """A value as JSON: a number for a scalar, nested lists otherwise, at stored precision."""
    a = np.asarray(value, dtype=float)
    rounded = np.array([float(f"{x:.{SIGNIFICANT_DIGITS}g}") for x in a.ravel().tolist()]).reshape(a.shape)
    return rounded.tolist() if rounded.ndim else float(rounded)


def key_document(key: AnswerKey) -> dict[str, Any]:
    problems = []
    for pk in key.problems:
        p, trace = pk.problem, pk.instance.trace
        quantities = {}
        for q in p.asked:
            quantities[q] = {"value": to_json_value(trace[q]), "shape": list(trace[q].shape),
                             "points": round(pk.points[q], 6), "margin": to_json_value(pk.allow[q])}
        given, asked = pk.instance.given, set(p.asked)
        problems.append({
            "id": p.id, "title": p.title, "layout": p.arch.layout, "decimals": p.decimals,
            "points": round(pk.total, 6),
            "given": {n: to_json_value(v) for n, v in given.items()},
            "quantities": quantities,
            # The values of the quantities not asked, and the computation itself (README "The graph"),
            # so that any program can recompute the key or redo one step.
            "intermediates": {n: to_json_value(trace[n]) for n in trace.names if n not in given and n not in asked},
            "graph": graph_document(p.arch),
        })
    return {"format": KEY_FORMAT, "version": FORMAT_VERSION, "sheet": key.sheet.id,
            "variant": key.variant.as_json(), "points": round(key.total, 6), "problems": problems}


def template_document(key: AnswerKey) -> dict[str, Any]:
    student = {"id": key.variant.student or "", "name": ""}
    return {
        "format": SUBMISSION_FORMAT, "version": FORMAT_VERSION, "sheet": key.sheet.id,
        "variant": key.variant.as_json(), "student": student,
        "answers": {pk.problem.id: {q: None for q in pk.problem.asked} for pk in key.problems},
        "shapes": {pk.problem.id: {q: list(np.shape(pk.instance.trace[q])) for q in pk.problem.asked}
                   for pk in key.problems},
    }


_encode_string = json.encoder.encode_basestring
# One encoder for the whole process: json.dumps builds a new one on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _is_inline_array(value: Any) -> bool:
    """Arrays in gradekit's documents hold numbers (or nested lists of them); lists of objects do not."""
    return not any(isinstance(v, dict) for v in value)


# Fields whose items (a graph's steps and constants) are written one item per line.
ONE_PER_LINE = frozenset({"steps", "constants"})


def _encode(value: Any, indent: int, one_per_line: bool = False) -> str:
    # Objects are indented for reading; arrays of numbers stay on one line, so a matrix
    # reads as [[1.0, 2.0], [3.0, 4.0]] instead of a column of brackets.
    pad = " " * (indent + 2)
    if isinstance(value, dict) and value:
        if one_per_line:
            items = [f"{pad}{_encode_string(k)}: {_ENCODER.encode(v)}" for k, v in value.items()]
        else:
            items = [f"{pad}{_encode_string(k)}: {_encode(v, indent + 2, k in ONE_PER_LINE)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and value and not _is_inline_array(value):
        items = [pad + (_ENCODER.encode(v) if one_per_line else _encode(v, indent + 2)) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    if isinstance(value, str):
        return _encode_string(value)  # the C encoder json.dumps would call, without its set-up per value
    if type(value) is float and math.isfinite(value):
        return repr(value)  # exactly what the JSON encoder writes for a finite float
    return _ENCODER.encode(value)


def dumps(document: Mapping[str, Any]) -> str:
    """Stable, readable JSON text: field order is part of the format, matrices stay on one line."""
    return _encode(document, 0) + "\n"
