"""Truth first: the engine's numbers agree with independent checks (gradekit.proof.checks).

Finite differences run over the whole combination space drawn by hypothesis (hidden and
output activation x loss, reduction and 1/2 x layout x bias kind x depth 1-3 x batch norm
anywhere after the first layer); SymPy, exact but slower, over a table that covers the same
axes plus a few hypothesis draws of small networks. Mutation tests show that the checks do
catch wrong keys, including wrong values that no parameter gradient would reveal.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradekit.engine import build as engine
from gradekit.proof import checks as proof
from gradekit.util.errors import UnsatisfiableSpecError
from gradekit.model.network import Architecture, BatchNorm, Dense, Loss
from gradekit.engine.trace import Trace, transpose2d

HIDDEN = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
BIASES = ("vector", "scalar", "none")
LOSSES = (Loss("mse", "mean", True), Loss("mse", "mean", False), Loss("mse", "sum", True), Loss("mse", "sum", False),
          Loss("cross_entropy", "mean"), Loss("cross_entropy", "sum"),
          Loss("binary_cross_entropy", "mean"), Loss("binary_cross_entropy", "sum"))


@st.composite
def architectures(draw, max_width: int = 3, max_samples: int = 3) -> Architecture:
    """Any valid architecture: depth 1-3, batch norm at any position but the first (as specs allow)."""
    samples = draw(st.integers(1, max_samples))
    depth = draw(st.integers(1, 3))
    kinds = ["dense"] + [draw(st.sampled_from(("dense", "batch_norm") if samples >= 2 else ("dense",)))
                         for _ in range(depth - 1)]
    loss = draw(st.sampled_from(LOSSES))
    if loss.kind == "cross_entropy":
        outputs, last_act = draw(st.integers(2, max(2, max_width))), "softmax"
    elif loss.kind == "binary_cross_entropy":
        outputs, last_act = 1, "sigmoid"
    else:
        outputs = draw(st.integers(1, 2))
        last_act = draw(st.sampled_from((*HIDDEN, "softmax") if outputs > 1 else HIDDEN))
    last_dense = max(i for i, k in enumerate(kinds) if k == "dense")  # batch norm keeps its input's width
    layers: list = []
    for i, kind in enumerate(kinds):
        act = last_act if i == depth - 1 else draw(st.sampled_from(HIDDEN))
        slope = draw(st.sampled_from((0.01, 0.1, 0.3)))
        if kind == "dense":
            units = outputs if i == last_dense else draw(st.integers(1, max_width))
            layers.append(Dense(units, act, draw(st.sampled_from(BIASES)), slope))
        else:
            layers.append(BatchNorm(layers[-1].units, act, draw(st.sampled_from((1e-5, 1e-3))), slope))
    layout = draw(st.sampled_from(("rows", "columns")))
    return Architecture(layout, draw(st.integers(1, max_width)), samples, tuple(layers), loss,
                        draw(st.sampled_from((0.1, 0.5, 1.0))))


def _instance(arch: Architecture, seed: int) -> dict[str, np.ndarray]:
    return proof.random_instance(arch, np.random.default_rng(seed))


# --- the engine against the checks -------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_every_combination_agrees_with_finite_differences(arch, seed):
    errors = proof.finite_difference_errors(arch, _instance(arch, seed))
    # Every gradient the trace states is checked (not only the parameters'), every update, the loss after.
    assert set(errors) == {s.name for s in engine.steps_for(arch) if s.stage in ("backward", "update", "after")}
    assert max(errors.values()) < proof.FD_TOLERANCE, max(errors, key=errors.get)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(max_width=2, max_samples=2), seed=st.integers(0, 2**32 - 1))
def test_small_random_networks_agree_with_sympy(arch, seed):
    errors = proof.sympy_errors(arch, _instance(arch, seed))
    assert max(errors.values()) < proof.SYMPY_TOLERANCE, max(errors, key=errors.get)


CONFIGURATIONS = proof.engine_configurations()


def test_configuration_table_agrees_with_sympy_and_finite_differences():
    # Three instances each, on both cores: a symbolic model is built once per network (the
    # rows and columns configurations share it), then each instance only evaluates it.
    rows = proof.verify(CONFIGURATIONS, count=3, seed=7, jobs=2)
    assert [r.label for r in rows] == [label for label, _ in CONFIGURATIONS]
    bad = [(r.label, r.fd_error, r.sympy_error, r.worst) for r in rows if r.verdict != "agree"]
    assert not bad
    assert all(r.sympy_instances == 3 and r.sympy_error < proof.SYMPY_TOLERANCE for r in rows)


@pytest.mark.parametrize("label, arch", CONFIGURATIONS[:2], ids=[label for label, _ in CONFIGURATIONS[:2]])
def test_sympy_states_every_computed_quantity(label, arch):
    errors = proof.sympy_errors(arch, _instance(arch, 0))
    # Forward values, loss, every gradient, every update and the loss after; all but `pred`.
    assert set(errors) == {s.name for s in engine.steps_for(arch) if s.stage not in ("given", "predict")}
    assert max(errors.values()) < proof.SYMPY_TOLERANCE


def test_configuration_table_covers_every_axis():
    archs = [a for _, a in CONFIGURATIONS]
    assert {l.activation for a in archs for l in a.layers} == {*HIDDEN, "softmax"}
    assert {(a.loss.kind, a.loss.reduction, a.loss.half) for a in archs} == {
        (l.kind, l.reduction, l.half) for l in LOSSES}
    assert {a.layout for a in archs} == {"rows", "columns"}
    assert {l.bias for a in archs for l in a.layers if isinstance(l, Dense)} == set(BIASES)
    assert {a.depth for a in archs} == {1, 2, 3}
    assert {any(isinstance(l, BatchNorm) for l in a.layers) for a in archs} == {True, False}


def test_random_instances_are_well_conditioned():
    arch = Architecture("rows", 2, 3, (Dense(3, "relu"), BatchNorm(3, "leaky_relu"), Dense(2, "softmax")),
                        Loss("cross_entropy", "mean"))
    for seed in range(20):
        g = _instance(arch, seed)
        values = engine.run_forward(arch, g)
        assert np.min(np.abs(values["Z1"])) > proof.KINK_MARGIN and np.min(np.abs(values["Z2"])) > proof.KINK_MARGIN
        assert np.min(values["var2"]) >= proof.VARIANCE_FLOOR
        assert set(np.unique(g["Y"])) <= {0.0, 1.0} and g["Y"].shape == (3,)
        assert g["X"].dtype == np.float64 and g["gamma2"].min() >= 0.5


# Two squashing layers before a batch norm over 2 samples: with weights in [-1, 1] its input
# almost never varies (the flaky test of issue 12), so random_instance draws wider weights.
SQUASHED_BATCH = Architecture("rows", 3, 2, (Dense(2, "sigmoid"), Dense(3, "sigmoid"), BatchNorm(3, "softmax")),
                              Loss("cross_entropy", "sum"), 0.5)


def test_random_instances_exist_behind_squashing_layers_and_agree_with_finite_differences():
    for seed in range(12):
        g = _instance(SQUASHED_BATCH, seed)
        assert np.min(engine.run_forward(SQUASHED_BATCH, g)["var3"]) >= proof.VARIANCE_FLOOR
        if seed < 3:
            assert proof.finite_difference_check(SQUASHED_BATCH, g) < proof.FD_TOLERANCE


def test_an_impossible_instance_names_its_real_cause():
    # A one-unit softmax is always 1: the batch norm after it never sees its input vary.
    arch = Architecture("rows", 2, 2, (Dense(1, "softmax"), BatchNorm(1, "identity")), Loss("mse", "mean"))
    with pytest.raises(UnsatisfiableSpecError) as e:
        _instance(arch, 0)
    assert e.value.one_line() == (f"no well-conditioned instance for the checks in {proof.DRAWS} draws; most often "
                                  f"({proof.DRAWS} times): batch norm 2's input varies too little across the 2 "
                                  f"samples (variance < {proof.VARIANCE_FLOOR:g})")


def test_hypothesis_runs_a_fixed_profile_unless_asked_to_explore(request):
    fixed = settings.get_profile("fixed")
    assert fixed.derandomize and fixed.database is None
    assert not settings.get_profile("explore").derandomize
    if request.config.getoption("hypothesis_profile", None) is None:
        assert settings.default.derandomize and settings.default.database is None


# --- the checks catch wrong keys ---------------------------------------------------------------


def _corrupt(monkeypatch, change) -> None:
    """Make engine.run return traces whose values `change` has edited (as a buggy engine would)."""
    real_run = engine.run

    def broken_run(arch, values):
        trace = real_run(arch, values)
        edited = dict(trace.rows)
        change(edited)
        return Trace(trace.layout, trace.steps, edited)

    monkeypatch.setattr(engine, "run", broken_run)


RELU_NET = Architecture("rows", 2, 3, (Dense(3, "relu"), Dense(2, "softmax")), Loss("cross_entropy", "mean"), 0.5)


def test_checks_catch_a_gradient_one_percent_off(monkeypatch):
    given_values = _instance(RELU_NET, 1)
    _corrupt(monkeypatch, lambda v: v.update(dW1=v["dW1"] * 1.01))
    assert proof.finite_difference_check(RELU_NET, given_values) > 1e-5
    assert proof.sympy_check(RELU_NET, given_values) > 1e-5


def test_checks_catch_a_wrong_dA_that_no_parameter_gradient_shows(monkeypatch):
    # dA1 behind a ReLU that is off never reaches dZ1, dW1 or db1: only checking dA1 itself
    # finds an answer key that states it wrong.
    given_values = _instance(RELU_NET, 2)
    off = engine.run(RELU_NET, given_values)["Z1"] < 0
    assert off.any()

    def change(v):
        v["dA1"] = np.where(off, v["dA1"] + 0.25, v["dA1"])

    _corrupt(monkeypatch, change)
    errors = proof.finite_difference_errors(RELU_NET, given_values)
    assert errors["dA1"] > 0.2 and errors["dW1"] < 1e-8
    assert proof.sympy_errors(RELU_NET, given_values)["dA1"] > 0.2


def test_checks_catch_a_dropped_one_over_n(monkeypatch):
    # The mistake of seed notebook 001: dZ = A - onehot for a mean loss (N times too large).
    given_values = _instance(RELU_NET, 3)
    _corrupt(monkeypatch, lambda v: v.update(dZ2=v["dZ2"] * 3))
    assert proof.finite_difference_errors(RELU_NET, given_values)["dZ2"] > 1e-2
    assert proof.sympy_errors(RELU_NET, given_values)["dZ2"] > 1e-2


def test_checks_catch_a_wrong_forward_value_and_loss_after(monkeypatch):
    given_values = _instance(RELU_NET, 4)
    _corrupt(monkeypatch, lambda v: v.update(A1=v["A1"] + 1e-3, loss_new=v["loss_new"] + 1e-3))
    errors = proof.sympy_errors(RELU_NET, given_values)
    assert errors["A1"] > 5e-4 and errors["loss_new"] > 5e-4
    assert proof.finite_difference_errors(RELU_NET, given_values)["loss_new"] > 5e-4


# --- layouts ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_columns_trace_is_the_transpose_of_rows(arch, seed):
    rows_arch, cols_arch = replace(arch, layout="rows"), replace(arch, layout="columns")
    rows_given = _instance(rows_arch, seed)
    rows = engine.run(rows_arch, rows_given)
    cols = engine.run(cols_arch, {k: transpose2d(v) for k, v in rows_given.items()})
    assert rows.names == cols.names
    for name in rows.names:
        # The columns layout runs the rows functions on transposed values: bit for bit the same.
        np.testing.assert_array_equal(cols[name], transpose2d(rows[name]), err_msg=name)
        assert np.shape(cols[name]) == np.shape(transpose2d(rows[name]))


def test_columns_shapes_follow_the_convention():
    arch = Architecture("columns", 3, 4, (Dense(2, "tanh", "vector"), Dense(1, "sigmoid", "scalar")),
                        Loss("binary_cross_entropy", "mean"))
    trace = engine.run(arch, _instance(arch, 0))
    assert trace["X"].shape == (3, 4) and trace["W1"].shape == (2, 3) and trace["b1"].shape == (2, 1)
    assert trace["b2"].shape == () and trace["db2"].shape == () and trace["Y"].shape == (4,)
    assert trace["Z1"].shape == (2, 4) and trace["dW1"].shape == (2, 3) and trace["A2"].shape == (1, 4)


def test_follow_through_recompute_matches_the_trace():
    """Trace.recompute on the trace's own values reproduces every step (both layouts)."""
    for label, arch in CONFIGURATIONS:
        trace = engine.run(arch, _instance(arch, 5))
        for step in trace.steps:
            if step.compute is not None:
                np.testing.assert_allclose(trace.recompute(step.name, {}), trace[step.name], rtol=1e-12,
                                           atol=1e-14, err_msg=f"{label}: {step.name}")


# --- verify -------------------------------------------------------------------------------------


def test_verify_accepts_label_architecture_pairs_and_is_reproducible():
    configs = CONFIGURATIONS[:3]
    rows = proof.verify(configs, count=2, seed=11)
    assert [r.label for r in rows] == [label for label, _ in configs]
    assert all(r.verdict == "agree" and r.instances == 2 and r.sympy_instances == 2 for r in rows)
    assert all(0 <= r.fd_error < proof.FD_TOLERANCE and r.sympy_error < proof.SYMPY_TOLERANCE for r in rows)
    again = proof.verify(configs, count=2, seed=11, sympy_count=0)
    assert [r.fd_error for r in again] == [r.fd_error for r in rows]  # same seed, same instances
    assert all(r.sympy_error is None and r.sympy_instances == 0 and r.verdict == "agree" for r in again)


def test_verify_reports_a_disagreement_and_its_worst_quantity(monkeypatch):
    _corrupt(monkeypatch, lambda v: v.update(db2=v["db2"] + 0.1))
    [row] = proof.verify([("broken", RELU_NET)], count=2, seed=0)
    assert row.verdict == "DISAGREE" and not row.agrees
    assert row.fd_error > 0.05 and row.sympy_error > 0.05 and row.worst.startswith("db2 ")


def test_verify_reports_agreement_for_builtin_problems():
    # The problems students get, with instances from their own sampler, on both cores.
    rows = proof.verify(proof.builtin_configurations(), count=2, jobs=2)
    assert len(rows) >= 10
    assert all(r.verdict == "agree" for r in rows), [(r.label, r.fd_error, r.sympy_error, r.worst) for r in rows]
