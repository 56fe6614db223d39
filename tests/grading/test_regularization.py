"""Weight decay, dropout and layer normalization inside the MLP family: the values by hand, the
spec's choices and its errors, the named mistakes, and follow-through through the new ops."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine import build as engine
from gradekit.grading.grade import grade_submission
from gradekit.keys.key import make_key
from gradekit.model.network import Architecture, Dense, Dropout, Loss, WeightDecay
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import load_problem, single_problem_sheet
from gradekit.util.errors import SpecError
from grading_helpers import key_for, student_values, submission, with_answers

# One sample, one input, one linear unit, squared error without 1/2: everything fits in a head.
X, Y, W1, B1 = 2.0, 1.0, 0.5, 0.25


def _one_unit(decay: WeightDecay) -> dict:
    arch = Architecture("rows", 1, 1, (Dense(1, "identity"),), Loss("mse", "mean"), 0.1, decay)
    trace = engine.run(arch, {"X": np.array([[X]]), "Y": np.array([[Y]]), "W1": np.array([[W1]]),
                              "b1": np.array([[B1]])})
    return {n: float(np.ravel(trace[n])[0]) for n in trace.names}


def test_weight_decay_half_without_biases_by_hand():
    v = _one_unit(WeightDecay(0.1))
    # Z = 2 * 0.5 + 0.25 = 1.25; data loss (1.25 - 1)^2 = 0.0625; R = 0.1/2 * 0.5^2 = 0.0125
    assert v["Z1"] == pytest.approx(1.25) and v["data_loss"] == pytest.approx(0.0625)
    assert v["penalty"] == pytest.approx(0.0125) and v["loss"] == pytest.approx(0.075)
    # dZ = 2 (1.25 - 1) = 0.5; dW = X dZ + lambda W = 1 + 0.05; db has no decay term
    assert v["dW1"] == pytest.approx(1.05) and v["db1"] == pytest.approx(0.5)
    assert v["W1_new"] == pytest.approx(0.5 - 0.1 * 1.05)


def test_weight_decay_full_with_biases_divided_by_n_by_hand():
    v = _one_unit(WeightDecay(0.1, half=False, biases=True, divide_by_n=True))
    # R = 0.1 (0.5^2 + 0.25^2) / 1 = 0.03125; dW = 1 + 2 * 0.1 * 0.5; db = 0.5 + 2 * 0.1 * 0.25
    assert v["penalty"] == pytest.approx(0.03125) and v["loss"] == pytest.approx(0.09375)
    assert v["dW1"] == pytest.approx(1.1) and v["db1"] == pytest.approx(0.55)


def test_dropout_by_hand():
    arch = Architecture("rows", 1, 2, (Dense(2, "identity", "none", dropout=Dropout(0.2, "drop")),
                                       Dense(1, "identity", "none")), Loss("mse", "sum"), 0.1)
    given = {"X": np.array([[1.0], [2.0]]), "Y": np.array([[0.0], [0.0]]), "M1": np.array([[1.0, 0.0], [1.0, 1.0]]),
             "W1": np.array([[1.0, -1.0]]), "W2": np.array([[0.5], [1.0]])}
    t = engine.run(arch, given)
    # A1 = [[1, -1], [2, -2]]; D1 = A1 * M1 / 0.8 = [[1.25, 0], [2.5, -2.5]]
    np.testing.assert_allclose(t["D1"], [[1.25, 0.0], [2.5, -2.5]])
    # Z2 = D1 W2 = [[0.625], [-1.25]]; dZ2 = 2 Z2; dD1 = dZ2 W2^T; dA1 = dD1 * M1 / 0.8
    np.testing.assert_allclose(t["Z2"], [[0.625], [-1.25]])
    np.testing.assert_allclose(t["dD1"], [[0.625, 1.25], [-1.25, -2.5]])
    np.testing.assert_allclose(t["dA1"], [[0.78125, 0.0], [-1.5625, -3.125]])
    # the mask stays as given: it is not a parameter
    assert "M1_new" not in t.names and "W1_new" in t.names


def test_plain_dropout_does_not_scale():
    arch = Architecture("rows", 1, 2, (Dense(2, "identity", "none", dropout=Dropout(0.5, "keep", False)),
                                       Dense(1, "identity", "none")), Loss("mse", "sum"), 0.1)
    given = {"X": np.array([[1.0], [2.0]]), "Y": np.array([[0.0], [0.0]]), "M1": np.array([[1.0, 0.0], [0.0, 1.0]]),
             "W1": np.array([[1.0, -1.0]]), "W2": np.array([[0.5], [1.0]])}
    t = engine.run(arch, given)
    np.testing.assert_allclose(t["D1"], [[1.0, 0.0], [0.0, -2.0]])


# --- the spec -----------------------------------------------------------------------------------

BASE = """
id = "reg"
title = "t"
layout = "rows"
inputs = 2
samples = 3
asked = ["loss", "dW1"]

[[layers]]
units = 2
activation = "tanh"
{dropout}

[[layers]]
units = 1
activation = "identity"
{dropout2}

[loss]
kind = "mse"
{extra}
"""


def spec(write_toml, dropout="", dropout2="", extra=""):
    return write_toml(BASE.format(dropout=dropout, dropout2=dropout2, extra=extra))


@pytest.mark.parametrize("dropout, dropout2, extra, words", [
    ("", "", "[weight_decay]\nlambda = -0.1", "weight_decay.lambda: expected a number > 0.0"),
    ("", "", "[weight_decay]\nlambda = 0.1\nhalf = 1", "weight_decay.half: expected true or false"),
    ("", "", "[weight_decay]\nlambda = 0.1\nsquared = true", "weight_decay.squared: unknown field"),
    ("", "", "[weight_decay]\nhalf = true", "weight_decay.lambda: is required"),
    ("dropout = { keep = 0.5, drop = 0.5 }", "", "", "layers[1].dropout.keep: give exactly one of keep"),
    ("dropout = { keep = 1.0 }", "", "", "layers[1].dropout.keep: expected a probability below 1"),
    ("dropout = { drop = 0.0 }", "", "", "layers[1].dropout.drop: expected a number > 0.0"),
    ("", "dropout = { keep = 0.5 }", "", "layers[2].dropout: dropout applies to a hidden layer"),
    ("dropout = { keep = 0.5 }", "", "[pinned]\nM1 = [[1, 0], [0.5, 1], [1, 1]]", "pinned.M1: a dropout mask holds only 0"),
    ("dropout = { keep = 0.5 }", "", "[sampling]\nM = { min = 0, max = 2, step = 1 }", "sampling.M: a dropout mask"),
])
def test_bad_regularization_fields_are_refused_with_one_line(write_toml, dropout, dropout2, extra, words):
    path = spec(write_toml, dropout, dropout2, extra)
    with pytest.raises(SpecError) as e:
        load_problem(path)
    text = str(e.value)
    assert words in text and str(path) in text and "\n" not in text


def test_a_spec_states_each_choice(write_toml):
    p = load_problem(spec(write_toml, "dropout = { drop = 0.25, inverted = false }", "",
                          "[weight_decay]\nlambda = 0.2\nhalf = false\nbiases = true\ndivide_by_n = true"))
    assert p.arch.weight_decay == WeightDecay(0.2, False, True, True)
    assert p.arch.layers[0].dropout == Dropout(0.25, "drop", False)
    assert p.arch.given_names()[:3] == ("X", "Y", "M1")


# --- grading: the named mistakes, and follow-through ---------------------------------------------


def feedback(pid, seed, changes, name, key=None):
    key = key or key_for(pid, seed)
    values = student_values(key, pid, changes)
    report = grade_submission(submission(with_answers(key, pid, values)), key)
    return {q.name: q for p in report.problems for q in p.quantities}[name]


WD = "weight-decay-tanh-rows"
DROP = "dropout-relu-columns"
CASES = [
    (WD, "dW1", {"dW1": lambda v: v["X"].T @ v["dZ1"]}, "weight-decay term is missing"),
    (WD, "dW2", {"dW2": lambda v: v["A1"].T @ v["dZ2"] + 2 * 0.1 * v["W2"]}, "not 2 lambda"),
    (WD, "db1", {"db1": lambda v: v["dZ1"].sum(axis=0, keepdims=True) + 0.1 * v["b1"]}, "biases are not decayed"),
    (WD, "loss", {"loss": lambda v: v["data_loss"]}, "includes the weight-decay penalty"),
    (WD, "penalty", {"penalty": lambda v: 0.1 * ((v["W1"] ** 2).sum() + (v["W2"] ** 2).sum())}, "lambda/2 ||W||^2"),
    (DROP, "D1", {"D1": lambda v: v["A1"] * 2}, "mask M1 was not applied"),
    (DROP, "D1", {"D1": lambda v: v["A1"] * v["M1"]}, "scales the kept activations"),
    (DROP, "dA1", {"dA1": lambda v: v["dD1"] * 2}, "applies the mask"),
    (DROP, "dA1", {"dA1": lambda v: v["dD1"] * v["M1"]}, "scales by 1/p_keep"),
    (DROP, "dA1", {"dA1": lambda v: v["dD1"] * v["M1"] * 0.5}, "divide by p_keep"),
    (DROP, "dW2", {"dW2": lambda v: v["dZ2"] @ v["A1"].T}, "computed from A1"),
]


@pytest.mark.parametrize("pid, name, change, words", CASES, ids=[f"{c[0]}:{c[1]}:{c[3][:20]}" for c in CASES])
def test_regularization_mistakes_are_named(pid, name, change, words):
    wrong = named = 0
    for seed in range(5):
        q = feedback(pid, seed, change, name)
        if q.status == "correct":
            continue
        assert q.status in ("incorrect", "invalid") and q.points == 0, (seed, q)
        wrong += 1
        named += words in q.feedback
    assert wrong >= 3 and named == wrong, (wrong, named, words)


def test_dropout_scaled_by_the_drop_probability_is_named(write_toml):
    src = load_problem_text(DROP).replace("keep = 0.5, inverted = true", "drop = 0.2")
    key = make_key(single_problem_sheet(load_problem(write_toml(src))), Variant(seed=3))
    q = feedback(DROP, 3, {"D1": lambda v: v["A1"] * v["M1"] * 0.2}, "D1", key)
    assert q.status == "incorrect" and "not p_drop = 0.2" in q.feedback


def load_problem_text(pid):
    from gradekit.spec.reader import builtin_problem_paths

    return builtin_problem_paths()[pid].read_text()


def test_a_slip_before_the_dropout_earns_follow_through_after_it():
    key = key_for(DROP, 4)
    values = student_values(key, DROP, {"Z1": lambda v: v["W1"] @ v["X"]})  # forgot + b1
    report = grade_submission(submission(with_answers(key, DROP, values)), key)
    s = {q.name: q for p in report.problems for q in p.quantities}
    assert s["Z1"].status == "incorrect"
    for later in ("A1", "D1", "Z2", "A2", "loss", "dZ2", "dW2", "dD1", "dA1", "dZ1", "dW1"):
        assert s[later].status == "follow-through", (later, s[later])
        assert s[later].points == pytest.approx(s[later].possible)


def test_a_forgotten_decay_term_carries_into_the_update():
    key = key_for(WD, 2)
    values = student_values(key, WD, {"dW1": lambda v: v["X"].T @ v["dZ1"]})  # a named mistake: no lambda W1
    s = {q.name: q for p in grade_submission(submission(with_answers(key, WD, values)), key).problems
         for q in p.quantities}
    assert s["dW1"].status == "incorrect" and s["W1_new"].status == "follow-through"
    assert s["loss_new"].status == "follow-through"


# --- layer normalization ------------------------------------------------------------------------

LN = "layernorm-tanh-rows"


def test_layer_norm_by_hand():
    from gradekit.model.network import LayerNorm

    arch = Architecture("rows", 1, 2, (Dense(3, "identity", "none"), LayerNorm(3, "identity", 0.0),
                                       Dense(1, "identity", "none")), Loss("mse", "sum"), 0.1)
    given = {"X": np.array([[1.0], [2.0]]), "Y": np.array([[0.0], [0.0]]), "W1": np.array([[1.0, 2.0, 6.0]]),
             "gamma2": np.array([[1.0, 2.0, 1.0]]), "beta2": np.array([[0.0, 0.0, 1.0]]),
             "W3": np.array([[1.0], [1.0], [1.0]])}
    t = engine.run(arch, given)
    # sample 1: (1, 2, 6), mean 3, variance (4 + 1 + 9) / 3 = 14/3: one value per sample, not per unit
    np.testing.assert_allclose(t["mu2"], [[3.0], [6.0]])
    np.testing.assert_allclose(t["var2"], [[14 / 3], [56 / 3]])
    sd = np.sqrt(14 / 3)
    np.testing.assert_allclose(t["Xhat2"][0], [-2 / sd, -1 / sd, 3 / sd])
    np.testing.assert_allclose(t["Xhat2"][1], t["Xhat2"][0])  # sample 2 is sample 1 doubled: the same normalized
    np.testing.assert_allclose(t["Z2"][0], [-2 / sd, -2 / sd, 3 / sd + 1])
    # each sample's dA1 adds up to 0 over its units
    np.testing.assert_allclose(t["dA1"].sum(axis=1), [0.0, 0.0], atol=1e-12)


LN_CASES = [
    (LN, "var2", {"var2": lambda v: v["A1"].var(axis=1, ddof=1, keepdims=True)}, "not U - 1"),
    (LN, "dA1", {"dA1": lambda v: v["dXhat2"] / np.sqrt(v["var2"] + 1e-5)}, "depend on the input too"),
    (LN, "dbeta2", {"dbeta2": lambda v: v["dZ2"].sum(axis=1, keepdims=True)}, "sums over the SAMPLES"),
]


@pytest.mark.parametrize("pid, name, change, words", LN_CASES, ids=[c[1] for c in LN_CASES])
def test_layer_norm_mistakes_are_named(pid, name, change, words):
    test_regularization_mistakes_are_named(pid, name, change, words)


def test_layer_norm_statistics_over_the_wrong_axis_are_named_at_the_normalized_input():
    """Batch norm's axis in the statistics: each unit normalized over the 2 samples gives ±1."""
    q = feedback(LN, 1, {"Xhat2": lambda v: (v["A1"] - v["A1"].mean(axis=0)) / np.sqrt(v["A1"].var(axis=0) + 1e-5)},
                 "Xhat2")
    assert q.status == "incorrect" and "batch statistics over the samples" in q.feedback


def test_a_slip_before_the_layer_norm_earns_follow_through_after_it():
    key = key_for(LN, 5)
    values = student_values(key, LN, {"Z1": lambda v: v["X"] @ v["W1"]})  # forgot + b1
    report = grade_submission(submission(with_answers(key, LN, values)), key)
    s = {q.name: q for p in report.problems for q in p.quantities}
    assert s["Z1"].status == "incorrect"
    for later in ("mu2", "var2", "Xhat2", "Z2", "A2", "Z3", "loss", "dZ3", "dW3", "dA2", "dZ2", "dgamma2", "dbeta2",
                  "dXhat2", "dA1", "dW1"):
        assert s[later].status == "follow-through", (later, s[later])


def test_layer_norm_spec_errors(write_toml):
    src = load_problem_text(LN)
    with pytest.raises(SpecError) as e:
        load_problem(write_toml(src.replace('type = "layer_norm"', 'type = "layer_norm"\nunits = 4')))
    assert "layers[2].units: a layer_norm layer keeps its input's width 3, got 4" in str(e.value)
    one = src.replace("units = 3\nactivation = \"identity\"", "units = 1\nactivation = \"identity\"", 1)
    with pytest.raises(SpecError) as e:
        load_problem(write_toml(one))
    assert "layers[2].type: layer_norm needs an input of at least 2 units" in str(e.value)
