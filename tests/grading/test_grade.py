"""Grading one submission: full marks, follow-through, no credit for zeros, named mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine.trace import evaluate_in_layout
from gradekit.grading.grade import grade_submission
from gradekit.spec.reader import builtin_problem_paths
from grading_helpers import filled, key_for, student_values, submission, with_answers


def statuses(report, pid):
    return {q.name: q for p in report.problems if p.id == pid for q in p.quantities}


@pytest.mark.parametrize("ref", ["backprop-basics", *sorted(builtin_problem_paths())])
def test_a_submission_filled_from_the_key_scores_full_marks(ref):
    key = key_for(ref, seed=11)
    report = grade_submission(submission(filled(key)), key)
    assert report.possible == pytest.approx(key.total)
    assert report.points == pytest.approx(report.possible)
    assert {q.status for p in report.problems for q in p.quantities} == {"correct"}


@pytest.mark.parametrize("pid", sorted(builtin_problem_paths()))
def test_hand_rounded_intermediates_pass(pid):
    """A student who rounds every intermediate to the sheet's decimals still gets every point."""
    for seed in range(8):
        key = key_for(pid, seed)
        trace = key.problems[0].instance.trace
        d = key.problems[0].problem.decimals
        values = {}
        for step in trace.steps:
            if step.compute is None:
                values[step.name] = trace[step.name]
            else:
                v = evaluate_in_layout(step, values, trace.layout)
                values[step.name] = v if step.name == "pred" else np.round(v, d)
        report = grade_submission(submission(with_answers(key, pid, values)), key)
        assert report.points == pytest.approx(report.possible), [q for p in report.problems for q in p.quantities
                                                                  if q.status != "correct"]


def test_follow_through_credits_steps_right_given_an_earlier_mistake():
    key = key_for("relu-softmax-rows", 2)
    values = student_values(key, "relu-softmax-rows", {"Z2": lambda v: v["A1"] @ v["W2"]})  # forgot + b2
    report = grade_submission(submission(with_answers(key, "relu-softmax-rows", values)), key)
    s = statuses(report, "relu-softmax-rows")
    assert s["Z2"].status == "incorrect" and s["Z2"].points == 0
    for later in ("A2", "loss", "dZ2", "dW2", "dA1", "dZ1", "dW1", "db1"):
        assert s[later].status == "follow-through", later
        assert s[later].points == pytest.approx(s[later].possible)
    assert s["Z1"].status == "correct"


def test_follow_through_share_comes_from_the_spec(write_toml):
    from gradekit.keys.key import make_key
    from gradekit.spec.reader import single_problem_sheet, load_problem
    from gradekit.sampling.variants import Variant

    src = (builtin_problem_paths()["sigmoid-mse-single"]).read_text()
    path = write_toml(src + "\n[grading]\nfollow_through = 0.5\n")
    key = make_key(single_problem_sheet(load_problem(path)), Variant(seed=1))
    values = student_values(key, "sigmoid-mse-single", {"A1": lambda v: v["Z1"]})  # forgot the sigmoid
    s = statuses(grade_submission(submission(with_answers(key, "sigmoid-mse-single", values)), key), "sigmoid-mse-single")
    assert s["A1"].status == "incorrect"
    assert s["Z2"].status == "follow-through" and s["Z2"].points == pytest.approx(0.5 * s["Z2"].possible)


def test_zeros_earn_no_follow_through():
    key = key_for("relu-softmax-rows", 3)
    values = student_values(key, "relu-softmax-rows", {"Z1": lambda v: np.zeros((4, 3)), "A1": lambda v: np.zeros((4, 3))})
    report = grade_submission(submission(with_answers(key, "relu-softmax-rows", values)), key)
    s = statuses(report, "relu-softmax-rows")
    # Z2 = 0 @ W2 + b2 would "follow" from zeros; it must not earn anything.
    assert s["A1"].status == "incorrect" and s["Z2"].status == "incorrect" and s["Z2"].points == 0


def test_missing_and_invalid_inputs_earn_no_follow_through():
    key = key_for("sigmoid-mse-single", 4)
    values = student_values(key, "sigmoid-mse-single", {"Z1": lambda v: v["X"] @ v["W1"]})  # no bias
    doc = with_answers(key, "sigmoid-mse-single", values)
    doc["answers"]["sigmoid-mse-single"]["Z1"] = None
    s = statuses(grade_submission(submission(doc), key), "sigmoid-mse-single")
    assert s["Z1"].status == "missing"
    assert s["A1"].status == "incorrect"  # right only given a Z1 the student never wrote down
    doc["answers"]["sigmoid-mse-single"]["Z1"] = "0.3"
    s = statuses(grade_submission(submission(doc), key), "sigmoid-mse-single")
    assert s["Z1"].status == "invalid" and s["A1"].status == "incorrect"


def test_partial_credit_per_entry(write_toml):
    from gradekit.keys.key import make_key
    from gradekit.spec.reader import single_problem_sheet, load_problem
    from gradekit.sampling.variants import Variant

    src = (builtin_problem_paths()["relu-softmax-rows"]).read_text()
    path = write_toml(src + "\n[grading]\npartial_credit = true\n")
    key = make_key(single_problem_sheet(load_problem(path)), Variant(seed=1))
    doc = filled(key)
    w1 = np.array(doc["answers"]["relu-softmax-rows"]["dW1"])
    w1[0, 0] += 1.0  # one entry of six wrong
    doc["answers"]["relu-softmax-rows"]["dW1"] = w1.tolist()
    s = statuses(grade_submission(submission(doc), key), "relu-softmax-rows")
    assert s["dW1"].status == "incorrect"
    assert s["dW1"].points == pytest.approx(s["dW1"].possible * 5 / 6)


def test_unknown_problems_and_quantities_are_noted_not_fatal():
    key = key_for("sigmoid-mse-single", 0)
    doc = filled(key)
    doc["answers"]["no-such-problem"] = {"Z1": 1}
    doc["answers"]["sigmoid-mse-single"]["dW9"] = [[1]]
    report = grade_submission(submission(doc), key)
    assert report.points == pytest.approx(report.possible)
    assert report.notes == ('ignored answers to problems not on sheet sigmoid-mse-single: "no-such-problem"',)
    assert report.problems[0].notes == ('ignored answers to quantities this problem does not ask: "dW9"',)
