"""One test per rule of the grading policy (gradekit.grading.policy's docstring, README "How answers
are graded"): a concrete submission on a built-in problem, and the status, points and `rule` of the
quantities the rule decides (with the named mistakes' ids where there are some)."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import pytest

from gradekit.grading.grade import grade_problem
from gradekit.grading.policy import trivial
from gradekit.grading.results import QuantityResult
from gradekit.keys.key import AnswerKey, ProblemKey, make_key
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import builtin_problem_paths, load_problem, single_problem_sheet
from grading_helpers import key_for, student_values

Changes = dict[str, Callable[[dict], np.ndarray]]
RELU = "relu-softmax-rows"  # Z1, A1, Z2, A2, loss, dZ2, dW2, db2, dA1, dZ1, dW1, db1; 4 samples, 3 classes


def sheet_of(pid: str, seed: int, spec_tail: str = "", write_toml=None) -> AnswerKey:  # noqa: ANN001
    """The key of one built-in problem, or of its spec with `spec_tail` appended."""
    if not spec_tail:
        return key_for(pid, seed)
    path = write_toml(builtin_problem_paths()[pid].read_text() + spec_tail, f"{pid}.toml")
    return make_key(single_problem_sheet(load_problem(path)), Variant(seed=seed))


def answers_of(key: AnswerKey, changes: Changes | None = None, drop: tuple[str, ...] = ()) -> dict[str, object]:
    """A student who works every step in order from their own values, with `changes` done wrong
    (later steps follow from them) and `drop` left blank."""
    pk = key.problems[0]
    values = student_values(key, pk.problem.id, changes or {})
    return {q: np.asarray(values[q]).tolist() for q in pk.problem.asked if q not in drop}


def graded(key: AnswerKey, changes: Changes | None = None, drop: tuple[str, ...] = (),
           written: dict[str, object] | None = None) -> dict[str, QuantityResult]:
    """Each quantity's result for answers_of(...), with `written` answers as typed."""
    answers = {**answers_of(key, changes, drop), **(written or {})}
    return {q.name: q for q in grade_problem(key.problems[0], answers).quantities}


def check(q: QuantityResult, status: str, rule: str, points: float, ids: tuple[str, ...] = ()) -> None:
    assert (q.status, q.rule, q.mistake_ids) == (status, rule, ids), q
    assert q.points == pytest.approx(points), q


def no_bias(v: dict) -> np.ndarray:
    """Z1 with the bias b1 forgotten: a catalogued mistake."""
    return v["X"] @ v["W1"]


def hundredfold(v: dict) -> np.ndarray:
    """Z1 a hundred times too large: no known mistake, nor anything like the right value."""
    return 100 * (v["X"] @ v["W1"] + v["b1"])


# --- 1. right ---------------------------------------------------------------------------------------


def test_rule_1_every_entry_within_its_allowance_is_right():
    key = sheet_of(RELU, 1)
    pk = key.problems[0]
    rounded = {q: np.round(pk.instance.trace[q], pk.problem.decimals).tolist() for q in pk.problem.asked}
    for q in graded(key, written=rounded).values():
        check(q, "correct", "right", pk.points[q.name])
        assert q.wrong == 0 and q.feedback == "correct"


def test_rule_1_an_answer_done_right_on_inputs_within_their_allowance_is_right():
    """dZ2 at the edge of its allowance: db2, done right on it, is off the key by more than db2's own
    allowance, and is still right."""
    key = sheet_of("bce-classifier-columns", 0)
    pk = key.problems[0]
    s = graded(key, {"dZ2": lambda v: np.asarray(pk.instance.trace["dZ2"]) + 0.999 * pk.allowance("dZ2")})
    check(s["dZ2"], "correct", "right", pk.points["dZ2"])
    check(s["db2"], "correct", "right_on_own_inputs", pk.points["db2"])
    assert s["db2"].wrong > 0 and s["db2"].feedback == "correct (right on your own earlier answers)"


# --- 2. follow-through -------------------------------------------------------------------------------


def test_rule_2a_right_given_the_students_own_earlier_answers_earns_follow_through(write_toml):
    key = sheet_of(RELU, 1)
    pk = key.problems[0]
    s = graded(key, {"Z1": no_bias})
    check(s["Z1"], "incorrect", "named_mistake", 0, ("bias_not_added",))
    followed = [name for name in pk.problem.asked[1:] if s[name].status != "correct"]
    assert followed[:4] == ["A1", "Z2", "A2", "loss"]  # (a later step may not depend on the error)
    for name in followed:
        check(s[name], "follow-through", "follow_through", pk.points[name])
        assert s[name].follow == 1.0 and s[name].wrong > 0
    half = sheet_of(RELU, 1, "\n[grading]\nfollow_through = 0.5\n", write_toml)
    check(graded(half, {"Z1": no_bias})["A1"], "follow-through", "follow_through", 0.5 * pk.points["A1"])


def test_rule_2a_follow_through_is_carried_through_steps_not_asked():
    """dZ1 is not asked in the batch-norm problem: dW1 is redone from the student's dA1 through it."""
    key = sheet_of("relu-batchnorm-softmax-rows", 0)
    pk = key.problems[0]
    assert "dZ1" not in pk.problem.asked
    s = graded(key, {"dZ3": lambda v: v["A3"] - np.eye(2)[v["Y"].astype(int)]})  # the 1/N forgotten
    check(s["dZ3"], "incorrect", "named_mistake", 0, ("mean_factor_missing",))
    check(s["dW1"], "follow-through", "follow_through", pk.points["dW1"])


def test_rule_2a_with_partial_credit_a_share_of_the_entries_follows(write_toml):
    key = sheet_of(RELU, 1, "\n[grading]\npartial_credit = true\n", write_toml)
    pk = key.problems[0]
    one = np.zeros((4, 3))
    one[0, 0] = 0.5
    s = graded(key, {"Z1": no_bias, "A1": lambda v: np.maximum(v["Z1"], 0) + one})  # one entry of 12 off too
    check(s["A1"], "follow-through", "partial_follow_through", pk.points["A1"] * 11 / 12)
    assert s["A1"].follow == pytest.approx(11 / 12)
    assert s["A1"].feedback == "92% of the entries follow from your earlier answers"


def test_rule_2b_an_input_that_is_not_credible_gives_no_follow_through():
    s = graded(sheet_of(RELU, 1), {"Z1": hundredfold})
    check(s["Z1"], "incorrect", "implausible", 0)
    check(s["A1"], "incorrect", "not_credible", 0)
    assert s["A1"].detail.startswith("your Z1 is wrong and is not a plausible attempt")
    check(s["Z2"], "incorrect", "not_credible", 0)  # A1 earned nothing: nothing later leans on it
    assert s["Z2"].detail == "your A1 is wrong and earns no follow-through itself"


def test_rule_2c_an_error_that_makes_the_step_trivial_gives_no_follow_through():
    """Every Z1 entry made negative (a slip: half of them were): the ReLU then gives all zeros."""
    s = graded(sheet_of(RELU, 1), {"Z1": lambda v: -np.abs(v["X"] @ v["W1"] + v["b1"])})
    check(s["Z1"], "incorrect", "slip", 0)
    check(s["A1"], "incorrect", "made_trivial", 0)
    assert s["A1"].detail == "with your earlier values this step becomes trivial (near zero)"


def test_rule_2_a_missing_input_breaks_the_chain():
    key = sheet_of(RELU, 1)
    a1 = np.asarray(key.problems[0].instance.trace["A1"]) + 0.3
    s = graded(key, {"A1": lambda v: a1}, drop=("Z1",))
    check(s["Z1"], "missing", "missing", 0)
    check(s["A1"], "incorrect", "without_inputs", 0)
    check(s["Z2"], "incorrect", "not_credible", 0)
    assert "comes without your Z1" in s["Z2"].detail


# --- 3. plausible attempts ---------------------------------------------------------------------------


def test_rule_3_a_named_mistake_is_a_plausible_attempt():
    s = graded(sheet_of(RELU, 2), {"dW2": lambda v: v["Z1"].T @ v["dZ2"]})  # from Z1 instead of A1
    q = s["dW2"]
    check(q, "incorrect", "named_mistake", 0, ("weight_gradient_from_preactivation",))
    assert "computed from the pre-activation Z1" in q.mistake and q.feedback == f"9 of 9 entries wrong: {q.mistake}"


def test_rule_3_a_slip_in_a_few_entries_is_a_plausible_attempt():
    key = sheet_of(RELU, 1)
    one = np.zeros((4, 3))
    one[2, 1] = 0.4
    s = graded(key, {"Z1": lambda v: v["X"] @ v["W1"] + v["b1"] + one})
    check(s["Z1"], "incorrect", "slip", 0)
    assert (s["Z1"].wrong, s["Z1"].entries, s["Z1"].feedback) == (1, 12, "1 of 12 entries wrong")
    check(s["A1"], "follow-through", "follow_through", key.problems[0].points["A1"])


def test_rule_3_a_value_of_the_right_magnitude_is_a_plausible_attempt():
    key = sheet_of(RELU, 1)
    s = graded(key, {"Z1": lambda v: v["X"] @ v["W1"] + v["b1"] + 0.05})
    check(s["Z1"], "incorrect", "right_magnitude", 0)
    check(s["A1"], "follow-through", "follow_through", key.problems[0].points["A1"])


def test_rule_3_anything_else_is_not_a_plausible_attempt():
    check(graded(sheet_of(RELU, 1), {"Z1": hundredfold})["Z1"], "incorrect", "implausible", 0)


def test_rule_3_two_unexplained_errors_start_no_chain():
    s = graded(sheet_of(RELU, 1), {"Z1": lambda v: v["X"] @ v["W1"] + v["b1"] + 0.05,
                                   "Z2": lambda v: v["A1"] @ v["W2"] + v["b2"] + 0.07})
    check(s["Z1"], "incorrect", "unexplained_errors", 0)
    check(s["Z2"], "incorrect", "unexplained_errors", 0)
    check(s["A1"], "incorrect", "not_credible", 0)
    assert "one of 2 errors that match no known mistake (also Z2)" in s["A1"].detail


# --- 4. trivial values -------------------------------------------------------------------------------


@pytest.mark.parametrize("pid, name, value, why", [
    (RELU, "dW1", lambda pk: np.zeros((2, 3)), "near zero"),
    (RELU, "dW1", lambda pk: np.full((2, 3), 0.3), "one number repeated in every entry"),
    ("sigmoid-mse-single", "W1_new", lambda pk: pk.instance.given["W1"], "a copy of the given W1"),
])
def test_rule_4_a_trivial_value_is_not_a_plausible_attempt(pid, name, value, why):
    key = sheet_of(pid, 1)
    pk = key.problems[0]
    v = np.asarray(value(pk), dtype=float)
    assert trivial(v, pk.instance.trace[name], pk.allowance(name), pk.instance.given) == why
    check(graded(key, {name: lambda _: v})[name], "incorrect", "trivial", 0)


def test_rule_4_and_2c_a_named_mistake_that_gives_a_trivial_value_is_still_an_attempt():
    """A ReLU mask flipped that lets nothing through: zeros, but the student's own work (rule 4); and
    dW1, done right on them, is zeros too, made so by a named mistake, so it follows through (2c)."""
    key = sheet_of("three-layer-rows", 3)
    pk = key.problems[0]
    flipped: Changes = {"dZ1": lambda v: v["dA1"] * (v["Z1"] <= 0)}
    answers = answers_of(key, flipped)
    for name in ("dZ1", "dW1"):
        value = np.asarray(answers[name])
        assert trivial(value, pk.instance.trace[name], pk.allowance(name), pk.instance.given) == "near zero"
    s = graded(key, flipped)
    check(s["dZ1"], "incorrect", "named_mistake", 0, ("relu_mask_flipped",))
    check(s["dW1"], "follow-through", "follow_through", pk.points["dW1"])


# --- 5. guessable answers need their work ------------------------------------------------------------


@pytest.mark.parametrize("name, needs", [
    ("db2", "dZ2"),  # under a softmax with one scalar bias: 0 whatever the numbers
    ("pred", "A2"),  # class labels
])
def test_rule_5_a_guessable_right_answer_alone_earns_nothing(name, needs):
    key = sheet_of("tanh-softmax-columns", 0)
    pk = key.problems[0]
    assert name in pk.guessable
    alone = {q.name: q for q in grade_problem(pk, {name: np.asarray(pk.instance.trace[name]).tolist()}).quantities}
    check(alone[name], "incorrect", "guessable_without_work", 0)
    assert alone[name].detail == f"your {needs} is missing or invalid"
    check(graded(key)[name], "correct", "right", pk.points[name])


# --- 6. right by chance ------------------------------------------------------------------------------


def test_rule_6_a_right_answer_from_wrong_answers_that_earn_nothing_earns_nothing():
    key = sheet_of(RELU, 1)
    pk = key.problems[0]
    a1 = np.asarray(pk.instance.trace["A1"])
    s = graded(key, {"Z1": hundredfold, "A1": lambda v: a1})
    check(s["A1"], "incorrect", "coincidence", 0)
    assert s["A1"].wrong == 0 and s["A1"].feedback.startswith("right, but not from your own work: your Z1 is wrong")
    check(s["Z2"], "correct", "right", pk.points["Z2"])  # A1 is right: what is computed from it stands


def test_rule_6_a_right_answer_from_blank_ones_still_counts():
    key = sheet_of(RELU, 1)
    check(graded(key, drop=("Z1",))["A1"], "correct", "right", key.problems[0].points["A1"])


# --- what cannot be judged ---------------------------------------------------------------------------


def test_missing_and_invalid_answers():
    key = sheet_of(RELU, 1)
    transposed = np.asarray(key.problems[0].instance.trace["Z1"]).T.tolist()
    s = graded(key, drop=("A2",), written={"Z1": transposed, "loss": "1.2"})
    check(s["A2"], "missing", "missing", 0)
    assert (s["A2"].wrong, s["A2"].entries, s["A2"].feedback) == (12, 12, "no answer (expected 4x3)")
    check(s["Z1"], "invalid", "invalid", 0, ("transposed",))  # the wrong shape, and a known mistake
    assert s["Z1"].feedback.startswith("expected 4x3, got 3x4 (it looks transposed); the matrix is transposed")
    check(s["loss"], "invalid", "invalid", 0)


# --- the order of judging ----------------------------------------------------------------------------


def test_quantities_are_judged_in_computing_order_whatever_order_a_problem_asks_them():
    """The spec reader lists asked quantities in computing order, but the policy does not rely on
    it: a problem asking A1 before Z1 still has A1 judged after Z1, which earns nothing (rule 2b)."""
    key = sheet_of(RELU, 1)
    pk = key.problems[0]
    backwards_problem = replace(pk.problem, asked=tuple(reversed(pk.problem.asked)))
    backwards = ProblemKey(replace(pk.entry, problem=backwards_problem), pk.instance, pk.points, pk.allow)
    answers = answers_of(key, {"Z1": hundredfold})
    result = grade_problem(backwards, answers).quantities
    assert [q.name for q in result] == list(reversed(pk.problem.asked))  # reported in the order asked
    by_name = {q.name: q for q in result}
    assert by_name == {q.name: q for q in grade_problem(pk, answers).quantities}
    check(by_name["A1"], "incorrect", "not_credible", 0)
