"""Worked steps: each worked-out entry's arithmetic gives the step's result, and structural facts are explained."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gradekit.keys.key import make_key
from gradekit.render.documents import sheet_view
from gradekit.spec.reader import builtin_problem_paths, resolve
from gradekit.sampling.variants import Variant
from gradekit.render.worked import Expr, Worked, join_terms as _join, worked_steps


def _group(text: str, start: int) -> tuple[str, int]:
    """The brace group starting at text[start] == '{': (its content, the index after it)."""
    assert text[start] == "{", text[start:]
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i], i + 1
    raise ValueError(text)


def to_python(tex: str) -> str:
    """The LaTeX of a worked entry's numbers as a Python expression (only what worked.py writes)."""
    tex = re.sub(r"\\quad \([^()]*\)$", "", tex)  # a remark beside the arithmetic: (z > 0)
    out, i = [], 0
    while i < len(tex):
        if tex.startswith(r"\frac", i):
            num, i = _group(tex, i + 5)
            den, i = _group(tex, i)
            out.append(f"(({to_python(num)})/({to_python(den)}))")
        elif tex.startswith(r"\sqrt", i):
            body, i = _group(tex, i + 5)
            implicit = "".join(out).rstrip().endswith((")", *"0123456789"))
            out.append(f"{'*' if implicit else ''}sqrt({to_python(body)})")
        elif tex.startswith(r"\mathbf{1}[", i):
            end = tex.index("]", i)
            cond = to_python(tex[i + 11:end]).replace(r"\ge", ">=").replace(r"\le", "<=")
            out.append(f"(1 if ({cond}) else 0)")
            i = end + 1
        elif tex.startswith("e^", i):
            body, i = _group(tex, i + 2)
            out.append(f"exp({to_python(body)})")
        elif tex[i] == "^":
            body, i = _group(tex, i + 1)
            out.append(f"**({to_python(body)})")
        elif re.match(r"\\log (-?[\d.]+|\(-[\d.]+\))", tex[i:]):  # \log 0.25: a function of one number
            m = re.match(r"\\log (-?[\d.]+|\(-[\d.]+\))", tex[i:])
            out.append(f"log({m[1]})")
            i += len(m[0])
        elif re.match(r"\\(bigl|Bigl|left)\(", tex[i:]):  # after a factor, a bracket multiplies
            m = re.match(r"\\(bigl|Bigl|left)\(", tex[i:])
            out.append("*(" if "".join(out).rstrip().endswith((")", *"0123456789")) else "(")
            i += len(m[0])
        elif tex.startswith(r"\arg\max", i):
            out.append("argmax")
            i += 8
        else:
            m = re.match(r"\\(cdot|log|tanh|max|min|bigl|bigr|Bigl|Bigr|left|right|,|ge|le)", tex[i:])
            if m:
                out.append({"cdot": "*", "log": "log", "tanh": "tanh", "max": "max", "min": "min", "ge": ">=",
                            "le": "<="}.get(m[1], " "))
                i += len(m[0])
            else:
                out.append(tex[i])
                i += 1
    return "".join(out)


def evaluate(tex: str) -> float:
    names = {"exp": math.exp, "log": math.log, "tanh": math.tanh, "sqrt": math.sqrt, "max": max, "min": min,
             "argmax": lambda *xs: int(np.argmax(xs))}
    return float(eval(to_python(tex), {"__builtins__": {}}, names))  # noqa: S307 - our own LaTeX


_COMMANDS = re.compile(r"\\(cdot|frac|log|tanh|max|min|left|right|bigl|bigr|Bigl|Bigr|mathbf\{1\})")


def numeric_lines(w: Worked, circuit: bool = False) -> list[Expr]:
    """The lines of a worked entry written in numbers only (no symbol left), and complete (no \\cdots)."""
    out = []
    for e in w.lines:
        text = e.before + _join(e.terms, True) + e.after
        if r"\cdots" in text or re.search(r"[A-Za-z]\^|[A-Z]_|d[A-Z]|y_|\\sigma|\\gamma|\\beta|\\hat", text):
            continue
        if circuit and re.search(r"[A-Za-z]", _COMMANDS.sub("", text).replace("e^", "")):
            continue  # a computational graph's names (x, q, w_{0}, \mathrm{sigy}): the symbolic line
        out.append(text)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pid", sorted(builtin_problem_paths()))
def test_every_worked_entry_adds_up_to_its_result(pid, seed):
    """The arithmetic written out, evaluated on the printed (rounded) numbers, gives the printed
    result: an entry's terms are the right ones, in the right layout."""
    key = make_key(resolve(pid), Variant(seed=seed))
    view = sheet_view(key).problems[0]
    decimals = view.decimals
    checked = 0
    for step in view.steps:
        for w in view.worked[step.name].examples:
            result = float(w.result)
            for line in numeric_lines(w, key.problems[0].problem.arch.family == "circuit"):
                value = evaluate(line)
                # Rounded inputs: allow a few units in the last place, more where division amplifies.
                assert abs(value - result) <= 3e-3 * max(1.0, abs(result)) + 5 * 10.0 ** -decimals, (step.name, line)
                checked += 1
    assert checked >= len(view.steps) - 2  # (an identity activation has no numbers to show)


def test_the_evaluator_catches_a_wrong_term():
    assert evaluate(r"0.7 \cdot 0.4 + 0.3 \cdot 1 + 1") == pytest.approx(1.58)
    assert evaluate(r"-\frac{1}{4}\bigl(\log 0.5 + \log 0.25\bigr)") == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 4)
    assert evaluate(r"\frac{1}{1 + e^{-1.5800}}") == pytest.approx(1 / (1 + math.exp(-1.58)))


def test_textbook_entry_is_written_out_with_its_numbers():
    """Z^{[1]}_{1,1} of the textbook example (x = (0.5, 0.1), seed 004 pinned), term by term."""
    key = make_key(resolve("textbook-sigmoid-single"), Variant(seed=0))
    pk = key.problems[0]
    w = worked_steps(pk, ["Z1"])["Z1"].examples[0]
    x, w1, b1 = (pk.instance.given[n] for n in ("X", "W1", "b1"))
    assert w.entry == "Z^{[1]}_{1,1}" and w.where == "sample 1, unit 1"
    assert w.lines[0].terms == ("X_{1,1} W^{[1]}_{1,1}", "X_{1,2} W^{[1]}_{2,1}", "b^{[1]}_{1}")
    expected = x[0, 0] * w1[0, 0] + x[0, 1] * w1[1, 0] + b1[0, 0]
    assert w.result == f"{expected:.6f}"


def test_columns_layout_writes_entries_unit_first():
    key = make_key(resolve("tanh-softmax-columns"), Variant(seed=5))
    w = worked_steps(key.problems[0], ["dW1"])["dW1"].examples[0]
    # dW = dZ A^T in columns: dW_{j,i} = sum_n dZ_{j,n} X_{i,n}, with one term per sample.
    assert w.lines[0].terms[0].startswith("dZ^{[1]}_{") and "X_{" in w.lines[0].terms[0]
    assert len(w.lines[0].terms) == key.problems[0].problem.arch.samples


def test_structural_zero_of_a_scalar_bias_under_softmax_is_explained():
    key = make_key(resolve("tanh-softmax-columns"), Variant(seed=0))
    notes = worked_steps(key.problems[0], ["db2", "dZ2"])
    assert any("= 0$ whatever the numbers: b2 adds the same number to every class score" in n
               for n in notes["db2"].notes)
    assert any("add up to 0" in n for n in notes["dZ2"].notes)
    assert any(r"\frac{1}{N} = \frac{1}{3}" in n for n in notes["dZ2"].notes)


def test_a_bias_before_batch_norm_is_explained_as_zero(write_toml):
    from gradekit.spec.reader import load_problem, single_problem_sheet

    src = builtin_problem_paths()["relu-batchnorm-softmax-rows"].read_text()
    src = src.replace('bias = "none"', 'bias = "vector"').replace('asked = ["Z1",', 'asked = ["db1", "Z1",')
    src = 'concept_questions = ["db1"]\n' + src  # asked, though 0 for every variant: a concept question
    key = make_key(single_problem_sheet(load_problem(write_toml(src))), Variant(seed=0))
    notes = worked_steps(key.problems[0], ["db1"])
    assert any("batch norm 2 subtracts each unit's batch mean" in n for n in notes["db1"].notes)


def test_one_over_n_and_half_are_explained_where_they_enter():
    key = make_key(resolve("sigmoid-mse-single"), Variant(seed=0))
    notes = worked_steps(key.problems[0], ["dA2", "dZ2"])
    assert any("one sample" in n for n in notes["dA2"].notes)
    assert any(r"The $\frac{1}{2}$ in the loss cancels the 2" in n for n in notes["dA2"].notes)
    assert notes["dZ2"].notes == ()  # said once, where the factor enters


DEAD_UNIT = """
id = "dead"
title = "A dead ReLU unit"
layout = "rows"
inputs = 2
samples = 2
decimals = 4
asked = ["Z1", "A1", "dZ1", "dW1", "db1"]

[[layers]]
units = 2
activation = "relu"

[[layers]]
units = 1
activation = "identity"

[loss]
kind = "mse"
reduction = "mean"

[pinned]
X = [[1.0, 0.5], [0.5, 1.0]]
Y = [[1.0], [0.0]]
W1 = [[0.5, -0.5], [0.5, -0.5]]
b1 = [[0.1, -0.1]]
W2 = [[1.0], [1.0]]
b2 = [[0.0]]
"""


def test_a_dead_relu_unit_is_explained(write_toml):
    key = make_key(resolve(str(write_toml(DEAD_UNIT))), Variant(seed=0))
    notes = worked_steps(key.problems[0], ["A1", "dZ1", "dW1", "db1"])
    for name in ("dZ1", "dW1", "db1"):
        assert any(n.startswith("Unit 2 of layer 1 is dead for this batch") for n in notes[name].notes), name
    assert np.all(key.problems[0].instance.trace["dW1"][:, 1] == 0)
