"""What runs inside PrairieLearn: a question's generate, grade and test, with gradekit's own grader.

`gradekit export prairielearn` copies this module, with the part of gradekit it needs (the
engine, tolerances, the grading policy: NumPy and the standard library only), into the course's
serverFilesCourse/, and each question's server.py calls it (see gradekit.exports.prairielearn).
A question's folder holds `gradekit-question.json`: the problem spec (with its file's name, never
its folder on the exporting machine), the sheet's points, and the given values of its variants.
Nothing is sampled here: a variant's key is rebuilt by running the engine on its given values
(kept in the variant's params by generate(), so that a later export of another pool never changes
them), as `gradekit grade` rebuilds it, and a submission is graded by the same function
(gradekit.grading.grade.grade_problem), so follow-through, named mistakes and the rules of
gradekit.grading.policy apply as they do there.

PrairieLearn's side of the contract (its `server.py` documentation and element code):
- generate(data) sets data["params"] and data["correct_answers"]; data["variant_seed"] picks
  the variant (any integer from 0 to 2**32 - 1).
- pl-matrix-component-input posts a matrix's cells as NAME + k (k = columns * i + j + 1) and
  parses them into data["submitted_answers"][NAME] (a matrix, possibly in pl.to_json's
  {"_type": "ndarray", "_value": ...} form); pl-number-input posts one number.
- grade(data) runs after the elements graded; it may rewrite data["partial_scores"] and must
  then set data["score"] itself. An entry's "feedback" in partial_scores of a matrix element is
  a dict of every cell's name to "correct" or "incorrect"; the element shows those marks in the
  submission panel when its score is below 1 (none when the entry has no "feedback"), and its
  score as a badge. An element compares with one tolerance (here: its quantity's smallest
  margin), gradekit each entry with its own: grade() replaces every element's entry, score and
  marks, by gradekit's verdict (cell_marks), so that no mark contradicts the score.
- test(data) runs after the elements wrote test answers (data["test_type"]); it sets the scores
  PrairieLearn should expect from grading them.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

QUESTION_FILE = "gradekit-question.json"
QUESTION_FORMAT = "gradekit-prairielearn"


@lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def question(data: Mapping[str, Any]) -> dict[str, Any]:
    """The question's gradekit file, from the folder PrairieLearn runs it in (read once per worker)."""
    path = os.path.join(data["options"]["question_path"], QUESTION_FILE)
    doc = _read(path, os.stat(path).st_mtime_ns)
    if doc.get("format") != QUESTION_FORMAT:
        raise ValueError(f"{path}: not a gradekit PrairieLearn question file")
    return doc


def spec_source(doc: Mapping[str, Any]) -> str:
    """How messages name the problem spec here: the question file that carries it, and the spec
    file it was exported from (`gradekit-question.json, spec exported from xor.toml: layers[1].units: ...`)."""
    return f"{QUESTION_FILE}, spec exported from {doc['source']}"


@lru_cache(maxsize=16)
def _problem(spec_json: str, source: str):  # noqa: ANN202 - a gradekit.spec.reader.Problem
    from gradekit.spec.reader import parse_problem

    return parse_problem(json.loads(spec_json), source)


def problem_key(doc: Mapping[str, Any], variant: Mapping[str, Any]):  # noqa: ANN201 - a gradekit.keys.key.ProblemKey
    """The key of a variant ({"seed", "given"}): the engine run on its given values, with the
    grader's allowances."""
    from gradekit.engine import build as engine
    from gradekit.keys.key import ProblemKey, allowances
    from gradekit.sampling.sampler import Instance
    from gradekit.model.problem import SheetEntry

    problem = _problem(json.dumps(doc["spec"], sort_keys=True), spec_source(doc))
    given = {name: np.asarray(value) for name, value in variant["given"].items()}
    instance = Instance(problem, variant["seed"], engine.run(problem.arch, given), 0)
    allow = allowances(problem, [instance])[0]
    entry = SheetEntry(problem, doc["total"], "")
    return ProblemKey(entry, instance, dict(doc["points"]), allow)


def shown_variant(doc: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The variant a student was shown: the given values generate() kept in the variant's params
    (so that re-exporting another pool never changes the numbers a student is graded on), else
    the pool's variant for the variant seed."""
    kept = data.get("params", {}).get("gradekit", {})
    if isinstance(kept.get("values"), dict) and isinstance(kept.get("seed"), int):
        return {"seed": kept["seed"], "given": kept["values"]}
    return doc["variants"][int(data["variant_seed"]) % len(doc["variants"])]


def as_matrix(value: np.ndarray) -> list[list[float]]:
    """A value as pl-matrix-component-input shows it: a matrix; a vector becomes one row."""
    value = np.asarray(value, dtype=float)
    return (value.reshape(1, -1) if value.ndim < 2 else value).tolist()


def tolerance_text(x: float, digits: int = 6) -> str:
    """A margin as an element's `atol`: `digits` significant figures, rounded down (never wider)."""
    x = float(x)
    if not x > 0 or not math.isfinite(x):
        return repr(max(x, 0.0)) if math.isfinite(x) else "0.0"
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return f"{math.floor(x / step) * step:.{digits}g}"


# --- generate --------------------------------------------------------------------------------


def generate(data: dict[str, Any]) -> None:
    """Pick the variant, show its given values and figure, and set the correct answers."""
    doc = question(data)
    index = int(data["variant_seed"]) % len(doc["variants"])
    variant = doc["variants"][index]
    pk = problem_key(doc, variant)
    names = doc["names"]
    data["params"]["gradekit"] = {
        "variant": index,
        "seed": variant["seed"],
        "values": variant["given"],
        "figure": variant["figure"],
        "given": [{"tex": tex} for tex in variant["shown"]],
        # One tolerance per element: the smallest of the quantity's margins, so that the element
        # never accepts an entry the grader refuses; grade() then applies each entry's own.
        "atol": {names[q]: tolerance_text(np.min(pk.allowance(q))) for q in pk.problem.asked},
    }
    for q in pk.problem.asked:
        value = pk.instance.trace[q]
        data["correct_answers"][names[q]] = float(value) if np.ndim(value) == 0 else as_matrix(value)


# --- grade -----------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """A submitted answer as plain numbers: pl.to_json's {"_type": ..., "_value": ...} unwrapped."""
    if isinstance(value, dict):
        if value.get("_type") == "complex" or "_value" not in value:
            return None
        return _number(value["_value"])
    return value


def submitted(doc: Mapping[str, Any], pk: Any, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The problem's answers in gradekit's shapes, from PrairieLearn's parsed answers by element name.

    Answers that are missing stay out (gradekit's `missing`); anything that is not numbers of the
    right shape is passed on as it is, and gradekit's grader reports it `invalid`.
    """
    out: dict[str, Any] = {}
    for q in pk.problem.asked:
        value = _number(answers.get(doc["names"][q]))
        if value is None:
            continue
        shape = np.shape(pk.instance.trace[q])
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            out[q] = value
            continue
        out[q] = array.reshape(shape).tolist() if array.size == math.prod(shape) else value
    return out


def _cells(name: str, ok: np.ndarray) -> dict[str, str]:
    """pl-matrix-component-input's per-cell feedback: NAME + k, k = columns * i + j + 1."""
    return {f"{name}{k}": "correct" if good else "incorrect" for k, good in enumerate(ok.ravel().tolist(), start=1)}


def cell_marks(pk: Any, result: Any, answer: Any) -> np.ndarray | None:
    """Which entries of a matrix answer gradekit's verdict holds right (one mark per cell of the
    element), or None for no marks at all.

    pl-matrix-component-input shows these marks beside the element's score when that is below 1,
    so they follow the verdict behind the score, never a comparison of their own:
    - correct: every entry;
    - incorrect with entries off: each entry against its own margin of the key, as the verdict
      counts them ("2 of 12 entries wrong"; with partial credit the score is the share of right ones);
    - incorrect with every entry within its margin (right, but refused for the work behind it:
      rules 5 and 6 of gradekit.grading.policy), follow-through (credit for entries redone from the
      student's own earlier answers, not against the key), missing or invalid: no marks, since
      marks against the key would contradict the score; the feedback in words says why.
    """
    from gradekit.engine.margins import close

    key = np.asarray(pk.instance.trace[result.name], dtype=float)
    if result.status == "correct":
        return np.ones(key.shape, dtype=bool)
    if result.status != "incorrect" or answer is None or np.size(answer) != key.size:
        return None
    ok = np.asarray(close(np.asarray(answer, dtype=float).reshape(key.shape), key, pk.allowance(result.name)))
    return None if ok.all() else ok


def score_answers(data: dict[str, Any], doc: Mapping[str, Any], pk: Any, answers: Mapping[str, Any]) -> None:
    """Grade `answers` (gradekit shapes) with gradekit's policy into data's partial scores, feedback
    and score. Every element's partial score is replaced as a whole: what the element itself
    decided with its one tolerance (its score, its marks per cell) is gone."""
    from gradekit.grading.grade import grade_problem

    result = grade_problem(pk, answers)
    names, weights = doc["names"], doc["weights"]
    for r in result.quantities:
        name = names[r.name]
        share = r.points / r.possible if r.possible else float(r.status == "correct")
        partial: dict[str, Any] = {"score": share, "weight": weights[r.name]}
        if np.ndim(pk.instance.trace[r.name]) > 0:  # a matrix element: a mark on every cell, or none
            marks = cell_marks(pk, r, answers.get(r.name))
            if marks is not None:
                partial["feedback"] = _cells(name, marks)
        data["partial_scores"][name] = partial
        data["feedback"][name] = f"{r.status} ({_points(r.points)} of {_points(r.possible)}): {r.feedback}"
    data["score"] = result.points / result.possible if result.possible else 1.0


def _points(x: float) -> str:
    return f"{x:g}"


def grade(data: dict[str, Any]) -> None:
    """Regrade the whole submission as `gradekit grade` would: follow-through, named mistakes, every
    entry within its own margin; the elements' own marks are replaced."""
    doc = question(data)
    pk = problem_key(doc, shown_variant(doc, data))
    score_answers(data, doc, pk, submitted(doc, pk, data["submitted_answers"]))


# --- test ------------------------------------------------------------------------------------


def test(data: dict[str, Any]) -> None:
    """The scores grade() will give the elements' test answers, for PrairieLearn's Test button.

    The elements wrote raw answers (the key's values, or values moved by 1 to 10, or unreadable
    ones); readable ones are graded here as grade() grades them, since follow-through can credit
    a later answer that an element's own test expects to be wrong.
    """
    if data.get("format_errors"):  # the "invalid" test: nothing is graded
        return
    doc = question(data)
    pk = problem_key(doc, shown_variant(doc, data))
    raw = data["raw_submitted_answers"]
    answers: dict[str, Any] = {}
    for q in pk.problem.asked:
        name, shape = doc["names"][q], np.shape(pk.instance.trace[q])
        cells = [raw.get(name)] if not shape else [raw.get(f"{name}{k}") for k in range(1, math.prod(shape) + 1)]
        try:
            numbers = [float(c) for c in cells]
        except (TypeError, ValueError):
            return  # an answer the elements will refuse: leave their expectations
        answers[q] = np.asarray(numbers).reshape(shape).tolist() if shape else numbers[0]
    score_answers(data, doc, pk, answers)
