"""Feedback a student learns from (`gradekit grade --feedback DIR`): a page and its Markdown twin per student.

For the file that counts for each student (the keep rule's choice, as in every report), one folder
named as `generate --roster` names it (gradekit.spec.roster.folder_name) holding `feedback.html`
(offline, no script, a Content-Security-Policy that allows its one style and forbids every
request) and `feedback.md`. Per asked quantity: the student's answer beside the key with each
entry's margin, the status and points, the named mistake and why follow-through was or was not
given. For every quantity that lost points, the worked solution of that step on the student's own
variant (gradekit.render.worked, the entries the solutions show), with the unasked steps it needs:
a page shows the key's value of the asked quantities (beside the answer) and of the steps it works
out, nothing more (no other step, no mistake values).

The results are the report's own (gradekit.grading.results): the file is read again only for the
student's numbers, and the key regenerated for the values. Untrusted text (names, ids, file
names, feedback that quotes them) is escaped for HTML here and for Markdown by render.formatting;
math is drawn by a function handed in (the CLI passes MathML; the default shows the LaTeX as code).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from gradekit.grading.answers import read_answers
from gradekit.grading.grade import KeyCache, sheet_lookup, variant_for
from gradekit.grading.results import QuantityResult, Report
from gradekit.grading.submission import DEFAULT_MAX_BYTES, load
from gradekit.model.notation import given_number, tex
from gradekit.model.problem import Sheet
from gradekit.render import formatting as fmt
from gradekit.render.documents import part_labels
from gradekit.render.worked import context, worked_step
from gradekit.reports.class_page import asset, content_policy
from gradekit.reports.writers import Tally, rounded, write_atomic
from gradekit.spec.roster import folder_name
from gradekit.util.errors import GradekitError

Math = Callable[[str, bool], str]  # LaTeX, display -> HTML
CHUNK = 100  # students whose keys are made together
PARALLEL_MIN_STUDENTS = 100  # below this, starting worker processes costs more than it saves

# Why follow-through was or was not given, by the rule that decided (gradekit.grading.results.Rule).
WHY = {
    "right": "Right against the key: no follow-through needed.",
    "right_on_own_inputs": "Right: off the key at the edge of the margin only because of your own rounded earlier answers.",
    "mistake_in_margin": "No credit: within the margin, but your numbers are those of a known mistake.",
    "follow_through": "Follow-through given: wrong against the key, but right when redone from your own earlier "
                      "answers, and those earlier errors are credible attempts.",
    "partial_follow_through": "Partial follow-through: some entries are right given your own earlier answers.",
    "not_credible": "No follow-through: right given your earlier answers, but an earlier answer it uses is not a "
                    "credible attempt (two or more unexplained errors, or a value of the wrong size).",
    "made_trivial": "No follow-through: right given your earlier answers, but your errors made this step trivial.",
    "named_mistake": "No follow-through for this step itself: it is the first wrong step (a known mistake); later "
                     "steps done right from it still earn follow-through.",
    "slip": "No follow-through for this step itself: a slip in a few entries; later steps done right from it still "
            "earn follow-through.",
    "right_magnitude": "No follow-through for this step itself: wrong, but of the right size; later steps done right "
                       "from it still earn follow-through.",
    "implausible": "Wrong, and not a plausible attempt (no known mistake, not a slip in a few entries, not of the "
                   "right size): later answers computed from it earn no follow-through.",
    "unexplained_errors": "No follow-through: one of two or more errors that match no known mistake.",
    "trivial": "No follow-through: the answer is trivial (near zero, one repeated number or a given value).",
    "without_inputs": "No follow-through: an answer it is computed from is missing or could not be read.",
    "guessable_without_work": "No credit: the answer can be guessed, and the answers it needs are not there.",
    "coincidence": "No credit: right, but computed from wrong answers that earn nothing.",
    "missing": "No answer given.",
    "invalid": "The answer could not be read as numbers of the right shape.",
}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def code_math(latex: str, display: bool = False) -> str:
    """Math shown as its LaTeX (when no MathML renderer is handed in)."""
    return f'<code class="{"dmath" if display else "math"}">{_e(latex)}</code>'


@dataclass(frozen=True)
class Row:
    """One asked quantity on a feedback page."""

    label: str
    name: str
    result: QuantityResult
    answer: np.ndarray | None  # the student's numbers (None: missing or unreadable)
    key: np.ndarray
    margin: np.ndarray
    integers: bool


@dataclass(frozen=True)
class Value:
    """A value a worked step shows: its name and numbers (to the problem's decimals)."""

    name: str
    value: np.ndarray
    integers: bool = False
    given: bool = False

    def tex(self, decimals: int) -> str:
        return f"{tex(self.name)} = {fmt.tex_matrix(self.value, decimals, self.integers, self.given)}"


@dataclass(frozen=True)
class Step:
    """A worked step: formula, inputs, one entry worked out, notes, result (all LaTeX or $text$)."""

    label: str
    name: str
    description: str
    formula: str
    inputs: tuple[Value, ...]
    worked: tuple[tuple[str, str], ...]  # (where, math)
    notes: tuple[str, ...]
    result: Value


@dataclass(frozen=True)
class ProblemFeedback:
    id: str
    title: str
    points: float
    possible: float
    decimals: int
    rows: tuple[Row, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Feedback:
    report: Report
    folder: str
    problems: tuple[ProblemFeedback, ...]


# --- what a page shows ----------------------------------------------------------------------------


def _shown_steps(pk, lost: Sequence[str]) -> list[str]:  # noqa: ANN001 - a ProblemKey
    """The lost asked steps and the unasked steps they need (not given, not asked), in computing order."""
    trace, asked = pk.instance.trace, set(pk.problem.asked)
    given = set(pk.instance.given)
    wanted: set[str] = set()
    stack = list(lost)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        for d in trace.step(name).deps:
            if d not in asked and d not in given and trace.step(d).stage != "given":
                stack.append(d)
    return [n for n in trace.names if n in wanted]


def problem_feedback(pk, result, raw: Mapping[str, object]) -> ProblemFeedback:  # noqa: ANN001 - ProblemKey, ProblemResult
    problem, trace = pk.problem, pk.instance.trace
    answers = read_answers(pk, raw)
    labels = dict(zip(problem.asked, part_labels(len(problem.asked))))
    results = {q.name: q for q in result.quantities}
    rows = []
    for q in problem.asked:
        r = results[q]
        c = answers.get(q)
        value = c.value if c.value is not None else None
        rows.append(Row(labels[q], q, r, value, np.asarray(trace[q], dtype=float), np.asarray(pk.allowance(q), dtype=float),
                        trace.step(q).axes == "labels"))
    lost = [q for q in problem.asked if results[q].points < results[q].possible]
    steps = []
    if lost:
        cx = context(pk)
        given_names = set(problem.arch.given_names())
        for name in _shown_steps(pk, lost):
            step = trace.step(name)
            w = worked_step(pk, name, cx)
            inputs = tuple(Value(d, np.asarray(trace[d]), trace.step(d).axes == "labels", d in given_names)
                           for d in step.deps)
            steps.append(Step(labels.get(name, ""), name, step.description, step.formula, inputs,
                              tuple((ex.where, ex.math) for ex in w.examples), tuple(w.notes),
                              Value(name, np.asarray(trace[name]), step.axes == "labels")))
    return ProblemFeedback(problem.id, problem.title, result.points, result.possible, problem.decimals,
                           tuple(rows), tuple(steps))


# --- HTML -------------------------------------------------------------------------------------------


def _prose(text: str, math: Math) -> str:
    """Text with $math$: the text escaped, the math drawn."""
    parts = str(text).split("$")
    return "".join(math(p, False) if i % 2 else _e(p) for i, p in enumerate(parts))


def _entries(value: np.ndarray, decimals: int, integers: bool, given: bool = False) -> list[list[str]]:
    """Entries as the solutions write them (notation.number: never -0.0000), rows of a 2-D view."""
    a = np.atleast_2d(np.asarray(value, dtype=float))
    if integers:
        return [[str(int(round(x))) for x in row] for row in a.tolist()]
    if given:
        return [[given_number(x, decimals) for x in row] for row in a.tolist()]
    zero = "0." + "0" * decimals if decimals else "0"
    out = []
    for row in a.tolist():
        cells = [f"{x:.{decimals}f}" for x in row]
        out.append([zero if c[0] == "-" and c[1:] == zero else c for c in cells])
    return out


def _grid(value: np.ndarray | None, decimals: int, integers: bool, off: np.ndarray | None = None,
          given: bool = False) -> str:
    if value is None:
        return '<span class="none">—</span>'
    rows = _entries(value, decimals, integers, given)
    bad = np.atleast_2d(off).tolist() if off is not None else None
    out = ['<table class="grid">']
    for i, row in enumerate(rows):
        out.append("<tr>" + "".join(f"<td class=off>{x}</td>" if bad is not None and bad[i][j] else f"<td>{x}</td>"
                                    for j, x in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _shown_value(v: Value, decimals: int, math: Math) -> str:
    return f'<div class="value">{math(tex(v.name), False)} = {_grid(v.value, decimals, v.integers, None, v.given)}</div>'


def _margin_text(margin: np.ndarray, decimals: int) -> str:
    flat = np.asarray(margin, dtype=float).ravel().tolist()
    lo, hi = min(flat), max(flat)
    digits = decimals + 2
    a, b = f"{lo:.{digits}f}", f"{hi:.{digits}f}"
    return f"± {a}" if a == b else f"± {a} to {b}"


def _wrong_entries(row: Row) -> np.ndarray | None:
    if row.answer is None:
        return None
    with np.errstate(invalid="ignore"):
        return np.abs(np.asarray(row.answer, dtype=float) - row.key) > row.margin


def html_page(fb: Feedback, math: Math = code_math) -> str:
    r = fb.report
    style = asset("feedback.css")
    who = r.student_name or r.student_id or "(no student id)"
    out = ["<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
           f'<meta http-equiv="Content-Security-Policy" content="{_e(content_policy([], style))}">\n',
           '<meta name="referrer" content="no-referrer">\n',
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
           f"<title>Feedback: {_e(r.sheet)} · {_e(who)}</title>\n<style>{style}</style>\n</head>\n<body>\n",
           f'<header><h1>Feedback on {_e(r.sheet)}</h1><p class="meta">'
           f'<span>Student: <strong class="student-name">{_e(r.student_name)}</strong></span> '
           f'<span>ID <strong class="student-id">{_e(r.student_id)}</strong></span> '
           f'<span>Variant: {_e(r.variant)}</span> <span>File: <code>{_e(r.source)}</code></span></p>'
           f'<p class="total">Total: <strong>{_e(fmt.points(r.points))} / {_e(fmt.points(r.possible))}</strong> points</p>'
           "</header>\n<main>\n"]
    for note in r.notes:
        out.append(f'<p class="note">{_e(note)}</p>')
    for p in fb.problems:
        out.append(f'<section class="problem" id="p-{_e(p.id)}"><h2>{_e(p.id)}: {_e(p.title)} — '
                   f'{_e(fmt.points(p.points))} / {_e(fmt.points(p.possible))}</h2>')
        for row in p.rows:
            q = row.result
            out.append(f'<div class="quantity {_e(q.status)}" data-quantity="{_e(row.name)}">'
                       f'<h3>({_e(row.label)}) {math(tex(row.name), False)} <span class="status">{_e(q.status)}</span> '
                       f'<span class="pts">{_e(fmt.points(q.points))} / {_e(fmt.points(q.possible))}</span></h3>'
                       '<div class="compare">'
                       f'<figure><figcaption>Your answer</figcaption>'
                       f'{_grid(row.answer, p.decimals, row.integers, _wrong_entries(row))}</figure>'
                       f'<figure><figcaption>Key</figcaption>{_grid(row.key, p.decimals, row.integers)}</figure>'
                       f'<figure><figcaption>Margin</figcaption><p>{_e(_margin_text(row.margin, p.decimals))}</p>'
                       "</figure></div>"
                       + (f'<p class="feedback">{_e(q.feedback)}</p>' if q.rule != "right" else "")
                       + (f'<p class="mistake">Named mistake: {_e(q.mistake)}</p>' if q.mistake else "")
                       + f'<p class="why">{_e(WHY.get(q.rule, ""))}</p></div>')
        if p.steps:
            out.append('<section class="worked"><h3>Worked solution of the steps you lost points on '
                       "(on your own variant)</h3>")
            for s in p.steps:
                label = f"({_e(s.label)}) " if s.label else ""
                out.append(f'<div class="step" data-step="{_e(s.name)}"><h4>{label}{math(tex(s.name), False)} — '
                           f'{_prose(s.description, math)}</h4>{math(s.formula, True)}')
                if s.inputs:
                    out.append('<p>using</p><div class="values">'
                               + "".join(_shown_value(v, p.decimals, math) for v in s.inputs) + "</div>")
                for where, m in s.worked:
                    out.append(f"<p>{'One entry worked out (' + _e(where) + '):' if where else 'With the numbers:'}</p>"
                               + math(m, True))
                for note in s.notes:
                    out.append(f'<p class="note"><em>{_prose(note, math)}</em></p>')
                out.append("<p>gives</p>" + _shown_value(s.result, p.decimals, math) + "</div>")
            out.append("</section>")
        out.append("</section>")
    out.append('</main>\n<footer><p>Made by gradekit. Statuses: correct, follow-through (right given your own '
               "earlier answers), incorrect, missing, invalid.</p></footer>\n</body>\n</html>\n")
    return "".join(out)


# --- Markdown -----------------------------------------------------------------------------------------


def _md_grid(value: np.ndarray | None, decimals: int, integers: bool) -> str:
    if value is None:
        return "—"
    rows = _entries(value, decimals, integers)
    return "<br>".join(" ".join(row) for row in rows) if len(rows) > 1 else " ".join(rows[0])


def markdown_page(fb: Feedback) -> str:
    r, md = fb.report, fmt.md_escape
    lines = [f"# Feedback on {md(r.sheet)}", "",
             f"- Student: {md(r.student_name)}", f"- ID: {md(r.student_id)}", f"- Variant: {md(r.variant)}",
             f"- File: {md(r.source)}", f"- Total: **{fmt.points(r.points)} / {fmt.points(r.possible)}** points", ""]
    lines += [f"*{md(n)}*" for n in r.notes]
    for p in fb.problems:
        lines += [f"## {md(p.id)}: {md(p.title)} — {fmt.points(p.points)} / {fmt.points(p.possible)}", "",
                  "| part | status | points | your answer | key | margin |", "| --- | --- | --- | --- | --- | --- |"]
        for row in p.rows:
            q = row.result
            lines.append(f"| ({row.label}) ${tex(row.name)}$ | {q.status} | {fmt.points(q.points)} / "
                         f"{fmt.points(q.possible)} | {_md_grid(row.answer, p.decimals, row.integers)} | "
                         f"{_md_grid(row.key, p.decimals, row.integers)} | {_margin_text(row.margin, p.decimals)} |")
        lines.append("")
        for row in p.rows:
            q = row.result
            lines.append(f"- ({row.label}) ${tex(row.name)}$: {md(q.feedback)}"
                         + (f" Named mistake: {md(q.mistake)}." if q.mistake else "") + f" {WHY.get(q.rule, '')}")
        lines.append("")
        if p.steps:
            lines += ["### Worked solution of the steps you lost points on (on your own variant)", ""]
            for s in p.steps:
                label = f"({s.label}) " if s.label else ""
                lines += [f"#### {label}${tex(s.name)}$ — {s.description}", "", "$$", s.formula, "$$", ""]
                if s.inputs:
                    lines += ["using", "", "$$", r", \qquad ".join(v.tex(p.decimals) for v in s.inputs), "$$", ""]
                for where, m in s.worked:
                    lines += [f"One entry worked out ({md(where)}):" if where else "With the numbers:", "", "$$", m,
                              "$$", ""]
                lines += [f"*{n}*" for n in s.notes] + ([""] if s.notes else [])
                lines += ["gives", "", "$$", s.result.tex(p.decimals), "$$", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- which files, and writing them ----------------------------------------------------------------------


class Counted:
    """The report of the file that counts for each student, kept while the batch streams: wrap the
    chunks given to a writer (whose Tally decides), and read `reports()` at the end."""

    def __init__(self, tally: Tally, files: Sequence[str]):
        self.tally, self.files = tally, files
        self._by_student: dict[str, tuple[int, Report]] = {}
        self._no_id: list[tuple[int, Report]] = []

    def wrap(self, chunks: Iterable[list[Report]]) -> Iterator[list[Report]]:
        row = 0
        for chunk in chunks:
            yield chunk  # the writer tallies the whole chunk before it asks for the next
            for r in chunk:
                if r.graded and row < len(self.files):
                    student = self.tally.students.get(r.student_id) if r.student_id else None
                    if student is None:
                        if not r.student_id:
                            self._no_id.append((row, r))
                    elif student.row == row:
                        self._by_student[r.student_id] = (row, r)
                row += 1

    def reports(self) -> list[tuple[str, Report]]:
        """(file, report) of each student's counted file, then files without a student id, in row order."""
        kept = [(row, r) for sid, (row, r) in self._by_student.items() if self.tally.students[sid].row == row]
        return [(self.files[row], r) for row, r in sorted(kept + self._no_id, key=lambda x: x[0])]


def folder_for(r: Report, used: set[str]) -> str:
    """A student's folder, as `generate --roster` names it; a file without a student id by its name."""
    base = folder_name(r.student_id) if r.student_id else "file-" + folder_name(Path(r.source).stem)
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def build(items: Sequence[tuple[str, Report, str]], sheets: Mapping[str, Sheet], secret: bytes | None,
          max_bytes: int = DEFAULT_MAX_BYTES, keys: KeyCache | None = None,
          ) -> Iterator[Feedback | tuple[Report, str]]:
    """Each counted (file, report, folder)'s Feedback, or its report and why no page could be made;
    the keys of a chunk of students made together."""
    keys = keys or KeyCache(sheet_lookup(sheets), secret, size=CHUNK)
    for start in range(0, len(items), CHUNK):
        opened: list[tuple[object, object, Report, str]] = []
        for path, r, folder in items[start:start + CHUNK]:
            try:
                sub = load(Path(path), max_bytes)
                opened.append((sub, variant_for(sub, secret), r, folder))
            except GradekitError as e:
                opened.append((None, e.message, r, folder))
        keys.prepare((sub.sheet, v) for sub, v, _, _ in opened if sub is not None)  # type: ignore[attr-defined]
        for sub, variant, r, folder in opened:
            if sub is None:
                yield r, str(variant)
                continue
            try:
                key = keys.key(sub.sheet, variant)  # type: ignore[attr-defined, arg-type]
            except GradekitError as e:
                yield r, e.message
                continue
            by_id = {p.id: p for p in r.problems}
            answers = sub.answers  # type: ignore[attr-defined]
            problems = tuple(problem_feedback(pk, by_id[pk.problem.id], answers.get(pk.problem.id, {}))
                             for pk in key.problems if pk.problem.id in by_id)
            yield Feedback(r, folder, problems)


@dataclass(frozen=True)
class Written:
    folder: Path
    students: int
    failed: tuple[str, ...]  # one line each: a counted file whose page could not be made


def _zip(folder: str, files: Sequence[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("utf-8", "backslashreplace"))
    return buffer.getvalue()


_worker: tuple | None = None  # a worker's (folder, sheets, secret, max_bytes, math, zip_each, key cache)


def _init_worker(folder: Path, sheets: Mapping[str, Sheet], secret: bytes | None, max_bytes: int, math: Math,
                 zip_each: bool) -> None:
    global _worker
    _worker = (folder, sheets, secret, max_bytes, math, zip_each, KeyCache(sheet_lookup(sheets), secret, size=CHUNK))


def _write_part(part: list[tuple[str, Report, str]]) -> list[tuple[list[object] | None, str]]:
    """Write one part's pages; per item its students.csv row, or None and why no page was made."""
    assert _worker is not None
    folder, sheets, secret, max_bytes, math, zip_each, keys = _worker
    out: list[tuple[list[object] | None, str]] = []
    for fb in build(part, sheets, secret, max_bytes, keys):
        if not isinstance(fb, Feedback):
            r, why = fb
            out.append((None, f"{r.source}: no feedback page: {' '.join(str(why).split())}"))
            continue
        html, md = html_page(fb, math), markdown_page(fb)
        target = folder / fb.folder
        target.mkdir(exist_ok=True)
        write_atomic(target / "feedback.html", html)
        write_atomic(target / "feedback.md", md)
        if zip_each:
            (folder / f"{fb.folder}.zip").write_bytes(_zip(fb.folder, [("feedback.html", html), ("feedback.md", md)]))
        r = fb.report
        out.append(([r.student_id, r.student_name, fb.folder, r.source, rounded(r.points), rounded(r.possible)], ""))
    return out


def write(items: Sequence[tuple[str, Report]], folder: Path, sheets: Mapping[str, Sheet], secret: bytes | None,
          max_bytes: int = DEFAULT_MAX_BYTES, math: Math = code_math, zip_each: bool = False,
          progress: Callable[[int], None] = lambda done: None, jobs: int = 1) -> Written:
    """A folder (and with `zip_each` a zip) per student in `folder`, and an index students.csv;
    parts of the class in `jobs` worker processes."""
    from gradekit.reports.writers import cell
    from gradekit.util import parallel

    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    named = [(path, r, folder_for(r, used)) for path, r in items]
    jobs = jobs if len(named) >= PARALLEL_MIN_STUDENTS else 1
    index: list[list[object]] = [["id", "name", "folder", "file", "points", "possible"]]
    failed = []
    for done in parallel.run(_write_part, parallel.chunks(named, jobs, largest=CHUNK), jobs, _init_worker,
                             (folder, dict(sheets), secret, max_bytes, math, zip_each)):
        for row, why in done:
            if row is None:
                failed.append(why)
            else:
                index.append(row)
        progress(len(done))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([cell(v) for v in row] for row in index)
    write_atomic(folder / "students.csv", buffer.getvalue())
    return Written(folder, len(index) - 1, tuple(failed))
