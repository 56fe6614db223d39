"""What grading gives back, as data: a quantity's status, points and the rule that decided them.

Every report (text, JSON, CSV and its item analysis, Gradescope, PrairieLearn) renders these
fields; none reads the feedback words back. The feedback is itself only a rendering of the
fields (`feedback_text`), so rewording it changes no score, status or Gradescope line.

These are the public types: plain frozen dataclasses. Batches send them between processes in a
compact form of their own (gradekit.grading.transport), converted back at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, get_args

Status = Literal["correct", "follow-through", "incorrect", "missing", "invalid"]
STATUSES: tuple[Status, ...] = get_args(Status)

# Which rule of the grading policy decided a quantity's grade (gradekit.grading.policy's docstring
# numbers them). A wrong answer that starts a chain (a "root") is graded by whether later answers
# may lean on it (rules 3 and 4); one that follows from the student's earlier answers by whether
# those earn follow-through (rule 2).
Rule = Literal[
    "right",  # 1: every entry within its allowance of the key
    "right_on_own_inputs",  # 1: off the key at the edge of its allowance, but done right on right inputs
    "mistake_in_margin",  # 1: within the allowance, but much closer to a catalogued mistake rounding cannot explain
    "follow_through",  # 2: wrong against the key, right given the student's credible earlier answers
    "partial_follow_through",  # 2 with partial credit: some entries right given credible earlier answers
    "not_credible",  # 2b: right given earlier answers, but one of them is wrong and earns nothing
    "made_trivial",  # 2c: right given earlier answers, but they made the step trivial
    "named_mistake",  # 3: wrong, a catalogued mistake: a plausible attempt
    "slip",  # 3: wrong in a few entries (at least half right): a plausible attempt
    "right_magnitude",  # 3: wrong, but of the right magnitude: a plausible attempt
    "implausible",  # 3: wrong, and not a plausible attempt
    "unexplained_errors",  # 3: wrong, one of two or more errors that match no known mistake
    "trivial",  # 4: wrong, and trivial where the key is not (near zero, one number, a given value)
    "without_inputs",  # 2, 4: wrong, and an answer it is computed from is missing or invalid
    "guessable_without_work",  # 5: right, but guessable, and the answers it needs are not there
    "coincidence",  # 6: right, but computed from wrong answers that earn nothing
    "missing",  # no answer
    "invalid",  # not numbers, NaN or Infinity, or the wrong shape
]
RULES: tuple[Rule, ...] = get_args(Rule)

PLAUSIBLE: frozenset[Rule] = frozenset({"named_mistake", "slip", "right_magnitude"})  # rule 3: may be leaned on
REFUSED: frozenset[Rule] = frozenset({"not_credible", "made_trivial"})  # rule 2: right on own inputs, no credit


@dataclass(frozen=True, slots=True)
class QuantityResult:
    """One asked quantity's grade.

    `detail` holds the particulars the words need, by rule: the expected shape of a missing
    answer, why an invalid one could not be read, why no follow-through was given (rules 2b, 2c),
    what work a right answer lacks (rules 5, 6), or for an answer right on the student's own
    earlier answers the valid formulation it was recognized under when it is not the sheet's
    ("the sigmoid's derivative from Z, ..."); "" otherwise.
    """

    name: str
    status: Status
    points: float
    possible: float
    rule: Rule
    follow: float = 0.0  # share of the entries right given the student's earlier answers (follow-through)
    wrong: int = 0  # entries not within their margin of the key (all of them, for a missing or invalid answer)
    entries: int = 1  # entries of the quantity
    mistake_ids: tuple[str, ...] = ()  # the catalogued mistakes the answer's numbers match (gradekit.ops.mistakes)
    mistake: str = ""  # the same in words ("" when none is named)
    detail: str = ""

    @property
    def passed(self) -> bool:
        """Whether the answer earns its credit: right, or right given the student's earlier answers."""
        return self.status in ("correct", "follow-through")

    @property
    def feedback(self) -> str:
        return feedback_text(self)


@dataclass(frozen=True, slots=True)
class ProblemResult:
    """One problem's grade: its quantities in the order the problem asks them, and their totals."""

    id: str
    title: str
    quantities: tuple[QuantityResult, ...]
    notes: tuple[str, ...] = ()
    points: float = field(init=False, repr=False, compare=False)
    possible: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Added up once: every report asks for them, several times per problem.
        object.__setattr__(self, "points", sum([q.points for q in self.quantities]))
        object.__setattr__(self, "possible", sum([q.possible for q in self.quantities]))


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


def right(name: str, possible: float, entries: int) -> QuantityResult:
    """The result of an answer right against the key (rule 1)."""
    return QuantityResult(name, "correct", possible, possible, "right", entries=entries)


@lru_cache(maxsize=1024)
def all_right(names: tuple[str, ...], possible: tuple[float, ...],
              entries: tuple[int, ...]) -> tuple[QuantityResult, ...]:
    """The results of a problem answered right throughout. They are the same for every such
    submission, and values: a batch makes them once per problem, not once per submission."""
    return tuple(map(right, names, possible, entries))


# --- the feedback: words rendered from the fields ---------------------------------------------------

RIGHT = "correct"
RIGHT_ON_OWN_INPUTS = "correct (right on your own earlier answers)"
FOLLOW_THROUGH = "wrong against the key, but right given your earlier answers (follow-through credit)"
IN_MARGIN = ("within the margin of the key, but your numbers are those of a known mistake ({like} of {entries} "
             "entries nearer it than the key): {mistake}")
WORKED_AS = "; worked out with {way}, which is right too"
PARTLY_FOLLOWS = "{share:.0%} of the entries follow from your earlier answers"
NO_ANSWER = "no answer (expected {shape})"
NO_FOLLOW_THROUGH = "right given your earlier answers, but they earn no follow-through: {why}"
GUESSABLE = "right, but it can be guessed without work: {why}"
COINCIDENCE = "right, but not from your own work: {why}"


def entries_wrong(q: QuantityResult) -> str:
    """The wrong entries in words: "3 of 4 entries wrong", or "wrong" for a single number."""
    return f"{q.wrong} of {q.entries} entries wrong" if q.entries > 1 else "wrong"


def feedback_text(q: QuantityResult) -> str:
    """The grade report's words for a quantity: what its rule decided, with its particulars."""
    rule = q.rule
    if rule == "right":
        return RIGHT
    if rule == "right_on_own_inputs":
        return RIGHT_ON_OWN_INPUTS + (WORKED_AS.format(way=q.detail) if q.detail else "")
    if rule == "follow_through":
        return FOLLOW_THROUGH + (WORKED_AS.format(way=q.detail) if q.detail else "")
    if rule == "partial_follow_through":
        return PARTLY_FOLLOWS.format(share=q.follow)
    if rule == "mistake_in_margin":
        return IN_MARGIN.format(like=q.wrong, entries=q.entries, mistake=q.mistake)
    if rule == "missing":
        return NO_ANSWER.format(shape=q.detail)
    if rule == "invalid":
        return q.detail + (f"; {q.mistake}" if q.mistake else "")
    if rule == "guessable_without_work":
        return GUESSABLE.format(why=q.detail)
    if rule == "coincidence":
        return COINCIDENCE.format(why=q.detail)
    text = entries_wrong(q) + (f": {q.mistake}" if q.mistake else "")
    return text + (f"; {NO_FOLLOW_THROUGH.format(why=q.detail)}" if rule in REFUSED else "")
