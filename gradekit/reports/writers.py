"""Grade reports: readable text, JSON, a CSV gradebook with item analysis (Gradescope's results.json:
gradekit.reports.gradescope).

Reports stream: each format is written a chunk of submissions at a time as grading finishes
them (render() yields text), and what only the end can say (the class summary, which of a
student's files counts, who is missing) is gathered meanwhile by a Tally, which keeps a few
numbers per submission and per student, never the reports themselves. The CSV gradebook has
one column per problem, known only at the end, and a status that a later file of the same
student can change: its rows are spooled to a temporary file and copied out at the end.

Every text field of a Report is already safe to show (checked or escaped where it entered,
gradekit.util.untrusted). The CSV also follows OWASP's advice on formula injection: a text cell
that starts with = + - @, a tab or a carriage return gets a leading ' so that a spreadsheet
shows it instead of evaluating it; numbers we write ourselves (scores) are left as numbers.

Field names of the JSON report are stable (README: "Grade report"). Files are written
atomically: a temporary file in the same folder, then os.replace, so a reader never sees a
half-written gradebook.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import statistics
import tempfile
from array import array
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TextIO

from gradekit.util.errors import InputFileError
from gradekit.render.formatting import points as fmt_points
from gradekit.grading.results import Report
from gradekit.spec.roster import Student

REPORT_FORMAT = "gradekit-report"
REPORT_VERSION = 1
KEEP_RULES = ("latest", "best", "first")
TOP_MISTAKES = 5


def rounded(x: float) -> float:
    """Points as every report writes them: 4 decimals."""
    return round(x, 4)


# --- what the end of a report needs, gathered on the way -----------------------------------------

_name, _status, _mistake = attrgetter("name"), attrgetter("status"), attrgetter("mistake")


class _Student:
    """One student id's files so far: how many, and the one counted under the keep rule."""

    __slots__ = ("name", "files", "graded", "row", "time", "points", "source", "time_from")

    def __init__(self, name: str):
        self.name, self.files, self.graded = name, 0, 0
        self.row, self.time, self.points, self.source = -1, 0.0, 0.0, ""
        self.time_from: set[str] = set()


@dataclass
class _ProblemTally:
    title: str
    rows: array = field(default_factory=lambda: array("l"))  # graded rows holding this problem
    points: array = field(default_factory=lambda: array("d"))
    possible: array = field(default_factory=lambda: array("d"))


@dataclass(frozen=True)
class Mistake:
    problem: str
    quantity: str
    mistake: str
    count: int


@dataclass(frozen=True)
class Summary:
    """The class summary: counts over files and students, scores over the counted submissions."""

    files: int
    graded: int
    ungraded: int
    missing: int
    counted: int  # graded submissions that count: one per student (all, for files without a student id)
    mean: float | None
    median: float | None
    possible: float | None  # the points possible, when every counted submission has the same
    problems: tuple[tuple[str, str, float, float], ...]  # id, title, mean points, mean possible
    mistakes: tuple[Mistake, ...]  # the most common named mistakes, over every graded file


class Tally:
    """Counts, scores, named mistakes and students of a batch, gathered report by report (row by row)."""

    def __init__(self, roster: Sequence[Student] | None = None, keep: str = "latest"):
        if keep not in KEEP_RULES:
            raise ValueError(keep)
        self.roster, self.keep = roster, keep
        self.rows = 0
        self.graded = 0
        self.students: dict[str, _Student] = {s.id: _Student(s.name) for s in roster or ()}
        self._row_student: list[str | None] = []  # per graded submission, in order
        self._row: array = array("l")  # its row
        self._total: array = array("d")
        self._possible: array = array("d")
        self._problems: dict[str, _ProblemTally] = {}
        self._statuses: Counter[tuple[str, tuple[str, ...], tuple[str, ...]]] = Counter()
        self._mistakes: Counter[tuple[str, str, str]] = Counter()

    def add(self, r: Report) -> int:
        """Count one report; returns its row number (0, 1, ... in the order reports were added)."""
        row = self.rows
        self.rows += 1
        sid = r.student_id or None
        student = None
        if sid is not None:
            student = self.students.get(sid)
            if student is None and self.roster is None:
                student = self.students[sid] = _Student(r.student_name)
            if student is not None:
                student.files += 1
        if not r.graded:
            return row
        self.graded += 1
        points = r.points
        self._row_student.append(sid if student is not None else None)
        self._row.append(row)
        self._total.append(points)
        self._possible.append(r.possible)
        for p in r.problems:
            tally = self._problems.get(p.id)
            if tally is None:
                tally = self._problems[p.id] = _ProblemTally(p.title)
            tally.rows.append(row)
            tally.points.append(p.points)
            tally.possible.append(p.possible)
            # Whole status tuples are counted (most submissions share a few), expanded at the end.
            qs = p.quantities
            self._statuses[(p.id, tuple(map(_name, qs)), tuple(map(_status, qs)))] += 1
            if any(map(_mistake, qs)):
                for q in qs:
                    if q.mistake:
                        self._mistakes[(p.id, q.name, q.mistake)] += 1
        if student is not None:
            self._consider(student, row, r, points)
        return row

    def _consider(self, student: _Student, row: int, r: Report, points: float) -> None:
        student.graded += 1
        student.time_from.add(r.time_from or "file")
        if student.row < 0 or self._better(r.time, points, student.time, student.points):
            student.row, student.time, student.points, student.source = row, r.time, points, r.source

    def _better(self, time: float, points: float, kept_time: float, kept_points: float) -> bool:
        """Whether a later row replaces the one kept: later (or as late), earlier, or more points."""
        if self.keep == "latest":
            return time >= kept_time
        if self.keep == "first":
            return time < kept_time
        return (points, time) >= (kept_points, kept_time)

    # -- what the end of a report asks ------------------------------------------------------------

    def counted(self, row: int, student_id: str) -> bool:
        """Whether a graded row counts: it has no (known) student, or it is the one kept for its student."""
        student = self.students.get(student_id) if student_id else None
        return student is None or student.row == row

    def rule(self, student: _Student) -> str:
        """How the counted file was chosen, in words: "latest of 3 files, by file time"."""
        by = {frozenset({"file"}): "file time", frozenset({"submitted"}): 'the files\' "submitted" time'}.get(
            frozenset(student.time_from), '"submitted" time, else file time')
        what = {"latest": f"latest of {student.graded} files, by {by}",
                "first": f"first of {student.graded} files, by {by}",
                "best": f"most points of {student.graded} files (ties: the latest, by {by})"}
        return what[self.keep]

    def status(self, row: int, r_student_id: str, graded: bool) -> tuple[str, str]:
        """A submission's status in the gradebook (graded, duplicate or ungraded) and what it adds."""
        if not graded:
            return "ungraded", ""
        student = self.students.get(r_student_id) if r_student_id else None
        if student is None or student.graded <= 1:
            return "graded", ""
        if student.row == row:
            return "graded", f"counted: {self.rule(student)}"
        return "duplicate", f"not counted: {student.source} counts ({self.rule(student)})"

    def missing(self) -> list[tuple[str, str]]:
        """Roster students with no file at all (id, name), in roster order."""
        if self.roster is None:
            return []
        return [(s.id, s.name) for s in self.roster if self.students[s.id].files == 0]

    def duplicates(self) -> list[tuple[str, _Student]]:
        return [(sid, s) for sid, s in self.students.items() if s.graded > 1]

    def items(self) -> list[tuple[str, str, Counter[str], str]]:
        """Per quantity, in first-seen order: problem, quantity, status counts, the most common mistake."""
        counts: dict[tuple[str, str], Counter[str]] = {}
        for (pid, names, statuses), n in self._statuses.items():
            for name, status in zip(names, statuses):
                counts.setdefault((pid, name), Counter())[status] += n
        common: dict[tuple[str, str], tuple[int, str]] = {}
        for (pid, name, mistake), n in self._mistakes.items():
            if n > common.get((pid, name), (0, ""))[0]:
                common[(pid, name)] = (n, mistake)
        return [(pid, name, c, common.get((pid, name), (0, ""))[1]) for (pid, name), c in counts.items()]

    def mistakes_by_quantity(self, top: int = TOP_MISTAKES) -> dict[tuple[str, str], list[tuple[str, int]]]:
        """Per (problem, quantity): its most common named mistakes with their counts, over every graded file."""
        out: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for (pid, name, mistake), n in self._mistakes.most_common():
            found = out.setdefault((pid, name), [])
            if len(found) < top:
                found.append((mistake, n))
        return out

    def summary(self) -> Summary:
        keep = {row for row, sid in zip(self._row, self._row_student) if self.counted(row, sid or "")}
        totals = [t for t, row in zip(self._total, self._row) if row in keep]
        possibles = {p for p, row in zip(self._possible, self._row) if row in keep}
        problems = []
        for pid, t in self._problems.items():
            pts = [x for x, row in zip(t.points, t.rows) if row in keep]
            pos = [x for x, row in zip(t.possible, t.rows) if row in keep]
            if pts:
                problems.append((pid, t.title, statistics.fmean(pts), statistics.fmean(pos)))
        top = [Mistake(pid, name, mistake, n) for (pid, name, mistake), n in self._mistakes.most_common(TOP_MISTAKES)]
        return Summary(self.rows, self.graded, self.rows - self.graded, len(self.missing()), len(totals),
                       statistics.fmean(totals) if totals else None, statistics.median(totals) if totals else None,
                       possibles.pop() if len(possibles) == 1 else None, tuple(problems), tuple(top))

    def students_json(self) -> list[dict[str, object]]:
        out = []
        for sid, s in self.students.items():
            status = "graded" if s.graded else ("ungraded" if s.files else "missing")
            entry: dict[str, object] = {"id": sid, "name": s.name, "status": status, "files": s.files,
                                        "counted": s.source if s.graded else None,
                                        "points": rounded(s.points) if s.graded else 0}
            if s.graded > 1:
                entry["kept_by"] = self.rule(s)
            out.append(entry)
        return out


def tallied(chunks: Iterable[Sequence[Report]], tally: Tally) -> Iterator[list[tuple[int, Report]]]:
    """Each chunk's reports with their row numbers, counted in `tally` on the way."""
    for chunk in chunks:
        yield [(tally.add(r), r) for r in chunk]


# --- text -------------------------------------------------------------------------------------------


def _who(r: Report) -> str:
    if not r.student_id:
        return r.student_name or "(no student id)"
    return f"{r.student_name} ({r.student_id})" if r.student_name else r.student_id


def _text_report(r: Report, lines: list[str]) -> None:
    if not r.graded:
        who = f" ({_who(r)})" if r.student_id else ""
        lines.append(f"{r.source}{who}: NOT GRADED: {r.error}")
        return
    lines.append(f"{r.source}: {_who(r)}, {r.sheet} ({r.variant}): "
                 f"{fmt_points(r.points)} / {fmt_points(r.possible)} points")
    for note in r.notes:
        lines.append(f"  note: {note}")
    for p in r.problems:
        lines.append(f"  {p.id}: {fmt_points(p.points)} / {fmt_points(p.possible)}")
        for note in p.notes:
            lines.append(f"    note: {note}")
        for q in p.quantities:
            lines.append(f"    {q.name:10s} {q.status:15s} {fmt_points(q.points):>6s} / {fmt_points(q.possible):<6s} {q.feedback}")


def _of(x: float | None, possible: float | None) -> str:
    if x is None:
        return "-"
    return f"{fmt_points(x)} / {fmt_points(possible)}" if possible is not None else fmt_points(x)


def text_summary(tally: Tally) -> list[str]:
    """The end of the text report: students (duplicates, missing) and the class summary."""
    s = tally.summary()
    lines = [""]
    duplicates = tally.duplicates()
    if duplicates:
        lines.append(f"Students with more than one graded file (counted: the {tally.keep}):")
        lines += [f"  {sid}: {d.source} counts ({tally.rule(d)})" for sid, d in duplicates]
    missing = tally.missing()
    if missing:
        lines.append(f"On the roster with no submission ({len(missing)}):")
        lines += [f"  {sid}" + (f" ({name})" if name else "") for sid, name in missing]
    lines.append("Class summary")
    lines.append(f"  files: {s.files}; graded {s.graded}, ungraded {s.ungraded}"
                 + (f"; students missing {s.missing}" if tally.roster is not None else ""))
    lines.append(f"  counted submissions: {s.counted} (one per student); mean {_of(s.mean, s.possible)}, "
                 f"median {_of(s.median, s.possible)}")
    for pid, title, mean, possible in s.problems:
        lines.append(f"  {pid}: mean {fmt_points(mean)} / {fmt_points(possible)} ({title})")
    if s.mistakes:
        lines.append(f"  most common named mistakes (over all {s.graded} graded files):")
        lines += [f"    {m.count:5d}  {m.problem} {m.quantity}: {m.mistake}" for m in s.mistakes]
    lines.append(f"{s.graded} of {s.files} submissions graded")
    return lines


def text_pieces(chunks: Iterable[Sequence[Report]], tally: Tally) -> Iterator[str]:
    for chunk in tallied(chunks, tally):
        lines: list[str] = []
        for _, r in chunk:
            _text_report(r, lines)
        if lines:
            yield "\n".join(lines) + "\n"
    yield "\n".join(text_summary(tally)) + "\n"


# --- JSON -------------------------------------------------------------------------------------------


def report_dict(r: Report) -> dict[str, object]:
    if not r.graded:
        doc: dict[str, object] = {"file": r.source, "graded": False, "error": r.error}
        if r.student_id:
            doc.update(student_id=r.student_id, student_name=r.student_name)
        return doc
    return {
        "file": r.source, "graded": True, "student_id": r.student_id, "student_name": r.student_name,
        "sheet": r.sheet, "variant": r.variant, "points": rounded(r.points), "possible": rounded(r.possible),
        "notes": list(r.notes),
        "problems": [{"id": p.id, "title": p.title, "points": rounded(p.points), "possible": rounded(p.possible),
                      "notes": list(p.notes),
                      "quantities": [{"name": q.name, "status": q.status, "points": rounded(q.points),
                                      "possible": rounded(q.possible), "feedback": q.feedback,
                                      "mistake": q.mistake}
                                     for q in p.quantities]}
                     for p in r.problems],
    }


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def summary_dict(tally: Tally) -> dict[str, object]:
    s = tally.summary()
    maybe = (lambda x: None if x is None else rounded(x))
    return {"files": s.files, "graded": s.graded, "ungraded": s.ungraded, "missing": s.missing,
            "counted": s.counted, "keep": tally.keep, "mean": maybe(s.mean), "median": maybe(s.median),
            "possible": maybe(s.possible),
            "problems": [{"id": pid, "title": title, "mean": rounded(mean), "possible": rounded(possible)}
                         for pid, title, mean, possible in s.problems],
            "mistakes": [{"problem": m.problem, "quantity": m.quantity, "mistake": m.mistake, "count": m.count}
                         for m in s.mistakes]}


def json_pieces(chunks: Iterable[Sequence[Report]], tally: Tally) -> Iterator[str]:
    """One submission per line inside the "submissions" list; students and summary at the end."""
    yield f'{{"format": "{REPORT_FORMAT}", "version": {REPORT_VERSION},\n"submissions": ['
    first = True
    for chunk in tallied(chunks, tally):
        if chunk:
            text = ",\n".join(_json(report_dict(r)) for _, r in chunk)
            yield ("\n" if first else ",\n") + text
            first = False
    yield (f'\n],\n"graded": {tally.graded},\n"students": {_json(tally.students_json())},\n'
           f'"summary": {_json(summary_dict(tally))}}}\n')


# --- CSV ----------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A CSV cell: text that a spreadsheet would read as a formula gets a leading ' (OWASP); numbers stay."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_rows(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()


GRADEBOOK_FIXED = ["student_id", "student_name", "file", "sheet", "variant"]
GRADEBOOK_END = ["total", "possible", "status", "reason"]


def csv_pieces(chunks: Iterable[Sequence[Report]], tally: Tally) -> Iterator[str]:
    """The gradebook: one row per file, then one per missing student. Rows are spooled (each with its
    problems' points as id/points pairs) until the columns and every row's status are known."""
    problem_ids: dict[str, None] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="", prefix="gradekit-book-") as spool:
        writer = csv.writer(spool, lineterminator="\n")
        for chunk in tallied(chunks, tally):
            rows = []
            for row, r in chunk:
                scores: list[object] = []
                for p in r.problems:
                    problem_ids.setdefault(p.id, None)
                    scores += [p.id, rounded(p.points)]
                rows.append([row, r.student_id, r.student_name, r.source, r.sheet, r.variant,
                             int(r.graded), rounded(r.points), rounded(r.possible), r.error or "", *scores])
            writer.writerows(rows)
        spool.seek(0)
        columns = list(problem_ids)
        # A row with no grade (ungraded, missing) is out of what every graded file was, when they agree.
        possible = tally.summary().possible
        out_of = rounded(possible) if possible is not None else ""
        yield _csv_rows([[*GRADEBOOK_FIXED, *columns, *GRADEBOOK_END]])
        rows = []
        for spooled in csv.reader(spool):
            rows.append(_gradebook_row(spooled, columns, tally, out_of))
            if len(rows) >= 1000:
                yield _csv_rows(rows)
                rows = []
    for sid, name in tally.missing():
        rows.append([sid, name, "", "", "", *(0 for _ in columns), 0, out_of, "missing", "on the roster; no file"])
    yield _csv_rows(rows)


def _gradebook_row(spooled: list[str], columns: list[str], tally: Tally, out_of: float | str) -> list[object]:
    row, sid, name, source, sheet, variant, graded, points, possible, error = spooled[:10]
    pairs = spooled[10:]
    by_id = dict(zip(pairs[0::2], pairs[1::2]))
    status, note = tally.status(int(row), sid, graded == "1")
    if status == "ungraded":
        return [sid, name, source, sheet, variant, *(0 for _ in columns), 0, out_of, status, error]
    scores = [float(by_id[pid]) if pid in by_id else "" for pid in columns]
    return [sid, name, source, sheet, variant, *scores, float(points), float(possible), status, note]


def item_rows(tally: Tally) -> list[list[object]]:
    rows: list[list[object]] = [["problem", "quantity", "submissions", "correct", "follow_through", "incorrect",
                                 "missing", "invalid", "share_correct", "most_common_mistake"]]
    for pid, name, c, common in tally.items():
        total = sum(c.values())
        rows.append([pid, name, total, c["correct"], c["follow-through"], c["incorrect"], c["missing"],
                     c["invalid"], round(c["correct"] / total, 4) if total else 0, common])
    return rows


def item_analysis_text(tally: Tally) -> str:
    """Per quantity: how many answered it, the share correct, and the most common named mistake (in full)."""
    return _csv_rows(item_rows(tally))


# --- whole reports from a list (tests, one-off uses) --------------------------------------------------

PIECES = {"text": text_pieces, "json": json_pieces, "csv": csv_pieces}


def render(fmt: str, reports: Sequence[Report], roster: Sequence[Student] | None = None,
           keep: str = "latest") -> str:
    return "".join(PIECES[fmt]([reports], Tally(roster, keep)))


def text(reports: Sequence[Report]) -> str:
    return render("text", reports)


def json_text(reports: Sequence[Report]) -> str:
    return render("json", reports)


def gradebook_csv(reports: Sequence[Report]) -> str:
    return render("csv", reports)


def item_analysis_csv(reports: Sequence[Report]) -> str:
    tally = Tally()
    for r in reports:
        tally.add(r)
    return item_analysis_text(tally)


# --- files --------------------------------------------------------------------------------------------


@contextmanager
def atomic_writer(path: Path) -> Iterator[TextIO]:
    """A text file that appears at `path` whole, or not at all: written beside it, then renamed.

    Opened before any grading starts, so an unwritable place fails at once (InputFileError, exit
    code 2). Text goes out as UTF-8; any character that cannot be (there should be none: text is
    escaped where it enters) is written as a backslash escape rather than lost with the report.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except FileExistsError:  # a file stands where the path needs a folder
        raise InputFileError(f"cannot write: {os.strerror(errno.ENOTDIR)}", source=path) from None
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, content: str) -> None:
    with atomic_writer(path) as f:
        f.write(content)
