"""Grade submissions against regenerated keys: files and batches in, results (gradekit.grading.results) out.

For every asked quantity: `correct` within its allowance (gradekit.engine.margins); `follow-through`
when it is wrong against the key but right given the student's own earlier answers, under the
rules of gradekit.grading.policy; `incorrect`, with a named mistake when one is recognized; `missing`;
`invalid` (not numbers, or the wrong shape). Each result says which rule of the policy decided it.
A file that cannot be graded at all becomes a report with its reason; nothing raises.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from gradekit.util import parallel
from gradekit.grading import transport
from gradekit.grading.answers import read_answers
from gradekit.grading.policy import judge_problem
from gradekit.grading.results import ProblemResult, Report
from gradekit.util.errors import GradekitError, InputFileError, SubmissionError
from gradekit.keys.key import AnswerKey, ProblemKey, make_key, make_keys
from gradekit.spec.reader import resolve_builtin
from gradekit.model.problem import Sheet
from gradekit.grading.submission import DEFAULT_MAX_BYTES, Submission, file_kind, load, quoted
from gradekit.util.untrusted import path_text
from gradekit.sampling.variants import Variant


# --- one submission ----------------------------------------------------------------------------


def grade_problem(pk: ProblemKey, answers: Mapping[str, object]) -> ProblemResult:
    """One problem's grade from its raw answers (JSON values by quantity name), under the policy."""
    results = judge_problem(pk, read_answers(pk, answers))
    unknown = sorted(set(answers) - set(pk.problem.asked))
    notes = (f"ignored answers to quantities this problem does not ask: {', '.join(map(quoted, unknown))}",) \
        if unknown else ()
    return ProblemResult(pk.problem.id, pk.problem.title, results, notes)


def grade_submission(sub: Submission, key: AnswerKey) -> Report:
    problems = []
    for pk in key.problems:
        problems.append(grade_problem(pk, sub.answers.get(pk.problem.id, {})))
    known = {pk.problem.id for pk in key.problems}
    unknown = sorted(set(sub.answers) - known)
    notes = (f"ignored answers to problems not on sheet {key.sheet.id}: {', '.join(map(quoted, unknown))}",) \
        if unknown else ()
    return Report(sub.source, sub.student_id, sub.student_name, key.sheet.id, key.variant.label,
                  tuple(problems), notes)


# --- files and batches --------------------------------------------------------------------------


def sheet_lookup(extra: Mapping[str, Sheet] | None = None) -> Callable[[str], Sheet]:
    """Sheets by the id a submission names: `extra` (from --sheet) or built in, never a path."""
    known: dict[str, Sheet] = dict(extra or {})  # and each built-in sheet once it is read

    def sheet_for(sheet_id: str) -> Sheet:
        # The id comes from an untrusted file: it may only name a sheet we were given or ship.
        sheet = known.get(sheet_id)
        if sheet is None:
            sheet = resolve_builtin(sheet_id)  # parses TOML: once per sheet, not once per variant
            if sheet is None:
                raise SubmissionError(f"unknown sheet {quoted(sheet_id)} (not built in; pass its spec with --sheet)")
            known[sheet_id] = sheet
        return sheet

    return sheet_for


CHUNK_FILES = 250  # files graded together: all read, then their keys made in one batch


class KeyCache:
    """Regenerated keys by (sheet, variant): many submissions share one variant.

    The most recently used `size` keys are kept: a class folder keeps each student's attempts
    together, so a worker needs a chunk's worth of keys at a time, not every key it ever made.
    """

    def __init__(self, sheets: Callable[[str], Sheet], secret: bytes | None, size: int = CHUNK_FILES):
        self.sheets, self.secret, self.size = sheets, secret, size
        self._keys: OrderedDict[tuple[str, Variant], AnswerKey] = OrderedDict()

    def key(self, sheet_id: str, variant: Variant) -> AnswerKey:
        cached = self._keys.get((sheet_id, variant))
        if cached is None:
            cached = make_key(self.sheets(sheet_id), variant, self.secret)
            self._keep((sheet_id, variant), cached)
        else:
            self._keys.move_to_end((sheet_id, variant))
        return cached

    def _keep(self, where: tuple[str, Variant], key: AnswerKey) -> None:
        self._keys[where] = key
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def prepare(self, wanted: Iterable[tuple[str, Variant]]) -> None:
        """Make the keys of `wanted` that are not cached yet, together per sheet (key.make_keys:
        a batch's variants cost a fraction of what they cost one by one)."""
        missing: dict[str, dict[Variant, None]] = {}
        for sheet_id, variant in wanted:
            if (sheet_id, variant) not in self._keys:
                missing.setdefault(sheet_id, {})[variant] = None
        for sheet_id, variants in missing.items():
            try:
                made = make_keys(self.sheets(sheet_id), list(variants), self.secret)
            except GradekitError:
                continue  # each submission meets the error itself, in key(), and reports it
            for variant, key in zip(variants, made):
                self._keep((sheet_id, variant), key)


def variant_for(sub: Submission, secret: bytes | None) -> Variant:
    """The variant to grade against: with a secret, the student's (never a seed the file claims)."""
    if secret is not None:
        student = sub.variant.student or sub.student_id
        if not student:
            raise SubmissionError("no student id (variant.student or student.id): with a course secret, "
                                  "each student's variant comes from their id")
        return Variant(student=student)
    if sub.variant.student is not None:
        raise SubmissionError("this is a per-student variant: grading it needs the course secret (--secret-file)")
    return sub.variant


def _failed(path: Path, error: GradekitError, sub: Submission | None = None) -> Report:
    """The report of a file that cannot be graded; it keeps the (checked) student id when it was read."""
    who = (sub.variant.student or sub.student_id, sub.student_name) if sub is not None else ("", "")
    return Report(path_text(path), *who, error=" ".join(error.message.split()))  # one line, whatever it quotes


Roster = Mapping[str, str]  # student id -> name, from the roster file (gradekit.spec.roster)


def _on_roster(sub: Submission, roster: Roster) -> Submission:
    """The submission with the roster's name for its student; SubmissionError when the id is not on it."""
    student = sub.variant.student or sub.student_id
    if not student:
        raise SubmissionError('no student id ("student.id"): with --roster every submission must name its student')
    if student not in roster:
        near = next((sid for sid in roster if sid.casefold() == student.casefold()), None)
        hint = f"; the roster has {quoted(near)}" if near is not None else ""
        raise SubmissionError(f"student id {quoted(student)} is not on the roster (ids match exactly as written "
                              f"there){hint}")
    return replace(sub, student_name=roster[student] or sub.student_name)


def _open(path: Path, secret: bytes | None, max_bytes: int,
          roster: Roster | None = None) -> tuple[Submission, Variant] | Report:
    """A submission and the variant to grade it against, or the report of why it cannot be graded."""
    sub = None
    try:
        sub = load(path, max_bytes)
        if roster is not None:
            sub = _on_roster(sub, roster)
        return sub, variant_for(sub, secret)
    except GradekitError as e:
        return _failed(path, e, sub)


def _timed(report: Report, sub: Submission) -> Report:
    """The report with the time it was handed in: the file's own "submitted" field, else its file time."""
    if sub.submitted is not None:
        return replace(report, time=sub.submitted, time_from="submitted")
    return replace(report, time=sub.file_time, time_from="file")


def grade_batch(files: Sequence[Path], keys: KeyCache, max_bytes: int = DEFAULT_MAX_BYTES,
                roster: Roster | None = None) -> list[Report]:
    """Reports for files, in order; every failure becomes Report.error, never an exception.

    All files are read first, so that the keys they need are regenerated together. With a
    roster, a file whose student id is not on it is not graded.
    """
    opened = [_open(f, keys.secret, max_bytes, roster) for f in files]
    keys.prepare((item[0].sheet, item[1]) for item in opened if not isinstance(item, Report))
    reports = []
    for path, item in zip(files, opened):
        if not isinstance(item, Report):
            sub, variant = item
            try:
                item = _timed(grade_submission(sub, keys.key(sub.sheet, variant)), sub)
            except GradekitError as e:
                item = _failed(path, e, sub)
        reports.append(item)
    return reports


def grade_file(path: Path, keys: KeyCache, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """One file's report; every failure becomes Report.error, never an exception."""
    return grade_batch([path], keys, max_bytes)[0]


PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves

_worker: tuple[KeyCache, int, Roster | None] | None = None  # a worker's key cache, file size limit, roster


def _init_worker(extra: Mapping[str, Sheet], secret: bytes | None, max_bytes: int, roster: Roster | None) -> None:
    global _worker
    _worker = (KeyCache(sheet_lookup(extra), secret), max_bytes, roster)


def _grade_chunk(files: list[str]) -> list[transport.PackedReport]:
    assert _worker is not None
    keys, max_bytes, roster = _worker
    return transport.pack(grade_batch([Path(f) for f in files], keys, max_bytes, roster))


def grade_files(files: Sequence[Path | str], extra: Mapping[str, Sheet], secret: bytes | None,
                max_bytes: int = DEFAULT_MAX_BYTES, jobs: int = 1,
                roster: Roster | None = None) -> Iterator[list[Report]]:
    """Reports for files, in their order, a chunk at a time as the chunks are graded, so that a
    caller can write them out and let them go: memory stays flat however large the batch.

    Large batches are spread over `jobs` processes. Each worker keeps its own key cache, so it
    regenerates a variant once however many of its files share it (a class folder keeps one
    student's attempts together). Files travel as text (a Path costs several times more), and
    reports packed (gradekit.grading.transport), as they do from a worker process.
    """
    jobs = jobs if len(files) >= PARALLEL_MIN_FILES else 1
    names = [str(f) for f in files]
    for packed in parallel.run(_grade_chunk, parallel.chunks(names, jobs, largest=CHUNK_FILES), jobs, _init_worker,
                               (dict(extra), secret, max_bytes, dict(roster) if roster is not None else None)):
        yield transport.unpack(packed)


def _skipped(path: Path, reason: str) -> Report:
    return Report(path_text(path), error=f"skipped: {reason}")


def submission_files(paths: Iterable[Path]) -> tuple[list[str], list[Report]]:
    """Files to grade (folders expanded to their *.json), and reports for what is skipped unread.

    Named pipes, sockets and devices are never opened (reading one could hang or never end);
    a path given that does not exist is an InputFileError (exit code 2), before anything is graded.
    """
    files: list[str] = []
    skipped: list[Report] = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise InputFileError("no such file or folder", source=path) from None
        except OSError as e:
            raise InputFileError(f"cannot read: {e.strerror}", source=path) from None
        kind = file_kind(mode)
        if kind == "a folder":
            _expand(path, files, skipped)
        elif kind is not None:
            skipped.append(_skipped(path, f"{kind}, not a submission file (never read)"))
        else:
            files.append(str(path))
    return files, skipped


def _expand(folder: Path, files: list[str], skipped: list[Report]) -> None:
    # Names (plain strings), not DirEntry or Path objects: a folder of 100,000 files costs a third.
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise InputFileError(f"cannot read the folder: {e.strerror}", source=folder) from None
    base = str(folder)
    for name in names:
        path = os.path.join(base, name)
        try:
            kind = file_kind(os.stat(path).st_mode)  # follows a symbolic link to what it names
        except OSError:
            kind = "a broken link"
        if kind is None and name.lower().endswith(".json"):
            files.append(path)
        elif name.startswith("."):
            continue
        elif kind == "a folder":
            skipped.append(_skipped(Path(path), "a folder (folders inside folders are not searched)"))
        elif kind is None:
            skipped.append(_skipped(Path(path), "not a .json submission"))
        else:
            skipped.append(_skipped(Path(path), f"{kind}, not a submission file (never read)"))
