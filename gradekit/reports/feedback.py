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
from gradekit.model.notation import tex
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
    "implausible": "No follow-through: wrong, and not right given your own earlier answers either.",
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
class Step:
    """A worked step: formula, inputs, one entry worked out, notes, result (all LaTeX or $text$)."""

    label: str
    name: str
    description: str
    formula: str
    inputs: tuple[tuple[str, str], ...]  # (tex, matrix tex)
    worked: tuple[tuple[str, str], ...]  # (where, math)
    notes: tuple[str, ...]
    result: str


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


def _matrix(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False) -> str:
    return fmt.tex_matrix(np.asarray(value), decimals, integers, given)


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
            inputs = tuple((tex(d), _matrix(trace[d], problem.decimals, trace.step(d).axes == "labels",
                                            d in given_names)) for d in step.deps)
            steps.append(Step(labels.get(name, ""), name, step.description, step.formula, inputs,
                              tuple((ex.where, ex.math) for ex in w.examples), tuple(w.notes),
                              _matrix(trace[name], problem.decimals, step.axes == "labels")))
    return ProblemFeedback(problem.id, problem.title, result.points, result.possible, problem.decimals,
                           tuple(rows), tuple(steps))


# --- HTML -------------------------------------------------------------------------------------------


def _prose(text: str, math: Math) -> str:
    """Text with $math$: the text escaped, the math drawn."""
    parts = str(text).split("$")
    return "".join(math(p, False) if i % 2 else _e(p) for i, p in enumerate(parts))


def _grid(value: np.ndarray | None, decimals: int, integers: bool, off: np.ndarray | None = None) -> str:
    if value is None:
        return '<span class="none">—</span>'
    rows = fmt.entry_strings(value, decimals, integers)
    off2 = np.atleast_2d(off) if off is not None else None
    out = ['<table class="grid">']
    for i, row in enumerate(rows):
        cells = []
        for j, x in enumerate(row):
            bad = off2 is not None and bool(off2[i, j])
            cells.append(f'<td{" class=off" if bad else ""}>{_e(x)}</td>')
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)


def _margin_text(margin: np.ndarray, decimals: int) -> str:
    m = np.asarray(margin, dtype=float)
    lo, hi = float(m.min()), float(m.max())
    digits = decimals + 2
    return f"± {lo:.{digits}f}" if np.isclose(lo, hi) else f"± {lo:.{digits}f} to {hi:.{digits}f}"


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
                       f'<p class="feedback">{_e(q.feedback)}</p>'
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
                    out.append("<p>using</p>" + math(r", \qquad ".join(f"{t} = {m}" for t, m in s.inputs), True))
                for where, m in s.worked:
                    out.append(f"<p>{'One entry worked out (' + _e(where) + '):' if where else 'With the numbers:'}</p>"
                               + math(m, True))
                for note in s.notes:
                    out.append(f'<p class="note"><em>{_prose(note, math)}</em></p>')
                out.append("<p>gives</p>" + math(f"{tex(s.name)} = {s.result}", True) + "</div>")
            out.append("</section>")
        out.append("</section>")
    out.append('</main>\n<footer><p>Made by gradekit. Statuses: correct, follow-through (right given your own '
               "earlier answers), incorrect, missing, invalid.</p></footer>\n</body>\n</html>\n")
    return "".join(out)


# --- Markdown -----------------------------------------------------------------------------------------


def _md_grid(value: np.ndarray | None, decimals: int, integers: bool) -> str:
    if value is None:
        return "—"
    rows = fmt.entry_strings(value, decimals, integers)
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
                    lines += ["using", "", "$$", r", \qquad ".join(f"{t} = {m}" for t, m in s.inputs), "$$", ""]
                for where, m in s.worked:
                    lines += [f"One entry worked out ({md(where)}):" if where else "With the numbers:", "", "$$", m,
                              "$$", ""]
                lines += [f"*{n}*" for n in s.notes] + ([""] if s.notes else [])
                lines += ["gives", "", "$$", f"{tex(s.name)} = {s.result}", "$$", ""]
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


def build(items: Sequence[tuple[str, Report]], sheets: Mapping[str, Sheet], secret: bytes | None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Feedback | tuple[Report, str]]:
    """Each counted file's Feedback (or its report and why no page could be made), a chunk of keys at a time."""
    keys = KeyCache(sheet_lookup(sheets), secret, size=CHUNK)
    used: set[str] = set()
    for start in range(0, len(items), CHUNK):
        chunk = items[start:start + CHUNK]
        opened = []
        for path, r in chunk:
            try:
                sub = load(Path(path), max_bytes)
                opened.append((sub, variant_for(sub, secret), r))
            except GradekitError as e:
                opened.append((None, None, (r, e.message)))
        keys.prepare((sub.sheet, v) for sub, v, _ in opened if sub is not None)
        for sub, variant, r in opened:
            if sub is None:
                yield r  # type: ignore[misc]
                continue
            try:
                key = keys.key(sub.sheet, variant)
            except GradekitError as e:
                yield r, e.message
                continue
            by_id = {p.id: p for p in r.problems}
            problems = tuple(problem_feedback(pk, by_id[pk.problem.id], sub.answers.get(pk.problem.id, {}))
                             for pk in key.problems if pk.problem.id in by_id)
            yield Feedback(r, folder_for(r, used), problems)


@dataclass(frozen=True)
class Written:
    folder: Path
    students: int
    failed: tuple[str, ...]  # one line each: a counted file whose page could not be made


def write(items: Sequence[tuple[str, Report]], folder: Path, sheets: Mapping[str, Sheet], secret: bytes | None,
          max_bytes: int = DEFAULT_MAX_BYTES, math: Math = code_math, zip_each: bool = False,
          progress: Callable[[int], None] = lambda done: None) -> Written:
    """A folder (and with `zip_each` a zip) per student in `folder`, and an index students.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    index = [["id", "name", "folder", "file", "points", "possible"]]
    failed = []
    written = 0
    for fb in build(items, sheets, secret, max_bytes):
        if not isinstance(fb, Feedback):
            r, why = fb
            failed.append(f"{r.source}: no feedback page: {' '.join(str(why).split())}")
            progress(1)
            continue
        html, md = html_page(fb, math), markdown_page(fb)
        target = folder / fb.folder
        target.mkdir(exist_ok=True)
        write_atomic(target / "feedback.html", html)
        write_atomic(target / "feedback.md", md)
        if zip_each:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
                for name, text in (("feedback.html", html), ("feedback.md", md)):
                    info = zipfile.ZipInfo(f"{fb.folder}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, text.encode("utf-8", "backslashreplace"))
            (folder / f"{fb.folder}.zip").write_bytes(buffer.getvalue())
        r = fb.report
        index.append([r.student_id, r.student_name, fb.folder, r.source, rounded(r.points), rounded(r.possible)])
        written += 1
        progress(1)
    from gradekit.reports.writers import cell

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([cell(v) for v in row] for row in index)
    write_atomic(folder / "students.csv", buffer.getvalue())
    return Written(folder, written, tuple(failed))
