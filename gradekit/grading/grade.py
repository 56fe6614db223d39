"""Grade submissions against regenerated keys: status, points and feedback per quantity.

For every asked quantity: `correct` within its allowance (gradekit.engine.margins); `follow-through`
when it is wrong against the key but right given the student's own earlier answers, under the
rules of gradekit.grading.policy; `incorrect`, with a named mistake when one is recognized; `missing`;
`invalid` (not numbers, or the wrong shape).
A file that cannot be graded at all becomes a report with its reason; nothing raises.
"""

from __future__ import annotations

import os
from array import array
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from gradekit.util import parallel
from gradekit.grading.compare import NON_FINITE, Coerced, coerce, compare, shape_text
from gradekit.grading.diagnose import diagnose
from gradekit.util.errors import GradekitError, InputFileError, SubmissionError
from gradekit.keys.key import AnswerKey, ProblemKey, make_key, make_keys
from gradekit.grading.policy import World
from gradekit.spec.reader import resolve_builtin
from gradekit.model.problem import Sheet
from gradekit.grading.submission import DEFAULT_MAX_BYTES, Submission, file_kind, load, quoted
from gradekit.util.untrusted import path_text
from gradekit.sampling.variants import Variant

STATUSES = ("correct", "follow-through", "incorrect", "missing", "invalid")


class QuantityResult(NamedTuple):
    """One asked quantity's grade. A NamedTuple rather than a dataclass: a batch sends hundreds of
    thousands of them between processes, and a tuple pickles and unpickles several times faster."""

    name: str
    status: str
    points: float
    possible: float
    feedback: str
    mistake: str = ""  # the named mistake alone (also in feedback), for item analysis and student words


@dataclass(frozen=True, slots=True)
class ProblemResult:
    """One problem's grade, its quantities kept by column (`quantities` gives them back as
    QuantityResult values): a batch of 10,000 submissions holds and sends 700,000 quantity
    results, and columns take a third of the memory of one object each, and pickle faster."""

    id: str
    title: str
    names: tuple[str, ...]
    statuses: tuple[str, ...]
    scores: array  # points earned and possible, interleaved: two doubles per quantity
    feedback: tuple[str, ...]
    notes: tuple[str, ...] = ()
    mistakes: tuple[str, ...] = ()  # per quantity, "" where none is named

    @classmethod
    def of(cls, id: str, title: str, quantities: Sequence[QuantityResult], notes: tuple[str, ...] = ()) -> ProblemResult:
        return cls(id, title, tuple(q.name for q in quantities), tuple(q.status for q in quantities),
                   array("d", [x for q in quantities for x in (q.points, q.possible)]),
                   tuple(q.feedback for q in quantities), notes, tuple(q.mistake for q in quantities))

    @property
    def quantities(self) -> tuple[QuantityResult, ...]:
        s = self.scores
        mistakes = self.mistakes or ("",) * len(self.names)
        return tuple(map(QuantityResult, self.names, self.statuses, s[0::2], s[1::2], self.feedback, mistakes))

    @property
    def points(self) -> float:
        return sum(self.scores[0::2])

    @property
    def possible(self) -> float:
        return sum(self.scores[1::2])


@dataclass(frozen=True, slots=True)
class Report:
    """The grade of one submission file, or why it could not be graded (error).

    Every text field is safe to show as it is: ids and names were checked and the file name
    escaped where they entered (gradekit.util.untrusted). An ungraded file keeps its student id when
    it was read, so that a roster does not count that student as missing.
    """

    source: str
    student_id: str = ""
    student_name: str = ""
    sheet: str = ""
    variant: str = ""
    problems: tuple[ProblemResult, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    time: float = 0.0  # when it was handed in (POSIX seconds), for --keep latest|first
    time_from: str = ""  # "submitted" (the file's own field) or "file" (its modification time)

    @property
    def graded(self) -> bool:
        return self.error is None

    @property
    def points(self) -> float:
        return sum(p.points for p in self.problems)

    @property
    def possible(self) -> float:
        return sum(p.possible for p in self.problems)


# --- one problem ------------------------------------------------------------------------------


_NUMBER_TYPES = frozenset((float, int))  # exact types: bool is an int subclass and not a number here


def _exact_entries(raw: object, shape: tuple[int, ...]) -> list | None:
    """The numbers of an answer written exactly in the template's shape, flat; None otherwise.

    Plain Python on purpose: a submission has dozens of small answers, and making a NumPy
    array of each costs more than grading it. Anything unusual goes through compare.coerce.
    """
    if not shape:
        flat = [raw]
    elif type(raw) is not list or len(raw) != shape[0]:
        return None
    elif len(shape) == 1:
        flat = raw
    else:
        width = shape[1]
        flat = []
        for row in raw:
            if type(row) is not list or len(row) != width:
                return None
            flat += row
    # One C-level pass over the entries' types (a set of types), not a Python test per entry.
    return flat if _NUMBER_TYPES.issuperset(map(type, flat)) else None


@dataclass(frozen=True)
class _Answers:
    """A problem's answers, coerced, and whether each is right (computed at once)."""

    coerced: dict[str, Coerced]
    correct: dict[str, bool]  # equal to the key within its allowance

    def usable(self) -> dict[str, np.ndarray]:
        """The answers given as numbers of the right shape: the student's own values."""
        return {q: c.value for q, c in self.coerced.items() if c.value is not None}


def _answers(pk: ProblemKey, raw: Mapping[str, object]) -> _Answers:
    flat = pk.flat
    coerced: dict[str, Coerced] = {}
    included: list[int] = []  # the quantities answered with numbers, by index in flat.names
    numbers: list = []
    for i, (q, shape) in enumerate(zip(flat.names, flat.shapes)):
        entries = _exact_entries(raw.get(q), shape)
        if entries is None:
            coerced[q] = coerce(raw.get(q), shape)
            if coerced[q].value is None:
                continue
            entries = coerced[q].value.ravel().tolist()
        included.append(i)
        numbers += entries
    if not included:
        return _Answers(coerced, {})
    values = np.array(numbers, dtype=float)
    if len(included) == len(flat.names):  # the common case: the key's own layout, precomputed
        key, allow, starts = flat.values, flat.allow, list(flat.starts)
    else:
        where = np.concatenate([np.arange(flat.starts[i], flat.starts[i] + flat.sizes[i]) for i in included])
        key, allow = flat.values[where], flat.allow[where]
        starts = np.cumsum([0, *(flat.sizes[i] for i in included[:-1])]).tolist()
    with np.errstate(invalid="ignore"):  # NaN answers are simply not close
        ok = np.abs(values - key) <= allow
    # One reduction per property over all answers of the problem, not one NumPy call per answer.
    finite = np.logical_and.reduceat(np.isfinite(values), starts).tolist()
    right = np.logical_and.reduceat(ok, starts).tolist()
    correct: dict[str, bool] = {}
    for k, i in enumerate(included):
        q = flat.names[i]
        if not finite[k]:
            coerced[q] = Coerced(None, NON_FINITE)
            continue
        if q not in coerced:
            value = values[starts[k]:starts[k] + flat.sizes[i]].reshape(flat.shapes[i])
            coerced[q] = Coerced(value, raw=value)
        correct[q] = right[k]
    return _Answers(coerced, correct)


RIGHT_GIVEN_EARLIER = "wrong against the key, but right given your earlier answers (follow-through credit)"


def grade_quantity(pk: ProblemKey, name: str, answers: _Answers, world: World | None) -> QuantityResult:
    """One asked quantity. `world` is the student's own values (gradekit.grading.policy), built only when
    some answer of the problem is wrong; answers must be graded in computing order."""
    trace, problem = pk.instance.trace, pk.problem
    coerced = answers.coerced[name] if name in answers.coerced else _MISSING
    possible = pk.points[name]
    if coerced.value is None:
        if coerced.problem == "missing":
            return QuantityResult(name, "missing", 0.0, possible, f"no answer (expected {shape_text(trace[name].shape)})")
        mistake = diagnose(problem, trace, name, coerced.raw, pk.allowance(name))
        text = coerced.problem + (f"; {mistake}" if mistake else "")
        return QuantityResult(name, "invalid", 0.0, possible, text, mistake or "")
    if answers.correct[name]:
        if world is not None:
            guessable = name in pk.guessable
            missing_work = world.shows_work_for(name, guessable)
            if missing_work is not None:
                why = "it can be guessed without work" if guessable else "not from your own work"
                return QuantityResult(name, "incorrect", 0.0, possible, f"right, but {why}: {missing_work}")
        return QuantityResult(name, "correct", possible, possible, "correct")
    assert world is not None
    return _grade_wrong(pk, name, coerced.value, world)


def _grade_wrong(pk: ProblemKey, name: str, answer: np.ndarray, world: World) -> QuantityResult:
    """The slow path, for wrong answers only: follow-through, then a named mistake."""
    problem, possible = pk.problem, pk.points[name]
    verdict = world.judge(name, answer)
    if verdict.right:
        return QuantityResult(name, "correct", possible, possible, "correct (right on your own earlier answers)")
    if verdict.follow > 0:
        earned = possible * problem.grading.follow_through * verdict.follow
        text = RIGHT_GIVEN_EARLIER if verdict.follow == 1.0 else \
            f"{verdict.follow:.0%} of the entries follow from your earlier answers"
        return QuantityResult(name, "follow-through", earned, possible, text)
    result = compare(answer, np.asarray(pk.instance.trace[name]), pk.allowance(name))
    earned = possible * result.fraction if problem.grading.partial_credit else 0.0
    wrong = result.wrong_entries
    text = f"{wrong} of {result.correct.size} entries wrong" if result.correct.size > 1 else "wrong"
    if verdict.mistake:
        text += f": {verdict.mistake}"
    if verdict.feedback:
        text += f"; {verdict.feedback}"
    return QuantityResult(name, "incorrect", earned, possible, text, verdict.mistake or "")


_MISSING = Coerced(None, "missing")


def grade_problem(pk: ProblemKey, answers: Mapping[str, object]) -> ProblemResult:
    graded = _answers(pk, answers)
    asked = pk.problem.asked
    all_right = all(graded.correct.get(q, False) for q in asked)
    world = None if all_right else World.of(pk, graded.usable(), graded.correct)
    results = [grade_quantity(pk, q, graded, world) for q in asked]
    unknown = sorted(set(answers) - set(asked))
    notes = (f"ignored answers to quantities this problem does not ask: {', '.join(map(quoted, unknown))}",) \
        if unknown else ()
    return ProblemResult.of(pk.problem.id, pk.problem.title, results, notes)


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


def _grade_chunk(files: list[str]) -> list[Report]:
    assert _worker is not None
    keys, max_bytes, roster = _worker
    return grade_batch([Path(f) for f in files], keys, max_bytes, roster)


def grade_files(files: Sequence[Path | str], extra: Mapping[str, Sheet], secret: bytes | None,
                max_bytes: int = DEFAULT_MAX_BYTES, jobs: int = 1,
                roster: Roster | None = None) -> Iterator[list[Report]]:
    """Reports for files, in their order, a chunk at a time as the chunks are graded, so that a
    caller can write them out and let them go: memory stays flat however large the batch.

    Large batches are spread over `jobs` processes. Each worker keeps its own key cache, so it
    regenerates a variant once however many of its files share it (a class folder keeps one
    student's attempts together). Files travel as text (a Path costs several times more).
    """
    jobs = jobs if len(files) >= PARALLEL_MIN_FILES else 1
    names = [str(f) for f in files]
    yield from parallel.run(_grade_chunk, parallel.chunks(names, jobs, largest=CHUNK_FILES), jobs, _init_worker,
                            (dict(extra), secret, max_bytes, dict(roster) if roster is not None else None))


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
