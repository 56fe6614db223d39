"""A computational graph's spec: the expression grammar, sampling domains per variable, and one-line
errors that name the file, the column and the problem."""

from __future__ import annotations

import pytest

from gradekit.model.circuit import ExpressionError, parse_function
from gradekit.model.problem import domain_for
from gradekit.spec.reader import load_problem
from gradekit.util.errors import SpecError

SPEC = """
id = "my-circuit"
title = "A circuit"
family = "circuit"
function = "FUNCTION"
asked = ASKED

[sampling]
x = { min = -2, max = 2, step = 0.5, nonzero = true }
w = { min = 1, max = 3, step = 1 }
"""


def spec(function: str = "(x + y) * w0", asked: str = '["q", "f", "dx", "dy", "dw0"]') -> str:
    return SPEC.replace("FUNCTION", function).replace("ASKED", asked)


def test_a_circuit_spec_loads_with_a_domain_per_variable(write_toml):
    p = load_problem(write_toml(spec()))
    assert p.arch.family == "circuit" and p.arch.variables == ("x", "y", "w0")
    assert [(n.name, n.kind, n.inputs) for n in p.arch.nodes] == [("q", "add", ("x", "y")), ("f", "mul", ("q", "w0"))]
    assert domain_for(p, "x").step == 0.5
    assert domain_for(p, "w0").min == 1  # [sampling.w] covers w0, w1, ...
    assert domain_for(p, "y").min == -3  # the default grid


@pytest.mark.parametrize("function, message", [
    ("(x + y", "column 7: expected ')', found the end"),
    ("x + * y", "column 5: expected a number, a name or '(', found '*'"),
    ("foo(x)", "column 1: unknown function 'foo'"),
    ("x ^ 3", "column 5: only the square (^2 or **2) is a power gate"),
    ("x + y; z", "column 6: unexpected character ';'"),
    ("dx * y", "column 1: 'dx' starts with d"),
])
def test_a_bad_expression_is_one_line_naming_file_column_and_problem(write_toml, function, message):
    path = write_toml(spec(function, '["f"]'))
    with pytest.raises(SpecError) as e:
        load_problem(path)
    text = str(e.value)
    assert "\n" not in text and str(path.name) in text and "function" in text and message in text, text


def test_unknown_sampling_key_and_asked_quantity_are_refused(write_toml):
    with pytest.raises(SpecError, match="unknown domain"):
        load_problem(write_toml(spec().replace("x = { min", "v = { min")))
    with pytest.raises(SpecError, match="'dq2' is not a quantity"):
        load_problem(write_toml(spec(asked='["dq2"]')))


def test_the_grammar_builds_gates_and_never_evaluates():
    c = parse_function("2 * x - y / 4 + 1 / z + x**2 - max(x, 0)")
    kinds = [n.kind for n in c.nodes]
    assert kinds.count("scale") == 2 and "recip" in kinds and "square" in kinds and "relu" in kinds
    assert c.output == "f" and c.variables == ("x", "y", "z")
    with pytest.raises(ExpressionError):
        parse_function("__import__('os')")
    with pytest.raises(ExpressionError):
        parse_function("x.real")


def test_a_variable_used_twice_is_one_fork():
    c = parse_function("x * y + x")
    assert c.variables == ("x", "y")
    assert [n.name for n in c.consumers("x")] == ["q", "f"]
