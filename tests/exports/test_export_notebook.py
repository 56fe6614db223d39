"""gradekit export notebook: valid worksheets whose save cell writes a submission that grades to full marks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.exports import notebook
from gradekit.exports.common import public_keys, roster_keys
from gradekit.grading.grade import KeyCache, grade_file, sheet_lookup
from gradekit.keys.key import key_document, template_document
from gradekit.spec.roster import Student
from gradekit.spec.reader import resolve

SECRET = bytes(range(32))
ANSWER_CELL = re.compile(r'^answers\["(?P<pid>[^"]+)"\]\["(?P<q>[^"]+)"\] = None$', re.M)


def key_values(key) -> dict[str, dict[str, object]]:
    return {p["id"]: {q: e["value"] for q, e in p["quantities"].items()} for p in key_document(key)["problems"]}


def run_cells(nb, folder: Path, monkeypatch, fill: dict | None = None) -> dict:
    """Run the code cells in order in one fresh namespace, as Jupyter's 'Run all' would.

    `fill` maps problem and quantity to the code a student writes in place of `None`.
    """
    monkeypatch.chdir(folder)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = cell.source
        if fill is not None:
            source = ANSWER_CELL.sub(lambda m: f'answers["{m["pid"]}"]["{m["q"]}"] = {fill[m["pid"]][m["q"]]}',
                                     source)
        exec(compile(source, f"cell {cell.id}", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def test_worksheet_is_valid_and_has_one_answer_cell_per_asked_quantity():
    vk = public_keys(resolve("backprop-basics"), [4])[0]
    nb = notebook.worksheet(vk)
    nbformat.validate(nb)
    answer_cells = [ANSWER_CELL.search(c.source) for c in nb.cells if c.cell_type == "code"]
    asked = [(m["pid"], m["q"]) for m in answer_cells if m]
    assert asked == [(pk.problem.id, q) for pk in vk.key.problems for q in pk.problem.asked]
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown[0].startswith("# Backpropagation by hand") and "seed 4" in markdown[0]
    for number, pk in enumerate(vk.key.problems, start=1):
        section = next(m for m in markdown if m.startswith(f"## Problem {number}: {pk.problem.title}"))
        assert "### Notation" in section and f"`{pk.problem.arch.layout}` layout" in section
    save = nb.cells[-1].source
    assert 'SHEET = "backprop-basics"' in save and 'VARIANT = {"seed": 4}' in save
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_given_cells_hold_the_key_values_as_numpy_arrays(monkeypatch, tmp_path):
    vk = public_keys(resolve("backprop-basics"), [1])[0]
    nb = notebook.worksheet(vk)
    given_cells = [c.source for c in nb.cells if c.cell_type == "code" and "the given values" in c.source]
    assert len(given_cells) == len(vk.key.problems)
    for pk, source in zip(vk.key.problems, given_cells):
        namespace = {"np": np}
        exec(source, namespace)  # noqa: S102
        for name, value in pk.instance.given.items():
            np.testing.assert_array_equal(np.asarray(namespace[name], dtype=float), value)
            assert np.shape(namespace[name]) == value.shape
        if pk.problem.arch.classifies:
            assert namespace["Y"].dtype.kind == "i"  # class labels as integers, as students index with them


def test_filled_worksheet_writes_a_submission_that_grades_to_full_marks(monkeypatch, tmp_path):
    vk = public_keys(resolve("backprop-basics"), [0])[0]
    nb = nbformat.reads(nbformat.writes(notebook.worksheet(vk)), as_version=4)  # as a student opens it
    filled = {pid: {q: repr(v) for q, v in qs.items()} for pid, qs in key_values(vk.key).items()}  # plain lists
    run_cells(nb, tmp_path, monkeypatch, filled)
    doc = json.loads((tmp_path / "submission.json").read_text(encoding="utf-8"))
    template = template_document(vk.key)
    assert {k: doc[k] for k in ("format", "version", "sheet", "variant", "shapes")} == \
        {k: template[k] for k in ("format", "version", "sheet", "variant", "shapes")}
    report = grade_file(tmp_path / "submission.json", KeyCache(sheet_lookup(), None))
    assert report.error is None
    assert report.points == pytest.approx(100.0) and report.possible == pytest.approx(100.0)
    assert {q.status for p in report.problems for q in p.quantities} == {"correct"}


def test_roster_worksheet_carries_the_student_and_grades_with_the_secret(monkeypatch, tmp_path):
    student = Student("s-042", "Émilie du Châtelet")
    vk = roster_keys(resolve("relu-softmax-rows"), [student], SECRET)[0]
    nb = notebook.worksheet(vk)
    assert 'student = {"id": "s-042", "name": "Émilie du Châtelet"}' in nb.cells[1].source
    # Students compute with NumPy: answers as arrays, straight from the computation.
    filled = {pid: {q: f"np.array({v!r})" for q, v in qs.items()} for pid, qs in key_values(vk.key).items()}
    run_cells(nb, tmp_path, monkeypatch, filled)
    doc = json.loads((tmp_path / "submission.json").read_text(encoding="utf-8"))
    assert doc["variant"] == {"student": "s-042"} and doc["student"] == {"id": "s-042", "name": "Émilie du Châtelet"}
    report = grade_file(tmp_path / "submission.json", KeyCache(sheet_lookup(), SECRET))
    assert report.error is None and report.student_id == "s-042"
    assert report.points == pytest.approx(report.possible) and report.possible == pytest.approx(12.0)
    without_secret = grade_file(tmp_path / "submission.json", KeyCache(sheet_lookup(), None))
    assert "needs the course secret" in without_secret.error


def test_unfilled_worksheet_saves_nulls_that_grade_as_missing(monkeypatch, tmp_path, capsys):
    vk = public_keys(resolve("relu-linear-sgd-columns"), [2])[0]
    run_cells(notebook.worksheet(vk), tmp_path, monkeypatch)
    assert "still missing: relu-linear-sgd-columns Z1, " in capsys.readouterr().out
    doc = json.loads((tmp_path / "submission.json").read_text(encoding="utf-8"))
    assert doc["answers"] == template_document(vk.key)["answers"]
    report = grade_file(tmp_path / "submission.json", KeyCache(sheet_lookup(), None))
    assert report.points == 0 and {q.status for q in report.problems[0].quantities} == {"missing"}


def test_an_answer_that_is_not_numbers_stops_the_save_cell_with_its_name(monkeypatch, tmp_path):
    vk = public_keys(resolve("relu-softmax-rows"), [0])[0]
    nb = notebook.worksheet(vk)
    fill = {"relu-softmax-rows": {q: "None" for q in vk.key.problems[0].problem.asked}}
    fill["relu-softmax-rows"]["dW1"] = "[[1.0, 2.0], [3.0]]"  # ragged
    with pytest.raises(ValueError, match=r"^relu-softmax-rows dW1: not a number or a rectangular array"):
        run_cells(nb, tmp_path, monkeypatch, fill)
    assert not (tmp_path / "submission.json").exists()


def test_same_variant_gives_a_byte_identical_worksheet(tmp_path):
    vks = public_keys(resolve("backprop-basics"), [3])
    first = notebook.write(vks, tmp_path / "a")[0].read_bytes()
    second = notebook.write(vks, tmp_path / "b")[0].read_bytes()
    assert first == second and b'"id": "gradekit-000"' in first


def test_cli_writes_one_validated_worksheet_per_student_and_an_index(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\na1,Ada\nb2,Bob \\input{x} $\n", encoding="utf-8")
    secret = tmp_path / "course.key"
    secret.write_text(SECRET.hex() + "\n", encoding="ascii")
    out = tmp_path / "sheets"
    result = CliRunner().invoke(main, ["export", "notebook", "tanh-softmax-columns", "--roster", str(roster),
                                       "--secret-file", str(secret), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"tanh-softmax-columns -> {out}/: 2 worksheet(s) and students.csv"
    assert (out / "students.csv").read_text(encoding="utf-8").splitlines() == [
        "id,name,file", "a1,Ada,tanh-softmax-columns-a1.ipynb", "b2,Bob \\input{x} $,tanh-softmax-columns-b2.ipynb"]
    for sid in ("a1", "b2"):
        nb = nbformat.read(out / f"tanh-softmax-columns-{sid}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["gradekit"] == {"sheet": "tanh-softmax-columns", "variant": {"student": sid}}


def test_cli_refuses_a_roster_without_the_secret(tmp_path):
    result = CliRunner().invoke(main, ["export", "notebook", "--roster", str(tmp_path / "r.csv")])
    assert result.exit_code == 2 and "--roster needs --secret-file" in result.output


def test_importing_the_cli_does_not_import_the_exports():
    code = ("import sys, gradekit.cli; "
            "print(sorted(m for m in ('nbformat', 'gradekit.exports', 'xml.etree.ElementTree') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
