"""The grading policy: what earns credit, and which earlier mistakes a later answer may lean on.

One place for the rules (README: "How answers are graded"); `gradekit grade`, the Gradescope
autograder and every export that grades use them through gradekit.grading.grade.

`judge_problem` grades a whole problem: it judges the asked quantities in computing order (a later
answer may lean only on earlier ones that have been judged) and gives their results in the order
the problem asks them, each with the rule below that decided it (gradekit.grading.results.Rule).

1. **Right.** Every entry within its allowance of the key (gradekit.engine.margins: a unit in the
   sheet's last decimal plus what rounding the earlier values can propagate) -- unless the answer
   is MUCH_CLOSER to a catalogued mistake's value that lies inside the allowance yet further from
   the key than rounding explains (ProblemKey.mistakes_in_margin): then it is that mistake.
   An answer off the key but right on the student's own inputs, worked out the sheet's way or
   any other valid way (Op.formulations), is right too.
2. **Follow-through** ("error carried forward"). An answer that is wrong against the key earns
   follow-through credit when all of these hold:
   a. it is right given the student's own earlier values: its step is recomputed from the
      student's written answers, carried through every intermediate the sheet does not ask
      (the student computed those too: the student's *world*);
   b. some input it uses is wrong (otherwise the key is the reference), and every wrong input
      is *credible*: itself follow-through, or a plausible attempt (3);
   c. the error did not make the problem easier: neither a wrong input nor the recomputed
      value is *trivial* where the key is not (4). A recomputed value may be trivial when every
      error it comes from is a named mistake: that needs the work, and the instance's own
      numbers (a transposed softmax gradient sums to 0) made it so, not the student.
   A missing or invalid input breaks the chain: nothing downstream of it earns follow-through.
3. **A plausible attempt** is the first wrong answer of a chain that is one of
   - a named mistake (gradekit.grading.diagnose recognizes it, on the key's values or on the student's);
   - a slip: at least half of its entries right, the others wrong (against the value its own
     inputs give);
   - a value of the right magnitude: closer to the value its inputs give than 0 is (a single
     number may also be off by DIGIT_SLIP);
   and is not trivial itself. Only one such unexplained error (a slip or a value of the right
   magnitude, not a named mistake) may start a chain of credit in a problem: with two or more,
   none does, since the numbers are then not the student's own work (a classmate's variant, a
   guess).
   Anything else is wrong, and nothing later may lean on it.
4. **Trivial** (where the key is not): near zero (every entry below NEAR_ZERO times the key's
   largest), one number repeated in every entry, or a copy of a given value (of two or more
   entries: a single number equals some given one by chance too often). A named mistake is a
   plausible attempt even where it gives such a value (a ReLU mask that lets nothing through),
   unless the problem has two or more unexplained errors; a root whose own inputs are missing
   is not one: nothing shows that it was computed.
5. **Guessable answers need their work.** A right answer that could be guessed without any work
   (class labels; a key that is trivial itself: 0 within its margin, such as a gradient that is 0
   for a structural reason, one repeated number, or a given value) earns its points only when
   the answers it is computed from are there and are right or credible.
6. **Right by chance is not right.** A right answer computed from wrong answers that earn
   nothing (not credible, rule 3) is a coincidence or copied (a constant 1 that happens to be
   the loss): it earns nothing either. One computed from answers left blank still counts,
   unless it can be guessed (5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from gradekit.engine import margins as tolerance
from gradekit.engine.margins import close
from gradekit.engine.layout import from_rows, to_rows
from gradekit.engine.trace import Trace
from gradekit.grading.answers import Answers
from gradekit.grading.compare import Coerced, compare, shape_text
from gradekit.grading.diagnose import Diagnosis, diagnose
from gradekit.grading.results import QuantityResult, Rule, all_right, right
from gradekit.ops.base import Step
from gradekit.ops.mistakes import Mistake

if TYPE_CHECKING:
    from gradekit.keys.key import ProblemKey

NEAR_ZERO = 0.01  # "near zero": every entry below 1% of the key's largest
SLIP_SHARE = 0.5  # "a slip": at least half of the entries right
DIGIT_SLIP = 0.1  # a single number may be off by a digit in its first decimal and still be a slip


# --- what a value is -----------------------------------------------------------------------------


def trivial(value: np.ndarray, key: np.ndarray, allow: np.ndarray, given: Mapping[str, np.ndarray]) -> str | None:
    """Why `value` would make the problem easier where the key does not, or None."""
    v, k = np.asarray(value, dtype=float), np.asarray(key, dtype=float)
    scale = float(np.max(np.abs(k))) if k.size else 0.0
    if scale > float(np.max(allow)) and float(np.max(np.abs(v))) <= NEAR_ZERO * scale:
        return "near zero"
    if v.size > 1 and np.ptp(v) == 0 and np.ptp(k) > float(np.min(allow)):
        return "one number repeated in every entry"
    for name, g in given.items():
        g = np.asarray(g, dtype=float)
        if v.size > 1 and g.shape == v.shape and np.all(close(v, g, allow)) and not np.all(close(k, g, allow)):
            return f"a copy of the given {name}"
    return None


def right_magnitude(value: np.ndarray, expected: np.ndarray) -> bool:
    """Closer to the expected value than 0 is: |value - expected| <= |expected| (Frobenius norm),
    the same order of magnitude with most of it right. A single number may also be off by
    DIGIT_SLIP: it has no other entries to be right beside it, so a slip in it looks like this."""
    v, e = np.asarray(value, dtype=float), np.asarray(expected, dtype=float)
    if v.shape != e.shape:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        distance, size = float(np.linalg.norm(v - e)), float(np.linalg.norm(e))
    slack = DIGIT_SLIP if v.size == 1 else 0.0
    return bool(distance <= size + slack)


def slip(value: np.ndarray, expected: np.ndarray, allow: np.ndarray) -> bool:
    """Some entries right, the others wrong: at least SLIP_SHARE of them right."""
    if np.size(value) < 2 or np.shape(value) != np.shape(expected):
        return False
    right = close(value, expected, allow)
    return bool(SLIP_SHARE <= right.mean() < 1)


# --- a whole problem, in computing order ---------------------------------------------------------


def judge_problem(pk: ProblemKey, answers: Answers) -> tuple[QuantityResult, ...]:
    """Every asked quantity's result, in the order the problem asks them.

    They are judged in computing order, whatever that order: whether a later answer earns
    follow-through depends on how the earlier ones it uses were judged. Only a problem with an
    answer that is not right pays for the student's world (follow-through, diagnosis).
    """
    asked = pk.problem.asked
    inside = _mistakes_inside_margin(pk, answers)
    if answers.all_right(asked) and not inside:
        return _all_right(pk)
    world = _World.of(pk, answers.usable(), answers.correct)
    world.inside = inside
    wanted = set(asked)
    judged = {s.name: _judge_quantity(pk, s.name, answers, world) for s in pk.instance.trace.steps if s.name in wanted}
    return tuple(judged[q] for q in asked)


MUCH_CLOSER = 4.0  # an answer this many times closer to a mistake's value than to the key is that mistake


def _mistakes_inside_margin(pk: ProblemKey, answers: Answers) -> dict[str, Mistake]:
    """Right answers that are a catalogued mistake all the same (rule 1): within the margin of the
    key, but MUCH_CLOSER to a mistake's value that rounding cannot explain (ProblemKey.mistakes_in_margin)."""
    found: dict[str, Mistake] = {}
    for name, candidates in pk.mistakes_in_margin.items():
        if not answers.correct.get(name, False):
            continue
        answer = np.asarray(answers.get(name).value, dtype=float)
        off = float(np.max(np.abs(answer - np.asarray(pk.instance.trace[name], dtype=float))))
        for m in candidates:
            if off > 0 and MUCH_CLOSER * float(np.max(np.abs(answer - m.value))) <= off:
                found[name] = m
                break
    return found


def _all_right(pk: ProblemKey) -> tuple[QuantityResult, ...]:
    flat = pk.flat
    return all_right(flat.names, tuple(pk.points[q] for q in flat.names), flat.sizes)


def _judge_quantity(pk: ProblemKey, name: str, answers: Answers, world: _World) -> QuantityResult:
    """One asked quantity, after every quantity it is computed from."""
    trace, problem = pk.instance.trace, pk.problem
    answer, possible = answers.get(name), pk.points[name]
    size = int(np.size(trace[name]))
    if answer.value is None:
        return _unusable(pk, name, answer, possible, size)
    if name in world.inside:  # right within the margin, but the numbers are a mistake's (rule 1)
        m = world.inside[name]
        value, key = np.asarray(answer.value, dtype=float), np.asarray(trace[name], dtype=float)
        nearer = int(np.sum(np.abs(value - m.value) < np.abs(value - key)))
        return QuantityResult(name, "incorrect", 0.0, possible, "mistake_in_margin", 0.0, nearer, size, (m.id,),
                              m.message)
    if answers.correct[name]:
        guessable = name in pk.guessable
        missing_work = world.shows_work_for(name, guessable)  # rules 5, 6
        if missing_work is not None:
            rule: Rule = "guessable_without_work" if guessable else "coincidence"
            return QuantityResult(name, "incorrect", 0.0, possible, rule, entries=size, detail=missing_work)
        return right(name, possible, size)
    verdict = world.judge(name, answer.value)
    result = compare(answer.value, np.asarray(trace[name]), pk.allowance(name))
    wrong = result.wrong_entries
    if verdict.rule == "right_on_own_inputs":
        return QuantityResult(name, "correct", possible, possible, verdict.rule, 1.0, wrong, size, detail=verdict.detail)
    ids, words = (verdict.diagnosis.ids, verdict.diagnosis.words) if verdict.diagnosis else ((), "")
    if verdict.follow > 0:
        earned = possible * problem.grading.follow_through * verdict.follow
        return QuantityResult(name, "follow-through", earned, possible, verdict.rule, verdict.follow, wrong, size,
                              ids, words, verdict.detail)
    earned = possible * result.fraction if problem.grading.partial_credit else 0.0
    return QuantityResult(name, "incorrect", earned, possible, verdict.rule, 0.0, wrong, size, ids, words,
                          verdict.detail)


def _unusable(pk: ProblemKey, name: str, answer: Coerced, possible: float, size: int) -> QuantityResult:
    """A missing answer, or one that is not numbers of the right shape (named when its numbers are a
    known mistake, a transposed matrix say)."""
    if answer.problem == "missing":
        return QuantityResult(name, "missing", 0.0, possible, "missing", 0.0, size, size,
                              detail=shape_text(np.shape(pk.instance.trace[name])))
    diagnosis = diagnose(pk.problem, pk.instance.trace, name, answer.raw, pk.allowance(name))
    ids, words = (diagnosis.ids, diagnosis.words) if diagnosis else ((), "")
    return QuantityResult(name, "invalid", 0.0, possible, "invalid", 0.0, size, size, ids, words, answer.problem)


# --- the student's world -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """How a wrong answer is graded: the rule that decided, its follow-through share (0 for none),
    why no follow-through (rules 2b, 2c), and the mistake it is when one is recognized."""

    rule: Rule
    follow: float = 0.0
    detail: str = ""
    diagnosis: Diagnosis | None = None


@dataclass
class _World:
    """A problem's values as the student has them: their written answers where usable, every
    other computed value recomputed from those (in computing order), given values as given.

    Built once per problem with an answer that is not right, and private to judge_problem, which
    owns the order. Building it finds the *roots*: wrong answers that do not follow from the
    student's own inputs, each with the mistake it is when one is recognized. Answers are then
    judged in computing order (`judge`), and each judgement decides whether later answers may
    lean on that one (`credible`).
    """

    pk: ProblemKey
    values: dict[str, np.ndarray]  # rows layout, as the engine computes; unknown names are left out
    written: frozenset[str]  # asked quantities answered with usable numbers
    unknown: frozenset[str]  # missing or invalid, and everything computed from them
    wrong: set[str] = field(default_factory=set)  # wrong answers and the values computed from them
    roots: dict[str, Diagnosis | None] = field(default_factory=dict)  # wrong, not from its inputs -> mistake
    right_on_inputs: set[str] = field(default_factory=set)  # off the key, but done right on right inputs
    credible: dict[str, bool] = field(default_factory=dict)  # may a later answer lean on this wrong value
    why_not: dict[str, str] = field(default_factory=dict)  # why a wrong value is not credible
    unearned: dict[str, str] = field(default_factory=dict)  # right guessable answers without their work
    # How an answer that follows from the student's inputs was worked out: the sheet's own step, or
    # another valid formulation of it (Op.formulations: the sigmoid's derivative from Z, ...).
    form: dict[str, Step] = field(default_factory=dict)
    inside: dict[str, Mistake] = field(default_factory=dict)  # right answers that are a mistake inside the margin
    _bounds: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # rounding bounds of redone steps
    _trace: Trace | None = None

    @classmethod
    def of(cls, pk: ProblemKey, answers: Mapping[str, np.ndarray], correct: Mapping[str, bool]) -> _World:
        """The world of `answers` (usable values by name, in the problem's layout: they enter here,
        and are taken to the rows layout the engine computes in); `correct` says which are right
        against the key."""
        trace, asked = pk.instance.trace, set(pk.problem.asked)
        answers = {n: to_rows(np.asarray(v, dtype=float), trace.layout) for n, v in answers.items()}
        values: dict[str, np.ndarray] = {}
        unknown: set[str] = set()
        for step in trace.steps:
            name = step.name
            if step.compute is None:
                values[name] = trace.rows[name]
            elif name in asked:
                if name in answers:
                    values[name] = answers[name]
                else:
                    unknown.add(name)
            elif any(d in unknown for d in step.deps):
                unknown.add(name)
            else:
                with np.errstate(all="ignore"):
                    try:
                        values[name] = step.evaluate(values)
                    except (ValueError, FloatingPointError):
                        unknown.add(name)
        world = cls(pk, values, frozenset(n for n in answers if n in asked), frozenset(unknown))
        world._find_roots(correct)
        return world

    def _find_roots(self, correct: Mapping[str, bool]) -> None:
        """Which values are wrong, and which wrong answers do not follow from their inputs."""
        pk = self.pk
        asked = set(pk.problem.asked)
        for step in pk.instance.trace.steps:
            name = step.name
            if step.compute is None or name in self.unknown:
                continue
            if name not in asked:
                if any(d in self.wrong for d in step.deps):
                    self.wrong.add(name)
                continue
            if correct.get(name, False):
                continue
            way = self._way(name)
            follows = way is not None
            if follows:
                self.form[name] = way
            inputs_wrong = any(d in self.wrong for d in (way or step).deps)
            expected = self.expected(name)
            if follows and not inputs_wrong:
                # Inputs within their allowance and this step done right on them: the allowances of
                # the inputs and of this answer only disagree at their edges (an input cut off, not rounded).
                self.right_on_inputs.add(name)
                continue
            self.wrong.add(name)
            if not follows:
                self.roots[name] = self._mistake(name, expected, inputs_wrong)

    def _mistake(self, name: str, expected: np.ndarray | None, inputs_wrong: bool) -> Diagnosis | None:
        """The catalogued mistake a root is, on the key's values or else on the student's own."""
        pk, answer = self.pk, self.values[name]
        layout = pk.instance.trace.layout
        diagnosis = diagnose(pk.problem, pk.instance.trace, name, from_rows(answer, layout), pk.allowance(name))
        if diagnosis is None and expected is not None and inputs_wrong:
            diagnosis = diagnose(pk.problem, self.trace(), name, from_rows(answer, layout),
                                 from_rows(self.allowance(name), layout), on_own_values=True)
        return diagnosis

    # -- what grading asks of the world --

    def ways(self, name: str) -> tuple[Step, ...]:
        """The valid ways to work a step out: the sheet's own, then each formulation its op knows."""
        step = self.pk.instance.trace.step(name)
        forms = step.op.formulations(step) if step.op is not None else ()
        return (step, *(f.as_step(step) for f in forms))

    def _way(self, name: str) -> Step | None:
        """The first valid way of working `name` out under which the student's answer is right on
        their own inputs (within the rounding its unasked inputs carry), or None."""
        answer = self.values[name]
        for way in self.ways(name):
            expected = self.expected(name, way)
            if expected is not None and bool(np.all(close(answer, expected, self.allowance(name, way)))):
                return way
        return None

    def _deps(self, name: str) -> tuple[str, ...]:
        """What an answer was worked out from: the inputs of the way it follows, else the sheet's."""
        way = self.form.get(name)
        return way.deps if way is not None else self.pk.instance.trace.step(name).deps

    def expected(self, name: str, way: Step | None = None) -> np.ndarray | None:
        """The value `name`'s step (or another `way` of working it out) gives on the student's own
        inputs, or None when one is unknown."""
        step = way or self.form.get(name) or self.pk.instance.trace.step(name)
        if any(d in self.unknown for d in step.deps):
            return None
        with np.errstate(all="ignore"):
            try:
                value = step.evaluate(self.values)
            except (ValueError, FloatingPointError):
                return None
        return value if np.all(np.isfinite(value)) else None

    def allowance(self, name: str, way: Step | None = None) -> np.ndarray:
        """How far an answer may be from its step redone on the student's own written values: a
        unit in the last decimal plus the rounding of the unasked intermediates in between."""
        return tolerance.allowance_from_bound(self._bound(name, way)[0], self.pk.problem.decimals)

    def _bound(self, name: str, way: Step | None = None) -> np.ndarray:
        """The rounding bound of a step (worked out the sheet's way, or `way`) redone on the
        student's values (rows layout, a stack of one); only the unasked intermediates it depends
        on are worked out, once each."""
        step = way or self.form.get(name) or self.pk.instance.trace.step(name)
        if (name, step.role) not in self._bounds:
            h = tolerance.half_unit(self.pk.problem.decimals)
            redone = self.values.get(name) if name not in self.written else self.expected(name, step)
            if redone is None:  # an input is unknown: nothing is compared with this step anyway
                self._bounds[name, step.role] = np.full((1, *np.shape(self.pk.instance.trace.rows[name])), h)
                return self._bounds[name, step.role]
            carried = {d: self._bound(d) for d in step.deps if self._rounded(d)}
            values = {d: np.asarray(self.values[d], dtype=float)[None] for d in step.deps}  # a stack of one
            values[name] = np.asarray(redone, dtype=float)[None]
            with np.errstate(all="ignore"):
                self._bounds[name, step.role] = tolerance.step_bound(step, values, carried, h)
        return self._bounds[name, step.role]

    def _rounded(self, name: str) -> bool:
        """Whether a value carries rounding into the steps that use it: an unasked intermediate the
        student computed by hand (given values and written answers are taken exactly as they are)."""
        step = self.pk.instance.trace.step(name)
        return step.compute is not None and name not in self.written and name in self.values

    def key_allowance(self, name: str) -> np.ndarray:
        """The key's allowance of a quantity, in the rows layout the world computes in."""
        return to_rows(np.asarray(self.pk.allowance(name), dtype=float), self.pk.instance.trace.layout)

    @property
    def given(self) -> dict[str, np.ndarray]:
        """The given values, in the rows layout."""
        rows = self.pk.instance.trace.rows
        return {n: rows[n] for n in self.pk.instance.given}

    def trace(self) -> Trace:
        """The student's world as a trace (the key's values where the student's are unknown), so
        that mistakes can be recognized on the student's own numbers."""
        if self._trace is None:
            key = self.pk.instance.trace
            self._trace = Trace(key.layout, key.steps, {n: self.values.get(n, key.rows[n]) for n in key.names})
        return self._trace

    def unexplained(self) -> list[str]:
        """The roots that match no catalogued mistake."""
        return [n for n, diagnosis in self.roots.items() if diagnosis is None]

    # -- judging, in computing order --

    def judge(self, name: str, answer: np.ndarray) -> _Verdict:
        """Grade an answer (in the problem's layout) that is wrong against the key: follow-through,
        or why not, and its mistake."""
        answer = to_rows(np.asarray(answer, dtype=float), self.pk.instance.trace.layout)
        if name in self.right_on_inputs:
            return _Verdict("right_on_own_inputs", 1.0, self._worked_as(name))
        pk = self.pk
        wrong_inputs = [d for d in self._deps(name) if d in self.wrong]
        expected = self.expected(name)
        if name not in self.roots:  # right given the student's own (wrong) inputs
            refused = self._refusal(name, expected, wrong_inputs)
            if refused is None:
                self.credible[name] = True
                return _Verdict("follow_through", 1.0, self._worked_as(name))
            self._not_credible(name, "earns no follow-through itself")
            return _Verdict(refused[0], 0.0, refused[1])
        diagnosis = self.roots[name]
        rule = self._judge_root(name, answer, expected if expected is not None else pk.instance.trace.rows[name], diagnosis)
        if expected is not None and wrong_inputs and pk.problem.grading.partial_credit:
            share = float(np.mean(close(answer, expected, self.allowance(name))))
            if share > 0 and self._refusal(name, expected, wrong_inputs) is None:
                self.why_not.setdefault(name, "only partly right given your earlier answers")
                return _Verdict("partial_follow_through", share, "", diagnosis)
        return _Verdict(rule, 0.0, "", diagnosis)

    def _worked_as(self, name: str) -> str:
        """The valid formulation an answer was recognized under, in words, when it is not the sheet's."""
        way = self.form.get(name)
        return way.description if way is not None and way.op is not None and ":" in way.role else ""

    def shows_work_for(self, name: str, guessable: bool) -> str | None:
        """For a right answer: why the work behind it is not there, or None when it is (rules 5, 6).

        Every answer must not stand on wrong answers that earn nothing (it would be right by
        chance, or copied); one that can be guessed must also not stand on missing ones. Unasked
        intermediates are looked through to the answers they come from.
        """
        reason = self._missing_work(name, guessable, set())
        if reason is not None:
            self.unearned[name] = reason
        return reason

    def _missing_work(self, name: str, guessable: bool, seen: set[str]) -> str | None:
        asked = self.pk.problem.asked
        for d in self._deps(name):
            if d in seen or d in self.pk.instance.given:
                continue
            seen.add(d)
            if guessable and d in self.unknown and d in asked:
                return f"your {d} is missing or invalid"
            if guessable and d in self.unearned:
                return f"your {d} is unearned too"
            if d in self.wrong and not self._credible(d):
                return f"your {d} is wrong and {self.why_not.get(d, 'earns nothing')}"
            if d not in asked:
                reason = self._missing_work(d, guessable, seen)
                if reason is not None:
                    return reason
        return None

    def _refusal(self, name: str, expected: np.ndarray | None, wrong_inputs: list[str]) -> tuple[Rule, str] | None:
        """Why an answer right on the student's own inputs earns nothing (rules 2b, 2c), or None."""
        for d in wrong_inputs:
            if not self._credible(d):
                return "not_credible", f"your {d} is wrong and {self.why_not.get(d, 'is not a plausible attempt')}"
        pk = self.pk
        if expected is not None and not all(self._from_named(d) for d in wrong_inputs):
            why = trivial(expected, pk.instance.trace.rows[name], self.key_allowance(name), self.given)
            if why is not None:
                return "made_trivial", f"with your earlier values this step becomes trivial ({why})"
        return None

    def _judge_root(self, name: str, answer: np.ndarray, expected: np.ndarray, diagnosis: Diagnosis | None) -> Rule:
        """Whether a wrong answer that does not follow from its inputs is a plausible attempt (rule 3),
        and the rule that says so."""
        pk = self.pk
        allow = self.key_allowance(name)
        why = trivial(answer, pk.instance.trace.rows[name], allow, self.given)
        unexplained = self.unexplained()
        missing = next((d for d in pk.instance.trace.step(name).deps if d in self.unknown), None)
        if missing is not None:
            self._not_credible(name, f"comes without your {missing}, which it is computed from")
            return "without_inputs"
        if len(unexplained) > 1 and (diagnosis is None or why is not None):
            # One unexplained error is a slip; several are not the student's own numbers (a
            # classmate's variant, a guess), and each would otherwise start a chain of credit.
            others = ", ".join(n for n in unexplained if n != name)
            self._not_credible(name, f"{'is ' + why + ' and ' if why else ''}is one of {len(unexplained)} errors "
                                     f"that match no known mistake (also {others})")
            return "unexplained_errors"
        if diagnosis is not None:
            self.credible[name] = True  # a named mistake is work, even where it gives 0 (a dead ReLU mask)
            return "named_mistake"
        if why is not None:
            self._not_credible(name, f"is {why}")
            return "trivial"
        if slip(answer, expected, allow):
            self.credible[name] = True
            return "slip"
        if right_magnitude(answer, expected):
            self.credible[name] = True
            return "right_magnitude"
        self._not_credible(name, "is not a plausible attempt (no known mistake, not a slip in a few "
                                 "entries, not of the right magnitude)")
        return "implausible"

    def _credible(self, name: str) -> bool:
        """Whether a wrong value may be leaned on: judged for answers; for an unasked intermediate,
        when every wrong value it is computed from is, and it is not trivial itself."""
        if name in self.credible:
            return self.credible[name]
        trace = self.pk.instance.trace
        blocked = next((d for d in self._deps(name) if d in self.wrong and not self._credible(d)), None)
        if blocked is not None:
            self._not_credible(name, f"comes from your {blocked}, which {self.why_not.get(blocked, 'earns nothing')}")
            return False
        why = trivial(self.values[name], trace.rows[name], np.full(np.shape(trace.rows[name]), 1e-12), self.given)
        if why is not None and not self._from_named(name):
            self._not_credible(name, f"is {why} with your values")
            return False
        self.credible[name] = True
        return True

    def _from_named(self, name: str) -> bool:
        """Whether every error a wrong value comes from is a named mistake (rule 2c)."""
        if name in self.roots:
            return self.roots[name] is not None
        return all(self._from_named(d) for d in self._deps(name) if d in self.wrong)

    def _not_credible(self, name: str, why: str) -> None:
        self.credible[name] = False
        self.why_not[name] = why
