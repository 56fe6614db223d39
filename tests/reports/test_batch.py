"""gradekit.reports.batch: `gradekit grade` as a library function, its outcome and exit status."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from gradekit.reports import batch
from gradekit.util.errors import GradekitError, OptionsError
from grading_helpers import filled, key_for


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two graded files and one broken one."""
    key = key_for("sigmoid-mse-single", 2)
    subs = tmp_path / "subs"
    subs.mkdir()
    for sid in ("ann", "bo"):
        doc = filled(key)
        doc["student"] = {"id": sid, "name": sid.title()}
        (subs / f"{sid}.json").write_text(json.dumps(doc), encoding="utf-8")
    (subs / "broken.json").write_text("{", encoding="utf-8")
    return subs


def run(paths: list[Path], **options: object) -> tuple[batch.GradeOutcome, str]:
    pieces: list[str] = []
    outcome = batch.prepare(paths, batch.GradeOptions(**options)).run(pieces.append)
    return outcome, "".join(pieces)


def test_the_outcome_counts_files_and_gives_the_exit_status(folder):
    outcome, text = run([folder], format="json")
    assert (outcome.files, outcome.ungraded, outcome.written, outcome.exit_code) == (3, 1, (), 1)
    assert json.loads(text)["graded"] == 2
    outcome, _ = run([folder / "ann.json", folder / "bo.json"])
    assert (outcome.files, outcome.ungraded, outcome.exit_code) == (2, 0, 0)


def test_a_csv_gradebook_gets_its_item_analysis_beside_it(folder, tmp_path):
    out = tmp_path / "book.csv"
    progress: list[int] = []
    job = batch.prepare([folder], batch.GradeOptions("csv", out))
    outcome = job.run(lambda piece: pytest.fail("nothing goes to standard output"), progress.append)
    assert outcome.written == (out, tmp_path / "book-items.csv") and sum(progress) == len(job.files) == 3
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["student_id"], r["status"]) for r in rows] == [("ann", "graded"), ("bo", "graded"), ("", "ungraded")]
    assert (tmp_path / "book-items.csv").read_text(encoding="utf-8").startswith("problem,quantity,submissions")


def test_gradescope_results_describe_one_file(folder, tmp_path):
    with pytest.raises(OptionsError, match="one submission; got 3"):
        batch.prepare([folder], batch.GradeOptions("gradescope"))
    outcome, text = run([folder / "broken.json"], format="gradescope")
    assert (outcome.files, outcome.ungraded, outcome.exit_code) == (1, 1, 1)
    assert json.loads(text)["output"].startswith("could not be graded: invalid JSON")


def test_bad_input_is_refused_before_anything_is_graded(folder, tmp_path):
    with pytest.raises(GradekitError) as missing:
        batch.prepare([tmp_path / "nowhere"], batch.GradeOptions())
    assert missing.value.exit_code == 2
    with pytest.raises(GradekitError) as unknown:
        batch.prepare([folder], batch.GradeOptions("xml"))
    assert unknown.value.exit_code == 2
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    job = batch.prepare([folder], batch.GradeOptions("json", blocker / "report.json"))
    graded: list[int] = []
    with pytest.raises(GradekitError, match="cannot write"):
        job.run(lambda piece: None, graded.append)
    assert graded == []  # the output could not be opened: nothing was graded
