"""gradekit export prairielearn: questions PrairieLearn accepts, graded in server.py as `gradekit grade` grades.

No PrairieLearn server here: info.json is validated against PrairieLearn's own schema (a copy
in tests/data/prairielearn), question.html is parsed and held to the elements and attributes
PrairieLearn's element code accepts, and the exported server.py runs in a separate process the way
PrairieLearn's zygote runs it (tests/e2e/pl_harness.py), on dicts shaped like PrairieLearn's `data`,
with the bundled copy of gradekit. Its results are compared with this gradekit's key and
grade_problem. GRADEKIT_PL_PYTHON names another interpreter (PrairieLearn's runtime is Python 3.10;
.ci/run makes one with NumPy 1.26) to run the same calls with.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.exports import prairielearn
from gradekit.exports.common import given_json, public_keys
from gradekit.grading.grade import grade_problem
from gradekit.spec.reader import resolve

# PrairieLearn's info.json schema, copied from the project's reference data (shared/schemas) into
# tests/data so that a clean checkout validates against it too.
SCHEMAS = Path(__file__).resolve().parent / "data" / "prairielearn"
HARNESS = Path(__file__).with_name("pl_harness.py")
SHEET = "backprop-basics"
SEEDS = [10, 11, 12]

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


def qid(pk) -> str:
    return prairielearn.question_folder(SHEET, pk.problem.id)


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


def test_generate_sets_every_variants_key_and_figure(course, keys):
    count = len(SEEDS)
    for p, pk0 in enumerate(keys[0].key.problems):
        seeds = [0, 1, 2, 4, 2**32 - 1]  # PrairieLearn's seeds: any 32-bit integer
        out = run(course, qid(pk0), [generate_call(s) for s in seeds])
        for seed, data in zip(seeds, out["results"]):
            index = seed % count
            pk = keys[index].key.problems[p]
            params = data["params"]["gradekit"]
            assert params["variant"] == index and params["seed"] == SEEDS[index]
            assert params["values"] == given_json(pk)  # kept, so that grading never depends on the pool file
            assert (course / "questions" / qid(pk) / "clientFilesQuestion" / params["figure"]).is_file()
            assert [g["tex"] for g in params["given"]][0].startswith("X = ")
            for q in pk.problem.asked:
                got = np.asarray(data["correct_answers"][f"{q}_"], dtype=float)
                key = np.asarray(pk.instance.trace[q], dtype=float)
                assert got.ndim == (0 if key.ndim == 0 else 2)
                np.testing.assert_allclose(got.reshape(key.shape), key, rtol=1e-12, atol=1e-15)
                smallest = float(np.min(pk.allowance(q)))
                assert smallest * (1 - 1e-5) <= float(params["atol"][f"{q}_"]) <= smallest


# --- server.py: grade -------------------------------------------------------------------------


def _follow_through(pk, wrong: str, factor: float) -> dict:
    """A student's answers: `wrong` off by `factor`, every later step done right on it, each value
    rounded to the sheet's decimals and carried forward rounded, as the sheet asks."""
    trace, decimals = pk.instance.trace, pk.problem.decimals
    values = {n: np.asarray(trace[n], dtype=float) for n in trace.names}
    for step in trace.steps:
        if step.compute is not None:
            values[step.name] = np.round(np.asarray(step.evaluate(values), dtype=float), decimals)
        if step.name == wrong:
            values[wrong] = np.round(np.asarray(trace[wrong], dtype=float) * factor, decimals)
    return {q: values[q].tolist() for q in pk.problem.asked}


def _check_same(pk, data: dict, answers: dict) -> None:
    """PrairieLearn's scores and feedback after server.py's grade() are gradekit's own."""
    want = grade_problem(pk, answers)
    weights = prairielearn.element_weights(pk.points)
    for r in want.quantities:
        partial = data["partial_scores"][f"{r.name}_"]
        assert partial["score"] == pytest.approx(r.points / r.possible, abs=1e-12), r
        assert partial["weight"] == weights[r.name]
        assert r.feedback in data["feedback"][f"{r.name}_"] and data["feedback"][f"{r.name}_"].startswith(r.status)
    assert data["score"] == pytest.approx(want.points / want.possible, abs=1e-12)


def test_a_right_submission_scores_one(course, keys):
    for p, pk0 in enumerate(keys[0].key.problems):
        generated = run(course, qid(pk0), [generate_call(s) for s in range(len(SEEDS))])["results"]
        calls = []
        for i, data in enumerate(generated):
            pk = keys[i].key.problems[p]
            answers = {q: np.round(pk.instance.trace[q], pk.problem.decimals).tolist() for q in pk.problem.asked}
            calls.append({"fcn": "grade", "data": grade_data(data, pl_submission(pk, answers))})
        for data in run(course, qid(pk0), calls)["results"]:
            assert data["score"] == 1.0
            assert all(v["score"] == 1.0 for v in data["partial_scores"].values())


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
    data = run(course, qid(pk), [{"fcn": "grade", "data": grade_data(generated, pl_submission(pk, answers))}])
    graded = data["results"][0]
    _check_same(pk, graded, answers)
    assert "off by a factor of N = 4" in graded["feedback"]["dZ2_"]
    cells = graded["partial_scores"]["dZ2_"]["feedback"]
    assert set(cells) == {f"dZ2_{k}" for k in range(1, 13)} and set(cells.values()) == {"incorrect"}
    assert graded["score"] == pytest.approx(18.5 / 20)


def test_any_submission_gets_gradekits_scores(course, keys):
    """Wrong answers of every kind (mistakes carried forward, slips, guesses, zeros, copies) score in
    PrairieLearn exactly as `gradekit grade` scores them, on every problem and variant."""
    rng = np.random.default_rng(3)
    seen: set[str] = set()
    for p, pk0 in enumerate(keys[0].key.problems):
        generated = run(course, qid(pk0), [generate_call(s) for s in range(len(SEEDS))])["results"]
        calls, expected = [], []
        for i, data in enumerate(generated):
            pk = keys[i].key.problems[p]
            asked = pk.problem.asked
            right = {q: np.round(pk.instance.trace[q], pk.problem.decimals) for q in asked}
            cases = [_follow_through(pk, asked[len(asked) // 2], 1.1), _follow_through(pk, asked[1], -1.0),
                     {q: (v + rng.normal(0, 0.5, np.shape(v))).tolist() for q, v in right.items()},
                     {q: np.zeros(np.shape(v)).tolist() for q, v in right.items()},
                     {q: (v if j % 3 else v * 1.5).tolist() for j, (q, v) in enumerate(right.items())}]
            for answers in cases:
                calls.append({"fcn": "grade", "data": grade_data(data, pl_submission(pk, answers))})
                expected.append((pk, answers))
        for data, (pk, answers) in zip(run(course, qid(pk0), calls)["results"], expected):
            _check_same(pk, data, answers)
            seen.update(q.status for q in grade_problem(pk, answers).quantities)
    assert {"correct", "follow-through", "incorrect"} <= seen


def test_test_button_expects_what_grade_gives(course, keys):
    """PrairieLearn's Test button: the elements write raw answers (the key, or each cell moved by 1
    to 10); server.py's test() must expect the scores grade() then gives."""
    pk = keys[0].key.problems[0]
    generated = run(course, qid(pk), [generate_call(0)])["results"][0]
    names = prairielearn.answer_names(pk.problem.asked)
    rng = np.random.default_rng(8)
    for kind in ("correct", "incorrect"):
        raw, answers = {}, {}
        for q in pk.problem.asked:
            value = np.asarray(generated["correct_answers"][names[q]], dtype=float)
            if kind == "incorrect":
                value = value + rng.uniform(1, 10, value.shape) * rng.choice([-1, 1], value.shape)
            answers[q] = value.reshape(np.shape(pk.instance.trace[q])).tolist()
            if value.ndim == 0:
                raw[names[q]] = str(float(value))
            else:
                raw.update({f"{names[q]}{k}": str(x) for k, x in enumerate(value.ravel().tolist(), start=1)})
        data = {"params": generated["params"], "correct_answers": generated["correct_answers"], "format_errors": {},
                "partial_scores": {}, "score": 0, "feedback": {}, "variant_seed": 0, "raw_submitted_answers": raw,
                "gradable": True, "test_type": kind}
        tested = run(course, qid(pk), [{"fcn": "test", "data": data}])["results"][0]
        graded = run(course, qid(pk), [{"fcn": "grade", "data": grade_data(generated, pl_submission(pk, answers))}])
        assert tested["score"] == graded["results"][0]["score"]
        assert tested["partial_scores"] == graded["results"][0]["partial_scores"]
        assert (tested["score"] == 1.0) is (kind == "correct")


@pytest.mark.skipif(not os.environ.get("GRADEKIT_PL_PYTHON"), reason="GRADEKIT_PL_PYTHON names no other interpreter")
def test_the_bundle_runs_on_prairielearns_python_and_numpy(course, keys):
    """The same calls on another interpreter (.ci/run: Python 3.10 and NumPy 1.26, as in
    PrairieLearn's image) give the same answers and grades."""
    other = os.environ["GRADEKIT_PL_PYTHON"]
    pk = keys[1].key.problems[2]
    generated = run(course, qid(pk), [generate_call(1)])["results"][0]
    calls = [generate_call(1), {"fcn": "grade", "data": grade_data(generated, pl_submission(
        pk, _follow_through(pk, "dZ2", 4.0)))}]
    here, there = run(course, qid(pk), calls), run(course, qid(pk), calls, python=other)
    assert there["python"].startswith("3.10") and there["numpy"].startswith("1.")
    assert there["results"][1]["partial_scores"] == here["results"][1]["partial_scores"]
    assert there["results"][1]["feedback"] == here["results"][1]["feedback"]
    for name, value in here["results"][0]["correct_answers"].items():
        np.testing.assert_allclose(there["results"][0]["correct_answers"][name], value, rtol=1e-12, atol=1e-15)


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
    graded = run(tmp_path, question, [{"fcn": "grade", "data": grade_data(generated, pl_submission(pk, right))}])
    assert graded["results"][0]["score"] == 1.0
    figure = generated["params"]["gradekit"]["figure"]
    assert (tmp_path / "questions" / question / "clientFilesQuestion" / figure).is_file()
    info = json.loads((tmp_path / "questions" / question / "info.json").read_text())
    assert info["singleVariant"] is True and info["uuid"] == prairielearn.question_uuid(sheet.id, pk.problem.id)
