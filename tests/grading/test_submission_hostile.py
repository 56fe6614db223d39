"""Broken and hostile submissions: each gets a one-line reason, the batch goes on, nothing raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradekit.grading.grade import KeyCache, grade_file, sheet_lookup
from grading_helpers import filled, key_for

KEY = key_for("sigmoid-mse-single", 0)
GOOD = json.dumps(filled(KEY))


def keys(secret: bytes | None = None) -> KeyCache:
    return KeyCache(sheet_lookup(), secret)


def grade_bytes(tmp_path: Path, content: bytes, max_bytes: int = 1_000_000):
    path = tmp_path / "sub.json"
    path.write_bytes(content)
    return grade_file(path, keys(), max_bytes)


def mutate(change) -> bytes:
    doc = filled(KEY)
    change(doc)
    return json.dumps(doc).encode()


BROKEN = [
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
    (b"{not json", "invalid JSON at line 1 column 2"),
    (b"[1, 2]", "expected a JSON object (the answer template), got a list"),
    (b'"text"', "expected a JSON object (the answer template), got text"),
    (b"\xff\xfe{}", "not UTF-8 text (byte 0 is 0xff)"),
    (b'{"a": 1, "a": 2}', 'duplicate key "a"'),
    (b"[" * 10_000 + b"]" * 10_000, "JSON nested deeper than 32 levels"),
    (mutate(lambda d: d.pop("format")), '"format" must be "gradekit-submission"'),
    (mutate(lambda d: d.update(version=2)), '"version" must be 1, got 2'),
    (mutate(lambda d: d.update(version="1" * 5000)), '"version" must be 1, got text'),
    (mutate(lambda d: d.update(version=True)), '"version" must be 1, got true/false'),
    (GOOD.replace('"version": 1', '"version": 1' + "0" * 5000).encode(), '"version" must be 1, got inf'),
    (mutate(lambda d: d.update(sheet="no-such-sheet")), 'unknown sheet "no-such-sheet" (not built in; pass its spec with --sheet)'),
    (mutate(lambda d: d.update(sheet="../../etc/passwd")), 'unknown sheet "../../etc/passwd"'),
    (mutate(lambda d: d["answers"].update({"line\nbreak": None})), '"answers" / "line\\nbreak" must be an object'),
    (mutate(lambda d: d.update(sheet=["x"])), '"sheet" must be text, got a list'),
    (mutate(lambda d: d.update(variant={"seed": "0"})), '"variant.seed" must be a whole number >= 0'),
    (mutate(lambda d: d.update(variant={"seed": 0, "student": "x"})), '"variant" must be {"seed": N} or {"student": "id"}'),
    (mutate(lambda d: d.update(variant={"student": "s1"})), "this is a per-student variant: grading it needs the course secret"),
    (mutate(lambda d: d.update(answers=[1])), '"answers" must be an object of problems'),
    (mutate(lambda d: d["answers"].update({"sigmoid-mse-single": 5})), '"answers" / "sigmoid-mse-single" must be an object of quantities'),
]


@pytest.mark.parametrize("content, reason", BROKEN, ids=[b[1][:40] for b in BROKEN])
def test_broken_file_gets_one_line_reason(tmp_path, content, reason):
    report = grade_bytes(tmp_path, content)
    assert not report.graded
    assert report.error.startswith(reason), report.error
    assert "\n" not in report.error


def test_oversize_file_is_refused_before_reading(tmp_path):
    report = grade_bytes(tmp_path, GOOD.encode(), max_bytes=100)
    assert report.error == f"the file is {len(GOOD.encode()):,} bytes, over the limit of 100"


def test_bom_is_accepted(tmp_path):
    report = grade_bytes(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())
    assert report.graded and report.points == pytest.approx(report.possible)


def quantity(report, name):
    return next(q for p in report.problems for q in p.quantities if q.name == name)


@pytest.mark.parametrize("value_json, feedback", [
    ("NaN", "holds NaN, Infinity or a number too large for a float"),
    ("Infinity", "holds NaN, Infinity or a number too large for a float"),
    ("[-Infinity, 1]", "holds NaN, Infinity or a number too large for a float"),
    ("[1e400, 1]", "holds NaN, Infinity or a number too large for a float"),
    ('"0.3, 1.8"', 'expected a number, got text (write 0.5, not "0.5")'),
    ("[[1, 2], [3]]", "rows of different lengths (a ragged array)"),
    ("{\"x\": 1}", "expected a number or a list of numbers, got dict"),
    ("[[[[[[1]]]]]]", "nested deeper than a matrix"),
    # Integer literals past float range (or Python's 4300-digit int limit) are numbers too large.
    ("[[1" + "0" * 400 + ", 1]]", "holds NaN, Infinity or a number too large for a float"),
    ("-" + "9" * 5000, "holds NaN, Infinity or a number too large for a float"),
])
def test_bad_values_make_one_answer_invalid_and_the_rest_graded(tmp_path, value_json, feedback):
    text = GOOD.replace('"Z1": [[', '"Z1": ' + value_json + ', "_was": [[', 1)
    report = grade_bytes(tmp_path, text.encode())
    assert report.graded
    z1 = quantity(report, "Z1")
    assert z1.status == "invalid" and z1.feedback == feedback
    assert quantity(report, "loss").status == "correct"


def test_a_folder_with_unrelated_files_loses_nothing(tmp_path):
    from grading_helpers import run_grade

    (tmp_path / "good.json").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    result, reports = run_grade([tmp_path], "json")
    assert result.exit_code == 1
    by_file = {Path(r["file"]).name: r for r in reports["submissions"]}
    assert set(by_file) == {"good.json", "notes.txt", "sub"}
    assert by_file["good.json"]["graded"] is True
    assert by_file["notes.txt"]["error"] == "skipped: not a .json submission"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES, where=st.sampled_from(["Z1", "dW1", "loss", "answers", "variant", "student", "sheet", "root"]),
       cut=st.integers(0, 2000), flip=st.integers(0, 2000))
def test_fuzzed_submissions_always_give_a_report(tmp_path, value, where, cut, flip):
    doc = filled(KEY)
    if where in ("Z1", "dW1", "loss"):
        doc["answers"]["sigmoid-mse-single"][where] = value
    elif where == "root":
        doc = value
    else:
        doc[where] = value
    raw = json.dumps(doc, allow_nan=True).encode()
    for content in (raw, raw[:cut], raw[:flip] + b"\x00\xff" + raw[flip:]):
        report = grade_bytes(tmp_path, content)
        assert report.graded or (report.error and "\n" not in report.error)
        if report.graded:
            assert 0 <= report.points <= report.possible + 1e-9


@pytest.mark.parametrize("text, depth", [
    ('{"a": [[1, 2], [3, 4]], "b": {}}', 3),
    ('{"name": "' + "[" * 40 + '"}', 1),  # brackets inside a string do not count
    ('{"name": "say \\"[[[\\" ok", "b": [1]}', 2),  # nor after an escaped quote
    ('{"a\\\\": [[[1]]]}', 4),  # an escaped backslash ends no string
    ("[" * 40 + "]" * 40, 33),  # counting stops past the limit
    ("[[1], [[2]]", 3),  # unbalanced (truncated): counted exactly
])
def test_nesting_is_counted_outside_strings(text, depth):
    from gradekit.grading.submission import MAX_NESTING, _nesting

    assert _nesting(text) == depth
    assert (depth > MAX_NESTING) == (depth == 33)
