"""Follow-through for every valid way of working a step (issue 19): an answer right on the
student's own values under any formulation an op knows (gradekit.ops: Op.formulations) earns
follow-through, the feedback names the formulation, and no mistake is named for it."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine.trace import evaluate_in_layout
from gradekit.grading.grade import grade_problem
from gradekit.keys.key import AnswerKey
from audit_grading import worked
from grading_helpers import key_for


def way(key: AnswerKey, name: str, form_id: str):
    """A change for student_values: `name` worked out with the formulation `form_id`."""
    trace = key.problems[0].instance.trace
    step = trace.step(name)
    form = next(f for f in step.op.formulations(step) if f.id == form_id).as_step(step)
    return lambda values: evaluate_in_layout(form, values, trace.layout)


def slip(name: str, row: int, column: int, by: float, key: AnswerKey):
    """A change: `name` worked out right, then one entry off by `by`."""
    trace = key.problems[0].instance.trace

    def change(values):
        v = np.array(evaluate_in_layout(trace.step(name), values, trace.layout), dtype=float)
        v[row, column] += by
        return v
    return change


def results(key: AnswerKey, changes: dict) -> dict:
    """A student who works every step from their own values, rounded to the sheet's decimals and
    carried forward rounded, with `changes` done their own way."""
    pk = key.problems[0]
    values = worked(pk, changes)
    answers = {q: np.asarray(values[q]).tolist() for q in pk.problem.asked}
    return {q.name: q for q in grade_problem(pk, answers).quantities}


def test_a_slip_in_a1_then_the_sigmoid_derivative_from_z_earns_follow_through():
    """The issue's case: sigmoid-mse-single, seed 3, one entry of A1 off by 0.3, carried forward,
    and sigma'(Z1) = sigma(Z1)(1 - sigma(Z1)) as seed notebook 004 computes it."""
    key = key_for("sigmoid-mse-single", 3)
    got = results(key, {"A1": slip("A1", 0, 0, 0.3, key), "dZ1": way(key, "dZ1", "from_preactivation")})
    assert got["A1"].status == "incorrect" and got["A1"].rule == "slip"
    dz1 = got["dZ1"]
    assert (dz1.status, dz1.rule, dz1.mistake_ids) == ("follow-through", "follow_through", ()), dz1
    assert "the sigmoid's derivative from Z" in dz1.feedback and "which is right too" in dz1.feedback
    later = key.problems[0].problem.asked[key.problems[0].problem.asked.index("dZ1") + 1:]
    assert all(got[q].status in ("correct", "follow-through") for q in later), [got[q] for q in later]


def test_the_sheets_own_way_needs_no_words_and_the_other_way_is_never_a_mistake():
    key = key_for("sigmoid-mse-single", 3)
    sheet = results(key, {"A1": slip("A1", 0, 0, 0.3, key)})["dZ1"]
    assert sheet.status == "follow-through" and sheet.detail == ""
    other = results(key, {"A1": slip("A1", 0, 0, 0.3, key), "dZ1": way(key, "dZ1", "from_preactivation")})["dZ1"]
    assert "sigmoid_derivative_at_activation" not in other.mistake_ids and other.mistake == ""


@pytest.mark.parametrize("pid, name, form, slipped, follows", [
    ("tanh-softmax-columns", "dZ1", "from_preactivation", "A1", True),
    ("bce-classifier-columns", "dZ2", "from_preactivation", "A2", True),
    ("relu-batchnorm-softmax-rows", "var2", "mean_of_squares", "mu2", True),
    ("relu-batchnorm-softmax-rows", "dA1", "staged", "mu2", True),
    ("relu-batchnorm-softmax-rows", "dA1", "staged", "Xhat2", False),  # reads no Xhat: right against the key
    ("relu-batchnorm-softmax-rows", "dA1", "from_dz", "dXhat2", False),  # reads no dXhat: right against the key
])
def test_every_formulation_is_right_on_the_students_own_values(pid, name, form, slipped, follows):
    """A slip in a value one formula reads and the other does not: on the student's values the two
    give different answers, and the formulation's is right all the same (against the key, when it
    does not read the slip; else by follow-through, saying which formulation it recognized)."""
    recognized = 0
    for seed in range(4):
        key = key_for(pid, seed)
        asked = key.problems[0].problem.asked
        got = results(key, {slipped: slip(slipped, 0, 0, 0.03, key), name: way(key, name, form)})
        q = got[name]
        assert q.status in ("correct", "follow-through") and not q.mistake_ids, (seed, q)
        recognized += q.status == "follow-through" and bool(q.detail)
        after = asked[asked.index(name) + 1:]
        assert all(got[a].status in ("correct", "follow-through") for a in after), (seed, [got[a] for a in after])
    assert (recognized > 0) == follows, recognized
