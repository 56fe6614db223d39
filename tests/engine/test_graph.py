"""The `graph` of key.json: valid against the shipped schema, ONNX's own operator schemas, and
reproduced value for value by an independent interpreter (tests/graph_interpreter.py)."""

from __future__ import annotations

import jsonschema
import numpy as np
import onnx.defs
import pytest

from gradekit.engine.graph import graph_document, schema
from gradekit.keys.key import key_document, make_key
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import builtin_problem_paths, resolve
from graph_interpreter import Interpreter

PROBLEMS = sorted(builtin_problem_paths())


def problem_document(pid: str, seed: int = 0) -> tuple[dict, object]:
    key = make_key(resolve(pid), Variant(seed=seed))
    return key_document(key)["problems"][0], key.problems[0]


def named_values(doc: dict) -> dict[str, np.ndarray]:
    values = {n: np.asarray(q["value"], dtype=float) for n, q in doc["quantities"].items()}
    values.update({n: np.asarray(v, dtype=float) for n, v in doc["intermediates"].items()})
    return values


@pytest.mark.parametrize("pid", PROBLEMS)
def test_every_key_graph_validates_against_the_shipped_schema(pid):
    doc, _ = problem_document(pid)
    jsonschema.validate(doc["graph"], schema(), cls=jsonschema.Draft202012Validator)


def test_the_schema_refuses_what_the_format_does_not_allow():
    doc, _ = problem_document("relu-softmax-rows")
    good = doc["graph"]
    for bad in ({**good, "version": 2},
                {**good, "steps": [{"name": "Z1", "kind": "op", "op": "MatMul"}]},  # no inputs
                {**good, "steps": [{"name": "dW1", "kind": "grad", "wrt": "W1", "terms": []}]},
                {**good, "steps": [{"name": "x", "kind": "loop", "of": "loss"}]},
                {**good, "constants": {"N": {"dtype": "float32", "value": 1.0}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("pid", PROBLEMS)
def test_op_names_and_attributes_are_onnx_opset_21(pid):
    defs = onnx.defs
    doc, _ = problem_document(pid)
    for step in doc["graph"]["steps"]:
        if step["kind"] != "op":
            continue
        op_schema = defs.get_schema(step["op"], 21, "")
        assert op_schema.domain == "", step
        assert set(step.get("attributes", {})) <= set(op_schema.attributes), step
        assert op_schema.min_input <= len(step["inputs"]) <= op_schema.max_input, step


@pytest.mark.parametrize("pid", PROBLEMS)
@pytest.mark.parametrize("seed", [0, 3])
def test_an_independent_interpreter_reproduces_every_value_of_the_key(pid, seed):
    doc, pk = problem_document(pid, seed)
    env = Interpreter(doc["graph"]).run(doc["given"])
    expected = named_values(doc)
    named = {s["name"] for s in doc["graph"]["steps"] if not s["name"].startswith("_")}
    assert named == set(expected), "every named step of the graph is a quantity of the key, and back"
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(env[name], dtype=float), value, rtol=1e-8, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("pid", PROBLEMS)
def test_single_steps_redone_from_perturbed_values_agree_with_the_engine(pid):
    """Follow-through by another program: a named step redone from values that are not the key's
    (a student's) gives what gradekit's own step gives from them; an op step reads exactly the
    inputs gradekit's step reads (what the worked solution reads)."""
    doc, pk = problem_document(pid, 1)
    trace = pk.instance.trace
    interpreter = Interpreter(doc["graph"])
    env = interpreter.run(doc["given"])
    rng = np.random.default_rng(7)
    for step in trace.steps:
        if step.op is None or step.stage == "after":
            continue
        reads = interpreter.reads(step.name)
        assert set(step.deps) <= reads, (step.name, step.deps, reads)
        if interpreter.by_name[step.name]["kind"] == "op":
            assert reads == set(step.deps), (step.name, step.deps, reads)
        moved = {d: np.asarray(trace[d]) * (1 + 0.05 * rng.standard_normal(np.shape(trace[d])))
                 for d in reads if d != "Y"}  # labels stay labels
        redone = interpreter._own_value(step.name, {**env, **moved}) if interpreter.by_name[step.name]["kind"] == "op" \
            else interpreter.evaluate_step(interpreter.by_name[step.name], {**env, **moved})
        np.testing.assert_allclose(np.asarray(redone, dtype=float), trace.recompute(step.name, moved),
                                   rtol=1e-6, atol=1e-9, err_msg=step.name)


@pytest.mark.parametrize("pid", PROBLEMS)
def test_every_gradient_step_is_the_loss_gradient_by_finite_differences(pid):
    doc, _ = problem_document(pid, 2)
    interpreter = Interpreter(doc["graph"])
    env = interpreter.run(doc["given"])
    for step in doc["graph"]["steps"]:
        name = step["name"]
        if not name.startswith("d") or name[1:] not in env:
            continue
        of = name[1:]
        base = np.asarray(env[of], dtype=float)
        fd = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += 1e-6
            down[index] -= 1e-6
            fd[index] = (interpreter.loss_from(env, of, up) - interpreter.loss_from(env, of, down)) / 2e-6
        np.testing.assert_allclose(env[name], fd, rtol=1e-5, atol=1e-7, err_msg=name)


def test_the_graph_is_the_same_for_every_variant_of_a_problem():
    a, _ = problem_document("tanh-softmax-columns", 0)
    b, _ = problem_document("tanh-softmax-columns", 9)
    assert a["graph"] == b["graph"]
    assert graph_document(resolve("tanh-softmax-columns").entries[0].problem.arch) is \
        graph_document(resolve("tanh-softmax-columns").entries[0].problem.arch)  # cached per architecture
