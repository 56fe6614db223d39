"""Quality rules: every built-in variant obeys them, each rule can be switched off per spec,
structural zeros are refused or marked, exact zeros are stored and shown as 0, and
`gradekit stress` reports a pool and fails on a broken rule."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.util.errors import SpecError, UnsatisfiableSpecError
from gradekit.exports import moodle
from gradekit.exports.common import public_keys
from gradekit.keys.key import key_document, make_key
from gradekit.model.network import Architecture, BatchNorm, Dense, Loss
from gradekit.model.quality import RULE_NAMES, RULES, SWITCHABLE
from gradekit.ops.families import structural_zeros
from gradekit.render.documents import render_variant
from gradekit.sampling.sampler import RELU_MARGIN, sample, sample_many
from gradekit.spec.reader import builtin_problem_paths, load_problem, resolve
from gradekit.sampling.stress import _big, stress_problem
from gradekit.sampling.variants import Variant, problem_seed

BUILTIN = sorted(builtin_problem_paths())
RANDOM = [p for p in BUILTIN if not p.startswith("textbook")]


def problem(pid: str):
    return load_problem(builtin_problem_paths()[pid])


def public(pid: str, seed: int) -> int:
    """The sampler seed of `gradekit show PID --seed SEED`."""
    return problem_seed(pid, Variant(seed=seed), pid)


# --- every built-in variant is a good exercise --------------------------------------------------


def rows(layout: str, value: np.ndarray) -> np.ndarray:
    value = np.asarray(value)
    return value.T if layout == "columns" and value.ndim == 2 else value


@pytest.mark.parametrize("pid", RANDOM)
def test_builtin_variants_obey_every_rule_checked_independently(pid):
    """The properties the rules promise, checked on the values themselves (not by the sampler's checks)."""
    p = problem(pid)
    arch = p.arch
    for inst in sample_many(p, [public(pid, s) for s in range(150)]):
        t = inst.trace
        v = {n: rows(arch.layout, t[n]) for n in t.names}
        if arch.family == "rnn" and arch.activation == "tanh":
            for step in range(1, arch.steps + 1):  # saturation: no |z_t| of 2 or more
                assert np.abs(v[f"z{step}"]).max() < 2.0, (inst.seed, f"z{step}")
        for node in getattr(arch, "nodes", ()):  # a computational graph's gates
            ins = [float(t[i]) for i in node.inputs]
            if node.kind in ("max", "min"):
                assert abs(ins[0] - ins[1]) > 0.25, (inst.seed, node.name)  # tie
            if node.kind == "log":
                assert ins[0] > 0.1, (inst.seed, node.name)  # domain
            if node.kind == "recip":
                assert abs(ins[0]) > 0.25, (inst.seed, node.name)  # domain
            if node.kind == "relu":
                assert abs(ins[0]) > 0.05, (inst.seed, node.name)  # kink
        for l, layer in enumerate(getattr(arch, "layers", ()), start=1):
            # dead_unit: every unit gets a backward signal from some sample
            assert (v[f"dZ{l}"] != 0).any(axis=0).all(), (inst.seed, f"dZ{l}")
            if layer.activation in ("relu", "leaky_relu"):
                assert np.abs(v[f"Z{l}"]).min() > RELU_MARGIN  # strict margin
            if l < arch.depth and isinstance(layer, Dense) and layer.units > 1:
                params = np.vstack([v[f"W{l}"], v[f"b{l}"]]) if layer.bias == "vector" else v[f"W{l}"]
                assert len({tuple(c) for c in params.T}) == layer.units  # identical_units
        if getattr(arch, "classifies", False) and arch.samples > 1:
            assert len(np.unique(t["Y"])) >= 2  # two_classes
        if "loss_new" in p.asked:
            assert t["loss_new"] <= t["loss"] - 10.0**-p.decimals  # loss_decreases
        for q in p.asked:
            if q != "pred" and q not in p.concept_questions:
                assert np.any(t[q] != 0), q  # zero_quantity
        for name in t.names:  # exact zeros are 0.0: no -0.0, no float noise
            a = np.asarray(t[name])
            assert not np.any((a == 0) & np.signbit(a)), name
            assert not np.any((a != 0) & (np.abs(a) < 1e-12)), name


def arch_family(p):
    return p.arch.family


@pytest.mark.parametrize("pid", BUILTIN)
def test_no_builtin_variant_breaks_a_rule_in_a_pool_of_300(pid):
    """The catalogue's bar, on a smaller pool than `gradekit stress`'s 10,000 (README)."""
    p = problem(pid)
    result = stress_problem(pid, p, 300)
    assert result.failures == ()
    assert result.structural_zeros == ()
    assert all(not r.broken for r in result.rules if r.on)
    assert {r.name for r in result.rules} <= set(RULE_NAMES)
    # Every draw is either a variant or a rejection counted against one rule.
    assert result.draws - result.count == sum(r.rejected for r in result.rules)
    if p.pinned:
        assert result.distinct == 1 and result.draws == result.count
    else:
        assert result.distinct == 300 and result.draws >= result.count
        if p.arch.family == "mlp":  # every random MLP problem meets a rule that bites; a convolution's or an optimizer's may not in 300
            assert result.draws > result.count


def test_issue_examples_are_gone():
    # relu-batchnorm-softmax-rows seed 7 had W3 = [[1, 1], [1, 1]]: a whole batch-norm unit without gradient.
    t = sample(problem("relu-batchnorm-softmax-rows"), public("relu-batchnorm-softmax-rows", 7)).trace
    assert all(len(set(row)) > 1 for row in t["W3"].tolist())
    assert (t["dZ2"] != 0).any(axis=0).all() and (t["dA1"] != 0).any(axis=0).all()
    # leaky-relu-mse-rows seed 70 went from a loss of 5.24 to 54.45 after the step.
    t = sample(problem("leaky-relu-mse-rows"), public("leaky-relu-mse-rows", 70)).trace
    assert t["loss_new"] < t["loss"]
    # tanh-softmax-columns asks db2, 0 in every variant: now a concept question, stored as 0.0.
    p = problem("tanh-softmax-columns")
    assert p.concept_questions == ("db2",)
    for inst in sample_many(p, range(30)):
        assert inst.trace["db2"].item() == 0.0 and not np.signbit(inst.trace["db2"])


# --- switching rules off ---------------------------------------------------------------------------


def spec(*, hidden: str = "relu", units: int = 2, samples: int = 2, loss: str = "mse", outputs: int = 1,
         asked: str = '["dW1"]', sampling: str = "", quality: str = "", lr: float = 0.1, extra: str = "") -> str:
    out_act = "softmax" if loss == "cross_entropy" else "identity"
    return textwrap.dedent(f"""\
        id = "rules"
        title = "Rules"
        layout = "rows"
        inputs = 2
        samples = {samples}
        asked = {asked}
        {extra}
        [[layers]]
        units = {units}
        activation = "{hidden}"
        [[layers]]
        units = {outputs}
        activation = "{out_act}"
        [loss]
        kind = "{loss}"
        [update]
        learning_rate = {lr}
        [sampling]
        {sampling}
        [quality]
        {quality}
        """)


def instances(write_toml, text: str, count: int = 80, name: str = "spec.toml"):
    return sample_many(load_problem(write_toml(text, name)), range(count))


def dead(t) -> bool:
    return bool((t["dZ1"] == 0).all(axis=0).any())


def one_class(t) -> bool:
    return len(np.unique(t["Y"])) == 1


def twins(t) -> bool:
    w = np.vstack([t["W1"], t["b1"]])
    return len({tuple(c) for c in w.T}) < w.shape[1]


def worse(t) -> bool:
    return bool(t["loss_new"] >= t["loss"])


CASES = {
    # rule: (spec keywords, the case the rule excludes)
    "dead_unit": (dict(units=3), dead),
    "two_classes": (dict(hidden="tanh", loss="cross_entropy", outputs=2, asked='["loss", "dW1"]'), one_class),
    "identical_units": (dict(hidden="tanh", sampling='W = { min = -1.0, max = 1.0, step = 2.0 }\n'
                                                     'b = { min = 0.0, max = 0.0, step = 1.0 }'), twins),
    "loss_decreases": (dict(hidden="leaky_relu", lr=2.0, asked='["dW1", "loss_new"]'), worse),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_a_rule_excludes_its_case_and_a_spec_can_switch_it_off(write_toml, rule):
    keywords, case = CASES[rule]
    kept = instances(write_toml, spec(**keywords), name="on.toml")
    assert not any(case(i.trace) for i in kept)
    allowed = instances(write_toml, spec(**keywords, quality=f"{rule} = false"), name="off.toml")
    assert any(case(i.trace) for i in allowed)
    assert load_problem(write_toml(spec(**keywords, quality=f"{rule} = false"), "again.toml")).quality.off == {rule}


def test_a_relu_input_exactly_at_the_margin_is_rejected(write_toml):
    # Z = 0.25 * 0.2 is 0.05 in exact arithmetic (0.05000000000000000277 in floats): the margin itself.
    text = """
        id = "margin"
        title = "Margin"
        layout = "rows"
        inputs = 1
        samples = 1
        asked = ["A1"]
        max_attempts = 20
        [[layers]]
        units = 1
        activation = "relu"
        bias = "none"
        [loss]
        kind = "mse"
        [sampling]
        X = { min = 0.25, max = 0.25, step = 0.05 }
        W = { min = 0.2, max = 0.2, step = 0.1 }
        """
    with pytest.raises(UnsatisfiableSpecError) as e:
        sample(load_problem(write_toml(text)), 0)
    line = e.value.one_line()
    assert f"relu input of layer 1 is within {RELU_MARGIN} of 0" in line
    assert "(rule kink)" in line and "[quality] kink = false" in line
    # One grid step further out is fine.
    inst = sample(load_problem(write_toml(text.replace("min = 0.2, max = 0.2,", "min = 0.3, max = 0.3,"),
                                          "out.toml")), 0)
    assert inst.trace["A1"].item() == pytest.approx(0.075)
    # Switched off, the margin case is drawn as it is.
    off = text.replace('[loss]', '[quality]\nkink = false\n[loss]')
    assert sample(load_problem(write_toml(off, "off.toml")), 0).trace["Z1"].item() == pytest.approx(0.05)


# --- the [quality] table and concept questions ---------------------------------------------------


@pytest.mark.parametrize("table, message", [
    ("nonsense = false", "quality.nonsense: not a rule that can be switched off"),
    ("finite = false", "quality.finite: not a rule that can be switched off"),
    ('kink = "no"', "quality.kink: expected true or false"),
])
def test_a_bad_quality_table_is_refused_in_one_line(write_toml, table, message):
    with pytest.raises(SpecError) as e:
        load_problem(write_toml(spec(quality=table)))
    assert message in e.value.one_line()


def test_every_rule_but_finite_can_be_switched_off_and_is_documented():
    assert set(SWITCHABLE) == set(RULE_NAMES) - {"finite"}
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule.name}`" in readme, rule.name


SCALAR_SOFTMAX = """
    id = "scalar-bias"
    title = "Scalar bias under softmax"
    layout = "columns"
    inputs = 2
    samples = 3
    asked = ["dW2", "db2"]
    {extra}
    [[layers]]
    units = 2
    activation = "tanh"
    [[layers]]
    units = 3
    activation = "softmax"
    bias = "scalar"
    [loss]
    kind = "cross_entropy"
    """


def test_asking_a_structural_zero_is_refused_unless_marked_a_concept_question(write_toml):
    with pytest.raises(SpecError) as e:
        load_problem(write_toml(SCALAR_SOFTMAX.format(extra="")))
    line = e.value.one_line()
    assert "asked[1]: db2 is 0 in every variant (b2 adds the same number to every class score" in line
    assert 'concept_questions = ["db2"]' in line and "[quality] structural_zero = false" in line
    marked = load_problem(write_toml(SCALAR_SOFTMAX.format(extra='concept_questions = ["db2"]'), "marked.toml"))
    assert marked.concept_questions == ("db2",)
    assert {i.trace["db2"].item() for i in sample_many(marked, range(20))} == {0.0}
    allowed = load_problem(write_toml(SCALAR_SOFTMAX.format(extra="[quality]\nstructural_zero = false"), "off.toml"))
    assert allowed.concept_questions == () and "structural_zero" in allowed.quality.off


def test_concept_questions_must_be_asked(write_toml):
    with pytest.raises(SpecError) as e:
        load_problem(write_toml(SCALAR_SOFTMAX.format(extra='concept_questions = ["db2", "dW1"]')))
    assert "concept_questions[1]: 'dW1' is not an asked quantity" in e.value.one_line()


def test_structural_zeros_of_architectures():
    mse = Loss("mse", "mean")
    assert structural_zeros(Architecture("rows", 2, 3, (Dense(2, "tanh"), Dense(3, "softmax", "scalar")),
                                         Loss("cross_entropy"))).keys() == {"db2"}
    assert structural_zeros(Architecture("rows", 2, 3, (Dense(2, "tanh"), Dense(3, "softmax", "vector")),
                                         Loss("cross_entropy"))) == {}
    # A bias (or a batch-norm shift) right before a batch norm is subtracted with the batch mean.
    bn = Architecture("rows", 2, 3, (Dense(2, "identity", "vector"), BatchNorm(2, "identity"), BatchNorm(2, "relu"),
                                     Dense(1)), mse)
    assert structural_zeros(bn).keys() == {"db1", "dbeta2"}
    assert structural_zeros(Architecture("rows", 2, 3, (Dense(2, "relu", "vector"), BatchNorm(2, "relu"), Dense(1)),
                                         mse)) == {}
    # Batch norm over 2 samples: everything before it.
    two = Architecture("rows", 2, 2, (Dense(2, "relu", "scalar"), BatchNorm(2, "relu"), Dense(1)), mse)
    assert structural_zeros(two).keys() == {"dA1", "dZ1", "dW1", "db1"}
    assert "over 2 samples" in structural_zeros(two)["dW1"]


# --- zeros are 0 everywhere ------------------------------------------------------------------------


def test_exact_zeros_are_written_as_zero_in_key_sheets_and_exports():
    # tanh-softmax-columns' db2 is -5.55e-17 in floats (the Moodle export used to say
    # =-0.0000000000000000555111512313), and dZ1 of a ReLU network holds -0.0.
    for ref in ("tanh-softmax-columns", "relu-softmax-rows"):
        sheet = resolve(ref)
        key = make_key(sheet, Variant(seed=5))
        text = json.dumps(key_document(key))
        assert "e-1" not in text and "-0.0," not in text and "-0.0]" not in text
        documents = render_variant(key)
        for name, body in documents.items():
            assert "-0.0000" not in body and "e-17" not in body, name
        fields = re.findall(r"NUMERICAL:=([^:}]+):", moodle.document(public_keys(sheet, [5])).decode("utf-8"))
        assert fields and not [f for f in fields if f.startswith("-0") and float(f) == 0 or "0000000000" in f]
        assert "0" in fields  # db2, and the ReLU zeros of dZ1
    db2 = key_document(make_key(resolve("tanh-softmax-columns"), Variant(seed=5)))["problems"][0]["quantities"]["db2"]
    assert db2["value"] == 0.0 and not np.signbit(db2["value"])


# --- gradekit stress ---------------------------------------------------------------------------------


def test_stress_reports_a_pool_and_exits_0_when_no_rule_is_broken():
    result = CliRunner().invoke(main, ["stress", "relu-softmax-rows", "--count", "200"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "== relu-softmax-rows: 200 variants (seeds 0-199: `gradekit show relu-softmax-rows --seed N`)" in out
    for rule in ("two_classes", "identical_units", "kink", "dead_unit", "prints_as_zero", "structural_zero"):
        assert re.search(rf"^  {rule} +yes ", out, re.M), rule
    assert re.search(r"^  dZ1 +\[ *-?\d+\.\d{4}, +\d+\.\d{4}\] +\d+\.\d%$", out, re.M)  # ReLU zeros print as 0
    assert re.search(r"^classes: labels 0: \d+\.\d%, 1: \d+\.\d%, 2: \d+\.\d%; variants with 2 classes in", out, re.M)
    assert "ok: 0 of 200 variants break a rule that is on" in out
    assert out.rstrip().endswith("all 1 problem(s): 0 of 200 variants break a rule")


def test_stress_exits_1_and_names_the_rules_a_pinned_problem_breaks(tmp_path):
    source = builtin_problem_paths()["textbook-tanh-softmax-columns"].read_text(encoding="utf-8")
    quirky = re.sub(r"\[quality\]\n(.+\n)+", "", source)
    assert "[quality]" not in quirky
    path = tmp_path / "quirky.toml"
    path.write_text(quirky, encoding="utf-8")
    result = CliRunner().invoke(main, ["stress", str(path), "--count", "20"])
    assert result.exit_code == 1
    assert "FAIL: 20 of 20 variants break a rule that is on (saturation, probability_floor, clear_prediction, " \
           "prints_as_zero)" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "gradekit: error: variants break quality rules in: textbook-tanh-softmax-columns "
        "(saturation, probability_floor, clear_prediction, prints_as_zero)")
    # The built-in example declares those quirks, so its pool passes.
    assert CliRunner().invoke(main, ["stress", "textbook-tanh-softmax-columns", "--count", "20"]).exit_code == 0


def test_stress_of_a_sheet_reports_each_problem_under_the_sheets_seeds():
    result = CliRunner().invoke(main, ["stress", "backprop-basics", "--count", "50"])
    assert result.exit_code == 0, result.output
    assert result.output.count("`gradekit show backprop-basics --seed N`") == 5
    assert "all 5 problem(s): 0 of 50 variants break a rule" in result.output


def test_stress_counts_variants_of_any_size_exactly():
    # A 16x16 weight matrix on a 21-number grid allows 21**256 draws: past any float.
    assert (_big(21**256), _big(9_999_999), _big(10**7)) == ("3.0e338", "9,999,999", "1.0e7")


def test_the_sampler_is_stricter_than_the_rule_it_keeps():
    """distinct_mistakes as the sampler asks it (with a hair of noise) rejects whatever the rule
    rejects, and more at the edges: a variant it hands out keeps the rule however it is restacked."""
    from gradekit.engine import build as engine
    from gradekit.engine.margins import stacked_allowances
    from gradekit.ops.mistakes import Values, confusable
    from gradekit.sampling.sampler import stack_traces
    from gradekit.sampling.variants import Variant, problem_seed

    problem = load_problem(builtin_problem_paths()["sigmoid-mse-single"])
    pool = sample_many(problem, [problem_seed("x", Variant(seed=s), problem.id) for s in range(200)])
    values = stack_traces(pool)
    steps = engine.steps_for(problem.arch)
    allow = stacked_allowances(problem, steps, values)
    v = Values(engine.network(problem.arch), values, {s.name: s for s in steps}, stacked=True)
    exact = confusable(v, problem.asked, problem.decimals, allow)
    strict = confusable(v, problem.asked, problem.decimals, allow, 1e-9)
    assert not exact.any()  # every variant handed out keeps the rule
    assert np.all(strict >= exact)
    loose = {q: a * 1.5 for q, a in allow.items()}  # wider margins: some mistakes fall inside
    assert confusable(v, problem.asked, problem.decimals, loose).any()
