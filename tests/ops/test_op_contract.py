"""What every operation owes the rest of gradekit, checked on every op of every engine configuration.

`gradekit.proof.engine_configurations()` covers every activation, loss (with its reduction and
1/2), layout, bias kind, depth 1 to 3, with and without batch norm. A new operation joins by
adding a configuration that uses it there (README: "Adding an operation"); these tests then hold
it to the contract of gradekit.ops.base: its steps are right (finite differences, SymPy, the
graph's interpreter), it works each entry out and says so in sentences, its mistakes are real
wrong values of the right shape, and its checks say something.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine import build as engine
from gradekit.engine.graph import graph_document
from gradekit.engine.layout import from_rows
from gradekit.ops.mistakes import Values, mistakes
from gradekit.ops.families import network_for
from gradekit.ops.worked import Context, Worked
from gradekit.proof import checks as proof
from graph_interpreter import Interpreter

# Families beyond the MLP add their sibling lists (README: "Adding an operation").
CONFIGURATIONS = (proof.engine_configurations() + proof.circuit_configurations() + proof.rnn_configurations()
                  + proof.cnn_configurations() + proof.optimizer_configurations())
IDS = [label for label, _ in CONFIGURATIONS]


def instance(arch, seed: int = 3):
    return proof.random_instance(arch, np.random.default_rng(seed))


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_every_step_belongs_to_an_op_that_works_it_out(label, arch):
    trace = engine.run(arch, instance(arch))
    cx = Context(network_for(arch), trace.rows, trace.steps, 4)
    for step in trace.steps:
        if step.stage == "given":
            assert step.op is None
            continue
        assert step.op is not None and step.role and step.formula and step.description, step.name
        worked = step.op.worked(step, cx)
        assert isinstance(worked, Worked), step.name
        assert worked.lines and worked.result, step.name
        assert all(isinstance(n, str) and n.endswith(".") for n in step.op.notes(step, cx)), step.name


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_every_op_step_agrees_with_finite_differences_and_sympy(label, arch):
    given = instance(arch)
    assert proof.finite_difference_check(arch, given) <= proof.FD_TOLERANCE
    assert proof.sympy_check(arch, given) <= proof.SYMPY_TOLERANCE


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_every_op_writes_its_steps_as_a_graph_the_interpreter_reproduces(label, arch):
    given = instance(arch)
    trace = engine.run(arch, given)
    env = Interpreter(graph_document(arch)).run(given)
    for name in trace.names:
        # grad steps are local derivatives taken by central differences: 1e-10 is their round-off
        np.testing.assert_allclose(np.asarray(env[name], dtype=float), trace[name], rtol=1e-7, atol=1e-10,
                                   err_msg=f"{label}: {name}")


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_catalogued_mistakes_are_real_wrong_values(label, arch):
    """A mistake's value is finite, has the quantity's shape (or its transpose), and differs from
    the right value somewhere in at least one configuration: no mistake names the right answer."""
    trace = engine.run(arch, instance(arch))
    v = Values(network_for(arch), trace.rows, {s.name: s for s in trace.steps})
    seen = 0
    for step in trace.steps:
        if step.op is None:
            continue
        right = trace.rows[step.name]
        for mistake in mistakes(v, step.name):
            wrong = np.asarray(mistake.value, dtype=float)
            assert mistake.id and mistake.message, step.name
            assert wrong.shape in (right.shape, right.T.shape) or wrong.size != right.size or wrong.ndim != right.ndim, \
                (step.name, mistake.id)
            if wrong.shape == right.shape and np.all(np.isfinite(wrong)):
                seen += not np.allclose(wrong, right)
    assert seen > 0


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_structural_zeros_are_zero(label, arch):
    trace = engine.run(arch, instance(arch))
    for name, reason in network_for(arch).structural_zeros.items():
        assert reason and np.max(np.abs(trace.rows[name])) < 1e-6 * max(1.0, np.max(np.abs(trace.rows["loss"]))), name


def test_a_trace_shows_rows_values_in_the_problems_layout():
    label, arch = next((lab, a) for lab, a in CONFIGURATIONS if a.layout == "columns")
    trace = engine.run(arch, instance(arch))
    for name in trace.names:
        np.testing.assert_array_equal(trace[name], from_rows(trace.rows[name], "columns"))
    assert trace["X"].shape == (arch.inputs, arch.samples) and trace.rows["X"].shape == (arch.samples, arch.inputs)


@pytest.mark.parametrize("label, arch", CONFIGURATIONS, ids=IDS)
def test_every_formulation_gives_the_steps_value_on_the_keys_own_values(label, arch):
    """A formulation is another valid way to compute a step: on consistent values it is the step."""
    trace = engine.run(arch, instance(arch))
    for step in trace.steps:
        if step.op is None:
            continue
        for form in step.op.formulations(step):
            assert form.id and form.words and set(form.deps) <= set(trace.names), (step.name, form.id)
            redone = form.as_step(step).evaluate(trace.rows)
            np.testing.assert_allclose(redone, trace.rows[step.name], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{label}: {step.name} as {form.id}")


def test_every_kind_of_formulation_is_exercised():
    """The configurations hold a step of each formulation the ops know (so the test above sees them)."""
    seen = set()
    for _, arch in CONFIGURATIONS:
        for step in engine.steps_for(arch):
            if step.op is not None:
                seen |= {f"{step.op.kind}:{f.id}" for f in step.op.formulations(step)}
    assert {"sigmoid:from_preactivation", "tanh:from_preactivation", "softmax:through_da", "sigmoid:through_da",
            "batch_norm:mean_of_squares", "batch_norm:staged", "batch_norm:from_dz",
            "layer_norm:mean_of_squares", "layer_norm:staged"} <= seen, seen
