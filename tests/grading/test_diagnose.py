"""Each catalogued mistake is recognized from a real wrong computation on generated variants.

The wrong values are computed the way a student (or a seed notebook) computes them, then
graded like any submission; the feedback must name the mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.grading.grade import grade_submission
from gradekit.ops.losses import one_hot
from grading_helpers import key_for, student_values, submission, with_answers

SEEDS = range(6)


def feedback(pid: str, seed: int, changes: dict, name: str):
    key = key_for(pid, seed)
    values = student_values(key, pid, changes)
    report = grade_submission(submission(with_answers(key, pid, values)), key)
    return next(q for p in report.problems for q in p.quantities if q.name == name)


def sig(x):
    return 1 / (1 + np.exp(-x))


CASES = [
    # (problem, quantity, the student's wrong computation, words the feedback must contain)
    ("relu-softmax-rows", "dW2", {"dW2": lambda v: v["dZ2"].T @ v["A1"]}, "transposed"),
    ("relu-softmax-rows", "dW1", {"dW1": lambda v: v["dZ1"].T @ v["X"]}, "looks transposed"),
    ("tanh-softmax-columns", "dW1", {"dW1": lambda v: v["X"] @ v["dZ1"].T}, "transposed"),
    # Seed 001: dl_dzj = p - onehot, forgetting the 1/N of the mean loss.
    ("relu-softmax-rows", "dZ2", {"dZ2": lambda v: v["A2"] - one_hot(v["Y"], 3)}, "off by a factor of N = 4"),
    ("relu-linear-sgd-columns", "loss", {"loss": lambda v: 0.5 * ((v["Z2"] - v["Y"]) ** 2).sum()}, "off by a factor of N = 4"),
    ("three-layer-rows", "dZ3", {"dZ3": lambda v: (v["A3"] - one_hot(v["Y"], 2)) / 2}, "this loss is the SUM"),
    ("relu-linear-sgd-columns", "dZ2", {"dZ2": lambda v: 2 * (v["Z2"] - v["Y"]) / 4}, "the 1/2 in the loss cancels"),
    ("sigmoid-mse-single", "W1_new", {"W1_new": lambda v: v["W1"] + 0.5 * v["dW1"]}, "sign error in the update"),
    ("relu-linear-sgd-columns", "W2_new", {"W2_new": lambda v: v["W2"] + 0.5 * v["dW2"]}, "sign error in the update"),
    # Seed 004 style: sigmoid_derivative(outL1), the derivative taken at the activation.
    ("sigmoid-mse-single", "dZ1", {"dZ1": lambda v: v["dA1"] * sig(v["A1"]) * (1 - sig(v["A1"]))}, "at the activation A"),
    ("tanh-softmax-columns", "dZ1", {"dZ1": lambda v: v["dA1"] * (1 - np.tanh(v["A1"]) ** 2)}, "tanh derivative was taken at the activation"),
    ("relu-softmax-rows", "dZ1", {"dZ1": lambda v: v["dA1"] * (v["dA1"] > 0)}, "ReLU mask came from the sign of dA"),
    ("relu-linear-sgd-columns", "dZ1", {"dZ1": lambda v: v["dA1"]}, "derivative is missing"),
    ("sigmoid-mse-single", "dZ2", {"dZ2": lambda v: v["dA2"]}, "sigmoid derivative is missing"),
    ("relu-softmax-rows", "db1", {"db1": lambda v: v["dZ1"].mean(axis=0, keepdims=True)}, "this is the mean"),
    # Seed 000: dLossdb2 = np.sum(dLossdZ2, axis=1), one sum per class for a scalar bias.
    ("textbook-tanh-softmax-columns", "db2", {"db2": lambda v: v["dZ2"].sum(axis=1, keepdims=True)}, "one scalar bias"),
    ("tanh-softmax-columns", "db2", {"db2": lambda v: v["dZ2"].sum(axis=1)}, "one scalar bias"),
    # In-place updates (seed 003's `hidden_W -= lr * grad` before the backward pass is done).
    ("relu-linear-sgd-columns", "dA1", {"dA1": lambda v: (v["W2"] - 0.5 * v["dW2"]).T @ v["dZ2"]}, "updated before its gradient"),
    # Seed 000's softmax Jacobian: prod2 - A2*sumprod with sumprod = A2*sumterm.
    ("textbook-tanh-softmax-columns", "dZ2",
     {"dZ2": lambda v: v["A2"] * v["dA2"] - v["A2"] * (v["A2"] * (v["A2"] * v["dA2"]).sum(axis=0))}, "A twice"),
    ("tanh-softmax-columns", "A2", {"A2": lambda v: np.exp(v["Z2"]) / np.exp(v["Z2"]).sum(axis=1, keepdims=True)},
     "normalized over the samples"),
    ("relu-batchnorm-softmax-rows", "var2", {"var2": lambda v: np.var(v["A1"], axis=0, ddof=1, keepdims=True)}, "not N - 1"),
    # Seed 003: dbeta = np.sum(..., axis=1), over the units instead of the samples.
    ("relu-batchnorm-softmax-rows", "dbeta2", {"dbeta2": lambda v: v["dZ2"].sum(axis=1, keepdims=True)}, "sums over the SAMPLES"),
]


@pytest.mark.parametrize("pid, name, change, words", CASES, ids=[f"{c[0]}:{c[1]}:{c[3][:24]}" for c in CASES])
def test_mistake_is_named(pid, name, change, words):
    wrong = named = 0
    for seed in SEEDS:
        q = feedback(pid, seed, change, name)
        # On some instances a mistake changes nothing beyond the tolerance (a sign flip on a tiny
        # gradient, a ReLU mask that happens to agree): then "correct" is the right verdict.
        if q.status == "correct":
            continue
        assert q.status in ("incorrect", "invalid") and q.points == 0, (seed, q)
        wrong += 1
        named += words in q.feedback
    assert wrong >= 3, f"the mistake made a difference on only {wrong} of {len(SEEDS)} instances"
    assert named == wrong, f"named on {named} of {wrong} wrong answers: {words}"


def test_a_plain_slip_is_wrong_without_a_false_diagnosis():
    q = feedback("relu-softmax-rows", 0, {"dW1": lambda v: v["X"].T @ v["dZ1"] + 0.37}, "dW1")
    assert q.status == "incorrect" and q.feedback == "6 of 6 entries wrong"
