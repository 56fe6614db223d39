"""gradekit export prairielearn: questions PrairieLearn accepts, graded in server.py as `gradekit grade` grades.

No PrairieLearn server here: info.json is validated against PrairieLearn's own schema (a copy
in tests/data/prairielearn), question.html is parsed and held to the elements and attributes
PrairieLearn's element code accepts, and the exported server.py runs in a separate process the way
PrairieLearn's zygote runs it (tests/e2e/pl_harness.py), on dicts shaped like PrairieLearn's `data`,
with the bundled copy of gradekit. Its results are compared with this gradekit's key and
grade_problem, for the default sheet and every built-in problem. GRADEKIT_PL_PYTHON names another
interpreter (PrairieLearn's runtime is Python 3.10; .ci/run makes one with NumPy 1.26) to run the
same calls with, and to look up every NumPy name, keyword and array attribute the bundle uses
(tests/e2e/numpy_names.py): gradekit itself requires NumPy 2, its bundle must run on 1.26 too.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gradekit.model.notation import tex
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.engine.trace import evaluate_in_layout
from gradekit.exports import prairielearn, prairielearn_runtime
from gradekit.exports.common import given_json, public_keys
from gradekit.grading.grade import grade_problem
from gradekit.spec.reader import DEFAULT_SHEET, builtin_problem_paths, resolve
from gradekit.util.errors import SpecError
from gradekit.util.resources import problems_dir

# PrairieLearn's info.json schema, copied from the project's reference data (shared/schemas) into
# tests/data so that a clean checkout validates against it too.
SCHEMAS = Path(__file__).resolve().parent / "data" / "prairielearn"
HARNESS = Path(__file__).with_name("pl_harness.py")
NUMPY_NAMES = Path(__file__).with_name("numpy_names.py")
PL_PYTHON = os.environ.get("GRADEKIT_PL_PYTHON")
NO_PL_PYTHON = "GRADEKIT_PL_PYTHON names no other interpreter"
SHEET = "backprop-basics"
SEEDS = [10, 11, 12]
# The default sheet and every built-in problem (what `gradekit list` lists), two variants each.
BUILTINS = [DEFAULT_SHEET, *builtin_problem_paths()]
BUILTIN_SEEDS = [3, 4]

# Elements and attributes question.html may use: the table in shared/schemas/prairielearn/README.md
# (read from PrairieLearn's element code), and the two panels of PrairieLearn's question.html and
# server.py documentation, which take no attributes.
ELEMENTS = {
    "pl-matrix-component-input": ({"answers-name"}, {
        "weight", "label", "aria-label", "suffix", "comparison", "rtol", "atol", "digits", "allow-partial-credit",
        "allow-feedback", "allow-fractions", "rows", "columns", "allow-blank", "blank-value"}),
    "pl-number-input": ({"answers-name"}, {
        "weight", "correct-answer", "label", "aria-label", "suffix", "display", "comparison", "rtol", "atol",
        "digits", "custom-format", "allow-blank", "blank-value", "allow-fractions", "size", "show-score",
        "show-correct-answer", "show-help-text", "placeholder", "show-placeholder", "initial-value", "allow-complex"}),
    "pl-matrix-latex": ({"params-name"}, {"digits", "presentation-type"}),
    "pl-figure": ({"file-name"}, {"width", "type", "directory", "inline", "display", "alt"}),
    "pl-question-panel": (set(), set()),
    "pl-submission-panel": (set(), set()),
}
VOID = {"br", "img", "hr", "input", "meta", "link"}


class _Checker(HTMLParser):
    """Collects PrairieLearn elements with their attributes and checks that every tag is closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        if tag.startswith("pl-"):
            self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):  # noqa: ANN001
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pl")
    prairielearn.write(public_keys(resolve(SHEET), SEEDS), out)
    return out


@pytest.fixture(scope="module")
def keys():
    return public_keys(resolve(SHEET), SEEDS)


def run(course: Path, qid: str, calls: list[dict], python: str | None = None) -> dict:
    """The data of each call after server.py's function ran, in a fresh process like PrairieLearn's worker."""
    request = {"course": str(course), "question": qid, "calls": calls}
    done = subprocess.run([python or sys.executable, str(HARNESS)], input=json.dumps(request), capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert Path(out["gradekit"]).is_relative_to(course / "serverFilesCourse" / "gradekit-bundles"), out["gradekit"]
    return out


def qid(pk, sheet: str = SHEET) -> str:
    return prairielearn.question_folder(sheet, pk.problem.id)


def pl_submission(pk, answers: dict) -> dict:
    """data["submitted_answers"] as PrairieLearn's elements leave it: each cell by its name, and the
    matrix in pl.to_json's form; a number for pl-number-input."""
    names = prairielearn.answer_names(pk.problem.asked)
    out: dict = {}
    for q, value in answers.items():
        value = np.asarray(value, dtype=float)
        if value.ndim == 0:
            out[names[q]] = float(value)
            continue
        matrix = value.reshape(1, -1) if value.ndim == 1 else value
        out[names[q]] = {"_type": "ndarray", "_value": matrix.tolist(), "_dtype": "float64"}
        for k, x in enumerate(matrix.ravel().tolist(), start=1):
            out[f"{names[q]}{k}"] = x
    return out


def grade_data(generated: dict, submitted: dict) -> dict:
    return {"params": generated["params"], "correct_answers": generated["correct_answers"],
            "submitted_answers": submitted, "format_errors": {}, "partial_scores": {}, "score": 0.0,
            "feedback": {}, "variant_seed": generated["variant_seed"], "raw_submitted_answers": {}, "gradable": True}


def _attribute(value: str, params: dict) -> str:
    """An element attribute as PrairieLearn reads it, after Mustache filled in {{params.X.Y}}."""
    match = re.fullmatch(r"\{\{params\.([\w.]+)\}\}", value)
    if match is None:
        return value
    for key in match.group(1).split("."):
        params = params[key]
    return str(params)


def element_grades(question_html: str, data: dict) -> None:
    """What PrairieLearn's pl-number-input and pl-matrix-component-input grade() leave in data
    before server.py's grade() runs (read from their grade() in PrairieLearn's elements/ folder):
    each number compared with the correct answer within the element's atol + rtol |key|; a matrix
    that is not all right gets a mark per cell, and without allow-partial-credit a score of 0;
    then the question's score, the elements' scores weighed by their weights."""
    checker = _Checker()
    checker.feed(question_html)
    total = weights = 0.0
    for tag, attrs in checker.elements:
        if tag not in ("pl-number-input", "pl-matrix-component-input"):
            continue
        name, weight = attrs["answers-name"], int(attrs["weight"])
        atol, rtol = (float(_attribute(attrs[a], data["params"])) for a in ("atol", "rtol"))
        key = np.asarray(data["correct_answers"][name], dtype=float)
        if tag == "pl-number-input":
            submitted = np.asarray(data["submitted_answers"][name], dtype=float)
        else:
            submitted = np.reshape([data["submitted_answers"][f"{name}{k}"] for k in range(1, key.size + 1)], key.shape)
        ok = np.abs(submitted - key) <= atol + rtol * np.abs(key)
        partial = {"score": 1.0 if ok.all() else 0.0, "weight": weight}
        if tag == "pl-matrix-component-input" and not ok.all():
            partial["feedback"] = {f"{name}{k}": "correct" if c else "incorrect"
                                   for k, c in enumerate(ok.ravel().tolist(), start=1)}
            if attrs.get("allow-partial-credit") == "true":
                partial["score"] = float(ok.mean())
        data["partial_scores"][name] = partial
        total, weights = total + weight * partial["score"], weights + weight
    data["score"] = total / weights


def grade_call(course: Path, question: str, generated: dict, pk, answers: dict) -> dict:
    """server.py's grade() call on a submission, with data as PrairieLearn hands it over: parsed,
    and graded by the elements first."""
    data = grade_data(generated, pl_submission(pk, answers))
    element_grades((course / "questions" / question / "question.html").read_text(encoding="utf-8"), data)
    return {"fcn": "grade", "question": question, "data": data}


def generate_call(seed: int) -> dict:
    return {"fcn": "generate", "data": {"params": {}, "correct_answers": {}, "variant_seed": seed}}


# --- info.json --------------------------------------------------------------------------------


def test_info_json_is_valid_against_prairielearns_schema_with_a_stable_uuid(course, keys, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "infoQuestion.json").read_text())
    again = tmp_path / "again"
    prairielearn.write(public_keys(resolve(SHEET), [99]), again)  # another pool of the same sheet
    uuids = set()
    for pk in keys[0].key.problems:
        info = json.loads((course / "questions" / qid(pk) / "info.json").read_text())
        jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(info)
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", info["uuid"])
        assert info["type"] == "v3" and info["title"] == pk.problem.title and not info["singleVariant"]
        assert json.loads((again / "questions" / qid(pk) / "info.json").read_text())["uuid"] == info["uuid"]
        uuids.add(info["uuid"])
    assert len(uuids) == len(keys[0].key.problems)
    assert prairielearn.question_uuid("a", "b") != prairielearn.question_uuid("b", "a")


# --- question.html ----------------------------------------------------------------------------


def test_question_html_parses_and_uses_only_documented_elements(course, keys):
    for pk in keys[0].key.problems:
        text = (course / "questions" / qid(pk) / "question.html").read_text()
        checker = _Checker()
        checker.feed(text)
        checker.close()
        assert checker.open == []
        names = []
        for tag, attrs in checker.elements:
            assert tag in ELEMENTS, tag
            required, optional = ELEMENTS[tag]
            assert required <= set(attrs) <= required | optional, (tag, attrs)
            if "weight" in attrs:
                assert attrs["weight"].isdigit()
            if "answers-name" in attrs:
                names.append(attrs["answers-name"])
        assert names == [f"{q}_" for q in pk.problem.asked]
        # PrairieLearn names cells NAME + number: no name may be another one plus digits.
        assert not any(re.fullmatch(re.escape(a) + r"[0-9]+", b) for a in names for b in names if a != b)
        # Mustache sees only gradekit's own tags (every brace of the LaTeX is an entity).
        tags = re.findall(r"\{\{(.*?)\}\}", text)
        allowed = r"params\.gradekit\.(figure|atol\.\w+)|[#/]params\.gradekit\.given|tex|feedback\.\w+"
        assert tags and all(re.fullmatch(allowed, t) for t in tags), tags
        assert "{" not in re.sub(r"\{\{.*?\}\}", "", text)


def test_answers_names_cannot_collide_even_for_digit_names():
    names = prairielearn.answer_names(["A1", "A11", "W1", "W1_new"])
    cells = {f"{n}{k}" for n in names.values() for k in range(1, 200)}
    assert len(cells) == 4 * 199 and not cells & set(names.values())


# --- server.py: generate ----------------------------------------------------------------------


def _check_generated(course: Path, sheet: str, pk, index: int, seed: int, data: dict) -> None:
    """generate() showed variant `index` (seed `seed`) of `pk`'s question: its given values, its
    picture, its key as the correct answers, and each element's tolerance."""
    params = data["params"]["gradekit"]
    assert params["variant"] == index and params["seed"] == seed
    assert params["values"] == given_json(pk)  # kept, so that grading never depends on the pool file
    assert (course / "questions" / qid(pk, sheet) / "clientFilesQuestion" / params["figure"]).is_file()
    first = tex(pk.problem.arch.given_names()[0])  # X for an MLP, x for a circuit, θ^(0) for an optimizer exercise
    assert [g["tex"] for g in params["given"]][0].startswith(f"{first} = ")
    for q in pk.problem.asked:
        got = np.asarray(data["correct_answers"][f"{q}_"], dtype=float)
        key = np.asarray(pk.instance.trace[q], dtype=float)
        assert got.ndim == (0 if key.ndim == 0 else 2)
        np.testing.assert_allclose(got.reshape(key.shape), key, rtol=1e-12, atol=1e-15)
        smallest = float(np.min(pk.allowance(q)))
        assert smallest * (1 - 1e-5) <= float(params["atol"][f"{q}_"]) <= smallest


def test_generate_sets_every_variants_key_and_figure(course, keys):
    count = len(SEEDS)
    for p, pk0 in enumerate(keys[0].key.problems):
        seeds = [0, 1, 2, 4, 2**32 - 1]  # PrairieLearn's seeds: any 32-bit integer
        out = run(course, qid(pk0), [generate_call(s) for s in seeds])
        for seed, data in zip(seeds, out["results"]):
            index = seed % count
            _check_generated(course, SHEET, keys[index].key.problems[p], index, SEEDS[index], data)


# --- server.py: grade -------------------------------------------------------------------------


def _carried(pk, wrong: str, change: Callable[[np.ndarray], np.ndarray]) -> dict:
    """A student's answers: `wrong` changed, every later step done right on it, each value rounded
    to the sheet's decimals and carried forward rounded, as the sheet asks."""
    trace, decimals = pk.instance.trace, pk.problem.decimals
    values = {n: np.asarray(trace[n], dtype=float) for n in trace.names}
    for step in trace.steps:
        if step.compute is not None:
            with np.errstate(invalid="ignore"):
                done = np.round(np.asarray(evaluate_in_layout(step, values, trace.layout), dtype=float), decimals)
            # A root of a negative carried value (an optimizer's v flipped) has no number: the
            # student writes the key's instead of NaN, which JSON cannot carry.
            values[step.name] = np.where(np.isfinite(done), done, np.asarray(trace[step.name], dtype=float))
        if step.name == wrong:
            values[wrong] = np.round(change(np.asarray(trace[wrong], dtype=float)), decimals)
    return {q: values[q].tolist() for q in pk.problem.asked}


def _follow_through(pk, wrong: str, factor: float) -> dict:
    """`wrong` off by `factor` and carried forward (_carried)."""
    return _carried(pk, wrong, lambda value: value * factor)


def _slip(pk) -> dict:
    """One entry of the first asked matrix off by 0.5 and carried forward: a slip, whose later
    steps earn follow-through."""
    # (a computational graph, a one-unit RNN or LSTM cell asks scalars only: its first asked value)
    first = next((q for q in pk.problem.asked if np.size(pk.instance.trace[q]) > 1), pk.problem.asked[0])

    def change(value: np.ndarray) -> np.ndarray:
        value = value.copy()
        value.flat[0] += 0.5
        return value

    return _carried(pk, first, change)


def _check_same(pk, data: dict, answers: dict) -> None:
    """PrairieLearn's scores, feedback and marks after server.py's grade() are gradekit's own."""
    want = grade_problem(pk, answers)
    weights = prairielearn.element_weights(pk.points)
    for r in want.quantities:
        partial = data["partial_scores"][f"{r.name}_"]
        assert partial["score"] == pytest.approx(r.points / r.possible, abs=1e-12), r
        assert partial["weight"] == weights[r.name]
        assert r.feedback in data["feedback"][f"{r.name}_"] and data["feedback"][f"{r.name}_"].startswith(r.status)
        _check_marks(pk, r, partial, answers.get(r.name))
    assert data["score"] == pytest.approx(want.points / want.possible, abs=1e-12)


def _check_marks(pk, r, partial: dict, answer) -> None:
    """An element's marks per cell say what gradekit's verdict says of each entry, and never
    contradict its score: marks where the verdict is about the entries against the key (correct;
    incorrect with entries off, each against its own margin), none where it is not."""
    key = np.asarray(pk.instance.trace[r.name], dtype=float)
    marks = partial.get("feedback")
    if key.ndim == 0:
        assert marks is None  # pl-number-input: its score only
        return
    within = None if answer is None else \
        np.abs(np.asarray(answer, dtype=float).reshape(key.shape) - key) <= pk.allowance(r.name)
    if r.status == "correct":
        expected = np.ones(key.shape, dtype=bool)
    elif r.status == "incorrect" and within is not None and not within.all():
        expected = within
    else:
        assert marks is None, (r, marks)
        return
    cells = [f"{r.name}_{k}" for k in range(1, key.size + 1)]
    assert marks == dict(zip(cells, ["correct" if c else "incorrect" for c in expected.ravel().tolist()])), r
    right = float(np.mean([marks[c] == "correct" for c in cells]))
    assert (right == 1.0) is (partial["score"] >= 1.0), (r, marks)  # a cell marked wrong never scores 1
    if pk.problem.grading.partial_credit:
        assert partial["score"] == pytest.approx(right, abs=1e-12)  # each cell marked right counts


def test_a_named_mistake_and_the_follow_through_after_it_are_gradekits(course, keys):
    p = [pk.problem.id for pk in keys[0].key.problems].index("relu-softmax-rows")
    pk = keys[1].key.problems[p]
    answers = _follow_through(pk, "dZ2", 4.0)  # the 1/N of the mean forgotten (N = 4)
    want = grade_problem(pk, answers)
    by_name = {q.name: q for q in want.quantities}
    statuses = {name: q.status for name, q in by_name.items()}
    assert "off by a factor of N = 4" in by_name["dZ2"].mistake and by_name["dZ2"].mistake_ids == ("mean_factor_missing",)
    assert statuses["dZ2"] == "incorrect" and statuses["dW1"] == "follow-through" and want.points == 18.5
    generated = run(course, qid(pk), [generate_call(1)])["results"][0]
    data = run(course, qid(pk), [grade_call(course, qid(pk), generated, pk, answers)])
    graded = data["results"][0]
    _check_same(pk, graded, answers)
    assert "off by a factor of N = 4" in graded["feedback"]["dZ2_"]
    cells = graded["partial_scores"]["dZ2_"]["feedback"]
    assert set(cells) == {f"dZ2_{k}" for k in range(1, 13)} and set(cells.values()) == {"incorrect"}
    assert graded["score"] == pytest.approx(18.5 / 20)


# --- marks per cell: an element's one tolerance, gradekit's margin per entry ---------------------


def _widest_entry(pk) -> tuple[str, tuple[int, ...]]:
    """The asked matrix whose entries' margins differ most, and its entry with the widest margin
    (the element's tolerance is the narrowest one)."""
    spread = {q: np.asarray(pk.allowance(q)) for q in pk.problem.asked if np.ndim(pk.instance.trace[q]) > 0}
    q = max(spread, key=lambda n: spread[n].max() / spread[n].min())
    return q, tuple(int(i) for i in np.unravel_index(np.argmax(spread[q]), spread[q].shape))


def _between_margins(pk, generated: dict, q: str, entry: tuple[int, ...]) -> dict:
    """Right answers (rounded as the sheet asks), but `q`'s entry off by more than the element's
    tolerance and less than its own margin."""
    answers = {n: np.round(pk.instance.trace[n], pk.problem.decimals) for n in pk.problem.asked}
    atol, own = float(generated["params"]["gradekit"]["atol"][f"{q}_"]), float(np.asarray(pk.allowance(q))[entry])
    assert atol < own, (q, atol, own)
    value = np.asarray(pk.instance.trace[q], dtype=float).copy()
    value[entry] += (atol + own) / 2
    answers[q] = value
    return {n: v.tolist() for n, v in answers.items()}


def _cell(pk, q: str, entry: tuple[int, ...]) -> str:
    """The name PrairieLearn gives the entry's cell: NAME + (columns * i + j + 1)."""
    return f"{q}_{np.ravel_multi_index(entry, np.shape(pk.instance.trace[q])) + 1}"


def test_an_entry_within_its_own_margin_is_marked_right_and_counts_where_the_element_refused_it(course, keys):
    """All or nothing per quantity (the built-in problems): the element, with its one tolerance,
    marks the entry wrong and scores its quantity 0; grade() marks it right and scores it."""
    pk = keys[0].key.problems[[k.problem.id for k in keys[0].key.problems].index("relu-softmax-rows")]
    generated = run(course, qid(pk), [generate_call(0)])["results"][0]
    q, entry = _widest_entry(pk)
    answers = _between_margins(pk, generated, q, entry)
    answers["loss"] = float(pk.instance.trace["loss"]) + (float(generated["params"]["gradekit"]["atol"]["loss_"])
                                                          + float(pk.allowance("loss"))) / 2
    call = grade_call(course, qid(pk), generated, pk, answers)
    before = call["data"]["partial_scores"]
    assert before[f"{q}_"]["score"] == 0 and before[f"{q}_"]["feedback"][_cell(pk, q, entry)] == "incorrect"
    assert before["loss_"]["score"] == 0 and call["data"]["score"] < 1  # pl-number-input refused it too
    graded = run(course, qid(pk), [call])["results"][0]
    size = np.size(pk.instance.trace[q])
    assert graded["partial_scores"][f"{q}_"] == {"score": 1.0, "weight": before[f"{q}_"]["weight"],
                                                 "feedback": {f"{q}_{k}": "correct" for k in range(1, size + 1)}}
    assert graded["partial_scores"]["loss_"] == {"score": 1.0, "weight": before["loss_"]["weight"]}
    assert graded["score"] == 1.0
    _check_same(pk, graded, answers)


def test_with_partial_credit_that_entry_is_marked_right_beside_a_wrong_one_and_counts(tmp_path, write_toml):
    """Partial credit (the element shows its marks beside a score below 1): the entry is marked
    right where the element marked it wrong, the wrong one stays wrong, and the score counts it."""
    text = (problems_dir() / "relu-softmax-rows.toml").read_text(encoding="utf-8")
    spec = write_toml(text + "\n[grading]\npartial_credit = true\n", "relu-softmax-partial.toml")
    variants = public_keys(resolve(str(spec)), [0])
    prairielearn.write(variants, tmp_path / "course")
    pk = variants[0].key.problems[0]
    question = prairielearn.question_folder(pk.problem.id, pk.problem.id)
    generated = run(tmp_path / "course", question, [generate_call(0)])["results"][0]
    q, entry = _widest_entry(pk)
    answers = _between_margins(pk, generated, q, entry)
    value = np.asarray(answers[q])
    other = next(i for i in np.ndindex(value.shape) if i != entry)
    value[other] += 1.0  # a real mistake in another entry
    answers[q] = value.tolist()
    call = grade_call(tmp_path / "course", question, generated, pk, answers)
    size, name = value.size, f"{q}_"
    before = call["data"]["partial_scores"][name]
    assert before["feedback"][_cell(pk, q, entry)] == "incorrect"
    assert before["score"] == pytest.approx((size - 2) / size)
    graded = run(tmp_path / "course", question, [call])["results"][0]
    marks = graded["partial_scores"][name]["feedback"]
    assert marks[_cell(pk, q, entry)] == "correct" and marks[_cell(pk, q, other)] == "incorrect"
    assert list(marks.values()).count("incorrect") == 1
    assert graded["partial_scores"][name]["score"] == pytest.approx((size - 1) / size)
    _check_same(pk, graded, answers)


# --- every built-in question, on this Python and on PrairieLearn's ----------------------------


@dataclass
class Call:
    """One call of server.py: the variant (index and key), what was submitted (gradekit's shapes), and data after it."""

    variant: int
    pk: Any
    kind: str
    answers: dict | None
    data: dict


@dataclass
class Exercise:
    """Every call made on one sheet's questions in one interpreter."""

    python: str
    numpy: str
    generated: list[Call] = field(default_factory=list)
    graded: list[Call] = field(default_factory=list)


def _answer_cases(pk, rng: np.random.Generator) -> dict[str, dict]:
    """Submissions of every kind for one variant: right (rounded as the sheet asks), mistakes
    carried forward (follow-through), slips, guesses, zeros, copies."""
    asked = pk.problem.asked
    right = {q: np.round(pk.instance.trace[q], pk.problem.decimals) for q in asked}
    return {"right": {q: v.tolist() for q, v in right.items()},
            "follow-through midway": _follow_through(pk, asked[len(asked) // 2], 1.1),
            "slip carried forward": _slip(pk),
            "sign flipped early": _follow_through(pk, asked[1], -1.0),
            "noise": {q: (v + rng.normal(0, 0.5, np.shape(v))).tolist() for q, v in right.items()},
            "zeros": {q: np.zeros(np.shape(v)).tolist() for q, v in right.items()},
            "every third off": {q: (v if j % 3 else v * 1.5).tolist() for j, (q, v) in enumerate(right.items())}}


def _element_test(pk, generated: dict, kind: str, rng: np.random.Generator) -> tuple[dict, dict]:
    """What PrairieLearn's Test button makes of a variant (the elements' test()): raw answers, the
    key's values or each cell moved by 1 to 10, and the same numbers in gradekit's shapes."""
    names, weights = prairielearn.answer_names(pk.problem.asked), prairielearn.element_weights(pk.points)
    raw, answers, expected = {}, {}, {}
    for q in pk.problem.asked:
        value = np.asarray(generated["correct_answers"][names[q]], dtype=float)
        if kind == "incorrect":
            value = value + rng.uniform(1, 10, value.shape) * rng.choice([-1, 1], value.shape)
        answers[q] = value.reshape(np.shape(pk.instance.trace[q])).tolist()
        # What each element's test() expects: all right or all wrong, every cell marked wrong.
        expected[names[q]] = {"score": float(kind == "correct"), "weight": weights[q]}
        if value.ndim == 0:
            raw[names[q]] = str(float(value))
            continue
        cells = [f"{names[q]}{k}" for k in range(1, value.size + 1)]
        raw.update(zip(cells, map(str, value.ravel().tolist())))
        if kind == "incorrect":
            expected[names[q]]["feedback"] = dict.fromkeys(cells, "incorrect")
    data = {"params": generated["params"], "correct_answers": generated["correct_answers"], "format_errors": {},
            "partial_scores": expected, "score": float(kind == "correct"), "feedback": {},
            "variant_seed": generated["variant_seed"], "raw_submitted_answers": raw, "gradable": True,
            "test_type": kind}
    return data, answers


def _exercise(course: Path, sheet: str, keys, python: str | None) -> Exercise:
    """generate, grade (every kind of answer) and test() on every question of a sheet and every
    variant: one worker process for the generate calls, one for the rest."""
    problems = [pk.problem.id for pk in keys[0].key.problems]
    first = prairielearn.question_folder(sheet, problems[0])
    plan = [(p, v) for p in range(len(problems)) for v in range(len(keys))]
    calls = [{**generate_call(v), "question": prairielearn.question_folder(sheet, problems[p])} for p, v in plan]
    out = run(course, first, calls, python)
    done = Exercise(out["python"], out["numpy"])
    rng = np.random.default_rng(3)  # the same answers for every interpreter
    calls, todo = [], []
    for (p, v), generated in zip(plan, out["results"]):
        pk = keys[v].key.problems[p]
        done.generated.append(Call(v, pk, "generate", None, generated))
        question = prairielearn.question_folder(sheet, pk.problem.id)
        for kind, answers in _answer_cases(pk, rng).items():
            calls.append(grade_call(course, question, generated, pk, answers))
            todo.append((v, pk, kind, answers))
        for kind in ("correct", "incorrect"):
            data, answers = _element_test(pk, generated, kind, rng)
            calls.append({"fcn": "test", "question": question, "data": data})
            todo.append((v, pk, f"test {kind}", answers))
    out = run(course, first, calls, python)
    done.graded = [Call(*call, data) for call, data in zip(todo, out["results"])]
    return done


def _check_exercise(course: Path, sheet: str, keys, done: Exercise) -> None:
    """Every call gave what this gradekit gives: the variants' keys, and `gradekit grade`'s scores
    and words for every submission (and for the Test button's)."""
    for call in done.generated:
        _check_generated(course, sheet, call.pk, call.variant, BUILTIN_SEEDS[call.variant], call.data)
    statuses: set[str] = set()
    for call in done.graded:
        _check_same(call.pk, call.data, call.answers)
        statuses.update((q.status for q in grade_problem(call.pk, call.answers).quantities))
        if call.kind in ("right", "test correct"):
            assert call.data["score"] == 1.0, (call.pk.problem.id, call.kind)
        if call.kind == "test incorrect":
            assert call.data["score"] < 1.0
    assert {"correct", "follow-through", "incorrect"} <= statuses, statuses


@pytest.fixture(scope="module")
def builtin_course(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    """The default sheet and every built-in problem exported into one course."""
    out = tmp_path_factory.mktemp("pl-builtin")
    keys = {ref: public_keys(resolve(ref), BUILTIN_SEEDS) for ref in BUILTINS}
    for variants in keys.values():
        prairielearn.write(variants, out)
    return out, keys


@pytest.fixture(scope="module")
def exercised(builtin_course) -> Callable[[str, str | None], Exercise]:
    """The exercise of a sheet on an interpreter (None: this one), made once for the module."""
    course, keys = builtin_course
    made: dict[tuple[str, str | None], Exercise] = {}

    def get(ref: str, python: str | None) -> Exercise:
        if (ref, python) not in made:
            made[ref, python] = _exercise(course, keys[ref][0].key.sheet.id, keys[ref], python)
        return made[ref, python]

    return get


@pytest.mark.parametrize("ref", BUILTINS)
def test_every_builtin_question_generates_grades_and_tests_as_gradekit(builtin_course, exercised, ref):
    course, keys = builtin_course
    _check_exercise(course, keys[ref][0].key.sheet.id, keys[ref], exercised(ref, None))


@pytest.mark.skipif(not PL_PYTHON, reason=NO_PL_PYTHON)
@pytest.mark.parametrize("ref", BUILTINS)
def test_every_builtin_question_runs_alike_on_prairielearns_python_and_numpy(builtin_course, exercised, ref):
    """The same calls on PrairieLearn's Python 3.10 and NumPy 1.26 (GRADEKIT_PL_PYTHON) give
    gradekit's keys and grades, and the very words and scores they give on this Python."""
    course, keys = builtin_course
    there, here = exercised(ref, PL_PYTHON), exercised(ref, None)
    assert there.python.startswith("3.10.") and there.numpy.startswith("1.26."), (there.python, there.numpy)
    _check_exercise(course, keys[ref][0].key.sheet.id, keys[ref], there)
    for a, b in zip(here.generated, there.generated, strict=True):
        assert {k: v for k, v in a.data["params"]["gradekit"].items() if k != "atol"} == \
            {k: v for k, v in b.data["params"]["gradekit"].items() if k != "atol"}
    for a, b in zip(here.graded, there.graded, strict=True):
        assert (a.data["score"], a.data["partial_scores"], a.data["feedback"]) == \
            (b.data["score"], b.data["partial_scores"], b.data["feedback"]), (a.pk.problem.id, a.kind)


# --- NumPy 2 API in the bundle ----------------------------------------------------------------

# Classes whose attributes bundled code reaches by name alone (an array's method, a generator's).
NUMPY_CLASSES = ["numpy.ndarray", "numpy.generic", "numpy.float64", "numpy.dtype", "numpy.random.Generator"]


@dataclass
class NumpyUses:
    """Where code uses NumPy ("file:line" lists): dotted names (numpy.linalg.norm), keywords of
    calls to them, and every attribute name (`.mT` of an array is known by its name only)."""

    names: dict[str, list[str]] = field(default_factory=dict)
    keywords: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, source: str, where: str) -> None:
        tree = ast.parse(source)
        aliases = self._aliases(tree, where)

        def dotted(node: ast.AST) -> str | None:
            if isinstance(node, ast.Name):
                return aliases.get(node.id)
            if isinstance(node, ast.Attribute):
                base = dotted(node.value)
                return f"{base}.{node.attr}" if base else None
            return None

        for node in ast.walk(tree):
            at = f"{where}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute):
                if (name := dotted(node)) is not None:
                    self.names.setdefault(name, []).append(at)
                else:  # not NumPy's own (np.ptp): perhaps an array's (x.ptp)
                    self.attributes.setdefault(node.attr, []).append(at)
            elif isinstance(node, ast.Call) and (name := dotted(node.func)) is not None:
                for kw in node.keywords:
                    if kw.arg is not None:
                        self.keywords.setdefault((name, kw.arg), []).append(at)

    def _aliases(self, tree: ast.AST, where: str) -> dict[str, str]:
        """Local names bound to NumPy objects by imports (anywhere in the module), each import noted."""
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "numpy":
                        aliases[a.asname or "numpy"] = a.name if a.asname else "numpy"
                        self.names.setdefault(a.name, []).append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "numpy":
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                    self.names.setdefault(f"{node.module}.{a.name}", []).append(f"{where}:{node.lineno}")
        return aliases


def _numpy_facts(python: str, uses: NumpyUses) -> dict:
    request = {"names": sorted(uses.names), "keywords": sorted(uses.keywords), "classes": NUMPY_CLASSES}
    done = subprocess.run([python, str(NUMPY_NAMES)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def numpy_api_missing(uses: NumpyUses, python: str) -> list[str]:
    """Each use of a NumPy name, keyword or array attribute that this NumPy or `python`'s lacks."""
    facts = [_numpy_facts(sys.executable, uses), _numpy_facts(python, uses)]
    found = set()
    for theirs, other in (facts, facts[::-1]):
        version = theirs["numpy"]
        found |= {f"{at}: {name} (not in NumPy {version})" for name in theirs["missing"] for at in uses.names[name]}
        found |= {f"{at}: {name}({kw}=...) (not a parameter in NumPy {version})"
                  for name, kw in theirs["refused"] for at in uses.keywords[name, kw]}
        only = set().union(*(set(other["attributes"][c]) - set(theirs["attributes"][c]) for c in NUMPY_CLASSES))
        found |= {f"{at}: .{attr} (an attribute of NumPy {other['numpy']} only)"
                  for attr in only & uses.attributes.keys() for at in uses.attributes[attr]}
    return sorted(found)


@pytest.mark.skipif(not PL_PYTHON, reason=NO_PL_PYTHON)
def test_the_bundle_uses_no_numpy_api_that_prairielearns_numpy_lacks(course):
    """Every NumPy name, keyword and array attribute in the bundle's code exists in both NumPys,
    whether or not a built-in problem happens to reach the line that uses it."""
    (bundle,) = (course / "serverFilesCourse" / "gradekit-bundles").iterdir()
    uses = NumpyUses()
    for path in sorted(bundle.rglob("*.py")):
        uses.add(path.read_text(encoding="utf-8"), path.relative_to(bundle).as_posix())
    assert {"numpy.asarray", "numpy.swapaxes"} <= uses.names.keys() and "ravel" in uses.attributes
    assert numpy_api_missing(uses, PL_PYTHON) == []


@pytest.mark.skipif(not PL_PYTHON, reason=NO_PL_PYTHON)
def test_the_numpy_check_finds_numpy_2_api():
    uses = NumpyUses()
    uses.add("import numpy as np\nfrom numpy.linalg import vector_norm\nimport numpy.linalg as la\n"
             "def f(x):\n    return x.mT, np.vecdot(x, x), np.asarray(x, copy=True), np.std(x, correction=1), "
             "la.matrix_transpose(x), np.swapaxes(x, -1, -2), np.float_\n", "snippet.py")
    found = numpy_api_missing(uses, PL_PYTHON)
    assert [line.split(" (")[0] for line in found] == [
        "snippet.py:2: numpy.linalg.vector_norm", "snippet.py:5: .mT", "snippet.py:5: numpy.asarray(copy=...)",
        "snippet.py:5: numpy.float_", "snippet.py:5: numpy.linalg.matrix_transpose",
        "snippet.py:5: numpy.std(correction=...)", "snippet.py:5: numpy.vecdot"], found


# --- the bundle and the CLI -------------------------------------------------------------------


def test_the_bundle_needs_only_numpy_and_the_standard_library(course):
    bundles = list((course / "serverFilesCourse" / "gradekit-bundles").iterdir())
    assert len(bundles) == 1
    modules = {p.relative_to(bundles[0]).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
               for p in bundles[0].rglob("*.py")}
    assert {"gradekit.grading.grade", "gradekit.grading.policy", "gradekit.engine.build", "gradekit.exports.prairielearn_runtime"} <= modules
    assert not {"gradekit.cli", "gradekit.cli.app", "gradekit.reports.batch", "gradekit.render.documents",
                "gradekit.proof.checks", "gradekit.exports.prairielearn"} & modules
    for path in bundles[0].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "numpy" or name in modules \
                    or name.rpartition(".")[0] in modules, (path.name, name)


def test_a_broken_spec_is_named_as_prairielearn_holds_it(tmp_path, write_toml):
    """A message about the spec names the question file that carries it and the spec file it was
    exported from: the only names that mean something in PrairieLearn."""
    spec = write_toml((problems_dir() / "relu-softmax-rows.toml").read_text(encoding="utf-8"), "my-relu.toml")
    prairielearn.write(public_keys(resolve(str(spec)), [0]), tmp_path / "course")
    (path,) = (tmp_path / "course" / "questions").rglob("gradekit-question.json")
    doc = json.loads(path.read_text())
    assert doc["source"] == "my-relu.toml"
    doc["spec"]["layers"][0]["units"] = "three"
    with pytest.raises(SpecError) as e:
        prairielearn_runtime.problem_key(doc, doc["variants"][0])
    assert str(e.value) == ("gradekit-question.json, spec exported from my-relu.toml: layers[1].units: "
                            "expected a whole number from 1 to 16, got str 'three'")


def test_questions_of_two_bundles_each_run_their_own_in_one_worker(tmp_path, keys):
    """A course with questions exported by two gradekit versions: one PrairieLearn worker may run
    both, and each question's server.py must use the grader it was exported with."""
    prairielearn.write(keys, tmp_path)
    bundles = tmp_path / "serverFilesCourse" / "gradekit-bundles"
    (ours,) = bundles.iterdir()
    other = bundles / "0.0.9-000000000000"
    shutil.copytree(ours, other)
    first, second = (qid(pk) for pk in keys[0].key.problems[:2])
    doc_path = tmp_path / "questions" / second / "gradekit-question.json"
    doc = json.loads(doc_path.read_text())
    doc_path.write_text(json.dumps({**doc, "bundle": other.name}))
    calls = [{**generate_call(0), "question": q} for q in (first, second, first)]
    out = run(tmp_path, first, calls)
    assert [Path(m).parent.parent.name for m in out["modules"]] == [ours.name, other.name, ours.name]


def test_cli_writes_the_course_folders(tmp_path):
    out = tmp_path / "course"
    result = CliRunner().invoke(main, ["export", "prairielearn", "relu-softmax-rows", "--count", "3", "--seed", "5",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    bundle, _ = prairielearn.bundle_files()
    assert result.output.strip() == ("wrote " + str(out) + ": 1 question(s) in questions/gradekit/relu-softmax-rows/, "
                                     "3 variant(s) each (seeds 5 to 7); grader in "
                                     f"serverFilesCourse/gradekit-bundles/{bundle}/")
    folder = out / "questions" / "gradekit" / "relu-softmax-rows" / "relu-softmax-rows"
    doc = json.loads((folder / "gradekit-question.json").read_text())
    assert [v["seed"] for v in doc["variants"]] == [5, 6, 7] and doc["bundle"] == bundle
    assert doc["source"] == "relu-softmax-rows.toml"  # the spec's name, not its folder on this machine
    pictures = {p.name for p in (folder / "clientFilesQuestion").iterdir()}
    assert pictures == {v["figure"] for v in doc["variants"]} and len(pictures) == 3  # weights on the edges differ
    assert {p.name for p in folder.iterdir()} == {"info.json", "question.html", "server.py", "gradekit-question.json",
                                                  "clientFilesQuestion"}


def test_a_variant_given_out_keeps_its_numbers_after_a_new_export(tmp_path):
    """Re-exporting another pool changes the question file, not the variants PrairieLearn already
    generated: they are graded on the numbers they showed, and still show their picture."""
    sheet = resolve("relu-softmax-rows")
    old = public_keys(sheet, [5, 6, 7])
    prairielearn.write(old, tmp_path)
    question = prairielearn.question_folder("relu-softmax-rows", "relu-softmax-rows")
    generated = run(tmp_path, question, [generate_call(1)])["results"][0]
    prairielearn.write(public_keys(sheet, [40]), tmp_path)
    pk = old[1].key.problems[0]
    right = {q: np.round(pk.instance.trace[q], pk.problem.decimals).tolist() for q in pk.problem.asked}
    graded = run(tmp_path, question, [grade_call(tmp_path, question, generated, pk, right)])
    assert graded["results"][0]["score"] == 1.0
    figure = generated["params"]["gradekit"]["figure"]
    assert (tmp_path / "questions" / question / "clientFilesQuestion" / figure).is_file()
    info = json.loads((tmp_path / "questions" / question / "info.json").read_text())
    assert info["singleVariant"] is True and info["uuid"] == prairielearn.question_uuid(sheet.id, pk.problem.id)
