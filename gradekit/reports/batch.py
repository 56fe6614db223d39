"""`gradekit grade` as a library function: submission files in, one report written, an outcome back.

`prepare` reads everything that can be bad input (the secret, the roster, the paths, sheets that
are not built in) and refuses it with a GradekitError before anything is graded; the job it gives
then grades the files a chunk at a time and streams them into the report in the format asked
(gradekit.reports.writers), and says how it went: files found, files that could not be graded,
files written, and so the exit status.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Iterator, Sequence

from gradekit.grading.grade import grade_files, sheet_lookup, submission_files
from gradekit.grading.results import Report
from gradekit.grading.submission import DEFAULT_MAX_BYTES
from gradekit.model.problem import Sheet
from gradekit.reports import class_page, feedback, gradescope, writers
from gradekit.sampling.variants import read_secret
from gradekit.spec.reader import resolve
from gradekit.spec.roster import Student, read_roster
from gradekit.util.errors import InputFileError, OptionsError

FORMATS = ("text", "json", "csv", "gradescope", "html")
Progress = Callable[[int], None]  # called with the number of files graded since the last call


@dataclass(frozen=True)
class GradeOptions:
    """What `gradekit grade` takes besides the paths (README: "Grading and the grade report")."""

    format: str = "text"
    output: Path | None = None  # None: standard output
    secret_file: Path | None = None
    roster: Path | None = None
    keep: str = "latest"
    sheets: tuple[str, ...] = ()  # sheets or problem specs that are not built in
    max_bytes: int = DEFAULT_MAX_BYTES
    jobs: int = 1
    feedback: Path | None = None  # a folder: a feedback page per student (gradekit.reports.feedback)
    feedback_zip: bool = False  # and a zip of each student's folder


@dataclass(frozen=True)
class GradeOutcome:
    """How a grading run went."""

    format: str
    files: int  # files found, those skipped unread included
    ungraded: int  # files that could not be graded (skipped, broken, not on the roster, ...)
    written: tuple[Path, ...]  # files written: the report, then (CSV) its item analysis
    feedback: feedback.Written | None = None  # the feedback pages, when asked for

    @property
    def exit_code(self) -> int:
        """0 when every file was graded, whatever the scores; 1 when some file needs a look (README: "Exit codes")."""
        return 1 if self.ungraded or (self.feedback is not None and self.feedback.failed) else 0


@dataclass(frozen=True)
class GradingJob:
    """Submissions ready to grade: every input read and checked."""

    options: GradeOptions
    files: tuple[str, ...]  # the files to grade, in order
    skipped: tuple[Report, ...]  # what was found but not read (pipes, devices, files that are not .json)
    secret: bytes | None
    students: tuple[Student, ...] | None  # the roster
    extra: dict[str, Sheet]  # sheets that are not built in, by id

    def run(self, emit: Callable[[str], None], progress: Progress = lambda done: None,
            math: feedback.Math | None = None,
            feedback_bar: Callable[[int], ContextManager[Progress]] = lambda n: nullcontext(lambda done: None),
            ) -> GradeOutcome:
        """Grade every file into the report: to `options.output` (written atomically, opened before
        anything is graded) or, piece by piece, to `emit`; then, with `options.feedback`, a
        feedback page per student (math drawn by `math`, progress shown by `feedback_bar(count)`)."""
        o = self.options
        on_roster = {s.id: s.name for s in self.students} if self.students is not None else None
        graded = _counted(grade_files(self.files, self.extra, self.secret, o.max_bytes, o.jobs, on_roster), progress)
        chunks = _chain(graded, list(self.skipped))
        if o.format == "gradescope":
            return self._gradescope(chunks, emit)
        tally = writers.Tally(self.students, o.keep)
        counted = feedback.Counted(tally, self.files) if o.feedback is not None else None
        if counted is not None:
            chunks = counted.wrap(chunks)
        if o.format == "html":
            order = class_page.sheet_order(sheet_lookup(self.extra))
            pieces = class_page.html_pieces(chunks, tally, order)
        else:
            pieces = writers.PIECES[o.format](chunks, tally)
        _write(pieces, o.output, emit)
        written = () if o.output is None else (o.output,)
        if o.format == "csv" and o.output is not None:
            items = o.output.with_name(o.output.stem + "-items.csv")
            writers.write_atomic(items, writers.item_analysis_text(tally))
            written += (items,)
        pages = None
        if counted is not None:
            items_to_return = counted.reports()
            with feedback_bar(len(items_to_return)) as update:
                pages = feedback.write(items_to_return, o.feedback, self.extra, self.secret, o.max_bytes,
                                       math or feedback.code_math, o.feedback_zip, update, o.jobs)
        return GradeOutcome(o.format, tally.rows, tally.rows - tally.graded, written, pages)

    def _gradescope(self, chunks: Iterable[list[Report]], emit: Callable[[str], None]) -> GradeOutcome:
        """Gradescope's results.json: one submission (prepare refused more)."""
        reports = [r for chunk in chunks for r in chunk]
        _write([gradescope.gradescope_json(reports[0])], self.options.output, emit)
        written = () if self.options.output is None else (self.options.output,)
        return GradeOutcome("gradescope", len(reports), sum(not r.graded for r in reports), written)


def prepare(paths: Sequence[Path], options: GradeOptions) -> GradingJob:
    """The job of grading `paths` (files, or folders of *.json); GradekitError for bad input."""
    if options.format not in FORMATS:
        raise OptionsError(f"unknown report format {options.format!r} (one of: {', '.join(FORMATS)})")
    secret = read_secret(options.secret_file) if options.secret_file else None
    students = read_roster(options.roster) if options.roster is not None else None
    files, skipped = submission_files(paths)
    extra = {s.id: s for s in (resolve(r) for r in options.sheets)}
    if options.feedback is not None:
        if options.format == "gradescope":
            raise OptionsError("--feedback goes with a class report (text, json, csv or html), not gradescope")
        if options.feedback.exists() and not options.feedback.is_dir():
            raise InputFileError("cannot write feedback here: not a folder", source=options.feedback)
    if options.format == "gradescope" and len(files) != 1:
        raise OptionsError(f"--format gradescope writes the results of one submission; got {len(files)} .json files")
    return GradingJob(options, tuple(files), tuple(skipped), secret, students, extra)


def _counted(chunks: Iterable[list[Report]], progress: Progress) -> Iterator[list[Report]]:
    for chunk in chunks:
        progress(len(chunk))
        yield chunk


def _chain(chunks: Iterable[list[Report]], last: list[Report]) -> Iterator[list[Report]]:
    """The graded chunks, then the reports of what was skipped unread."""
    yield from chunks
    if last:
        yield last


def _write(pieces: Iterable[str], output: Path | None, emit: Callable[[str], None]) -> None:
    """Text pieces to `emit`, or atomically into `output` (opened before the first piece is made)."""
    if output is None:
        for piece in pieces:
            emit(piece)
        return
    with writers.atomic_writer(output) as f:
        for piece in pieces:
            f.write(piece)
