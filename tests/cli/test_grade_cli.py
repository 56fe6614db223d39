"""`gradekit grade` on files and folders: exit codes, CSV gradebook, Gradescope results, secrets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.keys.key import make_key, template_document
from gradekit.spec.reader import resolve
from gradekit.sampling.variants import Variant
from grading_helpers import filled, key_for, run_grade


def write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


@pytest.fixture
def mixed_folder(tmp_path):
    """A class folder: right, wrong and broken submissions."""
    folder = tmp_path / "subs"
    folder.mkdir()
    key = key_for("backprop-basics", 1)
    perfect = filled(key)
    perfect["student"] = {"id": "ada", "name": "Ada"}
    write(folder / "ada.json", perfect)
    wrong = filled(key)
    wrong["student"] = {"id": "bob", "name": "Bob"}
    dz = np.array(wrong["answers"]["relu-softmax-rows"]["dZ2"]) * 4  # forgot the 1/N
    wrong["answers"]["relu-softmax-rows"]["dZ2"] = dz.tolist()
    wrong["answers"]["sigmoid-mse-single"]["loss"] = None
    write(folder / "bob.json", wrong)
    write(folder / "broken.json", "{ this is not json")
    return folder, key


def test_template_grades_to_zero_and_exit_0(tmp_path):
    key = make_key(resolve("sigmoid-mse-single"), Variant(seed=2))
    path = write(tmp_path / "t.json", template_document(key))
    result, report = run_grade([path])
    assert result.exit_code == 0
    sub = report["submissions"][0]
    assert sub["graded"] and sub["points"] == 0 and sub["possible"] == 18
    assert {q["status"] for q in sub["problems"][0]["quantities"]} == {"missing"}


def test_mixed_folder_gives_a_correct_gradebook(mixed_folder, tmp_path):
    folder, key = mixed_folder
    out = tmp_path / "book.csv"
    result = CliRunner().invoke(main, ["grade", str(folder), "--format", "csv", "-o", str(out)])
    assert result.exit_code == 1  # one file could not be graded
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    by_student = {r["student_id"] or Path(r["file"]).name: r for r in rows}
    assert set(by_student) == {"ada", "bob", "broken.json"}
    assert float(by_student["ada"]["total"]) == 100 and by_student["ada"]["status"] == "graded"
    dz2, loss = key.problem("relu-softmax-rows").points["dZ2"], key.problem("sigmoid-mse-single").points["loss"]
    assert float(by_student["bob"]["relu-softmax-rows"]) == pytest.approx(20 - dz2, abs=1e-3)
    assert float(by_student["bob"]["sigmoid-mse-single"]) == pytest.approx(20 - loss, abs=1e-3)
    broken = by_student["broken.json"]
    assert broken["status"] == "ungraded" and broken["reason"].startswith("invalid JSON")
    assert broken["total"] == "0" and broken["relu-softmax-rows"] == "0" and broken["possible"] == "100.0"
    items = list(csv.DictReader((tmp_path / "book-items.csv").open(encoding="utf-8")))
    dz2 = next(r for r in items if r["problem"] == "relu-softmax-rows" and r["quantity"] == "dZ2")
    assert dz2["submissions"] == "2" and dz2["correct"] == "1" and dz2["share_correct"] == "0.5"
    assert dz2["most_common_mistake"].startswith("off by a factor of N = 4")


def test_gradescope_results(mixed_folder, tmp_path):
    folder, key = mixed_folder
    out = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["grade", str(folder / "bob.json"), "--format", "gradescope", "-o", str(out)])
    assert result.exit_code == 0
    results = json.loads(out.read_text())
    assert set(results) >= {"score", "tests", "output"}
    tests = {t["name"]: t for t in results["tests"]}
    assert len(tests) == sum(len(pk.problem.asked) for pk in key.problems)
    dz2 = tests["relu-softmax-rows: dZ2"]
    assert dz2["score"] == 0 and dz2["status"] == "failed" and "off by a factor of N = 4" in dz2["output"]
    assert tests["relu-softmax-rows: Z1"]["status"] == "passed"
    # In a student's words: right, wrong with the mistake named, no answer.
    assert tests["relu-softmax-rows: Z1"]["output"] == "right"
    assert dz2["output"].startswith("wrong: off by a factor of N = 4: the loss is the MEAN over the samples")
    assert dz2["output"].endswith("(12 of 12 entries wrong)")
    assert tests["sigmoid-mse-single: loss"]["output"] == "no answer (expected a scalar)"
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-3)
    lost = key.problem("sigmoid-mse-single").points["loss"] + key.problem("relu-softmax-rows").points["dZ2"]
    assert results["score"] == pytest.approx(100 - lost, abs=1e-3)


def test_gradescope_results_describe_exactly_one_submission(mixed_folder, tmp_path):
    folder, _ = mixed_folder
    result = CliRunner().invoke(main, ["grade", str(folder / "ada.json"), str(folder / "bob.json"),
                                       "--format", "gradescope"])
    assert result.exit_code == 2
    assert result.output == ("gradekit: error: --format gradescope writes the results of one submission; "
                             "got 2 .json files\n")
    result = CliRunner().invoke(main, ["grade", str(folder / "broken.json"), "--format", "gradescope"])
    assert result.exit_code == 1
    results = json.loads(result.stdout)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("could not be graded: invalid JSON at line 1")


def test_text_report_lists_status_and_feedback(mixed_folder):
    folder, _ = mixed_folder
    result, text = run_grade([folder / "bob.json"], "text")
    assert result.exit_code == 0
    assert "Bob (bob), backprop-basics (seed 1):" in text
    assert "dZ2        incorrect" in text and "off by a factor of N = 4" in text
    assert "loss       missing" in text


def test_secret_variants_come_from_the_student_id_not_the_file(tmp_path):
    runner = CliRunner()
    secret = tmp_path / "course.key"
    runner.invoke(main, ["keygen", str(secret)])
    from gradekit.sampling.variants import read_secret

    key = make_key(resolve("sigmoid-mse-single"), Variant(student="s7"), read_secret(secret))
    doc = filled(key)
    path = write(tmp_path / "s7.json", doc)
    result, report = run_grade([path], "json", ["--secret-file", str(secret)])
    assert result.exit_code == 0 and report["submissions"][0]["points"] == 18
    # A student who edits the variant to a public seed is still graded as themselves.
    doc["variant"] = {"seed": 0}
    doc["student"]["id"] = "s7"
    result, report = run_grade([write(tmp_path / "forged.json", doc)], "json", ["--secret-file", str(secret)])
    assert report["submissions"][0]["points"] == 18 and report["submissions"][0]["variant"] == "student s7"
    # Another student's answers do not fit s8's variant.
    doc["student"]["id"] = "s8"
    result, report = run_grade([write(tmp_path / "copied.json", doc)], "json", ["--secret-file", str(secret)])
    assert report["submissions"][0]["points"] < 18


def test_missing_path_and_usage_errors():
    result = CliRunner().invoke(main, ["grade", "--format", "xml", "x.json"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["grade", "/nonexistent/sub.json", "--format", "json"])
    assert result.exit_code == 2  # bad input, as README says: nothing is graded
    assert result.output == "gradekit: error: /nonexistent/sub.json: no such file or folder\n"


def test_parallel_grading_gives_the_same_reports_in_order(tmp_path, monkeypatch):
    from gradekit.grading import grade as grade_module

    monkeypatch.setattr(grade_module, "PARALLEL_MIN_FILES", 2)
    key = key_for("sigmoid-mse-single", 3)
    folder = tmp_path / "subs"
    folder.mkdir()
    for i in range(6):
        doc = filled(key)
        doc["student"]["id"] = f"s{i}"
        if i % 2:
            doc["answers"]["sigmoid-mse-single"]["loss"] = None
        write(folder / f"{i}.json", doc)
    write(folder / "6.json", "[")
    serial, a = run_grade([folder], "json", ["--jobs", "1"])
    parallel, b = run_grade([folder], "json", ["--jobs", "2"])
    assert serial.exit_code == parallel.exit_code == 1
    assert a == b
    assert [s.get("student_id") for s in b["submissions"]] == ["s0", "s1", "s2", "s3", "s4", "s5", None]


def test_a_batch_regenerates_its_keys_together_and_grades_as_file_by_file(tmp_path, monkeypatch):
    from gradekit.grading import grade as grade_module

    folder = tmp_path / "subs"
    folder.mkdir()
    for seed in (1, 2, 1):
        doc = filled(key_for("sigmoid-mse-single", seed))
        write(folder / f"{len(list(folder.iterdir()))}.json", doc)
    unknown = filled(key_for("sigmoid-mse-single", 3))
    unknown["sheet"] = "no-such-sheet"
    write(folder / "unknown.json", unknown)
    write(folder / "broken.json", "{")
    files = sorted(folder.iterdir())
    calls = []
    real = grade_module.make_keys
    monkeypatch.setattr(grade_module, "make_keys", lambda sheet, variants, secret: calls.append(
        (sheet.id, list(variants))) or real(sheet, variants, secret))
    batch = grade_module.grade_batch(files, grade_module.KeyCache(grade_module.sheet_lookup(), None))
    assert calls == [("sigmoid-mse-single", [Variant(seed=1), Variant(seed=2)])]  # once, together
    one_by_one = [grade_module.grade_file(f, grade_module.KeyCache(grade_module.sheet_lookup(), None)) for f in files]
    assert batch == one_by_one
    by_name = {Path(r.source).name: r for r in batch}
    assert [by_name[f"{i}.json"].points for i in range(3)] == [18, 18, 18]
    assert by_name["unknown.json"].error.startswith('unknown sheet "no-such-sheet"')
    assert by_name["broken.json"].error.startswith("invalid JSON")


def test_key_cache_keeps_the_most_recently_used_keys():
    from gradekit.grading.grade import KeyCache, sheet_lookup

    keys = KeyCache(sheet_lookup(), None, size=2)
    first = keys.key("sigmoid-mse-single", Variant(seed=1))
    keys.prepare([("sigmoid-mse-single", Variant(seed=2))])
    assert keys.key("sigmoid-mse-single", Variant(seed=1)) is first  # used again: now the newest
    keys.key("sigmoid-mse-single", Variant(seed=3))  # evicts seed 2, the least recently used
    assert keys.key("sigmoid-mse-single", Variant(seed=1)) is first
    assert [v.seed for _, v in keys._keys] == [3, 1]
