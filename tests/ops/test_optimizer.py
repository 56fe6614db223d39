"""Optimizer exercises: known numbers by hand, every convention, follow-through and named mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine import build as engine
from gradekit.grading.grade import grade_submission
from gradekit.model.optimizer import Optimizer
from gradekit.spec.fields import Fields
from gradekit.spec.optimizer import optimizer
from gradekit.util.errors import SpecError
from grading_helpers import key_for, student_values, submission, with_answers


def run(model, **given):
    return engine.run(model, {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in given.items()})


@pytest.mark.parametrize("form, v1, theta1", [
    ("classic", 0.9 * 0.5 + 0.1 * 2.0, 1.0 - (0.9 * 0.5 + 0.1 * 2.0)),
    ("pytorch", 0.9 * 0.5 + 2.0, 1.0 - 0.1 * (0.9 * 0.5 + 2.0)),
    ("cs231n", 0.9 * 0.5 - 0.1 * 2.0, 1.0 + (0.9 * 0.5 - 0.1 * 2.0)),
    ("ema", 0.9 * 0.5 + 0.1 * 2.0, 1.0 - 0.1 * (0.9 * 0.5 + 0.1 * 2.0)),
])
def test_momentum_in_each_convention(form, v1, theta1):
    trace = run(Optimizer("momentum", (1, 1), 1, 0.1, form, 0.9), theta0=1.0, v0=0.5, g1=2.0)
    assert trace["v1"][0, 0] == pytest.approx(v1) and trace["theta1"][0, 0] == pytest.approx(theta1)


def test_nesterov_forms():
    t = run(Optimizer("nesterov", (1, 1), 1, 0.1, "cs231n", 0.9), theta0=1.0, v0=0.5, g1=2.0)
    v = 0.9 * 0.5 - 0.1 * 2.0
    assert t["theta1"][0, 0] == pytest.approx(1.0 - 0.9 * 0.5 + 1.9 * v)
    t = run(Optimizer("nesterov", (1, 1), 1, 0.1, "pytorch", 0.9), theta0=1.0, v0=0.5, g1=2.0)
    assert t["theta1"][0, 0] == pytest.approx(1.0 - 0.1 * (2.0 + 0.9 * (0.9 * 0.5 + 2.0)))


def test_adam_first_step_moves_each_entry_by_about_the_learning_rate():
    """At t = 1 with zero moments and bias correction, m̂ = g and v̂ = g²: the step is η sign(g)."""
    t = run(Optimizer("adam", (1, 2), 2, 0.1, beta1=0.9, beta2=0.999), theta0=[0.5, -0.5], m0=[0, 0], v0=[0, 0],
            g1=[0.3, -0.7], g2=[0.1, 0.2])
    np.testing.assert_allclose(t["mhat1"], [[0.3, -0.7]])
    np.testing.assert_allclose(t["vhat1"], [[0.09, 0.49]])
    np.testing.assert_allclose(t["theta1"], [[0.4, -0.4]], atol=1e-7)
    m2 = 0.9 * np.array([0.03, -0.07]) + 0.1 * np.array([0.1, 0.2])
    v2 = 0.999 * np.array([0.00009, 0.00049]) + 0.001 * np.array([0.01, 0.04])
    expected = t["theta1"][0] - 0.1 * (m2 / (1 - 0.81)) / (np.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(t["theta2"][0], expected, rtol=1e-12)


def test_rmsprop_eps_inside_and_outside_and_adamw_decay():
    out = run(Optimizer("rmsprop", (1, 1), 1, 0.1, rho=0.9, eps=0.01), theta0=1.0, s0=0.0, g1=1.0)
    inside = run(Optimizer("rmsprop", (1, 1), 1, 0.1, rho=0.9, eps=0.01, eps_place="inside"), theta0=1.0, s0=0.0, g1=1.0)
    assert out["theta1"][0, 0] == pytest.approx(1 - 0.1 / (np.sqrt(0.1) + 0.01))
    assert inside["theta1"][0, 0] == pytest.approx(1 - 0.1 / np.sqrt(0.11))
    w = run(Optimizer("adam", (1, 1), 1, 0.1, beta1=0.9, beta2=0.99, eps=1e-8, decay="decoupled", weight_decay=0.5),
            theta0=1.0, m0=0.0, v0=0.0, g1=0.4)
    assert w["m1"][0, 0] == pytest.approx(0.04)  # the gradient alone: no λθ in the moments
    assert w["theta1"][0, 0] == pytest.approx(1 - 0.1 * 0.4 / (0.4 + 1e-8) - 0.1 * 0.5 * 1.0)
    l2 = run(Optimizer("adam", (1, 1), 1, 0.1, beta1=0.9, beta2=0.99, eps=1e-8, decay="l2", weight_decay=0.5),
             theta0=1.0, m0=0.0, v0=0.0, g1=0.4)
    assert l2["m1"][0, 0] == pytest.approx(0.1 * (0.4 + 0.5))


def test_spec_refuses_a_convention_with_a_one_line_reason():
    with pytest.raises(SpecError, match="form"):
        optimizer(Fields({"update": {"rule": "momentum", "form": "keras"}}, "p.toml"))
    with pytest.raises(SpecError, match="weight_decay"):
        optimizer(Fields({"update": {"rule": "adam", "decay": "l2"}}, "p.toml"))
    with pytest.raises(SpecError, match="steps"):
        optimizer(Fields({"steps": 4, "update": {"rule": "sgd"}}, "p.toml"))


def statuses(report, pid):
    return {q.name: q for p in report.problems if p.id == pid for q in p.quantities}


@pytest.mark.parametrize("pid, slip, later", [
    ("momentum-classic", "v1", ("theta1", "v2", "theta2")),
    ("adam-bias-corrected", "m1", ("mhat1", "theta1", "m2", "mhat2", "theta2")),
    ("rmsprop-eps-inside", "s1", ("theta1", "s2", "theta2")),
])
def test_a_slip_carried_honestly_earns_follow_through(pid, slip, later):
    key = key_for(pid, 4)
    def slipped(v):  # one entry miscopied; everything after it is worked from it
        x = np.array(key.problem(pid).instance.trace[slip], dtype=float)
        x[0, 0] = x[0, 0] * 1.2 + 0.001
        return x

    values = student_values(key, pid, {slip: slipped})
    s = statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)
    assert s[slip].status == "incorrect"
    for q in later:
        assert s[q].status == "follow-through" and s[q].points == pytest.approx(s[q].possible), q


@pytest.mark.parametrize("pid, quantity, change, mistake", [
    ("momentum-classic", "theta1", lambda v: v["theta0"] - v["v0"], "old_velocity"),
    ("adam-bias-corrected", "mhat2", lambda v: v["m2"] / (1 - 0.9), "bias_correction_t_from_0"),
    # (with β1 = 0.9, β2 = 0.99 the correction would cancel at t = 1: √(1 − β2) = 1 − β1; the spec has 0.999)
    ("adam-bias-corrected", "theta1", lambda v: v["theta0"] - 0.1 * v["m1"] / (np.sqrt(v["v1"]) + 1e-8),
     "bias_correction_missing"),
    ("rmsprop-eps-inside", "theta1", lambda v: v["theta0"] - 0.1 * v["g1"] / (np.sqrt(v["s1"]) + 0.01),
     "eps_placement"),
    ("adamw-decoupled", "m1", lambda v: 0.1 * (v["g1"] + 0.1 * v["theta0"]), "weight_decay_in_gradient"),
])
def test_named_mistakes(pid, quantity, change, mistake):
    key = key_for(pid, 2)
    values = student_values(key, pid, {quantity: change})
    report = grade_submission(submission(with_answers(key, pid, values)), key)
    q = statuses(report, pid)[quantity]
    assert q.status == "incorrect" and mistake in q.mistake_ids, (q.status, q.mistake_ids, q.mistake)
