"""Class rosters: a CSV with a header naming the columns `id` and `name`."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from gradekit.util.errors import InputFileError
from gradekit.util.inputs import read_limited
from gradekit.util.untrusted import unsafe_reason

MAX_ROSTER_BYTES = 5 * 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Student:
    id: str
    name: str


def read_roster(path: Path) -> tuple[Student, ...]:
    """Students in file order; any problem is one line naming the file and the row."""
    raw = read_limited(path, MAX_ROSTER_BYTES, "the roster")
    try:
        text = raw.decode("utf-8-sig")  # spreadsheets often save a BOM
    except UnicodeDecodeError:
        raise InputFileError("roster is not UTF-8 text", source=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "id" not in columns:
        raise InputFileError("the header has no `id` column (expected the columns id,name)", source=path)
    reader.fieldnames = columns
    students: list[Student] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        sid = (row.get("id") or "").strip()
        name = (row.get("name") or "").strip()
        if not sid:
            raise InputFileError(f"row {row_number}: empty student id", source=path)
        for what, text in (("student id", sid), ("name", name)):  # the rules of every report (untrusted.py)
            reason = unsafe_reason(text)
            if reason is not None:
                raise InputFileError(f"row {row_number}: {what} {reason}", source=path)
        if sid in seen:
            raise InputFileError(f"row {row_number}: student id {sid!r} already on row {seen[sid]}", source=path)
        seen[sid] = row_number
        students.append(Student(sid, name))
    if not students:
        raise InputFileError("roster lists no student", source=path)
    return tuple(students)


def folder_name(student_id: str) -> str:
    """A file-system-safe folder name for a student; distinct ids never share one.

    Ids that are already safe are used as they are; others are cleaned and get a short hash of
    the original id, so 'a b' and 'a_b' cannot collide (nor can ids differing only in case).
    """
    cleaned = _SAFE.sub("_", student_id).strip("_") or "student"
    if cleaned == student_id and student_id == student_id.lower():
        return student_id
    digest = hashlib.sha256(student_id.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:48]}-{digest}"
