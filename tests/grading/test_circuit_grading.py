"""Grading a computational graph: follow-through through the gates, and the gates' mistakes named."""

from __future__ import annotations

import pytest

from gradekit.grading.grade import grade_submission
from grading_helpers import key_for, student_values, submission, with_answers


def statuses(report, pid):
    return {q.name: q for p in report.problems if p.id == pid for q in p.quantities}


def test_a_slip_at_q_then_honest_work_earns_follow_through():
    pid = "textbook-circuit-add-multiply"
    key = key_for(pid)
    values = student_values(key, pid, {"q": lambda v: v["x"] + v["y"] + 1})  # q = 4, not 3
    assert float(values["f"]) == -16 and float(values["dz"]) == 4  # later steps from the student's q
    s = statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)
    assert s["q"].status == "incorrect" and s["q"].points == 0
    for later in ("f", "dz"):
        assert s[later].status == "follow-through" and s[later].points == pytest.approx(s[later].possible), later
    for same in ("dq", "dx", "dy"):
        assert s[same].status == "correct", same


def test_a_fork_overwritten_instead_of_added_is_named():
    pid = "textbook-circuit-staged"
    key = key_for(pid)
    values = student_values(key, pid, {"dx": lambda v: v["dxpy"]})  # only the last branch kept
    s = statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)
    assert s["dx"].status == "incorrect"
    assert "fork_overwritten" in s["dx"].mistake_ids
    assert s["dy"].status == "correct"


def test_the_multiply_gates_inputs_not_swapped_is_named_and_followed_through():
    pid = "textbook-circuit-sigmoid-neuron"
    key = key_for(pid)
    values = student_values(key, pid, {"dx0": lambda v: v["da"] * v["x0"]})  # the input itself, not w0
    s = statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)
    assert s["dx0"].status == "incorrect" and "mul_inputs_not_swapped" in s["dx0"].mistake_ids
    assert s["dw0"].status == "correct"


def test_sigma_prime_at_the_output_is_named():
    pid = "textbook-circuit-sigmoid-neuron"
    key = key_for(pid)

    def wrong(v):
        sf = 1 / (1 + 2.718281828459045 ** -v["f"])
        return sf * (1 - sf)

    values = student_values(key, pid, {"ds": wrong})
    s = statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)
    assert s["ds"].status == "incorrect" and "sigmoid_derivative_at_output" in s["ds"].mistake_ids
    for later in ("dx0", "dx1", "dw0", "dw1", "dw2"):  # worked on from the student's own ds
        assert s[later].status == "follow-through", later
