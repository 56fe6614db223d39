"""Hostile text in every string field and in file names: every report format still parses back,
is valid UTF-8, shows no raw control character, and reports every file."""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradekit.reports import writers as reports
from gradekit.reports.gradescope import gradescope_json
from gradekit.cli import main
from gradekit.grading.grade import grade_files, submission_files
from gradekit.spec.roster import Student
from gradekit.util.untrusted import escape, is_safe, path_text, quoted, unsafe_reason
from grading_helpers import filled, key_for

KEY = key_for("sigmoid-mse-single", 0)
HOSTILE = ["=HYPERLINK(\"http://x\",\"grade\")", "\ud800", "a\udcffb", "\x1b[2J\x1b[31mred", "\u202etxt.exe",
           "line\r\nbreak", "\x85next", "tab\there", "\u2028", "-1", "@cmd", "\\x41", "\"quoted\"", "Zoë 李雷 👩‍🎓"]
TEXT = st.sampled_from(HOSTILE) | st.text(st.characters(exclude_categories=()), max_size=12)
NAME_BYTES = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_"))
FIELDS = ("student.id", "student.name", "sheet", "variant.student", "answers.problem", "answers.quantity",
          "submitted")


def hostile_document(field: str, text: str) -> dict:
    doc = filled(KEY)
    if field == "student.id":
        doc["student"]["id"] = text
    elif field == "student.name":
        doc["student"]["name"] = text
    elif field == "sheet":
        doc["sheet"] = text
    elif field == "variant.student":
        doc["variant"] = {"student": text}
    elif field == "answers.problem":
        doc["answers"][text] = {}
    elif field == "answers.quantity":
        doc["answers"]["sigmoid-mse-single"][text] = 1
    else:
        doc["submitted"] = text
    return doc


def no_raw_controls(text: str) -> bool:
    """Only the line breaks a format writes itself; no other control, bidi or separator character."""
    return all(c == "\n" or (unicodedata.category(c) not in ("Cc", "Cs") and c not in "\u2028\u2029\u202e")
               for c in text)


def check_formats(reports_list: list, count: int, roster: list[Student] | None) -> None:
    missing = sum(1 for s in roster or () if not any(r.student_id == s.id for r in reports_list))
    for fmt in ("text", "json", "csv"):
        text = reports.render(fmt, reports_list, roster)
        text.encode("utf-8")  # strict: no lone surrogate anywhere
        assert no_raw_controls(text.replace("\r\n", "\n") if fmt == "csv" else text), fmt
        if fmt == "json":
            doc = json.loads(text)
            assert len(doc["submissions"]) == count and doc["summary"]["files"] == count
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(text, newline="")))
            assert len(rows) == 1 + count + missing
            assert all(len(row) == len(rows[0]) for row in rows)
            assert not any(c.startswith(("=", "+", "-", "@")) for row in rows for c in row if c and c[0] != "'"
                           and not _number(c))
        else:
            assert text.endswith(f" of {count} submissions graded\n")
            assert all(r.source in text for r in reports_list)
    for r in reports_list:
        json.loads(gradescope_json(r)).get("output").encode("utf-8")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), text=TEXT, name=NAME_BYTES, raw=st.binary(max_size=200), on_roster=st.booleans())
def test_every_report_format_survives_hostile_text(tmp_path_factory, field, text, name, raw, on_roster):
    folder = tmp_path_factory.mktemp("fuzz")
    body = json.dumps(hostile_document(field, text)).encode("ascii")  # \ud800 travels as JSON's escape
    base = os.fsencode(folder)
    for stem, content in ((name, body), (b"raw-" + name, raw)):
        if stem in (b".", b".."):
            stem = b"dots"
        with open(base + b"/" + stem + b".json", "wb") as f:
            f.write(content)
    files, skipped = submission_files([folder])
    got = [r for chunk in grade_files(files, {}, None) for r in chunk] + skipped
    assert len(got) == 2
    roster = [Student("s1", "Roster Name")] if on_roster else None
    check_formats(got, 2, roster)
    result = CliRunner().invoke(main, ["grade", str(folder), "--format", "json"])
    assert result.exit_code in (0, 1)
    assert len(json.loads(result.stdout_bytes.decode("utf-8"))["submissions"]) == 2


@pytest.mark.parametrize("text, shown", [
    ("plain Zoë", "plain Zoë"),
    ("a\\b", "a\\\\b"),
    ("\x1b[31m", "\\x1b[31m"),
    ("a\r\nb\tc", "a\\r\\nb\\tc"),
    ("\x85\u202e\u2066\u200f\u061c\u2028", "\\u0085\\u202e\\u2066\\u200f\\u061c\\u2028"),
    ("\ud800", "\\ud800"),
    (os.fsdecode(b"bad\xff\x80.json"), "bad\\xff\\x80.json"),  # bytes that are not UTF-8, from a file name
    ("emoji 👩‍🎓 and ZWNJ می‌خواهم", "emoji 👩‍🎓 and ZWNJ می‌خواهم"),  # joiners that real names need stay
])
def test_escape(text, shown):
    assert escape(text) == shown
    assert is_safe(shown)
    assert path_text(Path(text)) == shown


def test_quoted_and_unsafe_reason():
    assert quoted('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert quoted("x" * 70) == '"' + "x" * 60 + '..."'
    assert unsafe_reason("alice") is None and unsafe_reason("Zoë Ångström") is None
    assert unsafe_reason("a\u202eb") == "holds a bidirectional-text control \\u202e at character 2"
    assert unsafe_reason("x" * 201) == "is longer than 200 characters"
