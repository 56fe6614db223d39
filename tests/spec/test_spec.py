"""Problem and sheet specs: valid ones load into the right values, broken ones fail in one line."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.util.errors import InputFileError, SpecError
from gradekit.model.network import BatchNorm, Dense
from gradekit.spec.reader import builtin_problem_paths, load_problem, load_sheet, resolve
from gradekit.engine.layout import expected_shape

VALID = """
id = "tiny"
title = "Tiny"
layout = "columns"
inputs = 2
samples = 3
asked = ["dW3", "Z1", "loss"]

[[layers]]
units = 2
activation = "relu"
bias = "scalar"

[[layers]]
type = "batch_norm"
activation = "tanh"

[[layers]]
units = 3
activation = "softmax"

[loss]
kind = "cross_entropy"
reduction = "sum"

[update]
learning_rate = 0.25

[pinned]
W1 = [[1, 2], [3, 4]]
Y = [0, 2, 1]

[grading]
atol = 0.01
[grading.quantities.dW3]
points = 3
"""


def test_valid_spec_loads_into_values(write_toml):
    p = load_problem(write_toml(VALID))
    a = p.arch
    assert (a.layout, a.inputs, a.samples, a.learning_rate) == ("columns", 2, 3, 0.25)
    assert a.layers == (Dense(2, "relu", "scalar"), BatchNorm(2, "tanh"), Dense(3, "softmax"))
    assert (a.loss.kind, a.loss.reduction) == ("cross_entropy", "sum")
    assert p.asked == ("Z1", "loss", "dW3")  # put in computing order
    np.testing.assert_array_equal(p.pinned["W1"], [[1, 2], [3, 4]])
    assert p.grading.for_quantity("dW3").points == 3
    assert p.grading.for_quantity("Z1").atol == 0.01
    assert p.total_points == 5


def test_expected_shapes_follow_the_layout(write_toml):
    arch = load_problem(write_toml(VALID)).arch
    assert expected_shape(arch, "X") == (2, 3)
    assert expected_shape(arch, "W1") == (2, 2)
    assert expected_shape(arch, "b1") == ()
    assert expected_shape(arch, "gamma2") == (2, 1)
    assert expected_shape(arch, "W3") == (3, 2)
    assert expected_shape(arch, "Y") == (3,)
    rows = load_problem(write_toml(VALID.replace('"columns"', '"rows"'), "rows.toml")).arch
    assert expected_shape(rows, "X") == (3, 2)
    assert expected_shape(rows, "W3") == (2, 3)
    assert expected_shape(rows, "b3") == (1, 3)


BROKEN = [
    ('layout = "columns"', 'layout = "diagonal"', "layout: expected one of rows, columns, got 'diagonal'"),
    ('inputs = 2', 'inputs = "two"', "inputs: expected a whole number from 1 to 16, got str 'two'"),
    ('inputs = 2', 'inputs = true', "inputs: expected a whole number from 1 to 16, got True"),
    ('samples = 3', 'samples = 0', "samples: expected a whole number from 1 to 32, got 0"),
    ('activation = "relu"', 'activation = "swish"', "layers[1].activation: expected one of identity"),
    ('bias = "scalar"', 'bias = "matrix"', "layers[1].bias: expected one of vector, scalar, none"),
    ('units = 2\nactivation = "relu"', 'units = 2\nactivation = "relu"\ncolour = 1', "layers[1].colour: unknown field"),
    ('kind = "cross_entropy"', 'kind = "hinge"', "loss.kind: expected one of mse"),
    ('learning_rate = 0.25', 'learning_rate = -1', "update.learning_rate: expected a number > 0.0"),
    ('W1 = [[1, 2], [3, 4]]', 'W1 = [[1, 2, 5], [3, 4, 6]]', "pinned.W1: has shape [2, 3], expected [2, 2] in the columns layout"),
    ('W1 = [[1, 2], [3, 4]]', 'W9 = [[1]]', "pinned.W9: cannot be pinned"),
    ('Y = [0, 2, 1]', 'Y = [0, 3, 1]', "pinned.Y: class labels must be whole numbers from 0 to 2"),
    ('asked = ["dW3", "Z1", "loss"]', 'asked = ["dW7"]', "asked[0]: 'dW7' is not a quantity of this network"),
    ('asked = ["dW3", "Z1", "loss"]', 'asked = []', "asked: asks for nothing"),
    ('atol = 0.01', 'atol = "small"', "grading.atol: expected a number"),
    ('[grading.quantities.dW3]', '[grading.quantities.dW1]', "grading.quantities.dW1: is not an asked quantity"),
    ('title = "Tiny"', 'title = "Tiny"\ncolour = "red"', "colour: unknown field"),
    ('activation = "softmax"', 'activation = "tanh"', "loss.kind: cross_entropy needs a softmax output layer"),
    ('samples = 3', 'samples = 1', "samples: batch_norm needs at least 2 samples"),
    ('id = "tiny"', 'id = "../evil"', "id: expected letters, digits"),
    ('points = 3\n', 'points = 3\n[sampling]\nW = { min = 1, max = 0, step = 0.1 }\n', "sampling.W.max: must be >= min"),
    ('points = 3\n', 'points = 3\n[sampling]\nQ = { min = 0, max = 1, step = 0.1 }\n', "sampling.Q: unknown domain"),
    ('points = 3\n', 'points = 3\n[sampling]\nX = { min = 0, max = 0, step = 0.1 }\n', "sampling.X.min: the domain holds no usable number"),
    ('id = "tiny"', 'id = "tiny', "invalid TOML"),
]


@pytest.mark.parametrize("old, new, message", BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_broken_spec_names_file_and_field(write_toml, old, new, message):
    assert old in VALID
    path = write_toml(VALID.replace(old, new, 1))
    with pytest.raises(SpecError) as e:
        load_problem(path)
    line = e.value.one_line()
    assert line.startswith(f"{path}: ")
    assert message in line
    assert "\n" not in line


def test_missing_required_field_is_named(write_toml):
    path = write_toml(VALID.replace('inputs = 2\n', ''))
    with pytest.raises(SpecError, match=r"spec.toml: inputs: is required"):
        load_problem(path)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_problem(tmp_path / "nope.toml")


def test_non_utf8_spec(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'id = "caf\xe9"\n')
    with pytest.raises(SpecError, match="not UTF-8"):
        load_problem(path)


def test_every_builtin_problem_loads():
    paths = builtin_problem_paths()
    assert len(paths) >= 10
    for pid, path in paths.items():
        assert load_problem(path).id == pid  # the file name is the id


def test_default_sheet_covers_every_seed_family():
    sheet = resolve("backprop-basics")
    ids = [e.problem.id for e in sheet.entries]
    assert ids == ["sigmoid-mse-single", "tanh-softmax-columns", "relu-softmax-rows",
                   "relu-linear-sgd-columns", "relu-batchnorm-softmax-rows"]
    layouts = {e.problem.arch.layout for e in sheet.entries}
    assert layouts == {"rows", "columns"}
    assert {e.points for e in sheet.entries} == {20}


def test_sheet_with_unknown_problem_names_the_entry(write_toml):
    path = write_toml('id = "s"\ntitle = "S"\n[[problems]]\nproblem = "no-such-problem"\n', "sheet.toml")
    with pytest.raises(SpecError, match=r"sheet.toml: problems\[1\].problem: unknown problem 'no-such-problem'"):
        load_sheet(path)


def test_sheet_refers_to_problem_by_relative_path(write_toml, tmp_path):
    write_toml(VALID, "tiny.toml")
    path = write_toml('id = "s"\ntitle = "S"\n[[problems]]\nproblem = "tiny.toml"\npoints = 10\n', "sheet.toml")
    sheet = resolve(str(path))
    assert sheet.entries[0].problem.id == "tiny" and sheet.entries[0].points == 10


def test_resolve_unknown_reference():
    with pytest.raises(InputFileError, match="not a built-in sheet or problem"):
        resolve("definitely-not-a-sheet")


def test_oversize_spec_is_refused(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text("# " + "x" * 300_000)
    with pytest.raises(InputFileError, match=r"huge.toml: the spec is larger than 256 KiB"):
        load_problem(path)
