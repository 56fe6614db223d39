"""gradekit export gradescope: the autograder zip, run against a temporary tree standing in for /autograder."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import gradekit
from gradekit.cli import main
from gradekit.exports import gradescope, wheel
from gradekit.exports.common import roster_keys
from gradekit.keys.key import key_document, template_document
from gradekit.spec.roster import Student
from gradekit.spec.reader import resolve

SECRET = bytes(range(100, 132))
REPO = Path(gradekit.__file__).resolve().parent.parent
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="run_autograder is a bash script")


@pytest.fixture(scope="module")
def built_wheel() -> wheel.Wheel:
    return wheel.build()


def perfect_submission(sheet_ref: str, student: str, secret: bytes = SECRET) -> dict:
    """What a student's worksheet writes when every answer is right."""
    key = roster_keys(resolve(sheet_ref), [Student(student, "")], secret)[0].key
    doc = template_document(key)
    for p in key_document(key)["problems"]:
        for q, entry in p["quantities"].items():
            doc["answers"][p["id"]][q] = entry["value"]
    return doc


def install(data: bytes, root: Path) -> Path:
    """Unpack the zip as Gradescope does: into root/source, run_autograder copied to root."""
    source = root / "source"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            archive.extract(info, source)
            os.chmod(source / info.filename, (info.external_attr >> 16) & 0o777)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "GRADEKIT_AUTOGRADER_ROOT": str(root), "GRADEKIT_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture
def autograder(tmp_path, built_wheel) -> Path:
    return install(gradescope.autograder_zip(resolve("backprop-basics"), SECRET, built_wheel), tmp_path / "autograder")


def test_zip_holds_the_scripts_the_wheel_and_the_secret_with_their_modes(built_wheel):
    data = gradescope.autograder_zip(resolve("backprop-basics"), SECRET, built_wheel)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in archive.infolist()}
        contents = {n: archive.read(n) for n in archive.namelist()}
    assert modes == {"setup.sh": 0o755, "run_autograder": 0o755, "check_submission.py": 0o644,
                     built_wheel.filename: 0o644, "course.key": 0o600}
    assert contents["course.key"] == (SECRET.hex() + "\n").encode("ascii")
    assert contents[built_wheel.filename] == built_wheel.data
    secret_hex = SECRET.hex().encode("ascii")
    assert all(secret_hex not in body for name, body in contents.items() if name != "course.key")
    assert f'"$here"/{built_wheel.filename}'.encode() in contents["setup.sh"]
    assert b'--secret-file "$source_dir/course.key"' in contents["run_autograder"]
    for script in ("setup.sh", "run_autograder"):
        assert contents[script].startswith(b"#!/usr/bin/env bash\n")


@needs_bash
@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_scripts_are_valid_bash(tmp_path, built_wheel, script):
    root = install(gradescope.autograder_zip(resolve("backprop-basics"), SECRET, built_wheel), tmp_path)
    assert subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True).returncode == 0


@needs_bash
def test_run_autograder_grades_a_perfect_submission_to_full_marks(autograder):
    (autograder / "submission" / "submission.json").write_text(json.dumps(perfect_submission("backprop-basics", "s7")))
    results = run_autograder(autograder)
    key = roster_keys(resolve("backprop-basics"), [Student("s7", "")], SECRET)[0].key
    assert results["score"] == pytest.approx(100.0) and results["output"] == "100 / 100 points"
    assert len(results["tests"]) == sum(len(pk.problem.asked) for pk in key.problems)
    assert {t["status"] for t in results["tests"]} == {"passed"}
    first = results["tests"][0]
    assert first["name"] == "sigmoid-mse-single: Z1"
    assert first["max_score"] == pytest.approx(key.problems[0].points["Z1"], abs=1e-4)


@needs_bash
def test_a_wrong_answer_costs_its_points(autograder):
    doc = perfect_submission("backprop-basics", "s7")
    doc["answers"]["relu-softmax-rows"]["dW1"] = [[0.0] * 3, [0.0] * 3]
    (autograder / "submission" / "answers.json").write_text(json.dumps(doc))
    results = run_autograder(autograder)
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["relu-softmax-rows: dW1"]
    key = roster_keys(resolve("backprop-basics"), [Student("s7", "")], SECRET)[0].key
    assert results["score"] == pytest.approx(100 - key.problem("relu-softmax-rows").points["dW1"], abs=1e-3)


@needs_bash
def test_another_students_variant_is_graded_as_that_students(autograder):
    # With no SID from Gradescope (no metadata here) the id in the file decides (as `gradekit
    # grade` does); answers copied from s7 but claimed for s8 are wrong for s8.
    doc = perfect_submission("backprop-basics", "s7")
    doc["variant"] = {"student": "s8"}
    (autograder / "submission" / "submission.json").write_text(json.dumps(doc))
    assert run_autograder(autograder)["score"] < 30


@needs_bash
@pytest.mark.parametrize("files, message", [
    ({}, "No .json file was submitted"),
    ({"a.json": "{}", "b.json": "{}"}, "Upload exactly one .json file (your submission.json); this submission has 2."),
    ({"submission.json": "{not json"}, "could not be graded: invalid JSON at line 1 column 2"),
])
def test_unusable_uploads_get_a_zero_and_a_reason(autograder, files, message):
    for name, text in files.items():
        (autograder / "submission" / name).write_text(text)
    results = run_autograder(autograder)
    assert results["score"] == 0 and message in results["output"]


@needs_bash
def test_a_file_for_another_sheet_is_refused(autograder):
    doc = perfect_submission("relu-softmax-rows", "s7")  # an easier, one-problem built-in sheet
    (autograder / "submission" / "submission.json").write_text(json.dumps(doc))
    results = run_autograder(autograder)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith('This assignment grades the sheet "backprop-basics", but your file is '
                                        'for "relu-softmax-rows".')


@needs_bash
@pytest.mark.parametrize("identity, submitter, graded", [
    ("sid", "s7", True), ("sid", "s8", False), ("sid", "", False),
    (None, "s7", True), (None, "s8", False),  # the default matches the SID when Gradescope has one
    (None, "", True),  # and grades the file's own id when it has none
    ("none", "s8", True),
])
def test_match_student_checks_the_gradescope_submitter(tmp_path, built_wheel, identity, submitter, graded):
    data = gradescope.autograder_zip(resolve("relu-softmax-rows"), SECRET, built_wheel, identity=identity)
    root = install(data, tmp_path / "autograder")
    (root / "submission" / "submission.json").write_text(json.dumps(perfect_submission("relu-softmax-rows", "s7")))
    metadata = {"users": [{"email": "x@example.edu", "id": 1, "name": "X", "sid": submitter}]}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    results = run_autograder(root)
    if graded:
        assert results["score"] == pytest.approx(12.0)
    else:
        assert results["score"] == 0 and 'Your file is for student "s7"' in results["output"]


@needs_bash
def test_a_sheet_from_files_is_bundled_and_graded(tmp_path, built_wheel, write_toml):
    problem = write_toml("""
        id = "my-xor"
        title = "XOR"
        layout = "rows"
        inputs = 2
        samples = 4
        asked = ["Z1", "loss", "dW1"]
        [[layers]]
        units = 2
        activation = "tanh"
        [[layers]]
        units = 1
        activation = "sigmoid"
        [loss]
        kind = "binary_cross_entropy"
    """, "xor.toml")
    sheet_path = write_toml("""
        id = "week-9"
        title = "Week 9 \\"quiz\\""
        instructions = "Two problems."
        [[problems]]
        problem = "xor.toml"
        points = 10
        [[problems]]
        problem = "relu-softmax-rows"
        points = 5
        instructions = "Built in."
    """, "week9.toml")
    sheet = resolve(str(sheet_path))
    files = gradescope.sheet_files(sheet)
    assert list(files) == ["sheet/week-9.toml", "sheet/problems/my-xor.toml"]
    assert files["sheet/problems/my-xor.toml"] == problem.read_bytes()
    root = install(gradescope.autograder_zip(sheet, SECRET, built_wheel), tmp_path / "autograder")
    rebuilt = resolve(str(root / "source" / "sheet" / "week-9.toml"))
    assert (rebuilt.id, rebuilt.title, rebuilt.instructions) == ("week-9", 'Week 9 "quiz"', "Two problems.")
    assert [(e.problem.id, e.points, e.instructions) for e in rebuilt.entries] == \
        [("my-xor", 10.0, ""), ("relu-softmax-rows", 5.0, "Built in.")]
    key = roster_keys(sheet, [Student("s1", "")], SECRET)[0].key
    doc = template_document(key)
    for p in key_document(key)["problems"]:
        for q, entry in p["quantities"].items():
            doc["answers"][p["id"]][q] = entry["value"]
    (root / "submission" / "submission.json").write_text(json.dumps(doc))
    results = run_autograder(root)
    assert results["score"] == pytest.approx(15.0) and {t["status"] for t in results["tests"]} == {"passed"}


def test_a_builtin_problem_needs_no_bundled_spec_but_a_problem_file_does(write_toml):
    assert gradescope.sheet_files(resolve("relu-softmax-rows")) == {}
    path = write_toml(Path(REPO / "problems" / "relu-softmax-rows.toml").read_text().replace(
        'id = "relu-softmax-rows"', 'id = "my-relu"'), "mine.toml")
    assert gradescope.sheet_files(resolve(str(path))) == {"sheet/my-relu.toml": path.read_bytes()}


def test_the_wheel_is_complete_and_its_record_is_right(built_wheel):
    with zipfile.ZipFile(io.BytesIO(built_wheel.data)) as archive:
        names = archive.namelist()
        info = "gradekit-0.1.0.dist-info"
        record = list(csv.reader(io.StringIO(archive.read(f"{info}/RECORD").decode())))
        for name, digest, size in record:
            if name == f"{info}/RECORD":
                assert digest == size == ""
                continue
            data = archive.read(name)
            assert size == str(len(data))
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert built_wheel.filename == "gradekit-0.1.0-py3-none-any.whl"
    assert sorted(r[0] for r in record) == sorted(names)
    assert {"gradekit/cli/__init__.py", "gradekit/exports/gradescope.py", "gradekit/problems/sheet-backprop-basics.toml",
            "gradekit/templates/latex/sheet.tex.j2"} <= set(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "Requires-Python: >=3.11\n" in metadata and "Requires-Dist: nbformat>=5.7\n" in metadata
    assert entry_points == "[console_scripts]\ngradekit = gradekit.cli:main\n"
    assert wheel.build().data == built_wheel.data  # byte-identical from the same sources


def test_the_wheel_installs_with_pip_and_grades_from_outside_the_source_tree(tmp_path, built_wheel):
    whl = tmp_path / built_wheel.filename
    whl.write_bytes(built_wheel.data)
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                          "--target", str(target), str(whl)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    submission = tmp_path / "submission.json"
    submission.write_text(json.dumps(perfect_submission("relu-softmax-rows", "s1")))
    key_file = tmp_path / "course.key"
    key_file.write_text(SECRET.hex() + "\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import gradekit, sys; from gradekit.cli import main; print(gradekit.__file__, file=sys.stderr); "
            "main()")
    done = subprocess.run([sys.executable, "-c", code, "grade", str(submission), "--secret-file", str(key_file),
                           "--format", "json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(str(target / "gradekit" / "__init__.py"))  # the installed copy, not the clone
    report = json.loads(done.stdout)["submissions"][0]
    assert report["points"] == report["possible"] == 12.0


def test_cli_writes_the_zip_readable_by_its_owner_only(tmp_path):
    secret = tmp_path / "course.key"
    secret.write_text(SECRET.hex() + "\n", encoding="ascii")
    out = tmp_path / "autograder.zip"
    out.write_bytes(b"old")
    out.chmod(0o644)  # an existing file must not keep a readable mode
    result = CliRunner().invoke(main, ["export", "gradescope", "relu-softmax-rows", "--secret-file", str(secret),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as archive:
        assert archive.read("course.key") == (SECRET.hex() + "\n").encode()
    assert "mode 600" in result.output


def test_cli_bundles_a_given_wheel_and_refuses_other_files(tmp_path, built_wheel):
    secret = tmp_path / "course.key"
    secret.write_text(SECRET.hex() + "\n", encoding="ascii")
    whl = tmp_path / "gradekit-9.9-py3-none-any.whl"
    whl.write_bytes(built_wheel.data)
    out = tmp_path / "ag.zip"
    result = CliRunner().invoke(main, ["export", "gradescope", "--secret-file", str(secret), "--wheel", str(whl),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert "gradekit-9.9-py3-none-any.whl" in archive.namelist()
        assert b'"$here"/gradekit-9.9-py3-none-any.whl' in archive.read("setup.sh")
    other = tmp_path / "numpy.whl"
    other.write_bytes(b"x")
    result = CliRunner().invoke(main, ["export", "gradescope", "--secret-file", str(secret), "--wheel", str(other)])
    assert result.exit_code == 2
    assert result.output.strip() == f"gradekit: error: {other}: expected a gradekit wheel (gradekit-VERSION-py3-none-any.whl)"


def test_cli_needs_the_secret():
    result = CliRunner().invoke(main, ["export", "gradescope"])
    assert result.exit_code == 2 and "Missing option '--secret-file'" in result.output
