"""Computational graphs: the pinned cs231n circuits reproduced exactly, forks summed, each gate's
local gradients against finite differences, its mistakes real, its graph reproduced."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine.build import run, steps_for
from gradekit.keys.key import make_key
from gradekit.model.circuit import parse_function
from gradekit.ops.families import network_for
from gradekit.ops.mistakes import Values, mistakes
from gradekit.proof.checks import finite_difference_errors, sympy_errors
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import resolve


def values_of(pid: str) -> dict[str, float]:
    key = make_key(resolve(pid), Variant(seed=0))
    trace = key.problems[0].instance.trace
    return {n: float(trace[n]) for n in trace.names}


def test_cs231n_first_circuit_is_reproduced_exactly():
    v = values_of("textbook-circuit-add-multiply")
    assert (v["x"], v["y"], v["z"]) == (-2, 5, -4)
    assert v["q"] == 3 and v["f"] == -12
    assert v["dx"] == -4 and v["dy"] == -4 and v["dz"] == 3 and v["dq"] == -4


def test_cs231n_sigmoid_neuron_is_reproduced():
    v = values_of("textbook-circuit-sigmoid-neuron")
    assert v["f"] == pytest.approx(0.7311, abs=1e-4)
    assert (round(v["dx0"], 2), round(v["dx1"], 2)) == (0.39, -0.59)
    assert (round(v["dw0"], 2), round(v["dw1"], 2), round(v["dw2"], 2)) == (-0.20, -0.39, 0.20)
    s = 1 / (1 + np.exp(-1.0))  # the dot product is 1
    assert v["dw2"] == pytest.approx(s * (1 - s))


def test_cs231n_staged_function_sums_its_forks():
    v = values_of("textbook-circuit-staged")
    x, y = 3.0, -4.0
    sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    f = lambda a, b: (a + sig(b)) / (sig(a) + (a + b) ** 2)  # noqa: E731
    assert v["f"] == pytest.approx(f(x, y))
    h = 1e-6
    assert v["dx"] == pytest.approx((f(x + h, y) - f(x - h, y)) / (2 * h), rel=1e-6)
    assert v["dy"] == pytest.approx((f(x, y + h) - f(x, y - h)) / (2 * h), rel=1e-6)
    # x feeds num, sigx and xpy: its gradient is the sum of the three branches, as cs231n adds them.
    branches = v["dnum"] * 1 + v["dsigx"] * v["sigx"] * (1 - v["sigx"]) + v["dxpy"] * 1
    assert v["dx"] == pytest.approx(branches)
    assert v["dxpy"] == pytest.approx(2 * v["xpy"] * v["dxpysqr"])
    assert v["ds"] == pytest.approx(-1 / v["s"] ** 2 * v["dinv"])


EVERY_GATE = """
a = max(x, y) * exp(-z)
g = min(x, z) + log(y * y + 1) - tanh(x)
c = relu(a) + square(g) / (2 + sigmoid(z)) - 3 * x
f = c + 0.5
"""


def test_every_gate_kind_agrees_with_finite_differences_and_sympy():
    circuit = parse_function(EVERY_GATE)
    kinds = {n.kind for n in circuit.nodes}
    assert kinds >= {"add", "sub", "mul", "max", "min", "neg", "exp", "log", "sigmoid", "tanh", "relu", "square",
                     "recip", "scale", "shift"}
    for given in ({"x": 0.7, "y": -1.3, "z": 0.4}, {"x": -0.6, "y": 1.1, "z": -1.9}):
        given = {k: np.asarray(val) for k, val in given.items()}
        assert max(finite_difference_errors(circuit, given).values()) < 1e-6
        assert max(sympy_errors(circuit, given).values()) < 1e-8


def test_every_step_reads_what_its_formula_reads_and_redoes_from_other_values():
    circuit = parse_function(EVERY_GATE)
    given = {"x": np.asarray(0.7), "y": np.asarray(-1.3), "z": np.asarray(0.4)}
    trace = run(circuit, given)
    for step in steps_for(circuit):
        if step.compute is None:
            continue
        assert step.evaluate(trace.rows) == pytest.approx(trace.rows[step.name]), step.name
        shifted = {d: trace.rows[d] + 0.1 for d in step.deps}
        assert np.isfinite(step.evaluate(shifted)), step.name


def catalogue(pid: str, name: str) -> dict[str, float]:
    key = make_key(resolve(pid), Variant(seed=0))
    trace = key.problems[0].instance.trace
    net = network_for(key.problems[0].problem.arch)
    v = Values(net, trace.rows, {s.name: s for s in trace.steps})
    return {m.id: float(m.value) for m in mistakes(v, name)}


def test_a_fork_overwritten_instead_of_added_is_catalogued_at_each_branch():
    v = values_of("textbook-circuit-staged")
    found = catalogue("textbook-circuit-staged", "dx")
    assert found["fork_overwritten"] in (pytest.approx(v["dnum"]), pytest.approx(v["dxpy"]),
                                         pytest.approx(v["dsigx"] * v["sigx"] * (1 - v["sigx"])))


def test_the_gates_know_their_mistakes():
    v = values_of("textbook-circuit-add-multiply")
    dz = catalogue("textbook-circuit-add-multiply", "dz")
    assert dz["mul_inputs_not_swapped"] == v["z"]  # dz = df * z instead of df * q
    n = values_of("textbook-circuit-sigmoid-neuron")
    ds = catalogue("textbook-circuit-sigmoid-neuron", "ds")
    sf = 1 / (1 + np.exp(-n["f"]))
    assert ds["sigmoid_derivative_at_output"] == pytest.approx(sf * (1 - sf))  # σ'(f), not f(1 - f)
    dw0 = catalogue("textbook-circuit-sigmoid-neuron", "dw0")
    assert dw0["upstream_missing"] == pytest.approx(n["x0"])  # the local gradient alone


def test_the_max_gate_routes_to_the_larger_input_only():
    from gradekit.keys.key import make_key as mk

    key = mk(resolve("circuit-max-exp-fork"), Variant(seed=0))
    trace = key.problems[0].instance.trace
    net = network_for(key.problems[0].problem.arch)
    vals = Values(net, trace.rows, {s.name: s for s in trace.steps})
    x, y, dq1 = (float(trace[n]) for n in ("x", "y", "dq1"))
    loser, winner = ("dy", "dx") if x > y else ("dx", "dy")
    wrong = {m.id: float(m.value) for m in mistakes(vals, loser)}
    assert float(trace["dx"]) == pytest.approx(float(trace["dq1"]) * (x > y) + float(trace["z"]))
    assert float(trace["dy"]) == pytest.approx(float(trace["dq1"]) * (y > x) - 1)
    assert "max_routes_to_both" in wrong
    assert wrong["max_routes_to_both"] == pytest.approx(float(trace[loser]) + dq1)
    assert "max_routes_to_smaller" in {m.id for m in mistakes(vals, winner)}
