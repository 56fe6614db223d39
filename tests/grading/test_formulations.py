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


IN_MARGIN_SPEC = """
[grading]
tolerance = "fixed"
atol = 0.0005
rtol = 0.08

[quality]
distinct_mistakes = false
visible_update = false
loss_decreases = false
"""


def test_a_mistake_inside_the_margin_is_still_that_mistake(write_toml):
    """With a margin wide enough to hold the sigmoid's derivative taken at A (8% of the key), an
    answer with that mistake's numbers is graded as the mistake; honest rounded answers pass."""
    from gradekit.keys.key import make_key
    from gradekit.sampling.variants import Variant
    from gradekit.spec.reader import builtin_problem_paths, load_problem, single_problem_sheet

    path = write_toml(builtin_problem_paths()["sigmoid-mse-single"].read_text() + IN_MARGIN_SPEC, "wide.toml")
    sheet = single_problem_sheet(load_problem(path))
    caught = 0
    for seed in range(6):
        key = make_key(sheet, Variant(seed=seed))
        pk = key.problems[0]
        inside = {n: [m.id for m in ms] for n, ms in pk.mistakes_in_margin.items()}
        honest = results(key, {})
        assert all(q.status == "correct" for q in honest.values()), [q for q in honest.values() if q.status != "correct"]
        if "sigmoid_derivative_at_activation" not in inside.get("dZ1", []):
            continue
        mistake = next(m for m in pk.mistakes_in_margin["dZ1"] if m.id == "sigmoid_derivative_at_activation")
        got = results(key, {"dZ1": lambda v, value=np.round(mistake.value, 4): value})["dZ1"]
        assert (got.status, got.rule, got.mistake_ids) == ("incorrect", "mistake_in_margin",
                                                           ("sigmoid_derivative_at_activation",)), got
        assert "within the margin of the key, but your numbers are those of a known mistake" in got.feedback
        caught += 1
    assert caught >= 3
