"""Truth first: the engine's gradients, updates and loss-after agree with independent checks.

Finite differences run over the whole combination space drawn by hypothesis (activation x
loss x layout x bias kind x depth 1-3 x batch norm); SymPy, exact but slower, over a table
that covers the same axes. A mutation test shows the checks do catch a wrong key.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradekit import engine, proof
from gradekit.network import Architecture, BatchNorm, Dense, Loss
from gradekit.trace import transpose2d

HIDDEN = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
BIASES = ("vector", "scalar", "none")


@st.composite
def architectures(draw) -> Architecture:
    layout = draw(st.sampled_from(("rows", "columns")))
    depth = draw(st.integers(1, 3))
    samples = draw(st.integers(1, 3))
    inputs = draw(st.integers(1, 3))
    loss_kind = draw(st.sampled_from(("mse", "cross_entropy", "binary_cross_entropy")))
    layers: list = []
    for _ in range(depth - 1):
        layers.append(Dense(draw(st.integers(1, 3)), draw(st.sampled_from(HIDDEN)), draw(st.sampled_from(BIASES)),
                            draw(st.sampled_from((0.01, 0.1, 0.3)))))
        if samples >= 2 and draw(st.booleans()) and draw(st.booleans()):
            layers.append(BatchNorm(layers[-1].units, draw(st.sampled_from(HIDDEN)), draw(st.sampled_from((1e-5, 1e-3)))))
    bias = draw(st.sampled_from(BIASES))
    if loss_kind == "cross_entropy":
        layers.append(Dense(draw(st.integers(2, 3)), "softmax", bias))
    elif loss_kind == "binary_cross_entropy":
        layers.append(Dense(1, "sigmoid", bias))
    else:
        layers.append(Dense(draw(st.integers(1, 2)), draw(st.sampled_from((*HIDDEN, "softmax"))), bias))
    loss = Loss(loss_kind, draw(st.sampled_from(("mean", "sum"))), loss_kind == "mse" and draw(st.booleans()))
    return Architecture(layout, inputs, samples, tuple(layers), loss, draw(st.sampled_from((0.1, 0.5, 1.0))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_every_combination_agrees_with_finite_differences(arch, seed):
    given_values = proof.random_instance(arch, np.random.default_rng(seed))
    assert proof.finite_difference_check(arch, given_values) < proof.FD_TOLERANCE


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_random_combinations_agree_with_sympy(arch, seed):
    given_values = proof.random_instance(arch, np.random.default_rng(seed))
    assert proof.sympy_check(arch, given_values) < proof.SYMPY_TOLERANCE


@pytest.mark.parametrize("label, arch", proof.engine_configurations(), ids=[c[0] for c in proof.engine_configurations()])
def test_configuration_table_agrees_with_sympy(label, arch):
    for k in range(2):
        given_values = proof.random_instance(arch, np.random.default_rng([7, k]))
        assert proof.sympy_check(arch, given_values) < proof.SYMPY_TOLERANCE, label


def test_checks_catch_a_wrong_gradient(monkeypatch):
    """A check that cannot fail proves nothing: break dW1 by 1% and both checks must object."""
    arch = proof.engine_configurations()[3][1]  # rows, relu, two layers
    given_values = proof.random_instance(arch, np.random.default_rng(1))
    real_run = engine.run

    def broken_run(a, g):
        trace = real_run(a, g)
        values = dict(trace.values)
        values["dW1"] = values["dW1"] * 1.01
        return replace(trace, values=values)

    monkeypatch.setattr(engine, "run", broken_run)
    assert proof.finite_difference_check(arch, given_values) > 1e-4
    assert proof.sympy_check(arch, given_values) > 1e-4


@pytest.mark.parametrize("label, arch", proof.engine_configurations()[:9])
def test_columns_trace_is_the_transpose_of_rows(label, arch):
    rows_arch = replace(arch, layout="rows")
    cols_arch = replace(arch, layout="columns")
    rows_given = proof.random_instance(rows_arch, np.random.default_rng(3))
    rows = engine.run(rows_arch, rows_given)
    cols = engine.run(cols_arch, {k: transpose2d(v) for k, v in rows_given.items()})
    assert rows.names == cols.names
    for name in rows.names:
        np.testing.assert_allclose(cols[name], transpose2d(rows[name]), rtol=1e-12, atol=1e-14, err_msg=name)


def test_follow_through_recompute_matches_the_trace():
    """Trace.recompute on the trace's own values reproduces every step (both layouts)."""
    for label, arch in proof.engine_configurations():
        trace = engine.run(arch, proof.random_instance(arch, np.random.default_rng(5)))
        for step in trace.steps:
            if step.compute is not None:
                np.testing.assert_allclose(trace.recompute(step.name, {}), trace[step.name], rtol=1e-12,
                                           atol=1e-14, err_msg=f"{label}: {step.name}")


def test_verify_reports_agreement_for_builtin_problems():
    rows = proof.verify(proof.builtin_configurations(), count=1, jobs=1)
    assert len(rows) >= 10
    assert all(r.verdict == "agree" for r in rows), [(r.label, r.fd_error, r.sympy_error) for r in rows]
