"""Grade reports: readable text, JSON, a CSV gradebook with item analysis, Gradescope results.json.

Field names of the JSON report are stable (README: "Grade report"). Files are written
atomically: a temporary file in the same folder, then os.replace, so a reader never sees a
half-written gradebook.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from gradekit.formatting import points as fmt_points
from gradekit.grade import Report

REPORT_FORMAT = "gradekit-report"
REPORT_VERSION = 1


def _round(x: float) -> float:
    return round(x, 4)


def text(reports: Sequence[Report]) -> str:
    lines: list[str] = []
    for r in reports:
        if not r.graded:
            lines.append(f"{r.source}: NOT GRADED: {r.error}")
            continue
        who = r.student_id or "(no student id)"
        lines.append(f"{r.source}: {who}, {r.sheet} ({r.variant}): {fmt_points(r.points)} / {fmt_points(r.possible)} points")
        for note in r.notes:
            lines.append(f"  note: {note}")
        for p in r.problems:
            lines.append(f"  {p.id}: {fmt_points(p.points)} / {fmt_points(p.possible)}")
            for note in p.notes:
                lines.append(f"    note: {note}")
            for q in p.quantities:
                lines.append(f"    {q.name:10s} {q.status:15s} {fmt_points(q.points):>6s} / {fmt_points(q.possible):<6s} {q.feedback}")
    graded = [r for r in reports if r.graded]
    lines.append(f"{len(graded)} of {len(reports)} submissions graded")
    return "\n".join(lines) + "\n"


def report_dict(r: Report) -> dict[str, object]:
    if not r.graded:
        return {"file": r.source, "graded": False, "error": r.error}
    return {
        "file": r.source, "graded": True, "student_id": r.student_id, "student_name": r.student_name,
        "sheet": r.sheet, "variant": r.variant, "points": _round(r.points), "possible": _round(r.possible),
        "notes": list(r.notes),
        "problems": [{"id": p.id, "title": p.title, "points": _round(p.points), "possible": _round(p.possible),
                      "notes": list(p.notes),
                      "quantities": [{"name": q.name, "status": q.status, "points": _round(q.points),
                                      "possible": _round(q.possible), "feedback": q.feedback}
                                     for q in p.quantities]}
                     for p in r.problems],
    }


def json_text(reports: Sequence[Report]) -> str:
    doc = {"format": REPORT_FORMAT, "version": REPORT_VERSION,
           "graded": sum(r.graded for r in reports), "submissions": [report_dict(r) for r in reports]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _csv(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def gradebook_csv(reports: Sequence[Report]) -> str:
    """One row per submission: student, a column per problem, total; ungraded rows carry the reason."""
    problem_ids: list[str] = []
    for r in reports:
        for p in r.problems:
            if p.id not in problem_ids:
                problem_ids.append(p.id)
    rows: list[list[object]] = [["student_id", "student_name", "file", "sheet", "variant", *problem_ids,
                                 "total", "possible", "status"]]
    for r in reports:
        by_id = {p.id: p for p in r.problems}
        scores = [_round(by_id[pid].points) if pid in by_id else "" for pid in problem_ids]
        status = "graded" if r.graded else f"not graded: {r.error}"
        total = _round(r.points) if r.graded else ""
        possible = _round(r.possible) if r.graded else ""
        rows.append([r.student_id, r.student_name, r.source, r.sheet, r.variant, *scores, total, possible, status])
    return _csv(rows)


def item_analysis_csv(reports: Sequence[Report]) -> str:
    """Per quantity: how many answered it, the share correct, and the most common named mistake."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    mistakes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in reports:
        for p in r.problems:
            for q in p.quantities:
                counts[(p.id, q.name)][q.status] += 1
                if q.status in ("incorrect", "invalid") and ": " in q.feedback:
                    mistakes[(p.id, q.name)][q.feedback.split(": ", 1)[1]] += 1
    rows: list[list[object]] = [["problem", "quantity", "submissions", "correct", "follow_through", "incorrect",
                                 "missing", "invalid", "share_correct", "most_common_mistake"]]
    for (pid, name), c in counts.items():
        total = sum(c.values())
        common = mistakes[(pid, name)].most_common(1)
        rows.append([pid, name, total, c["correct"], c["follow-through"], c["incorrect"], c["missing"], c["invalid"],
                     round(c["correct"] / total, 4) if total else 0, common[0][0] if common else ""])
    return _csv(rows)


def gradescope_json(report: Report) -> str:
    """Gradescope's autograder results.json for one submission: its score and one test per asked quantity.

    One file only: results.json describes a single Gradescope submission, so a batch's scores
    must never be added up into it (the CLI refuses more than one file for this format).
    """
    tests = []
    if report.graded:
        output = f"{fmt_points(report.points)} / {fmt_points(report.possible)} points"
        for p in report.problems:
            for q in p.quantities:
                tests.append({"name": f"{p.id}: {q.name}", "score": _round(q.points),
                              "max_score": _round(q.possible),
                              "status": "passed" if q.status in ("correct", "follow-through") else "failed",
                              "output": f"{q.status}: {q.feedback}", "visibility": "visible"})
    else:
        output = f"could not be graded: {report.error}"
    doc = {"score": _round(report.points if report.graded else 0.0), "output": output, "visibility": "visible",
           "stdout_visibility": "hidden", "tests": tests}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
