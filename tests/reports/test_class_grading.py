"""`gradekit grade` for a class: the roster check, duplicates and --keep, missing students, the class
summary, CSV escaping, and the exit codes of bad inputs and outputs."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.keys.key import make_key
from gradekit.reports.writers import cell
from gradekit.spec.reader import resolve
from gradekit.sampling.variants import Variant
from grading_helpers import filled

SECRET = bytes(range(32))
SHEET = "sigmoid-mse-single"  # 18 points, one per asked quantity
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path):
    """A roster (alice, bob, carol), the course secret, and an empty submissions folder."""
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nalice,Alice Liddell\nbob,Bob Builder\ncarol,Carol Danvers\n", encoding="utf-8")
    secret = tmp_path / "course.key"
    secret.write_text(SECRET.hex() + "\n", encoding="ascii")
    folder = tmp_path / "subs"
    folder.mkdir()
    return roster, secret, folder


def submission(student: str, wrong: int = 0, name: str = "") -> dict:
    """A student's file with `wrong` answers left out (each costs a point)."""
    doc = filled(make_key(resolve(SHEET), Variant(student=student), SECRET))
    doc["student"]["name"] = name
    for q in list(doc["answers"][SHEET])[:wrong]:
        doc["answers"][SHEET][q] = None
    return doc


def put(folder: Path, name: str, doc: dict | str, mtime: float | None = None) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def grade(*args: str) -> tuple[int, str]:
    """Exit code and standard output; standard error is left in grade.stderr."""
    result = CliRunner().invoke(main, ["grade", *args])
    grade.stderr = result.stderr
    return result.exit_code, result.stdout


def gradebook(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline="")))


@pytest.fixture
def class_folder(course):
    """alice once, bob three times (2 h apart, different scores), "Alice" and mallory not on the roster, carol nothing."""
    roster, secret, folder = course
    put(folder, "alice.json", submission("alice", name="Al"), mtime=1_000)
    put(folder, "bob-1.json", submission("bob", wrong=1), mtime=1_000)
    put(folder, "bob-2.json", submission("bob", wrong=3), mtime=8_200)
    put(folder, "bob-3.json", submission("bob", wrong=0), mtime=4_600)
    put(folder, "capital.json", submission("Alice"))
    put(folder, "mallory.json", submission("mallory"))
    return roster, secret, folder


@pytest.mark.parametrize("keep, counted, total", [("latest", "bob-2.json", 15), ("first", "bob-1.json", 17),
                                                  ("best", "bob-3.json", 18)])
def test_roster_check_duplicates_and_missing_students_in_the_gradebook(class_folder, tmp_path, keep, counted, total):
    roster, secret, folder = class_folder
    out = tmp_path / "book.csv"
    code, output = grade(str(folder), "--roster", str(roster), "--secret-file", str(secret), "--format", "csv",
                         "--keep", keep, "-o", str(out))
    assert code == 1  # two files are not graded: their ids are not on the roster
    assert grade.stderr == "gradekit: 2 of 6 files could not be graded\n" and output == f"wrote {out} and {out.parent / 'book-items.csv'}\n"
    rows = gradebook(out)
    by_file = {Path(r["file"]).name if r["file"] else r["student_id"]: r for r in rows}
    assert list(by_file) == ["alice.json", "bob-1.json", "bob-2.json", "bob-3.json", "capital.json", "mallory.json",
                             "carol"]
    # Names come from the roster, not from the file.
    assert (by_file["alice.json"]["student_name"], by_file["alice.json"]["status"]) == ("Alice Liddell", "graded")
    assert by_file["capital.json"]["status"] == "ungraded"
    assert by_file["capital.json"]["reason"] == ('student id "Alice" is not on the roster (ids match exactly as '
                                                 'written there); the roster has "alice"')
    assert by_file["mallory.json"]["reason"] == ('student id "mallory" is not on the roster (ids match exactly as '
                                                 'written there)')
    assert by_file["mallory.json"]["total"] == "0" and by_file["mallory.json"][SHEET] == "0"
    carol = by_file["carol"]
    assert (carol["student_name"], carol["total"], carol["possible"], carol["status"]) == ("Carol Danvers", "0", "18.0",
                                                                                          "missing")
    bobs = {name: by_file[name] for name in ("bob-1.json", "bob-2.json", "bob-3.json")}
    rule = {"latest": "latest of 3 files, by file time", "first": "first of 3 files, by file time",
            "best": "most points of 3 files (ties: the latest, by file time)"}[keep]
    for name, row in bobs.items():
        if name == counted:
            assert (row["status"], row["reason"], float(row["total"])) == ("graded", f"counted: {rule}", total)
        else:
            assert row["status"] == "duplicate"
            assert row["reason"] == f"not counted: {folder / counted} counts ({rule})"


def test_the_submitted_field_decides_latest_and_the_report_says_so(course, tmp_path):
    roster, secret, folder = course
    early, late = submission("bob", wrong=2), submission("bob", wrong=5)
    early["submitted"], late["submitted"] = "2026-03-01T10:00:00+01:00", "2026-03-01T09:30:00"  # 09:00Z, 09:30Z
    put(folder, "a.json", late, mtime=1_000)  # the older file time, but handed in later
    put(folder, "b.json", early, mtime=9_000)
    code, output = grade(str(folder), "--roster", str(roster), "--secret-file", str(secret), "--format", "json")
    assert code == 0
    doc = json.loads(output)
    bob = next(s for s in doc["students"] if s["id"] == "bob")
    assert bob["counted"] == str(folder / "a.json") and bob["points"] == 13
    assert bob["kept_by"] == "latest of 2 files, by the files' \"submitted\" time"
    put(folder, "b.json", {**early, "submitted": "yesterday"})
    code, output = grade(str(folder), "--secret-file", str(secret), "--format", "json")
    assert code == 1
    errors = [s["error"] for s in json.loads(output)["submissions"] if not s["graded"]]
    assert errors == ['"submitted" must be a date and time such as "2026-03-01T17:30:00Z"']


def test_text_report_names_students_and_ends_with_a_class_summary(class_folder):
    roster, secret, folder = class_folder
    code, text = grade(str(folder), "--roster", str(roster), "--secret-file", str(secret))
    assert code == 1
    assert f"{folder / 'alice.json'}: Alice Liddell (alice), {SHEET} (student alice): 18 / 18 points" in text
    summary = text[text.index("\nStudents with more than one graded file"):]
    assert summary == (
        "\nStudents with more than one graded file (counted: the latest):\n"
        f"  bob: {folder / 'bob-2.json'} counts (latest of 3 files, by file time)\n"
        "On the roster with no submission (1):\n"
        "  carol (Carol Danvers)\n"
        "Class summary\n"
        "  files: 6; graded 4, ungraded 2; students missing 1\n"
        "  counted submissions: 2 (one per student); mean 16.5 / 18, median 16.5 / 18\n"
        f"  {SHEET}: mean 16.5 / 18 (One sample through a sigmoid network, one SGD step)\n"
        "4 of 6 submissions graded\n")


def test_class_summary_names_the_most_common_mistakes_in_full(tmp_path):
    import numpy as np

    key = make_key(resolve("relu-softmax-rows"), Variant(seed=1))
    folder = tmp_path / "subs"
    folder.mkdir()
    for i in range(3):
        doc = filled(key)
        doc["student"]["id"] = f"s{i}"
        doc["answers"]["relu-softmax-rows"]["dZ2"] = (np.array(doc["answers"]["relu-softmax-rows"]["dZ2"]) * 4).tolist()
        if i:
            doc["answers"]["relu-softmax-rows"]["dW1"] = np.array(doc["answers"]["relu-softmax-rows"]["dW1"]).T.tolist()
        put(folder, f"{i}.json", doc)
    code, text = grade(str(folder))
    assert code == 0
    mistakes = text[text.index("most common named mistakes"):].splitlines()
    assert mistakes[0] == "most common named mistakes (over all 3 graded files):"
    assert mistakes[1].split() [:5] == ["3", "relu-softmax-rows", "dZ2:", "off", "by"]
    # The mistake in full: its own text holds ": ", which the item analysis used to cut at.
    assert mistakes[1].endswith("the loss is the MEAN over the samples, so the 1/N belongs in the loss and in "
                                "every gradient")
    out = tmp_path / "book.csv"
    assert grade(str(folder), "--format", "csv", "-o", str(out))[0] == 0
    items = {r["quantity"]: r for r in gradebook(tmp_path / "book-items.csv")}
    assert items["dZ2"]["most_common_mistake"] == mistakes[1].split("dZ2: ", 1)[1]
    assert items["dZ2"]["incorrect"] == "3" and items["Z1"]["correct"] == "3"


def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised(tmp_path, monkeypatch):
    key = make_key(resolve(SHEET), Variant(seed=3))
    monkeypatch.chdir(tmp_path)
    hostile = ['=HYPERLINK("http://x","grade")', "+1+1", "-2+3", "@SUM(A1)", "Zoë, \"the\" best"]
    for i, name in enumerate(hostile):
        doc = filled(key)
        doc["student"] = {"id": name, "name": name}
        put(tmp_path, f"{i}.json", doc)
    put(tmp_path, "=1+1.json", "{")
    code, output = grade(*(f"{i}.json" for i in range(len(hostile))), "=1+1.json", "--format", "csv")
    assert code == 1
    rows = list(csv.reader(io.StringIO(output)))
    assert len(rows) == 1 + len(hostile) + 1
    for row, name in zip(rows[1:], hostile):
        shown = name if name[0] not in "=+-@" else "'" + name
        assert row[:3] == [shown, shown, rows[1 + hostile.index(name)][2]]
        assert row[-4:-2] == ["18.0", "18.0"]  # numbers stay numbers
    assert rows[-1][2] == "'=1+1.json" and rows[-1][-2] == "ungraded"
    assert cell(-0.5) == -0.5 and cell("-0.5") == "'-0.5" and cell("\tx") == "'\tx" and cell("a=b") == "a=b"


def test_an_id_or_name_with_unsafe_characters_is_refused_in_one_line(tmp_path):
    key = make_key(resolve(SHEET), Variant(seed=3))
    cases = {"esc": ("s\x1b[31m1", "", '"student.id" holds a control character \\x1b at character 2'),
             "bidi": ("s1", "Eve\u202egnp.exe", '"student.name" holds a bidirectional-text control \\u202e at character 4'),
             "c1": ("s\x851", "", '"student.id" holds a C1 control character \\u0085 at character 2'),
             "long": ("s" * 201, "", '"student.id" is longer than 200 characters'),
             "surrogate": ("\ud800", "", '"student.id" holds a lone surrogate \\ud800 at character 1')}
    for label, (sid, name, _) in cases.items():
        doc = filled(key)
        doc["student"] = {"id": sid, "name": name}
        put(tmp_path, f"{label}.json", doc)
    code, output = grade(str(tmp_path), "--format", "json")
    assert code == 1
    errors = {Path(s["file"]).stem: s["error"] for s in json.loads(output)["submissions"]}
    assert errors == {label: reason for label, (_, _, reason) in cases.items()}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "gradekit", *args], capture_output=True, env=env, timeout=timeout)


def test_named_pipes_sockets_and_devices_are_skipped_unread(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    put(folder, "good.json", filled(make_key(resolve(SHEET), Variant(seed=3))))
    os.mkfifo(folder / "pipe.json")
    os.mkfifo(tmp_path / "lone.json")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock.json"))
    os.symlink("/dev/zero", folder / "zero.json")
    try:
        # A FIFO that were opened for reading would block for ever: the timeout fails the test.
        done = _cli("grade", str(folder), str(tmp_path / "lone.json"), "--format", "json", timeout=60)
    finally:
        server.close()
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    reasons = {Path(s["file"]).name: s.get("error") for s in doc["submissions"]}
    assert reasons == {"good.json": None,
                       "pipe.json": "skipped: a named pipe (FIFO), not a submission file (never read)",
                       "sock.json": "skipped: a socket, not a submission file (never read)",
                       "zero.json": "skipped: a device, not a submission file (never read)",
                       "lone.json": "skipped: a named pipe (FIFO), not a submission file (never read)"}


def test_unwritable_output_is_one_line_and_exit_2(tmp_path):
    sub = put(tmp_path, "s.json", filled(make_key(resolve(SHEET), Variant(seed=3))))
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    code, output = grade(str(sub), "-o", str(blocker / "book.csv"), "--format", "csv")
    assert code == 2
    assert grade.stderr == f"gradekit: error: {blocker / 'book.csv'}: cannot write: Not a directory\n"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, output = grade(str(sub), "-o", str(locked / "book.csv"))
        assert (code, grade.stderr) == (2, f"gradekit: error: {locked / 'book.csv'}: cannot write: Permission denied\n")
    assert not [p for p in tmp_path.rglob("*") if "book" in p.name]  # nothing half-written left behind


def test_file_names_that_are_not_utf8_are_shown_escaped(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/bad\xff\x1b[2J.json"
    with open(raw, "wb") as f:
        f.write(json.dumps(filled(make_key(resolve(SHEET), Variant(seed=3)))).encode())
    out = os.fsencode(tmp_path) + b"/book\xfe.csv"
    done = _cli("grade", str(folder), "--format", "csv", "-o", os.fsdecode(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8") == (f"wrote {tmp_path}/book\\xfe.csv and {tmp_path}/book\\xfe-items.csv\n")
    book = open(out, "rb").read().decode("utf-8")  # valid UTF-8
    assert f"{folder}/bad\\xff\\x1b[2J.json" in book and "\x1b" not in book
    for fmt in ("text", "json", "csv"):
        done = _cli("grade", str(folder), "--format", fmt)
        assert done.returncode == 0 and "\x1b" not in done.stdout.decode("utf-8")
