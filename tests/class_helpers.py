"""A class folder for the class page and feedback tests: a roster with hostile names, and
submissions with mixed outcomes (right, a named mistake, a wrong value, missing answers, two
files, broken files, files off the roster, names with bidi controls or lone surrogates).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradekit.exports.common import mistake_values
from gradekit.keys.key import student_keys, template_document, to_json_value
from gradekit.spec.reader import resolve
from gradekit.spec.roster import Student

SECRET = bytes(range(32))
SHEET = "backprop-basics"
HOSTILE_NAMES = [
    '<script>alert("name")</script>', "</script><!--", "Zoë O'Brien & <b>co</b>", "محمد عبد الله",
    "שרה כהן", "王小明", '=HYPERLINK("http://evil.example")', "👩🏽‍💻 Dev", '<img src=x onerror=alert(1)>',
    "Ана-Мария", "&lt;b&gt;escaped&lt;/b&gt;", "{{7*7}} ${7*7}",
]


@dataclass(frozen=True)
class ClassFolder:
    roster: Path
    secret: Path
    submissions: Path
    students: tuple[Student, ...]


def _student(i: int) -> Student:
    sid = f"<i>{i}</i>" if i % 37 == 5 else f"s{i:03d}"
    return Student(sid, HOSTILE_NAMES[i % len(HOSTILE_NAMES)] + f" {i}")


def _answers(key, kind: int, i: int) -> dict:  # noqa: ANN001 - an AnswerKey
    answers = {pk.problem.id: {q: to_json_value(pk.instance.trace[q]) for q in pk.problem.asked} for pk in key.problems}
    if kind == 1:  # a named mistake on one quantity (the first that has one)
        pk = key.problems[i % len(key.problems)]
        for q in pk.problem.asked:
            found = mistake_values(pk, q)
            if found:
                answers[pk.problem.id][q] = to_json_value(found[0].value)
                break
    elif kind == 2:
        pk = key.problems[0]
        answers[pk.problem.id][pk.problem.asked[0]] = None
    elif kind == 3:
        pk = key.problems[1]
        q = pk.problem.asked[-1]
        answers[pk.problem.id][q] = to_json_value(np.asarray(pk.instance.trace[q]) * 3 + 1)
    elif kind == 6:  # a named mistake carried forward honestly: the later answers earn follow-through
        pk = next(pk for pk in key.problems if pk.problem.arch.layout == "rows")
        trace = pk.instance.trace
        values = dict(trace.rows)
        for q in pk.problem.asked:
            if trace.step(q).stage == "backward" and mistake_values(pk, q):
                values[q] = np.asarray(mistake_values(pk, q)[0].value, dtype=float)
                break
        else:
            raise AssertionError("no backward mistake to carry forward")
        names = list(trace.names)
        for name in names[names.index(q) + 1:]:
            step = trace.step(name)
            if step.compute is not None:
                values[name] = step.evaluate(values)
        for name in pk.problem.asked:
            answers[pk.problem.id][name] = to_json_value(values[name])
    elif kind == 7:
        answers = {}
    return answers


def write_class(folder: Path, count: int = 300) -> ClassFolder:
    """`count` roster students (a tenth with no file) and their submissions, plus three files that
    are not graded for their names or ids, and one with a hostile file name."""
    folder.mkdir(parents=True, exist_ok=True)
    students = tuple(_student(i) for i in range(count))
    roster = folder / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows([s.id, s.name] for s in students)
    secret = folder / "course.key"
    secret.write_text(SECRET.hex() + "\n", encoding="ascii")
    subs = folder / "submissions"
    subs.mkdir()
    sheet = resolve(SHEET)
    keys = student_keys(sheet, students, SECRET)
    for i, (s, key) in enumerate(zip(students, keys)):
        kind = i % 10
        if kind == 0:
            continue  # missing
        doc = template_document(key)
        doc["student"] = {"id": s.id, "name": s.name}
        name = f"student-{i:03d}"
        if kind == 8:
            (subs / f"{name}.json").write_text(json.dumps(doc)[:100], encoding="utf-8")  # broken
            continue
        if kind == 4:  # two files: a wrong one handed in first, then a right one
            doc["answers"] = _answers(key, 3, i)
            doc["submitted"] = "2026-03-01T10:00:00Z"
            (subs / f"{name}-a.json").write_text(json.dumps(doc), encoding="utf-8")
            doc["submitted"] = "2026-03-01T12:00:00Z"
            kind = 9
        doc["answers"] = _answers(key, kind, i)
        (subs / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    extra = template_document(keys[1])
    extra["answers"] = _answers(keys[1], 9, 1)
    intruder = dict(extra, student={"id": "intruder", "name": "<b>not on the roster</b>"},
                    variant={"student": "intruder"})
    (subs / "zz-intruder.json").write_text(json.dumps(intruder), encoding="utf-8")
    extra["student"] = {"id": students[1].id, "name": "evil\u202etxt.exe"}
    (subs / "zz-bidi.json").write_text(json.dumps(extra, ensure_ascii=False), encoding="utf-8")
    (subs / "zz-surrogate.json").write_text(json.dumps(extra).replace("evil\\u202e", "evil\\ud800"), encoding="utf-8")
    if os.name == "posix":
        extra["student"] = {"id": students[2].id, "name": "hostile file"}
        (subs / "<img src=x onerror=alert(2)>.json").write_text(json.dumps(extra), encoding="utf-8")
    return ClassFolder(roster, secret, subs, students)
