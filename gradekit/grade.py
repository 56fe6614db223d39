"""Grade submissions against regenerated keys: status, points and feedback per quantity.

For every asked quantity: `correct` within its allowance (gradekit.tolerance); `follow-through`
when it is wrong against the key but right given the student's own earlier answers, under the
rules of gradekit.policy; `incorrect`, with a named mistake when one is recognized; `missing`;
`invalid` (not numbers, or the wrong shape).
A file that cannot be graded at all becomes a report with its reason; nothing raises.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from gradekit import parallel
from gradekit.compare import NON_FINITE, Coerced, coerce, compare, shape_text
from gradekit.diagnose import diagnose
from gradekit.errors import GradekitError, SubmissionError
from gradekit.key import AnswerKey, ProblemKey, make_key, make_keys
from gradekit.policy import World
from gradekit.spec import Sheet, resolve_builtin
from gradekit.submission import DEFAULT_MAX_BYTES, Submission, load, quoted
from gradekit.variants import Variant

STATUSES = ("correct", "follow-through", "incorrect", "missing", "invalid")


class QuantityResult(NamedTuple):
    """One asked quantity's grade. A NamedTuple rather than a dataclass: a batch sends hundreds of
    thousands of them between processes, and a tuple pickles and unpickles several times faster."""

    name: str
    status: str
    points: float
    possible: float
    feedback: str


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

    @classmethod
    def of(cls, id: str, title: str, quantities: Sequence[QuantityResult], notes: tuple[str, ...] = ()) -> ProblemResult:
        return cls(id, title, tuple(q.name for q in quantities), tuple(q.status for q in quantities),
                   array("d", [x for q in quantities for x in (q.points, q.possible)]),
                   tuple(q.feedback for q in quantities), notes)

    @property
    def quantities(self) -> tuple[QuantityResult, ...]:
        s = self.scores
        return tuple(map(QuantityResult, self.names, self.statuses, s[0::2], s[1::2], self.feedback))

    @property
    def points(self) -> float:
        return sum(self.scores[0::2])

    @property
    def possible(self) -> float:
        return sum(self.scores[1::2])


@dataclass(frozen=True, slots=True)
class Report:
    """The grade of one submission file, or why it could not be graded (error)."""

    source: str
    student_id: str = ""
    student_name: str = ""
    sheet: str = ""
    variant: str = ""
    problems: tuple[ProblemResult, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None

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
    """One asked quantity. `world` is the student's own values (gradekit.policy), built only when
    some answer of the problem is wrong; answers must be graded in computing order."""
    trace, problem = pk.instance.trace, pk.problem
    coerced = answers.coerced[name] if name in answers.coerced else _MISSING
    possible = pk.points[name]
    if coerced.value is None:
        if coerced.problem == "missing":
            return QuantityResult(name, "missing", 0.0, possible, f"no answer (expected {shape_text(trace[name].shape)})")
        mistake = diagnose(problem, trace, name, coerced.raw, pk.allowance(name))
        text = coerced.problem + (f"; {mistake}" if mistake else "")
        return QuantityResult(name, "invalid", 0.0, possible, text)
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
    return QuantityResult(name, "incorrect", earned, possible, text)


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


def _failed(path: Path, error: GradekitError) -> Report:
    return Report(str(path), error=" ".join(error.message.split()))  # one line, whatever it quotes


def _open(path: Path, secret: bytes | None, max_bytes: int) -> tuple[Submission, Variant] | Report:
    """A submission and the variant to grade it against, or the report of why it cannot be graded."""
    try:
        sub = load(path, max_bytes)
        return sub, variant_for(sub, secret)
    except GradekitError as e:
        return _failed(path, e)


def grade_batch(files: Sequence[Path], keys: KeyCache, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Report]:
    """Reports for files, in order; every failure becomes Report.error, never an exception.

    All files are read first, so that the keys they need are regenerated together.
    """
    opened = [_open(f, keys.secret, max_bytes) for f in files]
    keys.prepare((item[0].sheet, item[1]) for item in opened if not isinstance(item, Report))
    reports = []
    for path, item in zip(files, opened):
        if not isinstance(item, Report):
            sub, variant = item
            try:
                item = grade_submission(sub, keys.key(sub.sheet, variant))
            except GradekitError as e:
                item = _failed(path, e)
        reports.append(item)
    return reports


def grade_file(path: Path, keys: KeyCache, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """One file's report; every failure becomes Report.error, never an exception."""
    return grade_batch([path], keys, max_bytes)[0]


PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves

_worker: tuple[KeyCache, int] | None = None  # a worker's key cache and the size limit of a file


def _init_worker(extra: Mapping[str, Sheet], secret: bytes | None, max_bytes: int) -> None:
    global _worker
    _worker = (KeyCache(sheet_lookup(extra), secret), max_bytes)


def _grade_chunk(files: list[Path]) -> list[Report]:
    assert _worker is not None
    keys, max_bytes = _worker
    return grade_batch(files, keys, max_bytes)


def grade_files(files: list[Path], extra: Mapping[str, Sheet], secret: bytes | None,
                max_bytes: int = DEFAULT_MAX_BYTES, jobs: int = 1) -> list[Report]:
    """Reports for files, in their order; large batches are spread over `jobs` processes.

    Each worker keeps its own key cache, so it regenerates a variant once however many of its
    files share it (a class folder keeps one student's attempts together).
    """
    jobs = jobs if len(files) >= PARALLEL_MIN_FILES else 1
    parts = parallel.run(_grade_chunk, parallel.chunks(files, jobs, largest=CHUNK_FILES), jobs, _init_worker,
                         (dict(extra), secret, max_bytes))
    return [r for part in parts for r in part]


def submission_files(paths: Iterable[Path]) -> tuple[list[Path], list[Report]]:
    """Files to grade (folders expanded to their *.json), and reports for what cannot be read."""
    files: list[Path] = []
    skipped: list[Report] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and child.suffix.lower() == ".json":
                    files.append(child)
                elif not child.name.startswith("."):
                    skipped.append(Report(str(child), error="skipped: not a .json submission"))
        else:
            files.append(path)
    return files, skipped
